import type { RateLimitName, RateLimitState } from '../protocol/chat.js';
import { isPromiseLike, type Awaitable } from './awaitable.js';
import type { TenantConfig } from './gateway-config.js';

/**
 * Per-tenant rate limits as token buckets. The buckets live behind RateLimitStore, whose two
 * operations may answer later (a promise), so that a store shared by several gateway processes
 * (Redis, say, with this file's arithmetic in a script) can back it: a request's admission is one
 * atomic step over its buckets, not a read then a write another process could come between. The
 * in-memory store answers at once and keeps no timers: buckets refill lazily from the `now` each
 * call passes in.
 */

/** `next` of a value now, at once; of a promise, when it settles. */
function after<T, R>(value: Awaitable<T>, next: (value: T) => Awaitable<R>): Awaitable<R> {
  return isPromiseLike(value) ? Promise.resolve(value).then(next) : next(value);
}

/** A bucket: created full, holding at most `capacity` tokens, refilling `refillPerMs` a millisecond. */
export interface BucketRule {
  readonly key: string;
  readonly capacity: number;
  readonly refillPerMs: number;
}

export interface BucketTake extends BucketRule {
  readonly cost: number;
}

export interface BucketLevel {
  /** Whether the take took its cost (a cost of 0 always does, unless an earlier take was refused). */
  readonly allowed: boolean;
  /** Tokens in the bucket after the step; negative in overdraft. */
  readonly tokens: number;
}

export interface RateLimitStore {
  /**
   * One atomic step: refills each bucket to `now`, then takes each take's cost in order, where it
   * fits (see fitsIn: a cost above capacity only from a full bucket, which it leaves in overdraft,
   * repaid by refill before the next take, so one large request is possible but the long-run rate
   * holds). A refused take takes nothing, nor do the takes after it. Returns each bucket's level.
   */
  take(takes: readonly BucketTake[], now: number): Awaitable<readonly BucketLevel[]>;
  /**
   * Adds `amount` tokens unconditionally, after refilling to `now`: negative to charge (may
   * overdraw), positive to refund (capped at capacity); returns the tokens after. For settling an
   * estimate against real usage.
   */
  adjust(bucket: BucketRule, amount: number, now: number): Awaitable<number>;
}

interface Bucket {
  tokens: number;
  updatedAt: number;
}

/** A millionth of a token: below any real shortfall, above floating-point rounding of a refill. */
const shortfallTolerance = 1e-6;

export class MemoryRateLimitStore implements RateLimitStore {
  // One bucket per tenant and limit: bounded by the tenants ever configured (a reload adds ids and
  // keeps removed ones, a few dozen bytes each), so no eviction is needed.
  private readonly buckets = new Map<string, Bucket>();

  take(takes: readonly BucketTake[], now: number): readonly BucketLevel[] {
    let refused = false;
    return takes.map((take) => {
      const bucket = this.refilled(take, now);
      const allowed = !refused && fitsIn(bucket.tokens, take.cost, take.capacity);
      if (allowed) bucket.tokens = Math.min(take.capacity, bucket.tokens - take.cost);
      else refused = true;
      return { allowed, tokens: bucket.tokens };
    });
  }

  adjust(rule: BucketRule, amount: number, now: number): number {
    const bucket = this.refilled(rule, now);
    bucket.tokens = Math.min(rule.capacity, bucket.tokens + amount);
    return bucket.tokens;
  }

  private refilled({ key, capacity, refillPerMs }: BucketRule, now: number): Bucket {
    const bucket = this.buckets.get(key);
    if (bucket === undefined) {
      const fresh = { tokens: capacity, updatedAt: now };
      this.buckets.set(key, fresh);
      return fresh;
    }
    // A clock that steps backwards refills nothing rather than draining.
    const elapsed = Math.max(0, now - bucket.updatedAt);
    bucket.tokens = Math.min(capacity, bucket.tokens + elapsed * refillPerMs);
    bucket.updatedAt = Math.max(bucket.updatedAt, now);
    return bucket;
  }
}

/** Whether `cost` can be taken from a bucket holding `tokens`: a cost above capacity only from a full one. */
function fitsIn(tokens: number, cost: number, capacity: number): boolean {
  // Refill is floating point: a retry at exactly the Retry-After given may find the bucket a
  // hair short of the cost, and must not be refused for it.
  return cost <= tokens + shortfallTolerance || (cost > capacity && tokens >= capacity - shortfallTolerance);
}

/** How long until `cost` can be taken from a bucket holding `tokens`: 0 now. */
export function waitFor(tokens: number, cost: number, rule: BucketRule): number {
  if (fitsIn(tokens, cost, rule.capacity)) return 0;
  // A cost above capacity waits for a full bucket; any other for just enough tokens.
  const needed = Math.min(cost, rule.capacity) - tokens;
  return rule.refillPerMs > 0 ? Math.ceil(needed / rule.refillPerMs) : Number.POSITIVE_INFINITY;
}

/** How long until a bucket holding `tokens` is full again with no more takes (the limit's "reset"). */
function fullIn(tokens: number, rule: BucketRule): number {
  if (tokens >= rule.capacity) return 0;
  return rule.refillPerMs > 0 ? Math.ceil((rule.capacity - tokens) / rule.refillPerMs) : Number.POSITIVE_INFINITY;
}

export type TenantLimitDecision =
  | { readonly allowed: true; readonly state: RateLimitState }
  | {
      readonly allowed: false;
      readonly retryAfterMs: number;
      readonly limit: RateLimitName;
      /** The request alone needs more than a whole minute's tokens: no wait helps. */
      readonly tooLarge: boolean;
      readonly state: RateLimitState;
    };

export type TenantLimits = Pick<TenantConfig, 'id' | 'requestsPerMinute' | 'tokensPerMinute'>;

const minuteMs = 60_000;

/**
 * Checks both of a tenant's buckets in one step: one request, then `estimatedTokens`.
 * Buckets hold a minute's allowance (the burst) and refill evenly over the minute.
 * A request refused for tokens has still spent its request token: every attempt
 * counts against requests per minute, as OpenAI counts unsuccessful requests, which
 * also slows a client that hammers. A refusal's wait is until both limits let the
 * request through, that spent token included: a client that waits exactly as told
 * is not refused again by the other limit.
 * A request that alone needs more than a minute's tokens is refused outright and charged
 * nothing: no wait would let it through without overdrawing the tenant for minutes.
 * The state is for the rate-limit headers every response carries, allowed or not.
 */
export function checkTenantLimits(store: RateLimitStore, tenant: TenantLimits, estimatedTokens: number, now: number): Awaitable<TenantLimitDecision> {
  const tooLarge = estimatedTokens > tenant.tokensPerMinute;
  const tokenCost = Math.max(0, estimatedTokens);
  const { requests, tokens } = rulesOf(tenant);
  return after(store.take([takeOf(requests, tooLarge ? 0 : 1), takeOf(tokens, tooLarge ? 0 : tokenCost)], now), (levels): TenantLimitDecision => {
    const [requestLevel, tokenLevel] = bothLevels(levels);
    const state = stateOf(tenant, requestLevel, tokenLevel);
    if (tooLarge) return { allowed: false, retryAfterMs: Number.POSITIVE_INFINITY, limit: 'tokens', tooLarge: true, state };
    if (requestLevel.allowed && tokenLevel.allowed) return { allowed: true, state };
    const requestsWait = waitFor(requestLevel.tokens, 1, requests);
    const tokensWait = waitFor(tokenLevel.tokens, tokenCost, tokens);
    // Named by the limit that is waited for longest: the one the client is really held by.
    const limit = tokensWait > requestsWait ? 'tokens' : 'requests';
    return { allowed: false, retryAfterMs: Math.max(requestsWait, tokensWait), limit, tooLarge: false, state };
  });
}

/**
 * Checks a tenant's requests bucket alone, for a request that generates nothing (a token count):
 * one request is charged, tokens are not, and an overdrawn tokens bucket does not hold it back.
 */
export function checkRequestLimit(store: RateLimitStore, tenant: TenantLimits, now: number): Awaitable<TenantLimitDecision> {
  const { requests, tokens } = rulesOf(tenant);
  return after(store.take([takeOf(requests, 1), takeOf(tokens, 0)], now), (levels): TenantLimitDecision => {
    const [requestLevel, tokenLevel] = bothLevels(levels);
    const state = stateOf(tenant, requestLevel, tokenLevel);
    if (requestLevel.allowed) return { allowed: true, state };
    return { allowed: false, retryAfterMs: waitFor(requestLevel.tokens, 1, requests), limit: 'requests', tooLarge: false, state };
  });
}

/** The tenant's limits as they stand, charging nothing: for headers after a refund. */
export function tenantLimitState(store: RateLimitStore, tenant: TenantLimits, now: number): Awaitable<RateLimitState> {
  const { requests, tokens } = rulesOf(tenant);
  return after(store.take([takeOf(requests, 0), takeOf(tokens, 0)], now), (levels) => stateOf(tenant, ...bothLevels(levels)));
}

/**
 * Charges or refunds the difference between the tokens estimated at admission and
 * those the request really used, so an over-estimate (e.g. an unused max_tokens)
 * does not cost the tenant throughput.
 */
export function settleTokenUsage(store: RateLimitStore, tenant: TenantLimits, estimatedTokens: number, actualTokens: number, now: number): Awaitable<void> {
  const unused = estimatedTokens - actualTokens;
  if (unused === 0 || !Number.isFinite(unused)) return undefined;
  // An under-estimate is charged even into overdraft: the tokens were already served.
  return after(store.adjust(rulesOf(tenant).tokens, unused, now), () => undefined);
}

/** A take of `cost` from the bucket: written out, since an object spread costs about 0.4 us here, once per admission. */
function takeOf(rule: BucketRule, cost: number): BucketTake {
  return { key: rule.key, capacity: rule.capacity, refillPerMs: rule.refillPerMs, cost };
}

function bothLevels(levels: readonly BucketLevel[]): readonly [BucketLevel, BucketLevel] {
  const [requests, tokens] = levels;
  if (requests === undefined || tokens === undefined) throw new Error(`a rate-limit store answered ${String(levels.length)} levels for 2 buckets`);
  return [requests, tokens];
}

function stateOf(tenant: TenantLimits, requests: BucketLevel, tokens: BucketLevel): RateLimitState {
  const rules = rulesOf(tenant);
  return {
    requests: { limit: tenant.requestsPerMinute, remaining: Math.max(0, Math.floor(requests.tokens)), resetMs: fullIn(requests.tokens, rules.requests) },
    tokens: { limit: tenant.tokensPerMinute, remaining: Math.max(0, Math.floor(tokens.tokens)), resetMs: fullIn(tokens.tokens, rules.tokens) },
  };
}

/**
 * Carries a renamed tenant's levels to its new id (a reload gave its keys to a tenant of another id):
 * each of the new id's buckets is brought down to the old one's level, never up, so a rename lets no
 * burst through (E43: a new id's buckets started full). Reads and charges in separate store steps: a
 * request of the new id admitted between them is charged as well, which errs on the side of the limit.
 */
export async function carryTenantLimits(store: RateLimitStore, from: TenantLimits, to: TenantLimits, now: number): Promise<void> {
  const old = rulesOf(from);
  const renamed = rulesOf(to);
  for (const limit of ['requests', 'tokens'] as const) {
    // Adding nothing reads a bucket's level, refilled to now.
    const left = await store.adjust(old[limit], 0, now);
    const level = await store.adjust(renamed[limit], 0, now);
    if (left < level) await store.adjust(renamed[limit], left - level, now);
  }
}

// Bucket keys per tenant, built once: a template string per call showed in profiles. The
// limits are read each time: a reload may change them under the same id.
const keys = new Map<string, { readonly requests: string; readonly tokens: string }>();

function rulesOf(tenant: TenantLimits): { readonly requests: BucketRule; readonly tokens: BucketRule } {
  let found = keys.get(tenant.id);
  if (found === undefined) {
    found = { requests: `tenant:${tenant.id}:requests`, tokens: `tenant:${tenant.id}:tokens` };
    keys.set(tenant.id, found);
  }
  return {
    requests: { key: found.requests, capacity: tenant.requestsPerMinute, refillPerMs: tenant.requestsPerMinute / minuteMs },
    tokens: { key: found.tokens, capacity: tenant.tokensPerMinute, refillPerMs: tenant.tokensPerMinute / minuteMs },
  };
}
