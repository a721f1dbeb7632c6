/**
 * A value now, or one to wait for (a store across the network). Paths that may answer at once stay
 * synchronous when they do: a promise per request on the hot path costs a microtask and its garbage.
 */
export type Awaitable<T> = T | PromiseLike<T>;

export function isPromiseLike<T>(value: Awaitable<T>): value is PromiseLike<T> {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function';
}
