import { describe, expect, it } from 'vitest';
import { planReload } from '../../src/gateway/config-reload.js';
import { hashApiKey } from '../../src/gateway/tenant-auth.js';
import { gatewayConfig } from './helpers/fleet.js';

const yaml = (tenants: readonly string[], extra = ''): string => `
version: 1
endpoints:
  - { id: up, url: "http://127.0.0.1:1", dialect: openai, model: m, provider: p, region: r, jurisdiction: us, contextWindow: 131072, marginalCostPerMillionTokens: 0, capacity: 8 }
routes:
  - { model: m, endpoints: [up], policy: [cost] }
tenants:
${tenants.join('\n')}
${extra}`;
const acme = `  - { id: acme, apiKeySha256: ${hashApiKey('sk-acme')}, jurisdictions: [us], requestsPerMinute: 60, tokensPerMinute: 100000 }`;
const globex = `  - { id: globex, apiKeySha256: ${hashApiKey('sk-globex')}, jurisdictions: [us], requestsPerMinute: 60, tokensPerMinute: 100000 }`;

describe('planReload (what a SIGHUP takes)', () => {
  it('takes tenants added, removed and changed, and nothing when the file is the same in another order', () => {
    const running = gatewayConfig(yaml([acme, globex]));
    const rotated = acme.replace(`apiKeySha256: ${hashApiKey('sk-acme')}`, `apiKeySha256: [${hashApiKey('sk-acme')}, ${hashApiKey('sk-acme-2')}]`);
    const initech = `  - { id: initech, apiKeySha256: ${hashApiKey('sk-initech')}, jurisdictions: [us], requestsPerMinute: 60, tokensPerMinute: 100000 }`;
    expect(planReload(running, gatewayConfig(yaml([rotated, initech])))).toEqual({ apply: true, added: ['initech'], removed: ['globex'], changed: ['acme'] });
    const reordered = `  - { tokensPerMinute: 100000, requestsPerMinute: 60, jurisdictions: [us], apiKeySha256: ${hashApiKey('sk-acme')}, id: acme }`;
    expect(planReload(running, gatewayConfig(yaml([reordered, globex], 'resilience: {}')))).toEqual({ apply: true, added: [], removed: [], changed: [] });
  });

  it('takes nothing, tenants included, from a file that changes anything else', () => {
    const running = gatewayConfig(yaml([acme]));
    expect(planReload(running, gatewayConfig(yaml([acme, globex], 'resilience: { retries: 5 }\ncors: { allowOrigins: ["http://localhost:3000"] }')))).toEqual({ apply: false, needsRestart: ['cors', 'resilience'] });
    expect(planReload(running, gatewayConfig(yaml([acme]).replace('capacity: 8', 'capacity: 9')))).toEqual({ apply: false, needsRestart: ['endpoints'] });
  });
});
