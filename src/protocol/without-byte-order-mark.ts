/**
 * JSON text without the byte order mark a sender may put first: RFC 8259 (8.1) lets a reader ignore
 * it, and JSON.parse refuses it. For request bodies and upstream answers alike.
 */
export function withoutByteOrderMark(text: string): string {
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}
