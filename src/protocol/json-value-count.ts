/**
 * How many JSON values a request body may hold by default (`limits.maxJsonValues`), counted as its
 * objects, arrays and the commas between entries, outside strings. A body is parsed and checked on
 * the one thread that serves every stream: 32 MiB of `{},` (11 million values) held the gateway
 * for six seconds. Checking is the dearer part when the values are wrong where the schema looks
 * (one issue each): 100,000 values of empty messages take 0.1 to 0.3 s here, a million 1 to 3 s.
 * Real requests hold far fewer, but not always few: an Anthropic tool call's input is JSON
 * (OpenAI's arguments are one string), and 35,000 points of data in one came to 100,000 values in
 * 405 KB; an operator whose traffic holds more raises the limit.
 */
export const defaultMaxJsonValues = 100_000;

/**
 * Whether the JSON text `bytes` holds more than `limit` values (objects, arrays and commas outside
 * strings), read in one pass before it is parsed. Each counts one byte at least, so a text of at
 * most `limit` bytes cannot, and is not read. Strings are skipped with a native search for their
 * closing quote: an inline image, one long string, costs little.
 */
export function holdsMoreJsonValues(bytes: Uint8Array, limit: number): boolean {
  if (bytes.length <= limit) return false;
  let count = 0;
  for (let index = 0; index < bytes.length; index++) {
    const byte = bytes[index] as number;
    if (byte === 0x22) {
      index = closingQuote(bytes, index);
      // Unterminated: JSON.parse refuses it.
      if (index < 0) return false;
    } else if ((byte === 0x2c || byte === 0x5b || byte === 0x7b) && ++count > limit) return true;
  }
  return false;
}

/**
 * The index of the quote that closes the string opened at `opening` (one after an even run of
 * backslashes), or -1. The next 32 bytes are looked at one by one (short strings, and JSON inside
 * a string, where quotes come close together and a native call each would cost more), the rest
 * with a native search.
 */
function closingQuote(bytes: Uint8Array, opening: number): number {
  let from = opening + 1;
  for (;;) {
    const near = Math.min(bytes.length, from + 32);
    let at = -1;
    for (let index = from; index < near; index++) {
      if (bytes[index] === 0x22) {
        at = index;
        break;
      }
    }
    if (at < 0) at = near === bytes.length ? -1 : bytes.indexOf(0x22, near);
    if (at < 0) return -1;
    let backslashes = 0;
    while (bytes[at - 1 - backslashes] === 0x5c) backslashes += 1;
    if (backslashes % 2 === 0) return at;
    from = at + 1;
  }
}
