import type { ResilienceConfig } from './gateway-config.js';
import { unitInterval } from './unit-interval.js';

/** Pure helpers for retries: what to retry, how long to wait, and how big a prompt is. */

/**
 * An upstream attempt that got no HTTP status: refused, reset or unreachable
 * before any response. Status 0 means the same, for callers that keep statuses numeric.
 */
export const connectError = 'connect-error';

const retryableStatuses: ReadonlySet<number> = new Set([429, 500, 502, 503, 504]);

/**
 * Whether a failed attempt may be retried (on another eligible endpoint or after
 * backoff). Other 4xx are the caller's fault and would fail again anywhere.
 */
export function isRetryableStatus(status: number | typeof connectError): boolean {
  return status === connectError || status === 0 || retryableStatuses.has(status);
}

/**
 * Milliseconds to wait before retry number `attempt` (1 for the first retry).
 * Exponential with full jitter: uniform in [0, min(maxBackoffMs, backoffMs * 2^(attempt-1))).
 * A Retry-After header (seconds, or an HTTP date, which needs `now` in epoch ms)
 * raises the wait to at least what the upstream asked; everything is capped at
 * maxBackoffMs, so a longer Retry-After is better served by another endpoint
 * (see parseRetryAfterMs to keep the asking endpoint out of rotation meanwhile).
 */
export function backoffMs(attempt: number, config: Pick<ResilienceConfig, 'backoffMs' | 'maxBackoffMs'>, random: () => number, retryAfterHeader?: string, now?: number): number {
  const exponent = Math.max(0, Math.floor(attempt) - 1);
  const ceiling = Math.min(config.maxBackoffMs, config.backoffMs * 2 ** exponent);
  const jittered = unitInterval(random()) * ceiling;
  const asked = retryAfterHeader === undefined ? undefined : parseRetryAfterMs(retryAfterHeader, now);
  return Math.min(config.maxBackoffMs, Math.max(jittered, asked ?? 0));
}

/**
 * A Retry-After header in milliseconds from `now`: delay-seconds (RFC 9110: a
 * non-negative integer; fractions are tolerated) or an HTTP date. Undefined when
 * it is malformed, or a date and `now` is not given. A date in the past is 0.
 */
export function parseRetryAfterMs(header: string, now?: number): number | undefined {
  const text = header.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text) * 1000;
  if (now === undefined) return undefined;
  const at = Date.parse(text);
  // Date.parse reads many formats; an HTTP date always names a weekday or month in letters.
  if (Number.isNaN(at) || !/[A-Za-z]/.test(text)) return undefined;
  return Math.max(0, at - now);
}
