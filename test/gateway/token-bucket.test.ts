import { describe, expect, it } from 'vitest';
import { checkTenantLimits, MemoryRateLimitStore, settleTokenUsage } from '../../src/gateway/token-bucket.js';

const tenant = { id: 'acme', requestsPerMinute: 60, tokensPerMinute: 6000 };

describe('MemoryRateLimitStore (token bucket)', () => {
  it('starts full and refuses once empty, with the wait until enough refill', () => {
    const store = new MemoryRateLimitStore();
    expect(store.take('k', 3, 3, 0.001, 0)).toEqual({ allowed: true, remaining: 0, retryAfterMs: 0 });
    expect(store.take('k', 1, 3, 0.001, 0)).toEqual({ allowed: false, remaining: 0, retryAfterMs: 1000 });
    expect(store.take('k', 2, 3, 0.001, 500)).toEqual({ allowed: false, remaining: 0, retryAfterMs: 1500 });
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
    expect(store.take('k', 15, 10, 0.01, 0)).toEqual({ allowed: true, remaining: 0, retryAfterMs: 0 });
    // -5 tokens: 6 must refill before one token is there.
    expect(store.take('k', 1, 10, 0.01, 0)).toEqual({ allowed: false, remaining: 0, retryAfterMs: 600 });
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
    expect(store.take('k', 1, 10, 0.001, 0)).toEqual({ allowed: false, remaining: 0, retryAfterMs: 3000 });
  });
});

describe('checkTenantLimits', () => {
  it('admits within both limits and reports the standard headers', () => {
    const decision = checkTenantLimits(new MemoryRateLimitStore(), tenant, 1000, 0);
    expect(decision).toEqual({
      allowed: true,
      headers: { 'x-ratelimit-limit-requests': '60', 'x-ratelimit-remaining-requests': '59', 'x-ratelimit-limit-tokens': '6000', 'x-ratelimit-remaining-tokens': '5000' },
    });
  });

  it('refuses on requests per minute with Retry-After in whole seconds', () => {
    const store = new MemoryRateLimitStore();
    for (let index = 0; index < 60; index += 1) expect(checkTenantLimits(store, tenant, 1, 0).allowed).toBe(true);
    const refused = checkTenantLimits(store, tenant, 1, 0);
    expect(refused).toMatchObject({ allowed: false, limit: 'requests', retryAfterMs: 1000 });
    expect(refused.headers).toMatchObject({ 'retry-after': '1', 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-remaining-tokens': '5940' });
    expect(checkTenantLimits(store, tenant, 1, 1000).allowed).toBe(true);
  });

  it('refuses on tokens per minute, with the wait for the missing tokens', () => {
    const store = new MemoryRateLimitStore();
    expect(checkTenantLimits(store, tenant, 5000, 0).allowed).toBe(true);
    const refused = checkTenantLimits(store, tenant, 3000, 0);
    // 2000 tokens missing at 100 tokens/s: 20 s.
    expect(refused).toMatchObject({ allowed: false, limit: 'tokens', retryAfterMs: 20_000 });
    expect(refused.headers['retry-after']).toBe('20');
    expect(checkTenantLimits(store, tenant, 3000, 20_000).allowed).toBe(true);
  });

  it('a request needing more than a whole minute of tokens is refused outright, with no wait to offer, and charged nothing', () => {
    const store = new MemoryRateLimitStore();
    const refused = checkTenantLimits(store, tenant, 6001, 0);
    expect(refused).toMatchObject({ allowed: false, limit: 'tokens', tooLarge: true, retryAfterMs: Number.POSITIVE_INFINITY });
    expect(refused.headers).not.toHaveProperty('retry-after');
    // Nothing was taken from either bucket: a whole minute's worth still passes at once.
    expect(checkTenantLimits(store, tenant, 6000, 0)).toMatchObject({ allowed: true, headers: { 'x-ratelimit-remaining-requests': '59', 'x-ratelimit-remaining-tokens': '0' } });
    expect(checkTenantLimits(store, tenant, 1, 0)).toMatchObject({ allowed: false, tooLarge: false });
  });

  it('a short wait still says at least one second', () => {
    const store = new MemoryRateLimitStore();
    checkTenantLimits(store, tenant, 6000, 0);
    const refused = checkTenantLimits(store, tenant, 1, 0);
    expect(refused).toMatchObject({ allowed: false, limit: 'tokens', retryAfterMs: 10 });
    expect(refused.headers['retry-after']).toBe('1');
  });

  it('settling refunds an over-estimate', () => {
    const store = new MemoryRateLimitStore();
    checkTenantLimits(store, tenant, 6000, 0);
    settleTokenUsage(store, tenant, 6000, 1000, 0);
    expect(checkTenantLimits(store, tenant, 5000, 0).allowed).toBe(true);
  });
});
