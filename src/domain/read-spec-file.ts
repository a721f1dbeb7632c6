import { isUtf8 } from 'node:buffer';
import { readFileSync } from 'node:fs';
import { isatty } from 'node:tty';
import type { SpecProblem } from './spec-problem.js';

/** What problems call a spec read from standard input. */
export const standardInputName = '<stdin>';

export type SpecFileText = { readonly ok: true; readonly text: string; readonly file: string } | { readonly ok: false; readonly problem: SpecProblem };

/**
 * A spec's text from its path, or from standard input for `-` (a file rendered by a template or
 * read from a secret store, piped in). `what` names the file in problems ("the fleet file").
 */
export function readSpecFile(file: string, what: string): SpecFileText {
  const fromInput = file === '-';
  const name = fromInput ? standardInputName : file;
  if (file.trim() === '') return { ok: false, problem: unreadable(`'${file}'`, `no path given for ${what}`, "give the file's path, or - to read it from standard input") };
  // A terminal on standard input would wait for the user to type the file and press Ctrl-D.
  if (fromInput && isatty(0)) return { ok: false, problem: unreadable(name, `'-' reads ${what} from standard input, which is a terminal here`, `pipe it in (< file.yaml) or give its path`) };
  try {
    return specText(readFileSync(fromInput ? 0 : file), name, what);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    const fix = code === 'EISDIR' ? 'this is a folder: give the path of the file in it' : code === 'EACCES' || code === 'EPERM' ? 'this user may not read it: check its permissions (ls -l) and who runs this' : 'check the path';
    return { ok: false, problem: unreadable(name, `cannot read ${what} (${code})`, fix) };
  }
}

/**
 * A spec file's bytes as text, or where and why they are not UTF-8 text. Bytes that are not UTF-8
 * (a file saved as Latin-1) would be read as U+FFFD, and a name or a region with them accepted
 * changed: told where, with the fix.
 */
export function specText(bytes: Buffer, file: string, what: string): SpecFileText {
  const valid = isUtf8(bytes);
  // UTF-16 without a byte-order mark: a NUL every other byte of ASCII text, before any byte that is
  // not UTF-8 (an accented letter), so that one is not blamed on Latin-1.
  const nul = hasUtf16Mark(bytes) ? -1 : bytes.indexOf(0);
  if (nul >= 0 && (valid || nul < firstInvalidByte(bytes))) return { ok: false, problem: { ...at(file, bytes, nul), code: 'file_unreadable', path: '', message: `${what} holds a NUL byte here: UTF-16 text without a byte-order mark, or not a text file?`, suggestion: 'save the file as UTF-8 text' } };
  if (!valid) return { ok: false, problem: notUtf8(file, what, bytes) };
  return { ok: true, text: bytes.toString('utf8'), file };
}

function unreadable(file: string, message: string, suggestion: string): SpecProblem {
  return { code: 'file_unreadable', file, line: 0, column: 0, path: '', message, suggestion };
}

function notUtf8(file: string, what: string, bytes: Buffer): SpecProblem {
  // A UTF-16 byte-order mark: Windows PowerShell 5's > writes files so.
  if (hasUtf16Mark(bytes)) {
    return { code: 'file_unreadable', file, line: 1, column: 1, path: '', message: `${what} is UTF-16 text, not UTF-8 (Windows PowerShell 5 writes > redirections so)`, suggestion: 'save the file as UTF-8 (in PowerShell, Out-File -Encoding utf8)' };
  }
  return { ...at(file, bytes, firstInvalidByte(bytes)), code: 'file_unreadable', path: '', message: `${what} is not UTF-8 text: the byte here is not UTF-8 (saved as Latin-1 or Windows-1252?)`, suggestion: 'save the file as UTF-8 (most editors offer it under "Save with encoding")' };
}

/** Where the first byte that starts no valid UTF-8 sequence is (a lead byte, then its continuation bytes). */
function firstInvalidByte(bytes: Buffer): number {
  let index = 0;
  while (index < bytes.length) {
    const lead = bytes[index] ?? 0;
    const length = lead < 0x80 ? 1 : lead >= 0xc2 && lead < 0xe0 ? 2 : lead >= 0xe0 && lead < 0xf0 ? 3 : lead >= 0xf0 && lead < 0xf5 ? 4 : 0;
    if (length === 0) return index;
    for (let next = 1; next < length; next += 1) if (((bytes[index + next] ?? 0) & 0xc0) !== 0x80) return index;
    // Overlong forms, surrogates and code points past U+10FFFF, by the second byte's range.
    const second = bytes[index + 1] ?? 0;
    if ((lead === 0xe0 && second < 0xa0) || (lead === 0xed && second > 0x9f) || (lead === 0xf0 && second < 0x90) || (lead === 0xf4 && second > 0x8f)) return index;
    index += length;
  }
  return index;
}

/** The file, line and column of byte `offset`. */
function at(file: string, bytes: Buffer, offset: number): { readonly file: string; readonly line: number; readonly column: number } {
  const before = bytes.subarray(0, offset).toString('utf8');
  return { file, line: before.split('\n').length, column: before.length - before.lastIndexOf('\n') };
}

function hasUtf16Mark(bytes: Buffer): boolean {
  return (bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff);
}
