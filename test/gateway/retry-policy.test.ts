import { describe, expect, it } from 'vitest';
import { backoffMs, connectError, isRetryableStatus, parseRetryAfterMs } from '../../src/gateway/retry-policy.js';
import { estimateTokens as estimatePromptTokens } from '../../src/protocol/chat.js';
import { seededRandom } from './seeded-random.js';

const config = { backoffMs: 50, maxBackoffMs: 2000 };

describe('isRetryableStatus', () => {
  it('retries connect errors, 429 and 500/502/503/504 only', () => {
    expect(([connectError, 0, 429, 500, 502, 503, 504] as const).map((status) => isRetryableStatus(status))).toEqual([true, true, true, true, true, true, true]);
    expect([200, 400, 401, 403, 404, 413, 422, 501].map(isRetryableStatus)).toEqual([false, false, false, false, false, false, false, false]);
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

  it('honours Retry-After in seconds as a floor, capped at maxBackoffMs', () => {
    expect(backoffMs(1, config, () => 0.5, '1')).toBe(1000);
    expect(backoffMs(1, config, () => 0.5, '0')).toBe(25);
    expect(backoffMs(1, config, () => 0.5, '120')).toBe(2000);
  });

  it('honours Retry-After as an HTTP date given the time', () => {
    const now = Date.parse('Wed, 21 Oct 2015 07:28:00 GMT');
    expect(backoffMs(1, config, () => 0, 'Wed, 21 Oct 2015 07:28:01 GMT', now)).toBe(1000);
    // Without the time a date cannot be read: plain jittered backoff.
    expect(backoffMs(1, config, () => 0, 'Wed, 21 Oct 2015 07:28:01 GMT')).toBe(0);
  });

  it('ignores a malformed Retry-After', () => {
    expect(backoffMs(1, config, () => 0.5, 'soon', 0)).toBe(25);
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
});

describe('estimatePromptTokens', () => {
  it('is ceil(characters / 4)', () => {
    expect(estimatePromptTokens('')).toBe(0);
    expect(estimatePromptTokens('abc')).toBe(1);
    expect(estimatePromptTokens('abcd')).toBe(1);
    expect(estimatePromptTokens('abcde')).toBe(2);
    expect(estimatePromptTokens('x'.repeat(4000))).toBe(1000);
  });
});
