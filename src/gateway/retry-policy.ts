import { retryAfterHeaders } from '../protocol/retry-after-headers.js';
import type { ResilienceConfig } from './gateway-config.js';
import type { ErrorKind } from '../protocol/chat.js';
import { unitInterval } from './unit-interval.js';

/** Pure helpers for retries: what to retry, and how long to wait. */

/** The status of an upstream attempt that got none: refused, reset or unreachable before any response. */
export const connectFailureStatus = 0;

/**
 * The only upstream 4xx statuses that are about the request itself, which would fail
 * the same anywhere: passed to the caller, never retried, not held against the endpoint.
 */
const requestFaultStatuses: ReadonlySet<number> = new Set([400, 413, 422]);

/** Whether an upstream status says the caller's own request is at fault (400, 413, 422). */
export function isRequestFault(status: number): boolean {
  return requestFaultStatuses.has(status);
}

/**
 * Any other 4xx but 408 and 429 says the gateway's configuration of that endpoint is
 * wrong: its key (401, 403), its model mapping or URL (404, 405, 410, 415), its
 * account (402), or a policy of its own (451). Never the caller's key or model,
 * which the gateway already accepted.
 */
function isConfigurationFault(status: number): boolean {
  return status >= 400 && status < 500 && status !== 408 && status !== 429 && !requestFaultStatuses.has(status);
}

/**
 * Upstream failures that count against the endpoint's circuit: unreachable, a
 * configuration fault, a timeout (408), or any 5xx including Anthropic's 529.
 */
export function isEndpointFault(status: number): boolean {
  return status === connectFailureStatus || status === 408 || status >= 500 || isConfigurationFault(status);
}

/**
 * Whether a failed attempt may be retried (on another eligible endpoint or after
 * backoff): endpoint faults, and 429, which is backpressure, not a fault, so it
 * does not count against the circuit. 400, 413 and 422 are about the request itself.
 */
export function isRetryableStatus(status: number): boolean {
  return status === 429 || isEndpointFault(status);
}

/**
 * Whether going back to an endpoint that already failed this way can help: a
 * rejected key or an unknown model will not heal in a few milliseconds of
 * backoff, so configuration faults are only worth another endpoint.
 */
export function isWorthRevisiting(status: number): boolean {
  return isRetryableStatus(status) && !isConfigurationFault(status);
}

/** What the client is told when every attempt failed, the last with `status`. */
export interface UpstreamFailureAnswer {
  readonly status: number;
  readonly kind: ErrorKind;
  /** Whether the upstream's Retry-After, if any, is passed on. */
  readonly passRetryAfter: boolean;
  /** False when a client's retry cannot help (the gateway's own configuration is wrong, the request itself is at fault): ClientError's isRetryable. */
  readonly isRetryable: boolean;
  /**
   * Whether the upstream's own error text may reach the caller: only when it is about the
   * caller's request. Otherwise it may quote the gateway's upstream key, account or internals.
   */
  readonly relayMessage: boolean;
}

/**
 * Maps the last upstream failure to the client's answer. An upstream configuration
 * fault (401, 403, 404, ...) becomes 502: the caller's own key and model were accepted by the gateway, and an
 * SDK told "401" would wrongly conclude its key is bad.
 */
export function answerForUpstreamFailure(status: number): UpstreamFailureAnswer {
  if (status === 429) return { status: 429, kind: 'rate_limit', passRetryAfter: true, isRetryable: true, relayMessage: false };
  if (status === 408 || status === 504) return { status: 504, kind: 'timeout', passRetryAfter: false, isRetryable: true, relayMessage: false };
  if (status === 503 || status === 529) return { status: 503, kind: 'overloaded', passRetryAfter: true, isRetryable: true, relayMessage: false };
  if (isConfigurationFault(status)) return { status: 502, kind: 'api_error', passRetryAfter: false, isRetryable: false, relayMessage: false };
  if (requestFaultStatuses.has(status)) return { status, kind: status === 413 ? 'too_large' : 'invalid_request', passRetryAfter: false, isRetryable: false, relayMessage: true };
  return { status: 502, kind: 'api_error', passRetryAfter: false, isRetryable: true, relayMessage: false };
}

/**
 * Milliseconds to wait before retry number `attempt` (1 for the first retry).
 * Exponential with full jitter: uniform in [0, min(maxBackoffMs, backoffMs * 2^(attempt-1))).
 * `askedMs`, what the endpoint still asks for by its Retry-After (parseRetryAfterMs),
 * raises the wait to at least that; everything is capped at maxBackoffMs (an endpoint
 * asking for longer is not gone back to: see revisitExclusions in first-answer.ts).
 */
export function backoffMs(attempt: number, config: Pick<ResilienceConfig, 'backoffMs' | 'maxBackoffMs'>, random: () => number, askedMs = 0): number {
  const exponent = Math.max(0, Math.floor(attempt) - 1);
  const ceiling = Math.min(config.maxBackoffMs, config.backoffMs * 2 ** exponent);
  const jittered = unitInterval(random()) * ceiling;
  return Math.min(config.maxBackoffMs, Math.max(jittered, askedMs));
}

/** The longest wait an upstream's Retry-After is taken for (a day): longer ones are read as this. */
export const longestRetryAfterMs = 86_400_000;

/**
 * A Retry-After header in milliseconds from `now`: delay-seconds (RFC 9110: a
 * non-negative integer; fractions are tolerated) or an HTTP date, at most a day.
 * Undefined when it is malformed, or a date and `now` is not given. A date in
 * the past is 0.
 */
export function parseRetryAfterMs(header: string, now?: number): number | undefined {
  const text = header.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Math.min(longestRetryAfterMs, Number(text) * 1000);
  if (now === undefined) return undefined;
  const at = Date.parse(text);
  // Date.parse reads many formats; an HTTP date always names a weekday or month in letters.
  if (Number.isNaN(at) || !/[A-Za-z]/.test(text)) return undefined;
  return Math.min(longestRetryAfterMs, Math.max(0, at - now));
}

/**
 * The failure a caller is told of: `last`, unless it names no wait (none asked, or none that parsed)
 * for a reason a wait may cure (a 5xx, a timeout, no connection) and `waited` asked for a wait still
 * running at `now`: that one, whose Retry-After says when there is capacity again. One rule for
 * answers and token counts.
 */
export function failureToTell<T extends { readonly status: number; readonly retryAfterAt?: number | undefined }>(last: T, waited: T | undefined, now: number): T {
  return last.retryAfterAt === undefined && isRetryableStatus(last.status) && waited?.retryAfterAt !== undefined && waited.retryAfterAt > now ? waited : last;
}

/**
 * An upstream's wait as the gateway passes it on, `remainingMs` of it left (undefined: it named
 * none, or none that parsed: its text is the upstream's and never reaches the caller as is): from
 * a second (a shorter wait, or a date past, is no reason to come back at once: the gateway retried
 * already) to a day, as retryAfterHeaders writes any wait.
 */
export function relayedWait(remainingMs: number | undefined): Record<string, string> {
  return remainingMs === undefined ? {} : retryAfterHeaders(Math.min(longestRetryAfterMs, Math.max(1000, remainingMs)));
}
