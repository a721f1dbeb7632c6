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

export class MemoryRateLimitStore implements RateLimitStore {
  // One bucket per tenant and limit: bounded by the config, so no eviction is needed.
  private readonly buckets = new Map<string, Bucket>();

  take(key: string, cost: number, capacity: number, refillPerMs: number, now: number): RateLimitTake {
    const bucket = this.refilled(key, capacity, refillPerMs, now);
    const full = bucket.tokens >= capacity;
    if (cost <= bucket.tokens || (cost > capacity && full)) {
      bucket.tokens = Math.min(capacity, bucket.tokens - cost);
      return { allowed: true, remaining: Math.max(0, Math.floor(bucket.tokens)), retryAfterMs: 0 };
    }
    // A cost above capacity waits for a full bucket; any other for just enough tokens.
    const needed = Math.min(cost, capacity) - bucket.tokens;
    const retryAfterMs = refillPerMs > 0 ? Math.ceil(needed / refillPerMs) : Number.POSITIVE_INFINITY;
    return { allowed: false, remaining: Math.max(0, Math.floor(bucket.tokens)), retryAfterMs };
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

export type TenantLimitDecision =
  | { readonly allowed: true; readonly headers: Record<string, string> }
  | {
      readonly allowed: false;
      readonly retryAfterMs: number;
      readonly limit: 'requests' | 'tokens';
      /** The request alone needs more than a whole minute's tokens: no wait helps. */
      readonly tooLarge: boolean;
      readonly headers: Record<string, string>;
    };

export type TenantLimits = Pick<TenantConfig, 'id' | 'requestsPerMinute' | 'tokensPerMinute'>;

const minuteMs = 60_000;

/**
 * Checks both of a tenant's buckets: one request, then `estimatedTokens`.
 * Buckets hold a minute's allowance (the burst) and refill evenly over the minute.
 * A request refused for tokens has still spent its request token: every attempt
 * counts against requests per minute, which also slows a client that hammers.
 * A request that alone needs more than a minute's tokens is refused outright and charged
 * nothing: no wait would let it through without overdrawing the tenant for minutes.
 * The headers go on every response, allowed or not.
 */
export function checkTenantLimits(store: RateLimitStore, tenant: TenantLimits, estimatedTokens: number, now: number): TenantLimitDecision {
  const tooLarge = estimatedTokens > tenant.tokensPerMinute;
  const requests = store.take(requestsKey(tenant), tooLarge ? 0 : 1, tenant.requestsPerMinute, tenant.requestsPerMinute / minuteMs, now);
  const tokenCost = requests.allowed && !tooLarge ? Math.max(0, estimatedTokens) : 0;
  const tokens = store.take(tokensKey(tenant), tokenCost, tenant.tokensPerMinute, tenant.tokensPerMinute / minuteMs, now);
  const base: Record<string, string> = {
    'x-ratelimit-limit-requests': String(tenant.requestsPerMinute),
    'x-ratelimit-remaining-requests': String(requests.remaining),
    'x-ratelimit-limit-tokens': String(tenant.tokensPerMinute),
    'x-ratelimit-remaining-tokens': String(tokens.remaining),
  };
  if (tooLarge) return { allowed: false, retryAfterMs: Number.POSITIVE_INFINITY, limit: 'tokens', tooLarge: true, headers: base };
  if (!requests.allowed) return denied('requests', requests.retryAfterMs, base);
  if (!tokens.allowed) return denied('tokens', tokens.retryAfterMs, base);
  return { allowed: true, headers: base };
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

function denied(limit: 'requests' | 'tokens', retryAfterMs: number, base: Record<string, string>): TenantLimitDecision {
  // Retry-After is whole seconds, rounded up, and at least 1 so a client never retries at once.
  const seconds = Number.isFinite(retryAfterMs) ? Math.max(1, Math.ceil(retryAfterMs / 1000)) : 60;
  return { allowed: false, retryAfterMs, limit, tooLarge: false, headers: { ...base, 'retry-after': String(seconds) } };
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
