import { describe, expect, it } from 'vitest';
import { answerForUpstreamFailure, backoffMs, connectFailureStatus, failureToTell, isEndpointFault, isRetryableStatus, isWorthRevisiting, parseRetryAfterMs, relayedWait } from '../../src/gateway/retry-policy.js';
import { estimateTokens as estimatePromptTokens } from '../../src/protocol/chat.js';
import { seededRandom } from './seeded-random.js';

const config = { backoffMs: 50, maxBackoffMs: 2000 };

describe('isRetryableStatus', () => {
  it('retries connect errors, 408, 429, every 5xx (529 included) and the configuration faults 401/403/404', () => {
    expect(([connectFailureStatus, 401, 402, 403, 404, 405, 409, 410, 415, 418, 451, 408, 429, 500, 501, 502, 503, 504, 529] as const).every((status) => isRetryableStatus(status))).toBe(true);
  });
  it('does not retry what is wrong with the request itself', () => {
    expect([200, 400, 413, 422].map(isRetryableStatus)).toEqual([false, false, false, false]);
  });
});

describe('isEndpointFault', () => {
  it('counts unreachable, misconfigured, timed-out and failing endpoints, but not 429 backpressure or the caller\'s 4xx', () => {
    expect(([connectFailureStatus, 401, 403, 404, 408, 500, 503, 529] as const).every((status) => isEndpointFault(status))).toBe(true);
    expect([400, 413, 422, 429].map(isEndpointFault)).toEqual([false, false, false, false]);
  });
});

describe('isWorthRevisiting', () => {
  it('goes back after transient failures only: a rejected key or unknown model needs another endpoint', () => {
    expect(([connectFailureStatus, 408, 429, 503, 529] as const).every((status) => isWorthRevisiting(status))).toBe(true);
    expect([400, 401, 402, 403, 404, 405, 410, 451].map(isWorthRevisiting)).toEqual([false, false, false, false, false, false, false, false]);
  });
});

describe('answerForUpstreamFailure', () => {
  it('never tells a caller its key was rejected when the upstream rejected the gateway\'s', () => {
    for (const status of [401, 402, 403, 404, 405, 409, 410, 415, 418, 451]) expect(answerForUpstreamFailure(status)).toEqual({ status: 502, kind: 'api_error', passRetryAfter: false, isRetryable: false, relayMessage: false });
  });
  it('passes the caller\'s own 4xx through and maps the rest to what a client can act on', () => {
    // Only about the caller's own request may the upstream's words reach the caller.
    expect(answerForUpstreamFailure(400)).toEqual({ status: 400, kind: 'invalid_request', passRetryAfter: false, isRetryable: false, relayMessage: true });
    expect(answerForUpstreamFailure(413)).toEqual({ status: 413, kind: 'too_large', passRetryAfter: false, isRetryable: false, relayMessage: true });
    expect(answerForUpstreamFailure(422)).toEqual({ status: 422, kind: 'invalid_request', passRetryAfter: false, isRetryable: false, relayMessage: true });
    expect(answerForUpstreamFailure(429)).toEqual({ status: 429, kind: 'rate_limit', passRetryAfter: true, isRetryable: true, relayMessage: false });
    expect(answerForUpstreamFailure(529)).toEqual({ status: 503, kind: 'overloaded', passRetryAfter: true, isRetryable: true, relayMessage: false });
    expect(answerForUpstreamFailure(503)).toEqual({ status: 503, kind: 'overloaded', passRetryAfter: true, isRetryable: true, relayMessage: false });
    expect(answerForUpstreamFailure(408)).toEqual({ status: 504, kind: 'timeout', passRetryAfter: false, isRetryable: true, relayMessage: false });
    expect(answerForUpstreamFailure(500)).toEqual({ status: 502, kind: 'api_error', passRetryAfter: false, isRetryable: true, relayMessage: false });
    expect(answerForUpstreamFailure(0)).toEqual({ status: 502, kind: 'api_error', passRetryAfter: false, isRetryable: true, relayMessage: false });
  });
});

describe('backoffMs', () => {
  it('full jitter: uniform in [0, backoff * 2^(attempt-1)), capped at maxBackoffMs', () => {
    const random = seededRandom(3);
    for (let attempt = 1; attempt <= 10; attempt += 1) {
      const ceiling = Math.min(2000, 50 * 2 ** (attempt - 1));
      const draws = Array.from({ length: 500 }, () => backoffMs(attempt, config, random));
      expect(Math.min(...draws)).toBeGreaterThanOrEqual(0);
      expect(Math.max(...draws)).toBeLessThan(ceiling);
      // Spread over the range, not clustered: jitter is doing its job.
      expect(Math.max(...draws)).toBeGreaterThan(ceiling * 0.9);
      expect(Math.min(...draws)).toBeLessThan(ceiling * 0.1);
    }
  });

  it('exact at the ends of the random range, and safe with a bad random source', () => {
    expect(backoffMs(3, config, () => 0)).toBe(0);
    expect(backoffMs(3, config, () => 0.5)).toBe(100);
    expect(backoffMs(3, config, () => 1)).toBeLessThan(200);
    expect(backoffMs(3, config, () => Number.NaN)).toBe(0);
    expect(backoffMs(1000, config, () => 0.5)).toBe(1000);
  });

  it('waits at least what the endpoint asked (its Retry-After, in ms), capped at maxBackoffMs', () => {
    expect(backoffMs(1, config, () => 0.5, 1000)).toBe(1000);
    expect(backoffMs(1, config, () => 0.5, 0)).toBe(25);
    expect(backoffMs(1, config, () => 0.5, 120_000)).toBe(2000);
    expect(backoffMs(1, config, () => 0.5, parseRetryAfterMs('1'))).toBe(1000);
  });
});

describe('parseRetryAfterMs', () => {
  it('reads seconds and HTTP dates; a past date is 0', () => {
    const now = Date.parse('Wed, 21 Oct 2015 07:28:00 GMT');
    expect(parseRetryAfterMs(' 3 ')).toBe(3000);
    expect(parseRetryAfterMs('1.5')).toBe(1500);
    expect(parseRetryAfterMs('Wed, 21 Oct 2015 07:28:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfterMs('Wed, 21 Oct 2015 07:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfterMs('-1', now)).toBeUndefined();
    expect(parseRetryAfterMs('tomorrow', now)).toBeUndefined();
    expect(parseRetryAfterMs('', now)).toBeUndefined();
  });

  it('takes at most a day', () => {
    const now = Date.parse('Wed, 21 Oct 2015 07:28:00 GMT');
    expect(parseRetryAfterMs('99999999999')).toBe(86_400_000);
    expect(parseRetryAfterMs('Wed, 21 Oct 2115 07:28:00 GMT', now)).toBe(86_400_000);
  });
});

describe('relayedWait', () => {
  it('passes an upstream Retry-After on as the gateway writes any wait, from a second to a day, with retry-after-ms; nothing that does not parse', () => {
    const now = Date.parse('Wed, 21 Oct 2015 07:28:00 GMT');
    expect(relayedWait(parseRetryAfterMs('1.2', now))).toEqual({ 'retry-after': '2', 'retry-after-ms': '1200' });
    expect(relayedWait(parseRetryAfterMs('Wed, 21 Oct 2015 07:28:30 GMT', now))).toEqual({ 'retry-after': '30', 'retry-after-ms': '30000' });
    expect(relayedWait(parseRetryAfterMs('99999999999', now))).toEqual({ 'retry-after': '86400', 'retry-after-ms': '86400000' });
    // A wait of 0 (or a date past) is not passed on as 'retry at once': the gateway already did.
    expect(relayedWait(parseRetryAfterMs('0', now))).toEqual({ 'retry-after': '1', 'retry-after-ms': '1000' });
    expect(relayedWait(parseRetryAfterMs('0.2', now))).toEqual({ 'retry-after': '1', 'retry-after-ms': '1000' });
    expect(relayedWait(parseRetryAfterMs('Wed, 21 Oct 2015 07:27:00 GMT', now))).toEqual({ 'retry-after': '1', 'retry-after-ms': '1000' });
    expect(relayedWait(parseRetryAfterMs('soon, maybe <script>', now))).toEqual({});
  });
});

describe('estimatePromptTokens', () => {
  it('is ceil(UTF-8 bytes / 4): characters / 4 for ASCII', () => {
    expect(estimatePromptTokens('')).toBe(0);
    expect(estimatePromptTokens('abc')).toBe(1);
    expect(estimatePromptTokens('abcd')).toBe(1);
    expect(estimatePromptTokens('abcde')).toBe(2);
    expect(estimatePromptTokens('x'.repeat(4000))).toBe(1000);
  });
});

describe('failureToTell', () => {
  const at = 10_000;
  type Failure = { readonly status: number; readonly retryAfterAt?: number };
  it('gives a last failure that names no wait, for a reason a wait may cure, way to an earlier one whose wait still runs', () => {
    const waited: Failure = { status: 429, retryAfterAt: at + 5_000 };
    expect(failureToTell<Failure>({ status: 503 }, waited, at)).toBe(waited);
    expect(failureToTell<Failure>({ status: 0 }, waited, at)).toBe(waited);
  });

  it('keeps the last failure when it names a wait, a wait cures nothing (a 400), no wait was asked, or the wait is over', () => {
    const own: Failure = { status: 503, retryAfterAt: at + 1_000 };
    expect(failureToTell<Failure>(own, { status: 429, retryAfterAt: at + 5_000 }, at)).toBe(own);
    const refusal: Failure = { status: 400 };
    expect(failureToTell<Failure>(refusal, { status: 429, retryAfterAt: at + 5_000 }, at)).toBe(refusal);
    const plain: Failure = { status: 502 };
    expect(failureToTell<Failure>(plain, undefined, at)).toBe(plain);
    expect(failureToTell<Failure>(plain, { status: 429, retryAfterAt: at }, at)).toBe(plain);
  });
});
