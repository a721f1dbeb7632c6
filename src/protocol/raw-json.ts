import { randomUUID } from 'node:crypto';

/**
 * JSON text written into a body as it is, not parsed and written again: a tool call's arguments,
 * whose numbers a JavaScript number may not carry (an id above 2^53, 1e400, -0) and a parse would
 * change (1234567890123456789 to ...800, 1e400 to null), where the model's text, Anthropic's API and
 * a Python client keep them. Only a body written by stringifyJson writes it as it is. The text must
 * be valid JSON: it is not checked here.
 */
export class RawJson {
  constructor(readonly text: string) {}

  /** What JSON.stringify writes for it, for stringifyJson to find: the text behind this process's marker. */
  toJSON(): string {
    rawWritten += 1;
    return marker + this.text;
  }
}

// Random per process, so no caller's text can be mistaken for it (a guessed marker would let text through unescaped).
const marker = `\u0000raw-json-${randomUUID()}:`;
/** The marker as JSON.stringify writes it, opening the string literal that holds a RawJson's text. */
const writtenMarker = new RegExp(`"${JSON.stringify(marker).slice(1, -1).replace(/[\\$.*+?()[\]{}|^]/g, '\\$&')}(?:[^"\\\\]|\\\\.)*"`, 'g');
/** How many RawJson values JSON.stringify has written: a body wrote one when this moved. */
let rawWritten = 0;

/** JSON.stringify, with every RawJson in `value` written as its text (bodies without one cost a comparison more). */
export function stringifyJson(value: unknown): string {
  const before = rawWritten;
  const text = JSON.stringify(value);
  if (rawWritten === before) return text;
  return text.replace(writtenMarker, (literal) => (JSON.parse(literal) as string).slice(marker.length));
}

// Numbers outside strings: a string literal is matched whole first, so digits inside one are skipped.
const jsonToken = /"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/g;

/**
 * Whether parsing JSON text and writing it again keeps every number as written: not when one is
 * beyond what a double carries (an integer above 2^53, 1e400, -0), or written otherwise than
 * JavaScript writes it (1.0, 1e9), which a reader that keeps types (Python's json) reads otherwise.
 */
export function parseKeepsNumbers(text: string): boolean {
  for (const [token] of text.matchAll(jsonToken)) {
    if (token.startsWith('"')) continue;
    const value = Number(token);
    if (Object.is(value, -0) || String(value) !== token) return false;
  }
  return true;
}
