import type { IncomingMessage } from 'node:http';
import { ClientError } from './client-error.js';
import type { RenamedTenant } from './config-reload.js';
import type { TenantConfig } from './gateway-config.js';
import { headerLines, presentedKeys } from './request-head.js';
import { authenticate, reauthenticate, type Authenticated } from './tenant-auth.js';

/** A tenant a reload renamed, as it was and as it is now: its rate-limit levels carry over. */
export interface CarriedTenant {
  readonly from: TenantConfig;
  readonly to: TenantConfig;
}

/**
 * The gateway's tenants as they are now, across reloads, and what a request admitted under an
 * earlier config may still do: a reload never widens where a request in flight may go, and its
 * tokens are settled against the limits its tenant has now.
 */
export class TenantDirectory {
  private current: readonly TenantConfig[];
  private byId: Map<string, TenantConfig>;
  /** Tenants a reload renamed (old id to new), for the requests admitted under the old id still in flight. */
  private readonly renamedTo = new Map<string, string>();

  constructor(tenants: readonly TenantConfig[]) {
    this.current = tenants;
    this.byId = new Map(tenants.map((tenant) => [tenant.id, tenant]));
  }

  /** The tenant whose key this is now, or undefined. */
  authenticate(key: string): Authenticated | undefined {
    return authenticate(this.current, key);
  }

  /** The tenant of the key a request presents (Authorization: Bearer, or x-api-key); a 400 or 401 else. */
  fromRequest(req: IncomingMessage): Authenticated {
    // Node keeps the first of several Authorization headers; a proxy in front may read another, and
    // so authenticate someone else. Two are refused, never one picked.
    if (req.headers.authorization !== undefined && headerLines(req.rawHeaders, 'authorization') > 1) throw new ClientError(400, 'invalid_request', 'the request has more than one Authorization header: send one');
    // Node joins repeated x-api-key lines into one value ('k1, k2'): which key is meant would be a guess.
    if (req.headers['x-api-key'] !== undefined && headerLines(req.rawHeaders, 'x-api-key') > 1) throw new ClientError(400, 'invalid_request', 'the request has more than one x-api-key header: send one');
    const { bearer: presented, apiKeyHeader: headerKey } = presentedKeys(req.headers);
    // Two different keys, for the same reason: which tenant is meant would be a guess.
    if (presented !== undefined && headerKey !== undefined && headerKey !== '' && headerKey !== presented) throw new ClientError(400, 'invalid_request', 'the request sends two different API keys (Authorization: Bearer and x-api-key): send one');
    const key = presented ?? headerKey ?? '';
    if (key === '') {
      // A key sent in another scheme (Basic, a bare key) is not "no key": say what is wrong with it, without echoing it.
      const unread = (req.headers.authorization ?? '').trim() !== '';
      throw new ClientError(401, 'authentication', `${unread ? 'no API key read: the Authorization header is not of the form "Bearer <key>"' : 'no API key'}: send "Authorization: Bearer <key>" or "x-api-key: <key>"`);
    }
    const authenticated = this.authenticate(key);
    if (authenticated === undefined) throw new ClientError(401, 'authentication', 'invalid API key: no tenant has this key; check the key you send in "Authorization: Bearer <key>" or "x-api-key: <key>"', { code: 'invalid_api_key' });
    return authenticated;
  }

  /**
   * The key's tenant as the config is now, once a request's body is in (a reload may have come while
   * it was sent: the key moved, its tenant renamed or changed); a 401 when a reload took the key away.
   */
  admitted(authenticated: Authenticated): Authenticated {
    const now = authenticated.tenant === this.byId.get(authenticated.tenant.id) ? authenticated : reauthenticate(this.current, authenticated);
    if (now === undefined) throw new ClientError(401, 'authentication', 'invalid API key: a reload of the gateway config took this key away while the request was sent', { code: 'invalid_api_key' });
    return now;
  }

  /**
   * The jurisdictions a request admitted as `tenant` may use now: its own, unless a reload changed
   * them since, then only those both its own and its key's tenant now allow (none for a key taken
   * away): a reload does not widen where a request already in flight may go beyond where it was
   * admitted to go.
   */
  jurisdictionsNow(tenant: TenantConfig, authenticated: Authenticated): readonly string[] {
    if (this.byId.get(tenant.id) === tenant) return tenant.jurisdictions;
    // The key's tenant now, as admission follows it: the same tenant renamed keeps its traffic moving.
    const now = reauthenticate(this.current, authenticated)?.tenant;
    const allowed = new Set((now?.jurisdictions ?? []).map((jurisdiction) => jurisdiction.toLowerCase()));
    return tenant.jurisdictions.filter((jurisdiction) => allowed.has(jurisdiction.toLowerCase()));
  }

  /**
   * The tenant whose limits a request's tokens are settled against: the current one of its id (a
   * reload's), or of the id it was renamed to (whose buckets took over its levels), else its own.
   */
  limitsOf(tenant: TenantConfig): TenantConfig {
    let id: string | undefined = tenant.id;
    // A few renames in a row are followed; a chain longer than the map (a cycle) is not.
    for (let hops = 0; id !== undefined && hops <= this.renamedTo.size; hops += 1) {
      const found = this.byId.get(id);
      if (found !== undefined) return found;
      id = this.renamedTo.get(id);
    }
    return tenant;
  }

  /** Takes a reload's tenants; returns the renamed ones that are on both sides, whose limits carry over. */
  replace(tenants: readonly TenantConfig[], renamed: readonly RenamedTenant[], added: readonly string[]): CarriedTenant[] {
    const before = this.byId;
    this.current = tenants;
    this.byId = new Map(tenants.map((tenant) => [tenant.id, tenant]));
    const carried: CarriedTenant[] = [];
    for (const { from, to } of renamed) {
      this.renamedTo.set(from, to);
      const old = before.get(from);
      const now = this.byId.get(to);
      if (old !== undefined && now !== undefined) carried.push({ from: old, to: now });
    }
    // An id added again is that tenant's own, not a rename's old name.
    for (const id of added) this.renamedTo.delete(id);
    return carried;
  }
}
