import { createServer, type AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { createGateway } from '../../src/gateway/gateway-server.js';
import { hashApiKey } from '../../src/gateway/hash-api-key.js';
import { closedAfterEach, gatewayConfig, metricValue, openAIChunk, scrape } from './helpers/fleet.js';

const apiKey = 'sk-loop-test';
const { cleanups, scripted } = closedAfterEach();

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('an endpoint whose url reaches the gateway itself (E51)', () => {
  it('is refused as a loop (508) at the first pass, not nested until the tenant limit runs out; the request goes on to a healthy endpoint', async () => {
    const port = await freePort();
    const upstream = await scripted((res) => res.end(openAIChunk({ content: 'hi' }, 'stop') + 'data: [DONE]\n\n'));
    const config = gatewayConfig(`
version: 1
endpoints:
  - { id: self, url: "http://127.0.0.1:${String(port)}", dialect: openai, model: m, provider: p, region: r, jurisdiction: us, contextWindow: 100000, marginalCostPerMillionTokens: 0, capacity: 8 }
  - { id: real, url: "${upstream.url}", dialect: openai, model: m, provider: p, region: r, jurisdiction: us, contextWindow: 100000, marginalCostPerMillionTokens: 1, capacity: 8 }
routes:
  - { model: m, endpoints: [self, real], policy: [cost] }
tenants:
  - { id: t, apiKeySha256: ${hashApiKey(apiKey)}, jurisdictions: [us], requestsPerMinute: 1000, tokensPerMinute: 1000000 }
resilience: { retries: 0, backoffMs: 1, maxBackoffMs: 5 }
`);
    const gateway = createGateway({ config, logger: false });
    cleanups.push(() => gateway.close());
    const url = await gateway.listen(port, '127.0.0.1');
    const response = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] }) });
    expect(response.status).toBe(200);
    expect(upstream.arrivals()).toBe(1);
    // Its upstream calls name it in Via, so the one that came back was refused before anything else.
    expect(upstream.headers[0]?.via).toMatch(/^1\.1 switchyard-[0-9a-f]{12}$/);
    const metrics = await scrape(url);
    expect(metricValue(metrics, 'switchyard_upstream_errors_total', { endpoint: 'self', status: '508' })).toBe(1);
    // The refused pass is counted as a request of its own (no route reached), once.
    expect(metricValue(metrics, 'switchyard_requests_total', { route: 'none', endpoint: 'none', status: '508', dialect: 'openai' })).toBe(1);
    // Another gateway's name is no loop.
    const other = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json', via: '1.1 switchyard-000000000000, 1.1 proxy' }, body: JSON.stringify({ model: 'm', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] }) });
    expect(other.status).toBe(200);
  });
});
