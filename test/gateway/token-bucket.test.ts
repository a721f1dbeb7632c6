import { describe, expect, it } from 'vitest';
import { isPromiseLike, type Awaitable } from '../../src/gateway/awaitable.js';
import { checkTenantLimits, MemoryRateLimitStore, settleTokenUsage, tenantLimitState, waitFor, type BucketLevel, type BucketRule, type RateLimitStore, type TenantLimitDecision, type TenantLimits } from '../../src/gateway/token-bucket.js';
import type { RateLimitState } from '../../src/protocol/chat.js';
import { DeferredRateLimitStore } from './helpers/deferred-rate-limit-store.js';
import { retryAfterHeaders } from '../../src/protocol/retry-after-headers.js';
import { seededRandom } from './seeded-random.js';

const tenant = { id: 'acme', requestsPerMinute: 60, tokensPerMinute: 6000 };

// One suite for every store: the memory store, and one that answers later as a shared store
// across a network does. Levels are what a store answers; waits are computed from them.
const stores: readonly (readonly [string, () => RateLimitStore])[] = [
  ['MemoryRateLimitStore', () => new MemoryRateLimitStore()],
  ['a store that answers later', () => new DeferredRateLimitStore()],
];

const rule = (key: string, capacity: number, refillPerMs: number): BucketRule => ({ key, capacity, refillPerMs });

describe.each(stores)('%s (token buckets)', (_name, makeStore) => {
  const k3 = rule('k', 3, 0.001);
  const takeOne = async (store: RateLimitStore, bucket: BucketRule, cost: number, now: number): Promise<BucketLevel> => {
    const [level] = await store.take([{ ...bucket, cost }], now);
    if (level === undefined) throw new Error('no level');
    return level;
  };

  it('starts full and refuses once empty, with the wait until enough refill', async () => {
    const store = makeStore();
    expect(await takeOne(store, k3, 3, 0)).toEqual({ allowed: true, tokens: 0 });
    const refused = await takeOne(store, k3, 1, 0);
    expect(refused).toEqual({ allowed: false, tokens: 0 });
    expect(waitFor(refused.tokens, 1, k3)).toBe(1000);
    const later = await takeOne(store, k3, 2, 500);
    expect(later.allowed).toBe(false);
    expect(waitFor(later.tokens, 2, k3)).toBe(1500);
  });

  it('refills with time, never past capacity', async () => {
    const store = makeStore();
    await takeOne(store, k3, 3, 0);
    expect(await takeOne(store, k3, 1, 1000)).toMatchObject({ allowed: true, tokens: 0 });
    expect(await takeOne(store, k3, 1, 1_000_000)).toMatchObject({ allowed: true, tokens: 2 });
  });

  it('a refused take takes nothing, and neither do the takes after it in the same step', async () => {
    const store = makeStore();
    const other = rule('other', 5, 0.001);
    await takeOne(store, k3, 2, 0);
    expect(await store.take([{ ...k3, cost: 2 }, { ...other, cost: 1 }], 0)).toEqual([{ allowed: false, tokens: 1 }, { allowed: false, tokens: 5 }]);
    expect(await store.take([{ ...k3, cost: 1 }, { ...other, cost: 1 }], 0)).toEqual([{ allowed: true, tokens: 0 }, { allowed: true, tokens: 4 }]);
  });

  it('a cost above capacity passes only from a full bucket and leaves an overdraft to repay', async () => {
    const store = makeStore();
    const k10 = rule('k', 10, 0.01);
    // 15 from a full 10 leaves -5: 1,500 ms of refill before the bucket is full again.
    expect(await takeOne(store, k10, 15, 0)).toEqual({ allowed: true, tokens: -5 });
    const refused = await takeOne(store, k10, 1, 0);
    expect(refused.allowed).toBe(false);
    expect(waitFor(refused.tokens, 1, k10)).toBe(600);
    expect((await takeOne(store, k10, 15, 1000)).allowed).toBe(false);
    expect((await takeOne(store, k10, 15, 1500)).allowed).toBe(true);
  });

  it('keys are independent, and a clock stepping back refills nothing', async () => {
    const store = makeStore();
    const a = rule('a', 1, 0.001);
    await takeOne(store, a, 1, 1000);
    expect((await takeOne(store, rule('b', 1, 0.001), 1, 1000)).allowed).toBe(true);
    expect((await takeOne(store, a, 1, 0)).allowed).toBe(false);
    expect((await takeOne(store, a, 1, 2000)).allowed).toBe(true);
  });

  it('adjust refunds (capped) and charges (into overdraft), answering the tokens after', async () => {
    const store = makeStore();
    const k10 = rule('k', 10, 0.001);
    await takeOne(store, k10, 8, 0);
    expect(await store.adjust(k10, 100, 0)).toBe(10);
    expect(await store.adjust(k10, -12, 0)).toBe(-2);
    const refused = await takeOne(store, k10, 1, 0);
    expect(refused).toEqual({ allowed: false, tokens: -2 });
    expect(waitFor(refused.tokens, 1, k10)).toBe(3000);
  });

  it('decides a tenant as the memory store does, and a wait it gives lets the request through', async () => {
    const store = makeStore();
    const scarce = { id: 'scarce', requestsPerMinute: 2, tokensPerMinute: 6000 };
    expect(await checkTenantLimits(store, scarce, 5000, 0)).toMatchObject({ allowed: true, state: { requests: { remaining: 1 }, tokens: { remaining: 1000 } } });
    const refused = await checkTenantLimits(store, scarce, 3000, 0);
    expect(refused).toMatchObject({ allowed: false, limit: 'requests', retryAfterMs: 30_000 });
    if (refused.allowed) return;
    expect((await checkTenantLimits(store, scarce, 3000, refused.retryAfterMs)).allowed).toBe(true);
    // 1,000 left at 0, 3,000 refilled by 30 s, 3,000 taken, then refunded: 4,000.
    await settleTokenUsage(store, scarce, 3000, 0, refused.retryAfterMs);
    expect((await tenantLimitState(store, scarce, refused.retryAfterMs)).tokens.remaining).toBe(4000);
  });
});

// The memory store answers at once: admission on the gateway's hot path waits for nothing.
function atOnce<T>(value: Awaitable<T>): T {
  if (isPromiseLike(value)) throw new Error('the memory store answered later');
  return value;
}
const check = (store: RateLimitStore, limits: TenantLimits, tokens: number, now: number): TenantLimitDecision => atOnce(checkTenantLimits(store, limits, tokens, now));
const stateNow = (store: RateLimitStore, limits: TenantLimits, now: number): RateLimitState => atOnce(tenantLimitState(store, limits, now));
const settleNow = (store: RateLimitStore, limits: TenantLimits, estimated: number, used: number, now: number): void => atOnce(settleTokenUsage(store, limits, estimated, used, now));

describe('checkTenantLimits', () => {
  it('admits within both limits and reports each limit, what is left and when it is full again', () => {
    const decision = check(new MemoryRateLimitStore(), tenant, 1000, 0);
    expect(decision).toEqual({
      allowed: true,
      // One request of 60/min is back in 1 s; 1,000 tokens of 6,000/min in 10 s.
      state: { requests: { limit: 60, remaining: 59, resetMs: 1000 }, tokens: { limit: 6000, remaining: 5000, resetMs: 10_000 } },
    });
  });

  it('refuses on requests per minute, with the wait for one request', () => {
    const store = new MemoryRateLimitStore();
    for (let index = 0; index < 60; index += 1) expect(check(store, tenant, 1, 0).allowed).toBe(true);
    const refused = check(store, tenant, 1, 0);
    expect(refused).toMatchObject({ allowed: false, limit: 'requests', retryAfterMs: 1000, state: { requests: { remaining: 0, resetMs: 60_000 }, tokens: { remaining: 5940 } } });
    expect(check(store, tenant, 1, 1000).allowed).toBe(true);
  });

  it('refuses on tokens per minute, with the wait for the missing tokens', () => {
    const store = new MemoryRateLimitStore();
    expect(check(store, tenant, 5000, 0).allowed).toBe(true);
    const refused = check(store, tenant, 3000, 0);
    // 2000 tokens missing at 100 tokens/s: 20 s.
    expect(refused).toMatchObject({ allowed: false, limit: 'tokens', retryAfterMs: 20_000 });
    expect(check(store, tenant, 3000, 20_000).allowed).toBe(true);
  });

  describe('with both limits short, the wait is until both let the request through, and a retry then is let in', () => {
    const scarce = { id: 'scarce', requestsPerMinute: 2, tokensPerMinute: 6000 };

    it('refused for requests while also short of tokens: the longer tokens wait, named as the tokens limit', () => {
      const store = new MemoryRateLimitStore();
      expect(check(store, scarce, 4010, 0).allowed).toBe(true);
      expect(check(store, scarce, 1, 0).allowed).toBe(true);
      // No request left (one back in 30 s), and 1,989 of the 5,910 tokens (the rest in 39.21 s at 100/s).
      const refused = check(store, scarce, 5910, 0);
      expect(refused).toMatchObject({ allowed: false, limit: 'tokens', retryAfterMs: 39_210 });
      expect(check(store, scarce, 5910, 39_210).allowed).toBe(true);
    });

    it('refused for tokens, having spent the last request (as OpenAI counts refused requests): the wait for a request again', () => {
      const store = new MemoryRateLimitStore();
      expect(check(store, scarce, 4010, 0).allowed).toBe(true);
      // 120 tokens short (1.2 s), and this attempt takes the last request: one is back in 30 s.
      const refused = check(store, scarce, 2110, 0);
      expect(refused).toMatchObject({ allowed: false, limit: 'requests', retryAfterMs: 30_000 });
      expect(check(store, scarce, 2110, 30_000).allowed).toBe(true);
    });
  });

  it('a request needing more than a whole minute of tokens is refused outright, with no wait to offer, and charged nothing', () => {
    const store = new MemoryRateLimitStore();
    const refused = check(store, tenant, 6001, 0);
    expect(refused).toMatchObject({ allowed: false, limit: 'tokens', tooLarge: true, retryAfterMs: Number.POSITIVE_INFINITY, state: { requests: { remaining: 60 }, tokens: { remaining: 6000 } } });
    expect(retryAfterHeaders(Number.POSITIVE_INFINITY)).toEqual({});
    // Nothing was taken from either bucket: a whole minute's worth still passes at once.
    expect(check(store, tenant, 6000, 0)).toMatchObject({ allowed: true, state: { requests: { remaining: 59 }, tokens: { remaining: 0 } } });
    expect(check(store, tenant, 1, 0)).toMatchObject({ allowed: false, tooLarge: false });
  });

  it('a short wait still says at least one second in Retry-After, and the exact wait in retry-after-ms', () => {
    const store = new MemoryRateLimitStore();
    check(store, tenant, 6000, 0);
    const refused = check(store, tenant, 1, 0);
    expect(refused).toMatchObject({ allowed: false, limit: 'tokens', retryAfterMs: 10 });
    expect(retryAfterHeaders(10)).toEqual({ 'retry-after': '1', 'retry-after-ms': '10' });
    expect(retryAfterHeaders(20_000)).toEqual({ 'retry-after': '20', 'retry-after-ms': '20000' });
    expect(retryAfterHeaders(20_001)).toEqual({ 'retry-after': '21', 'retry-after-ms': '20001' });
  });

  it('the state as it stands charges nothing, and shows a refund', () => {
    const store = new MemoryRateLimitStore();
    check(store, tenant, 1000, 0);
    const state = stateNow(store, tenant, 0);
    expect(state).toEqual({ requests: { limit: 60, remaining: 59, resetMs: 1000 }, tokens: { limit: 6000, remaining: 5000, resetMs: 10_000 } });
    expect(stateNow(store, tenant, 0)).toEqual(state);
    settleNow(store, tenant, 1000, 0, 0);
    expect(stateNow(store, tenant, 0).tokens).toEqual({ limit: 6000, remaining: 6000, resetMs: 0 });
  });

  it('settling refunds an over-estimate', () => {
    const store = new MemoryRateLimitStore();
    check(store, tenant, 6000, 0);
    settleNow(store, tenant, 6000, 1000, 0);
    expect(check(store, tenant, 5000, 0).allowed).toBe(true);
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
          const first = check(store, tenant, cost, now);
          if (!first.allowed && Number.isFinite(first.retryAfterMs)) {
            trials += 1;
            now += first.retryAfterMs;
            const again = check(store, tenant, cost, now);
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
