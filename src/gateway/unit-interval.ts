/** A random draw forced into [0, 1), whatever the source returns, so an index or a log never goes out of range. */
export function unitInterval(value: number): number {
  if (!Number.isFinite(value) || value < 0) return 0;
  return value >= 1 ? 1 - Number.EPSILON : value;
}
