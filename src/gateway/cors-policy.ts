import { quoteIdentifier } from '../protocol/request-problem.js';
import type { ResponseHeaders } from './answer-sink.js';

/** Which web pages may call the gateway's API from a browser: the gateway config's `cors` block. */
export interface CorsConfig {
  /** Origins as `scheme://host[:port]`, lower case; `*` alone for any page. */
  readonly allowOrigins: readonly string[];
  /** How long a browser may keep a preflight's answer. */
  readonly maxAgeSeconds: number;
}

/**
 * The answer headers an SDK in a page reads (request ids, limits, waits): a browser shows a page's
 * script only the safelisted ones unless told.
 */
const exposedHeaders = [
  'x-request-id',
  'request-id',
  'retry-after',
  'retry-after-ms',
  'x-should-retry',
  'x-ratelimit-limit-requests',
  'x-ratelimit-remaining-requests',
  'x-ratelimit-reset-requests',
  'x-ratelimit-limit-tokens',
  'x-ratelimit-remaining-tokens',
  'x-ratelimit-reset-tokens',
  'anthropic-ratelimit-requests-limit',
  'anthropic-ratelimit-requests-remaining',
  'anthropic-ratelimit-requests-reset',
  'anthropic-ratelimit-tokens-limit',
  'anthropic-ratelimit-tokens-remaining',
  'anthropic-ratelimit-tokens-reset',
].join(', ');

const headerName = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/;

/** Whether a page of this origin may call; an origin is compared without case, as browsers send it lower case. */
function allows(config: CorsConfig, origin: string): boolean {
  return config.allowOrigins[0] === '*' || config.allowOrigins.includes(origin.toLowerCase());
}

/** `*` for any origin (no Vary needed); otherwise the caller's origin, and a Vary so caches keep one answer per origin. */
function allowedOrigin(config: CorsConfig, origin: string): ResponseHeaders {
  return config.allowOrigins[0] === '*' ? { 'access-control-allow-origin': '*' } : { 'access-control-allow-origin': origin, vary: 'Origin' };
}

/**
 * The headers that let the page at `origin` read an answer of an API path: none when CORS is off;
 * with a list of origins, only a `Vary: Origin` (caches keep one answer per origin) when the request
 * came from no page or from one not listed: the browser then keeps the answer from the page.
 * Authentication is unchanged: a page's request needs a key as any other.
 */
export function corsResponseHeaders(config: CorsConfig | undefined, origin: string | undefined): ResponseHeaders | undefined {
  if (config === undefined) return undefined;
  if (config.allowOrigins[0] !== '*' && (origin === undefined || !allows(config, origin))) return { vary: 'Origin' };
  return { ...allowedOrigin(config, origin ?? ''), 'access-control-expose-headers': exposedHeaders };
}

/** The answer to a CORS preflight: the headers of a 204, or why not (403, 405), with any headers to send. */
export type PreflightAnswer = { readonly ok: true; readonly headers: ResponseHeaders } | { readonly ok: false; readonly status: 403 | 405; readonly message: string; readonly headers: ResponseHeaders };

/**
 * A browser's preflight (OPTIONS with Access-Control-Request-Method) before a page calls a path that
 * takes `methods`. No key is asked: a preflight carries none, and it only says what the page may
 * send; the request itself is then authenticated as any other. The headers the page asks to send are
 * allowed as asked (SDKs send many of their own, `x-stainless-*`), as long as they are header names.
 */
export function answerPreflight(config: CorsConfig | undefined, origin: string | undefined, requestMethod: string, requestHeaders: string | undefined, methods: readonly string[]): PreflightAnswer {
  if (config === undefined) return { ok: false, status: 403, message: 'cross-origin requests from web pages are not enabled on this gateway: to let a page call it, list its origin in cors.allowOrigins of the gateway config', headers: {} };
  if (origin === undefined || !allows(config, origin)) return { ok: false, status: 403, message: `${origin === undefined ? 'a preflight without an Origin header' : `origin ${quoteIdentifier(origin)}`} is not in cors.allowOrigins of the gateway config: add the page's origin (scheme://host[:port]) to let it call`, headers: {} };
  if (!methods.includes(requestMethod)) return { ok: false, status: 405, message: `this path takes ${methods.join(' or ')}, not ${requestMethod.slice(0, 16)}`, headers: { allow: methods.join(', ') } };
  const asked = (requestHeaders ?? '')
    .split(',')
    .map((name) => name.trim().toLowerCase())
    .filter((name) => headerName.test(name));
  return {
    ok: true,
    headers: {
      ...allowedOrigin(config, origin),
      // Each answer depends on what was asked, so caches must not hand one page another's.
      vary: 'Origin, Access-Control-Request-Method, Access-Control-Request-Headers',
      'access-control-allow-methods': methods.join(', '),
      ...(asked.length === 0 ? {} : { 'access-control-allow-headers': asked.join(', ') }),
      'access-control-max-age': String(config.maxAgeSeconds),
    },
  };
}
