/** A field an upstream sent as text, or `fallback` when it sent none or another type (a number, an object). */
export function textOr(value: unknown, fallback = ''): string {
  return typeof value === 'string' ? value : fallback;
}
