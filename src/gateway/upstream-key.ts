/**
 * An endpoint's upstream key as read from its environment variable, and what is wrong with the value
 * if anything. Surrounding whitespace is dropped: no HTTP header carries a line break, and a key
 * file or a Kubernetes secret made from one often ends in one (E51: every request then failed as
 * "could not connect"). An empty value is no key. A key with a character no key has stays as it
 * is, and the problem says so: a control character or line break inside it, or one past Latin-1,
 * which undici refuses (every request fails), or one of Latin-1 past ASCII, which it sends as it is,
 * or a space or tab inside it (R48), which it sends too, though no key has one.
 */
export interface UpstreamKey {
  readonly key: string | undefined;
  readonly problem?: 'unset' | 'empty' | 'surrounding-whitespace' | 'inner-whitespace' | 'unsendable' | 'latin1';
}

export function upstreamKey(value: string | undefined): UpstreamKey {
  if (value === undefined) return { key: undefined, problem: 'unset' };
  const key = value.trim();
  if (key === '') return { key: undefined, problem: 'empty' };
  // undici refuses control characters and line breaks in a header, and characters past Latin-1; it sends Latin-1 as it is.
  // eslint-disable-next-line no-control-regex -- control characters are what is looked for
  if (/[\x00-\x08\x0a-\x1f\x7f]|[^\x00-\xff]/.test(key)) return { key, problem: 'unsendable' };
  if (/[\x80-\xff]/.test(key)) return { key, problem: 'latin1' };
  // A header carries a space or tab, so it is sent; but no key has one (two values pasted together, a 'Bearer ' prefix).
  if (/[ \t]/.test(key)) return { key, problem: 'inner-whitespace' };
  return key === value ? { key } : { key, problem: 'surrounding-whitespace' };
}
