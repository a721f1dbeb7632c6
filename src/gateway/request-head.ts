import type { IncomingMessage } from 'node:http';

/** A header's value; the first, where Node keeps several. */
export function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** A request's path and query (without its '?'); RFC 9112 (3.2.2): a target in absolute form (as a client sends one through a proxy) is taken by its path. */
export function targetOf(req: IncomingMessage): { readonly path: string; readonly query: string } {
  const target = req.url ?? '/';
  const url = target.charCodeAt(0) === 47 ? target : originForm(target);
  const mark = url.indexOf('?');
  return mark < 0 ? { path: url, query: '' } : { path: url.slice(0, mark), query: url.slice(mark + 1) };
}

/**
 * The path and query of a request target in absolute form (`http://host/path?q`), as written: read
 * as a URL, its dot segments would be resolved (`/v1/../metrics`), which an origin-form target's are
 * not here, nor by a proxy in front that filters paths. The target as it is when it is none.
 */
function originForm(target: string): string {
  const scheme = /^https?:\/\//i.exec(target);
  if (scheme === null) return target;
  // The authority ends at the first '/' or '?' (RFC 3986, 3.2); an empty path is '/'.
  const slash = target.indexOf('/', scheme[0].length);
  const query = target.indexOf('?', scheme[0].length);
  const end = slash < 0 ? query : query < 0 ? slash : Math.min(slash, query);
  if (end < 0) return '/';
  return target.charCodeAt(end) === 63 ? `/${target.slice(end)}` : target.slice(end);
}

/** How many lines of the request's head name `lowerName` (Node keeps or joins repeats in `headers`). */
export function headerLines(rawHeaders: readonly string[], lowerName: string): number {
  let lines = 0;
  for (let index = 0; index < rawHeaders.length; index += 2) {
    const name = rawHeaders[index];
    if (name !== undefined && name.length === lowerName.length && name.toLowerCase() === lowerName) lines += 1;
  }
  return lines;
}

/** The key of an `Authorization: Bearer <key>` value, or undefined for another scheme or none. */
function bearer(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  // Node has taken HTTP's whitespace (space, tab) off the value's ends; a no-break space is no
  // separator and part of a key, as it is in x-api-key (JavaScript's \s and trim() would take it).
  const match = /^Bearer[ \t]+(.+?)[ \t]*$/i.exec(value);
  return match?.[1];
}

/**
 * The API keys a request presents, each where a client may send one: `Authorization: Bearer <key>`
 * (OpenAI's SDK) and `x-api-key` (Anthropic's). Read, not judged: authentication refuses two that
 * differ, and request ids are checked against both.
 */
export function presentedKeys(headers: IncomingMessage['headers']): { readonly bearer: string | undefined; readonly apiKeyHeader: string | undefined } {
  return { bearer: bearer(headers.authorization), apiKeyHeader: headerValue(headers['x-api-key']) };
}
