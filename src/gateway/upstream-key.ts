/**
 * An endpoint's upstream key as read from its environment variable, and what is wrong with the value
 * if anything. Surrounding whitespace is dropped: no HTTP header carries a line break, and a key
 * file or a Kubernetes secret made from one often ends in one (E51: every request then failed as
 * "could not connect"). An empty value is no key. A key with a character no key has (a control
 * character or line break inside it, or one beyond ASCII, which undici refuses or sends as Latin-1)
 * stays as it is: the problem says so.
 */
export interface UpstreamKey {
  readonly key: string | undefined;
  readonly problem?: 'unset' | 'empty' | 'surrounding-whitespace' | 'unsendable';
}

export function upstreamKey(value: string | undefined): UpstreamKey {
  if (value === undefined) return { key: undefined, problem: 'unset' };
  const key = value.trim();
  if (key === '') return { key: undefined, problem: 'empty' };
  if (!/^[\x21-\x7e](?:[\t\x20-\x7e]*[\x21-\x7e])?$/.test(key)) return { key, problem: 'unsendable' };
  return key === value ? { key } : { key, problem: 'surrounding-whitespace' };
}
