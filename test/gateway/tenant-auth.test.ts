import { describe, expect, it } from 'vitest';
import type { TenantConfig } from '../../src/gateway/gateway-config.js';
import { authenticate, hashApiKey } from '../../src/gateway/tenant-auth.js';

function tenant(id: string, key: string): TenantConfig {
  return { id, apiKeySha256: hashApiKey(key), jurisdictions: ['us'], requestsPerMinute: 60, tokensPerMinute: 1000 };
}

const tenants = [tenant('acme', 'sk-acme'), tenant('globex', 'sk-globex')];

describe('tenant authentication', () => {
  it('hashes keys as lowercase hex SHA-256', () => {
    expect(hashApiKey('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });

  it('finds the tenant whose key hash matches', () => {
    expect(authenticate(tenants, 'sk-acme')?.tenant.id).toBe('acme');
    expect(authenticate(tenants, 'sk-globex')?.tenant.id).toBe('globex');
    // One key each: no key to tell apart in the log.
    expect(authenticate(tenants, 'sk-acme')?.key).toBeUndefined();
  });

  it('refuses unknown, empty and near-miss keys, and the hash itself', () => {
    expect(authenticate(tenants, 'sk-acme ')).toBeUndefined();
    expect(authenticate(tenants, '')).toBeUndefined();
    expect(authenticate(tenants, 'SK-ACME')).toBeUndefined();
    expect(authenticate(tenants, hashApiKey('sk-acme'))).toBeUndefined();
  });

  it('accepts an upper-case stored hash', () => {
    const upper = [{ ...tenant('initech', 'sk-initech'), apiKeySha256: hashApiKey('sk-initech').toUpperCase() }];
    expect(authenticate(upper, 'sk-initech')?.tenant.id).toBe('initech');
  });

  it('takes each of a tenant\'s keys while one is rotated, and says which one came', () => {
    const rotating = [{ ...tenant('hooli', 'sk-old'), apiKeySha256: [hashApiKey('sk-old'), hashApiKey('sk-new').toUpperCase()] }, tenant('acme', 'sk-acme')];
    expect(authenticate(rotating, 'sk-old')).toMatchObject({ tenant: { id: 'hooli' }, key: hashApiKey('sk-old').slice(0, 8) });
    expect(authenticate(rotating, 'sk-new')).toMatchObject({ tenant: { id: 'hooli' }, key: hashApiKey('sk-new').slice(0, 8) });
    expect(authenticate(rotating, 'sk-acme')).toMatchObject({ tenant: { id: 'acme' }, key: undefined });
    expect(authenticate(rotating, 'sk-older')).toBeUndefined();
  });

  it('stores no raw key', () => {
    expect(JSON.stringify(tenants)).not.toContain('sk-acme');
  });
});
