import { timingSafeEqual } from 'node:crypto';
import { keyHashesOf, type TenantConfig } from './gateway-config.js';
import { hashApiKey } from './hash-api-key.js';

export { hashApiKey };

/**
 * Tenant authentication. Keys are only ever held hashed: the config stores the
 * SHA-256 of each key, and a presented key is hashed before it is looked up, so
 * the raw key is neither stored nor logged here.
 */

/** A presented key's tenant, and which of its keys it was when it has several. */
export interface Authenticated {
  readonly tenant: TenantConfig;
  /** The key's hash (lowercase hex), to find its tenant again in a reloaded config without the key itself. */
  readonly hash: string;
  /**
   * The first 8 hex digits of the key's hash, as the config lists it, when its tenant has several
   * keys (a rotation: the log says which key is still in use); undefined for a tenant with one.
   */
  readonly key: string | undefined;
}

interface IndexedKey extends Authenticated {
  readonly digest: Buffer;
}

/** Hash-to-tenant index, built once per tenant list (the config is immutable once loaded). */
const indexes = new WeakMap<readonly TenantConfig[], ReadonlyMap<string, IndexedKey>>();

function indexFor(tenants: readonly TenantConfig[]): ReadonlyMap<string, IndexedKey> {
  let index = indexes.get(tenants);
  if (index === undefined) {
    index = new Map(
      tenants.flatMap((tenant) => {
        const hashes = keyHashesOf(tenant).map((hex) => hex.toLowerCase());
        return hashes.map((hex) => [hex, { tenant, hash: hex, key: hashes.length > 1 ? hex.slice(0, 8) : undefined, digest: Buffer.from(hex, 'hex') }] as const);
      }),
    );
    indexes.set(tenants, index);
  }
  return index;
}

/**
 * The tenant whose key this is, or undefined. The lookup is by the digest of the
 * presented key (an attacker cannot steer it by guessing bytes of a stored key),
 * and the match is confirmed with a constant-time comparison of the digests.
 */
export function authenticate(tenants: readonly TenantConfig[], presentedKey: string): Authenticated | undefined {
  if (presentedKey === '') return undefined;
  const hex = hashApiKey(presentedKey);
  const candidate = indexFor(tenants).get(hex);
  if (candidate === undefined) return undefined;
  const presented = Buffer.from(hex, 'hex');
  if (presented.length !== candidate.digest.length) return undefined;
  return timingSafeEqual(presented, candidate.digest) ? candidate : undefined;
}

/**
 * The tenant a key authenticated before now has in `tenants` (a reloaded config): found by the key's
 * hash, so a key moved to another tenant, or its tenant renamed, is found where it is now; undefined
 * when no tenant has it any longer.
 */
export function reauthenticate(tenants: readonly TenantConfig[], authenticated: Authenticated): Authenticated | undefined {
  return indexFor(tenants).get(authenticated.hash);
}
