import { request as undiciRequest } from 'undici';
import { describe, expect, it } from 'vitest';
import { gatewayConfigWarnings } from '../../src/gateway/gateway-config-warnings.js';
import { createGateway } from '../../src/gateway/gateway-server.js';
import { hashApiKey } from '../../src/gateway/tenant-auth.js';
import { closedAfterEach, gatewayConfig, oneEndpointYaml } from './helpers/fleet.js';

/** GET /metrics names every tenant and its use: with a scrape key listed, only the scraper reads it (R78). */
const c = closedAfterEach();
const tenantKey = 'sk-tenant-one-key';
const otherTenantKey = 'sk-tenant-two-key';
const scrapeKey = 'prometheus-scrape-key-1';
const nextScrapeKey = 'prometheus-scrape-key-2';
const tenants = [
  `  - { id: one, apiKeySha256: ${hashApiKey(tenantKey)}, jurisdictions: [us], requestsPerMinute: 1000, tokensPerMinute: 100000000 }`,
  `  - { id: secret-merger, apiKeySha256: ${hashApiKey(otherTenantKey)}, jurisdictions: [us], requestsPerMinute: 1000, tokensPerMinute: 100000000 }`,
].join('\n');

async function start(metricsBlock: string): Promise<string> {
  const upstream = await c.scripted((res) => res.end());
  const gateway = createGateway({ config: gatewayConfig(oneEndpointYaml(upstream.url, tenants, metricsBlock)), logger: false });
  const url = await gateway.listen(0, '127.0.0.1');
  c.cleanups.push(() => gateway.close());
  return url;
}

const scrape = (url: string, authorization?: string, method = 'GET'): Promise<Response> => fetch(`${url}/metrics`, { method, headers: authorization === undefined ? {} : { authorization } });

describe('GET /metrics with a scrape key', () => {
  it('answers only a request with a listed scrape key; none, a wrong one or a tenant\'s is a 401 that says what to send', async () => {
    const url = await start(`metrics: { scrapeKeySha256: [${hashApiKey(scrapeKey)}, ${hashApiKey(nextScrapeKey)}] }`);
    for (const authorization of [undefined, 'Bearer ', 'Bearer wrong-key', `Bearer ${tenantKey}`, `Basic ${Buffer.from(`x:${scrapeKey}`).toString('base64')}`]) {
      const refused = await scrape(url, authorization);
      expect(refused.status, authorization).toBe(401);
      expect(refused.headers.get('www-authenticate')).toBe('Bearer realm="metrics"');
      const body = await refused.text();
      expect(body).toContain('metrics.scrapeKeySha256');
      expect(body).not.toContain('secret-merger');
    }
    expect((await scrape(url, undefined, 'HEAD')).status).toBe(401);
    // Two Authorization headers, the right one first: no key, as for a tenant (R79).
    const twice = await undiciRequest(`${url}/metrics`, { headers: ['Authorization', `Bearer ${scrapeKey}`, 'Authorization', 'Bearer other'] });
    await twice.body.text();
    expect(twice.statusCode).toBe(401);
    // Both keys of a rotation are taken.
    for (const key of [scrapeKey, nextScrapeKey]) {
      const scraped = await scrape(url, `Bearer ${key}`);
      expect(scraped.status).toBe(200);
      expect(await scraped.text()).toContain('switchyard_tenant_tokens_total{tenant="secret-merger"}');
    }
    // The rest of the gateway is as it was: health needs no key, the API a tenant's.
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    expect((await fetch(`${url}/v1/models`, { headers: { authorization: `Bearer ${scrapeKey}` } })).status).toBe(401);
  });

  it('without one, answers anyone, as scrapers expect, and the config warns when it names several tenants', async () => {
    const url = await start('');
    const open = await scrape(url);
    expect(open.status).toBe(200);
    expect(await open.text()).toContain('tenant="secret-merger"');
    const warned = (yaml: string): string[] => gatewayConfigWarnings(gatewayConfig(yaml), {}).filter((warning) => warning.includes('GET /metrics'));
    expect(warned(oneEndpointYaml(url, tenants))).toEqual([expect.stringContaining('list a scrape key\'s SHA-256 in metrics.scrapeKeySha256')]);
    expect(warned(oneEndpointYaml(url, tenants, `metrics: { scrapeKeySha256: ${hashApiKey(scrapeKey)} }`))).toEqual([]);
    expect(warned(oneEndpointYaml(url, tenants.split('\n')[0] ?? ''))).toEqual([]);
  });
});
