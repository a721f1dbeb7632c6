import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { ClientError } from '../../src/gateway/client-error.js';
import type { TenantConfig } from '../../src/gateway/gateway-config.js';
import { TenantDirectory } from '../../src/gateway/tenant-directory.js';
import { gatewayConfig } from './helpers/fleet.js';
import { hashApiKey } from '../../src/gateway/tenant-auth.js';

/** Tenants as a gateway config declares them: `[id, key, jurisdictions]`. */
function tenantsOf(...declared: readonly (readonly [string, string, readonly string[]])[]): readonly TenantConfig[] {
  const lines = declared.map(([id, key, jurisdictions]) => `  - { id: ${id}, apiKeySha256: ${hashApiKey(key)}, jurisdictions: [${jurisdictions.join(', ')}], requestsPerMinute: 60, tokensPerMinute: 1000 }`);
  return gatewayConfig(['version: 1', 'endpoints:', '  - { id: up, url: "http://127.0.0.1:1", dialect: openai, model: m, provider: p, region: r, jurisdiction: us, contextWindow: 1000, marginalCostPerMillionTokens: 0, capacity: 1 }', 'routes:', '  - { model: m, endpoints: [up] }', 'tenants:', ...lines].join('\n')).tenants;
}

/** A request head with these header lines (Node's raw form and its joined one). */
function requestWith(lines: readonly (readonly [string, string])[]): IncomingMessage {
  const headers: Record<string, string> = {};
  for (const [name, value] of lines) headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  return { headers, rawHeaders: lines.flat() } as unknown as IncomingMessage;
}

function refusal(run: () => unknown): { status: number; message: string } {
  try {
    run();
  } catch (error) {
    if (error instanceof ClientError) return { status: error.status, message: error.message };
    throw error;
  }
  throw new Error('expected a refusal');
}

describe('TenantDirectory', () => {
  const acmeKey = 'sk-acme-0123456789';
  const globexKey = 'sk-globex-0123456789';

  it("finds a request's tenant by either header, and refuses two keys, a repeated header, another scheme or an unknown key", () => {
    const directory = new TenantDirectory(tenantsOf(['acme', acmeKey, ['us', 'eu']], ['globex', globexKey, ['us']]));
    expect(directory.fromRequest(requestWith([['authorization', `Bearer ${acmeKey}`]])).tenant.id).toBe('acme');
    expect(directory.fromRequest(requestWith([['x-api-key', globexKey]])).tenant.id).toBe('globex');
    expect(directory.fromRequest(requestWith([['authorization', `Bearer ${acmeKey}`], ['x-api-key', acmeKey]])).tenant.id).toBe('acme');
    expect(refusal(() => directory.fromRequest(requestWith([['authorization', `Bearer ${acmeKey}`], ['x-api-key', globexKey]])))).toMatchObject({ status: 400, message: expect.stringContaining('two different API keys') });
    expect(refusal(() => directory.fromRequest(requestWith([['authorization', `Bearer ${acmeKey}`], ['authorization', `Bearer ${globexKey}`]])))).toMatchObject({ status: 400, message: expect.stringContaining('more than one Authorization header') });
    expect(refusal(() => directory.fromRequest(requestWith([['authorization', `Basic ${acmeKey}`]])))).toMatchObject({ status: 401, message: expect.stringContaining('not of the form "Bearer <key>"') });
    expect(refusal(() => directory.fromRequest(requestWith([])))).toMatchObject({ status: 401, message: expect.stringMatching(/^no API key: /) });
    expect(refusal(() => directory.fromRequest(requestWith([['x-api-key', 'sk-nobody-0123456789']])))).toMatchObject({ status: 401, message: expect.stringContaining('no tenant has this key') });
  });

  it('after a reload: a key moved or renamed is followed, jurisdictions only narrow, a key taken away is refused', () => {
    const directory = new TenantDirectory(tenantsOf(['acme', acmeKey, ['us', 'eu']], ['globex', globexKey, ['us']]));
    const acme = directory.fromRequest(requestWith([['x-api-key', acmeKey]]));
    const globex = directory.fromRequest(requestWith([['x-api-key', globexKey]]));
    expect(directory.jurisdictionsNow(acme.tenant, acme)).toEqual(['us', 'eu']);

    // acme renamed acme-corp and narrowed to eu; globex's key taken away.
    const carried = directory.replace(tenantsOf(['acme-corp', acmeKey, ['eu', 'uk']]), [{ from: 'acme', to: 'acme-corp' }], ['acme-corp']);
    expect(carried.map(({ from, to }) => [from.id, to.id])).toEqual([['acme', 'acme-corp']]);
    expect(directory.admitted(acme).tenant.id).toBe('acme-corp');
    // Admitted under the old config: only where both the old and the new allow (uk was never allowed).
    expect(directory.jurisdictionsNow(acme.tenant, acme)).toEqual(['eu']);
    expect(directory.jurisdictionsNow(globex.tenant, globex)).toEqual([]);
    expect(refusal(() => directory.admitted(globex))).toMatchObject({ status: 401, message: expect.stringContaining('took this key away') });
    // Settled against the renamed tenant's limits; one with no successor keeps its own.
    expect(directory.limitsOf(acme.tenant).id).toBe('acme-corp');
    expect(directory.limitsOf(globex.tenant)).toBe(globex.tenant);
  });

  it("a new tenant under a renamed one's old id is its own, also once it is gone in turn: not the renamed one's limits", () => {
    const directory = new TenantDirectory(tenantsOf(['a', acmeKey, ['us']]));
    directory.replace(tenantsOf(['b', acmeKey, ['us']]), [{ from: 'a', to: 'b' }], ['b']);
    directory.replace(tenantsOf(['b', acmeKey, ['us']], ['a', globexKey, ['eu']]), [], ['a']);
    const newA = directory.fromRequest(requestWith([['x-api-key', globexKey]])).tenant;
    expect(newA.jurisdictions).toEqual(['eu']);
    directory.replace(tenantsOf(['b', acmeKey, ['us']]), [], []);
    expect(directory.limitsOf(newA)).toBe(newA);
  });

  it('follows renames in a row to the tenant now, and stops on a cycle of renames', () => {
    const directory = new TenantDirectory(tenantsOf(['a', acmeKey, ['us']]));
    const a = directory.fromRequest(requestWith([['x-api-key', acmeKey]])).tenant;
    directory.replace(tenantsOf(['b', acmeKey, ['us']]), [{ from: 'a', to: 'b' }], ['b']);
    directory.replace(tenantsOf(['c', acmeKey, ['us']]), [{ from: 'b', to: 'c' }], ['c']);
    expect(directory.limitsOf(a).id).toBe('c');
    // c renamed back to a: an id added again is its own tenant, not a rename's old name.
    directory.replace(tenantsOf(['a', acmeKey, ['eu']]), [{ from: 'c', to: 'a' }], ['a']);
    expect(directory.limitsOf(a).jurisdictions).toEqual(['eu']);
    // Every id gone and the renames a cycle (a -> b -> a): no tenant now, so the request keeps its own limits.
    directory.replace(tenantsOf(['z', globexKey, ['us']]), [{ from: 'a', to: 'b' }, { from: 'b', to: 'a' }], ['z']);
    expect(directory.limitsOf(a)).toBe(a);
  });
});
