/**
 * How many JSON values a request body may hold, counted as its objects, arrays and the commas
 * between entries, outside strings. A body is parsed and checked on the one thread that serves
 * every stream: 32 MiB of `{},` (11 million values) held the gateway for six seconds, long enough
 * for other tenants' healthy streams to look stalled. This many empty objects parse and are walked
 * in 5 to 20 ms here; a long conversation with tools holds tens of thousands at most, and an image
 * or a document is one string.
 */
export const maxJsonValues = 100_000;

/**
 * Whether the JSON text `bytes` holds more than `limit` values (objects, arrays and commas outside
 * strings), read in one pass before it is parsed. Each counts one byte at least, so a text of at
 * most `limit` bytes cannot, and is not read.
 */
export function holdsMoreJsonValues(bytes: Uint8Array, limit = maxJsonValues): boolean {
  if (bytes.length <= limit) return false;
  let count = 0;
  let inString = false;
  for (let index = 0; index < bytes.length; index++) {
    const byte = bytes[index] as number;
    if (inString) {
      // A backslash escapes the next byte (\" among them); a quote ends the string.
      if (byte === 0x5c) index += 1;
      else if (byte === 0x22) inString = false;
    } else if (byte === 0x22) inString = true;
    else if ((byte === 0x2c || byte === 0x5b || byte === 0x7b) && ++count > limit) return true;
  }
  return false;
}
