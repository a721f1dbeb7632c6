import { describe, expect, it } from 'vitest';
import { checkTenantLimits, MemoryRateLimitStore, settleTokenUsage, tenantLimitState } from '../../src/gateway/token-bucket.js';
import { retryAfterHeaders } from '../../src/gateway/retry-policy.js';
import { seededRandom } from './seeded-random.js';

const tenant = { id: 'acme', requestsPerMinute: 60, tokensPerMinute: 6000 };

describe('MemoryRateLimitStore (token bucket)', () => {
  it('starts full and refuses once empty, with the wait until enough refill', () => {
    const store = new MemoryRateLimitStore();
    expect(store.take('k', 3, 3, 0.001, 0)).toEqual({ allowed: true, remaining: 0, retryAfterMs: 0, fullInMs: 3000 });
    expect(store.take('k', 1, 3, 0.001, 0)).toEqual({ allowed: false, remaining: 0, retryAfterMs: 1000, fullInMs: 3000 });
    expect(store.take('k', 2, 3, 0.001, 500)).toEqual({ allowed: false, remaining: 0, retryAfterMs: 1500, fullInMs: 2500 });
  });

  it('refills with time, never past capacity', () => {
    const store = new MemoryRateLimitStore();
    store.take('k', 3, 3, 0.001, 0);
    expect(store.take('k', 1, 3, 0.001, 1000)).toMatchObject({ allowed: true, remaining: 0 });
    expect(store.take('k', 1, 3, 0.001, 1_000_000)).toMatchObject({ allowed: true, remaining: 2 });
  });

  it('a refused take takes nothing', () => {
    const store = new MemoryRateLimitStore();
    store.take('k', 2, 3, 0.001, 0);
    expect(store.take('k', 2, 3, 0.001, 0).allowed).toBe(false);
    expect(store.take('k', 1, 3, 0.001, 0)).toMatchObject({ allowed: true, remaining: 0 });
  });

  it('a cost above capacity passes only from a full bucket and leaves an overdraft to repay', () => {
    const store = new MemoryRateLimitStore();
    // -5 tokens: 15 must refill before the bucket is full again,
    expect(store.take('k', 15, 10, 0.01, 0)).toEqual({ allowed: true, remaining: 0, retryAfterMs: 0, fullInMs: 1500 });
    // and 6 before one token is there.
    expect(store.take('k', 1, 10, 0.01, 0)).toEqual({ allowed: false, remaining: 0, retryAfterMs: 600, fullInMs: 1500 });
    expect(store.take('k', 15, 10, 0.01, 1000).allowed).toBe(false);
    expect(store.take('k', 15, 10, 0.01, 1500).allowed).toBe(true);
  });

  it('keys are independent, and a clock stepping back refills nothing', () => {
    const store = new MemoryRateLimitStore();
    store.take('a', 1, 1, 0.001, 1000);
    expect(store.take('b', 1, 1, 0.001, 1000).allowed).toBe(true);
    expect(store.take('a', 1, 1, 0.001, 0).allowed).toBe(false);
    expect(store.take('a', 1, 1, 0.001, 2000).allowed).toBe(true);
  });

  it('adjust refunds (capped) and charges (into overdraft)', () => {
    const store = new MemoryRateLimitStore();
    store.take('k', 8, 10, 0.001, 0);
    store.adjust('k', 100, 10, 0.001, 0);
    expect(store.take('k', 0, 10, 0.001, 0).remaining).toBe(10);
    store.adjust('k', -12, 10, 0.001, 0);
    // In overdraft: 3 s until one token, 12 s until full.
    expect(store.take('k', 1, 10, 0.001, 0)).toEqual({ allowed: false, remaining: 0, retryAfterMs: 3000, fullInMs: 12_000 });
  });
});

describe('checkTenantLimits', () => {
  it('admits within both limits and reports each limit, what is left and when it is full again', () => {
    const decision = checkTenantLimits(new MemoryRateLimitStore(), tenant, 1000, 0);
    expect(decision).toEqual({
      allowed: true,
      // One request of 60/min is back in 1 s; 1,000 tokens of 6,000/min in 10 s.
      state: { requests: { limit: 60, remaining: 59, resetMs: 1000 }, tokens: { limit: 6000, remaining: 5000, resetMs: 10_000 } },
    });
  });

  it('refuses on requests per minute, with the wait for one request', () => {
    const store = new MemoryRateLimitStore();
    for (let index = 0; index < 60; index += 1) expect(checkTenantLimits(store, tenant, 1, 0).allowed).toBe(true);
    const refused = checkTenantLimits(store, tenant, 1, 0);
    expect(refused).toMatchObject({ allowed: false, limit: 'requests', retryAfterMs: 1000, state: { requests: { remaining: 0, resetMs: 60_000 }, tokens: { remaining: 5940 } } });
    expect(checkTenantLimits(store, tenant, 1, 1000).allowed).toBe(true);
  });

  it('refuses on tokens per minute, with the wait for the missing tokens', () => {
    const store = new MemoryRateLimitStore();
    expect(checkTenantLimits(store, tenant, 5000, 0).allowed).toBe(true);
    const refused = checkTenantLimits(store, tenant, 3000, 0);
    // 2000 tokens missing at 100 tokens/s: 20 s.
    expect(refused).toMatchObject({ allowed: false, limit: 'tokens', retryAfterMs: 20_000 });
    expect(checkTenantLimits(store, tenant, 3000, 20_000).allowed).toBe(true);
  });

  describe('with both limits short, the wait is until both let the request through, and a retry then is let in', () => {
    const scarce = { id: 'scarce', requestsPerMinute: 2, tokensPerMinute: 6000 };

    it('refused for requests while also short of tokens: the longer tokens wait, named as the tokens limit', () => {
      const store = new MemoryRateLimitStore();
      expect(checkTenantLimits(store, scarce, 4010, 0).allowed).toBe(true);
      expect(checkTenantLimits(store, scarce, 1, 0).allowed).toBe(true);
      // No request left (one back in 30 s), and 1,989 of the 5,910 tokens (the rest in 39.21 s at 100/s).
      const refused = checkTenantLimits(store, scarce, 5910, 0);
      expect(refused).toMatchObject({ allowed: false, limit: 'tokens', retryAfterMs: 39_210 });
      expect(checkTenantLimits(store, scarce, 5910, 39_210).allowed).toBe(true);
    });

    it('refused for tokens, having spent the last request (as OpenAI counts refused requests): the wait for a request again', () => {
      const store = new MemoryRateLimitStore();
      expect(checkTenantLimits(store, scarce, 4010, 0).allowed).toBe(true);
      // 120 tokens short (1.2 s), and this attempt takes the last request: one is back in 30 s.
      const refused = checkTenantLimits(store, scarce, 2110, 0);
      expect(refused).toMatchObject({ allowed: false, limit: 'requests', retryAfterMs: 30_000 });
      expect(checkTenantLimits(store, scarce, 2110, 30_000).allowed).toBe(true);
    });
  });

  it('a request needing more than a whole minute of tokens is refused outright, with no wait to offer, and charged nothing', () => {
    const store = new MemoryRateLimitStore();
    const refused = checkTenantLimits(store, tenant, 6001, 0);
    expect(refused).toMatchObject({ allowed: false, limit: 'tokens', tooLarge: true, retryAfterMs: Number.POSITIVE_INFINITY, state: { requests: { remaining: 60 }, tokens: { remaining: 6000 } } });
    expect(retryAfterHeaders(Number.POSITIVE_INFINITY)).toEqual({});
    // Nothing was taken from either bucket: a whole minute's worth still passes at once.
    expect(checkTenantLimits(store, tenant, 6000, 0)).toMatchObject({ allowed: true, state: { requests: { remaining: 59 }, tokens: { remaining: 0 } } });
    expect(checkTenantLimits(store, tenant, 1, 0)).toMatchObject({ allowed: false, tooLarge: false });
  });

  it('a short wait still says at least one second in Retry-After, and the exact wait in retry-after-ms', () => {
    const store = new MemoryRateLimitStore();
    checkTenantLimits(store, tenant, 6000, 0);
    const refused = checkTenantLimits(store, tenant, 1, 0);
    expect(refused).toMatchObject({ allowed: false, limit: 'tokens', retryAfterMs: 10 });
    expect(retryAfterHeaders(10)).toEqual({ 'retry-after': '1', 'retry-after-ms': '10' });
    expect(retryAfterHeaders(20_000)).toEqual({ 'retry-after': '20', 'retry-after-ms': '20000' });
    expect(retryAfterHeaders(20_001)).toEqual({ 'retry-after': '21', 'retry-after-ms': '20001' });
  });

  it('the state as it stands charges nothing, and shows a refund', () => {
    const store = new MemoryRateLimitStore();
    checkTenantLimits(store, tenant, 1000, 0);
    const state = tenantLimitState(store, tenant, 0);
    expect(state).toEqual({ requests: { limit: 60, remaining: 59, resetMs: 1000 }, tokens: { limit: 6000, remaining: 5000, resetMs: 10_000 } });
    expect(tenantLimitState(store, tenant, 0)).toEqual(state);
    settleTokenUsage(store, tenant, 1000, 0, 0);
    expect(tenantLimitState(store, tenant, 0).tokens).toEqual({ limit: 6000, remaining: 6000, resetMs: 0 });
  });

  it('settling refunds an over-estimate', () => {
    const store = new MemoryRateLimitStore();
    checkTenantLimits(store, tenant, 6000, 0);
    settleTokenUsage(store, tenant, 6000, 1000, 0);
    expect(checkTenantLimits(store, tenant, 5000, 0).allowed).toBe(true);
  });
});

describe('Retry-After from a refusal', () => {
  it('is enough: a retry exactly that much later is not refused by the same limit (no rounding shortfall)', () => {
    const random = seededRandom(12345);
    const refusedAgain: string[] = [];
    let trials = 0;
    for (const requestsPerMinute of [1, 3, 7, 60, 61, 97, 600, 7777]) {
      for (const tokensPerMinute of [4096, 5000, 6000, 123457]) {
        const store = new MemoryRateLimitStore();
        const tenant = { id: `t${requestsPerMinute}-${tokensPerMinute}`, requestsPerMinute, tokensPerMinute };
        let now = 1_700_000_000_000 + Math.floor(random() * 1e6);
        for (let i = 0; i < 300; i += 1) {
          const cost = 1 + Math.floor(random() * Math.min(tokensPerMinute, 5000));
          const first = checkTenantLimits(store, tenant, cost, now);
          if (!first.allowed && Number.isFinite(first.retryAfterMs)) {
            trials += 1;
            now += first.retryAfterMs;
            const again = checkTenantLimits(store, tenant, cost, now);
            if (!again.allowed && again.limit === first.limit) refusedAgain.push(`${tenant.id} cost ${cost}: again ${again.retryAfterMs} ms`);
          }
          now += Math.floor(random() * 300);
        }
      }
    }
    expect(trials).toBeGreaterThan(1000);
    expect(refusedAgain).toEqual([]);
  });
});
