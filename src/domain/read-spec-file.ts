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
  // A terminal on standard input would wait for the user to type the file and press Ctrl-D.
  if (fromInput && isatty(0)) return { ok: false, problem: unreadable(name, `'-' reads ${what} from standard input, which is a terminal here`, `pipe it in (< file.yaml) or give its path`) };
  try {
    const bytes = readFileSync(fromInput ? 0 : file);
    const text = bytes.toString('utf8');
    // Bytes that are not UTF-8 (a file saved as Latin-1) would be read as U+FFFD, and a name or a
    // region with them accepted changed: told where, with the fix.
    if (!isUtf8(bytes)) return { ok: false, problem: notUtf8(name, what, text) };
    return { ok: true, text, file: name };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    return { ok: false, problem: unreadable(name, `cannot read ${what} (${code})`, code === 'EISDIR' ? 'this is a folder: give the path of the file in it' : 'check the path') };
  }
}

function unreadable(file: string, message: string, suggestion: string): SpecProblem {
  return { code: 'file_unreadable', file, line: 0, column: 0, path: '', message, suggestion };
}

function notUtf8(file: string, what: string, text: string): SpecProblem {
  const at = Math.max(0, text.indexOf('\ufffd'));
  const before = text.slice(0, at);
  const line = before.split('\n').length;
  const column = at - before.lastIndexOf('\n');
  return { code: 'file_unreadable', file, line, column, path: '', message: `${what} is not UTF-8 text: the byte here is not UTF-8 (saved as Latin-1 or Windows-1252?)`, suggestion: 'save the file as UTF-8 (most editors offer it under "Save with encoding")' };
}
