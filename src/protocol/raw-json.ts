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

  /** What JSON.stringify writes for it, for stringifyJson to find: this process's marker and the text's place in the body. */
  toJSON(): string {
    written.push(this.text);
    return `${marker}${String(written.length - 1)}`;
  }
}

// Random per process, so no caller's text can be mistaken for it (a guessed marker would let text through unescaped).
const marker = `\u0000raw-json-${randomUUID()}:`;
/** The string literal JSON.stringify writes for a RawJson: the marker and a number, short whatever the text's length. */
const writtenMarker = new RegExp(`"${JSON.stringify(marker).slice(1, -1).replace(/[\\$.*+?()[\]{}|^]/g, '\\$&')}(\\d+)"`, 'g');
/** The texts of the RawJson values written by the stringifyJson calls running now, in order. */
const written: string[] = [];
/** How many stringifyJson calls are running (a toJSON may call it again inside one). */
let depth = 0;

/**
 * JSON.stringify, with every RawJson in `value` written as its text. A call inside another (a toJSON
 * that calls it) numbers its texts after the outer's and takes them off at its end, so the outer's
 * stay where they were (R23); a body without one costs no allocation, as it runs on every answer.
 */
export function stringifyJson(value: unknown): string {
  // A RawJson written by a plain JSON.stringify left its text here: dropped at the next outermost call.
  if (depth === 0) written.length = 0;
  const mark = written.length;
  depth += 1;
  let text: string;
  try {
    text = JSON.stringify(value);
  } finally {
    depth -= 1;
  }
  if (written.length === mark) return text;
  const result = text.replace(writtenMarker, (_literal, index: string) => wellFormed(written[Number(index)] ?? 'null'));
  written.length = mark;
  return result;
}

/**
 * The text with a lone surrogate (which can only be inside a JSON string) written as its escape, as
 * JSON.stringify writes it: raw, UTF-8 would turn it into U+FFFD.
 */
function wellFormed(text: string): string {
  return text.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, (unit) => `\\u${unit.charCodeAt(0).toString(16)}`);
}

// A number at a given place (sticky): short, so no text can make it recurse deeply.
const numberAt = /-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/y;

/**
 * Whether parsing JSON text and writing it again keeps every number as written: not when one is
 * beyond what a double carries (an integer above 2^53, 1e400, -0), or written otherwise than
 * JavaScript writes it (1.0, 1e9), which a reader that keeps types (Python's json) reads otherwise.
 * A loop, not one regular expression over the text: a string of millions of characters (a file a
 * tool writes) would exhaust the regular expression engine's stack.
 */
export function parseKeepsNumbers(text: string): boolean {
  let at = 0;
  while (at < text.length) {
    const code = text.charCodeAt(at);
    if (code === 0x22) {
      at = stringEnd(text, at);
    } else if (code === 0x2d || (code >= 0x30 && code <= 0x39)) {
      numberAt.lastIndex = at;
      const token = numberAt.exec(text)?.[0] ?? text.charAt(at);
      const number = Number(token);
      if (Object.is(number, -0) || String(number) !== token) return false;
      at += token.length;
    } else {
      at += 1;
    }
  }
  return true;
}

/** Where the string literal opening at `open` ends (just past its closing quote; the text's end if it has none). */
function stringEnd(text: string, open: number): number {
  let at = open + 1;
  for (;;) {
    const quote = text.indexOf('"', at);
    if (quote < 0) return text.length;
    // Escaped when an odd number of backslashes stands before it.
    let backslashes = 0;
    while (text.charCodeAt(quote - 1 - backslashes) === 0x5c) backslashes += 1;
    if (backslashes % 2 === 0) return quote + 1;
    at = quote + 1;
  }
}
