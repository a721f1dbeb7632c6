import type { RateLimitName, RateLimitState } from '../protocol/chat.js';
import type { TenantConfig } from './gateway-config.js';

/**
 * Per-tenant rate limits as token buckets. The buckets live behind
 * RateLimitStore so that several gateway processes can share one store later
 * (e.g. Redis with the same arithmetic in a script); the in-memory store keeps
 * no timers: buckets refill lazily from the `now` each call passes in.
 */

export interface RateLimitTake {
  readonly allowed: boolean;
  /** Whole tokens left after this take (0 when in overdraft). */
  readonly remaining: number;
  /** When denied, how long until the take would succeed; 0 when allowed. */
  readonly retryAfterMs: number;
  /** How long until the bucket is full again with no more takes (the limit's "reset"). */
  readonly fullInMs: number;
}

export interface RateLimitStore {
  /**
   * Takes `cost` tokens from the bucket `key` (created full) that holds at most
   * `capacity` and refills `refillPerMs` tokens per millisecond. A denied take
   * takes nothing. A cost above capacity is allowed only from a full bucket and
   * leaves it in overdraft (negative), repaid by refill before the next take, so
   * one large request is possible but the long-run rate still holds.
   */
  take(key: string, cost: number, capacity: number, refillPerMs: number, now: number): RateLimitTake;
  /** How long until a take of `cost` would succeed (0: now), taking nothing. */
  waitFor(key: string, cost: number, capacity: number, refillPerMs: number, now: number): number;
  /**
   * Adds `amount` tokens unconditionally: negative to charge (may overdraw), positive
   * to refund (capped at capacity). For settling an estimate against real usage.
   */
  adjust(key: string, amount: number, capacity: number, refillPerMs: number, now: number): void;
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

  take(key: string, cost: number, capacity: number, refillPerMs: number, now: number): RateLimitTake {
    const bucket = this.refilled(key, capacity, refillPerMs, now);
    const retryAfterMs = waitIn(bucket, cost, capacity, refillPerMs);
    if (retryAfterMs === 0) bucket.tokens = Math.min(capacity, bucket.tokens - cost);
    return { allowed: retryAfterMs === 0, remaining: Math.max(0, Math.floor(bucket.tokens)), retryAfterMs, fullInMs: fullIn(bucket, capacity, refillPerMs) };
  }

  waitFor(key: string, cost: number, capacity: number, refillPerMs: number, now: number): number {
    return waitIn(this.refilled(key, capacity, refillPerMs, now), cost, capacity, refillPerMs);
  }

  adjust(key: string, amount: number, capacity: number, refillPerMs: number, now: number): void {
    const bucket = this.refilled(key, capacity, refillPerMs, now);
    bucket.tokens = Math.min(capacity, bucket.tokens + amount);
  }

  private refilled(key: string, capacity: number, refillPerMs: number, now: number): Bucket {
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

/** How long until `cost` can be taken from the bucket: 0 now. */
function waitIn(bucket: Bucket, cost: number, capacity: number, refillPerMs: number): number {
  // Refill is floating point: a retry at exactly the Retry-After given may find the bucket a
  // hair short of the cost, and must not be refused for it.
  if (cost <= bucket.tokens + shortfallTolerance) return 0;
  if (cost > capacity && bucket.tokens >= capacity - shortfallTolerance) return 0;
  // A cost above capacity waits for a full bucket; any other for just enough tokens.
  const needed = Math.min(cost, capacity) - bucket.tokens;
  return refillPerMs > 0 ? Math.ceil(needed / refillPerMs) : Number.POSITIVE_INFINITY;
}

function fullIn(bucket: Bucket, capacity: number, refillPerMs: number): number {
  if (bucket.tokens >= capacity) return 0;
  return refillPerMs > 0 ? Math.ceil((capacity - bucket.tokens) / refillPerMs) : Number.POSITIVE_INFINITY;
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
 * Checks both of a tenant's buckets: one request, then `estimatedTokens`.
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
export function checkTenantLimits(store: RateLimitStore, tenant: TenantLimits, estimatedTokens: number, now: number): TenantLimitDecision {
  const tooLarge = estimatedTokens > tenant.tokensPerMinute;
  const requestRate = tenant.requestsPerMinute / minuteMs;
  const tokenRate = tenant.tokensPerMinute / minuteMs;
  const tokenCost = Math.max(0, estimatedTokens);
  const requests = store.take(requestsKey(tenant), tooLarge ? 0 : 1, tenant.requestsPerMinute, requestRate, now);
  const tokens = store.take(tokensKey(tenant), requests.allowed && !tooLarge ? tokenCost : 0, tenant.tokensPerMinute, tokenRate, now);
  const state = stateOf(tenant, requests, tokens);
  if (tooLarge) return { allowed: false, retryAfterMs: Number.POSITIVE_INFINITY, limit: 'tokens', tooLarge: true, state };
  if (requests.allowed && tokens.allowed) return { allowed: true, state };
  const requestsWait = store.waitFor(requestsKey(tenant), 1, tenant.requestsPerMinute, requestRate, now);
  const tokensWait = store.waitFor(tokensKey(tenant), tokenCost, tenant.tokensPerMinute, tokenRate, now);
  // Named by the limit that is waited for longest: the one the client is really held by.
  const limit = tokensWait > requestsWait ? 'tokens' : 'requests';
  return { allowed: false, retryAfterMs: Math.max(requestsWait, tokensWait), limit, tooLarge: false, state };
}

/**
 * Checks a tenant's requests bucket alone, for a request that generates nothing (a token count):
 * one request is charged, tokens are not, and an overdrawn tokens bucket does not hold it back.
 */
export function checkRequestLimit(store: RateLimitStore, tenant: TenantLimits, now: number): TenantLimitDecision {
  const requestRate = tenant.requestsPerMinute / minuteMs;
  const requests = store.take(requestsKey(tenant), 1, tenant.requestsPerMinute, requestRate, now);
  const tokens = store.take(tokensKey(tenant), 0, tenant.tokensPerMinute, tenant.tokensPerMinute / minuteMs, now);
  const state = stateOf(tenant, requests, tokens);
  if (requests.allowed) return { allowed: true, state };
  return { allowed: false, retryAfterMs: requests.retryAfterMs, limit: 'requests', tooLarge: false, state };
}

/** The tenant's limits as they stand, charging nothing: for headers after a refund. */
export function tenantLimitState(store: RateLimitStore, tenant: TenantLimits, now: number): RateLimitState {
  const requests = store.take(requestsKey(tenant), 0, tenant.requestsPerMinute, tenant.requestsPerMinute / minuteMs, now);
  const tokens = store.take(tokensKey(tenant), 0, tenant.tokensPerMinute, tenant.tokensPerMinute / minuteMs, now);
  return stateOf(tenant, requests, tokens);
}

function stateOf(tenant: TenantLimits, requests: RateLimitTake, tokens: RateLimitTake): RateLimitState {
  return {
    requests: { limit: tenant.requestsPerMinute, remaining: requests.remaining, resetMs: requests.fullInMs },
    tokens: { limit: tenant.tokensPerMinute, remaining: tokens.remaining, resetMs: tokens.fullInMs },
  };
}

/**
 * Charges or refunds the difference between the tokens estimated at admission and
 * those the request really used, so an over-estimate (e.g. an unused max_tokens)
 * does not cost the tenant throughput.
 */
export function settleTokenUsage(store: RateLimitStore, tenant: TenantLimits, estimatedTokens: number, actualTokens: number, now: number): void {
  const unused = estimatedTokens - actualTokens;
  if (unused === 0 || !Number.isFinite(unused)) return;
  // An under-estimate is charged even into overdraft: the tokens were already served.
  store.adjust(tokensKey(tenant), unused, tenant.tokensPerMinute, tenant.tokensPerMinute / minuteMs, now);
}

// Bucket keys per tenant, built once: a template string per call showed in profiles.
const keys = new Map<string, { readonly requests: string; readonly tokens: string }>();

function keysOf(tenant: TenantLimits): { readonly requests: string; readonly tokens: string } {
  let found = keys.get(tenant.id);
  if (found === undefined) {
    found = { requests: `tenant:${tenant.id}:requests`, tokens: `tenant:${tenant.id}:tokens` };
    keys.set(tenant.id, found);
  }
  return found;
}

function requestsKey(tenant: TenantLimits): string {
  return keysOf(tenant).requests;
}

function tokensKey(tenant: TenantLimits): string {
  return keysOf(tenant).tokens;
}
