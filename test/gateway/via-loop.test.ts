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
    // What the refused pass was told: a 508 in the caller's dialect, saying what to fix.
    const own = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json', via: upstream.headers[0]?.via ?? '' }, body: '{}' });
    expect(own.status).toBe(508);
    expect(await own.json()).toMatchObject({ error: { message: "loop detected: this request was sent by this gateway itself (its Via header names it), so an endpoint's url reaches this gateway: point it at the upstream" } });
    const metrics = await scrape(url);
    expect(metricValue(metrics, 'switchyard_upstream_errors_total', { endpoint: 'self', status: '508' })).toBe(1);
    // Each refused pass is counted as a request of its own (no route reached): the loop's and the one above.
    expect(metricValue(metrics, 'switchyard_requests_total', { route: 'none', endpoint: 'none', status: '508', dialect: 'openai' })).toBe(2);
    // Another gateway's name is no loop.
    const other = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json', via: '1.1 switchyard-000000000000, 1.1 proxy' }, body: JSON.stringify({ model: 'm', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] }) });
    expect(other.status).toBe(200);
    expect(upstream.headers[1]?.via).toMatch(/^1\.1 switchyard-000000000000, 1\.1 proxy, 1\.1 switchyard-[0-9a-f]{12}$/);
    // A long Via is carried by its last entries within 1 KB, empty ones dropped (R47: 16 KB made every upstream refuse it).
    const hops = Array.from({ length: 800 }, (_, index) => `1.1 hop-${String(index)}`).join(', ');
    const long = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json', via: ` , ,${hops}` }, body: JSON.stringify({ model: 'm', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] }) });
    expect(long.status).toBe(200);
    const sent = upstream.headers[2]?.via ?? '';
    expect(sent.length).toBeLessThanOrEqual(1100);
    expect(sent).toMatch(/, 1\.1 hop-799, 1\.1 switchyard-[0-9a-f]{12}$/);
    expect(sent).not.toMatch(/^\s*,/);
    // A comment's comma is the comment's: the entry is kept whole (R48).
    const commented = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json', via: '1.1 edge (Acme proxy, v2), 1.1 lb' }, body: JSON.stringify({ model: 'm', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] }) });
    expect(commented.status).toBe(200);
    expect(upstream.headers[3]?.via).toMatch(/^1\.1 edge \(Acme proxy, v2\), 1\.1 lb, 1\.1 switchyard-[0-9a-f]{12}$/);
    // An escaped parenthesis inside a comment, and a comment never closed, keep the hops after them (R49).
    for (const [index, via] of [[4, '1.1 p (a \\( b), 1.1 hop-1'], [5, '1.1 x (oops, 1.1 hop-2']] as const) {
      const sent = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json', via }, body: JSON.stringify({ model: 'm', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] }) });
      expect(sent.status).toBe(200);
      expect(upstream.headers[index]?.via?.startsWith(`${via}, 1.1 switchyard-`)).toBe(true);
    }
  });

  it('a loop through two gateways (A -> B -> A) is refused where it comes back: each carries the Via it got and adds its own (R46)', async () => {
    const [portA, portB] = [await freePort(), await freePort()];
    const upstream = await scripted((res) => res.end(openAIChunk({ content: 'hi' }, 'stop') + 'data: [DONE]\n\n'));
    const tenant = `tenants:\n  - { id: t, apiKeySha256: ${hashApiKey(apiKey)}, jurisdictions: [us], requestsPerMinute: 1000, tokensPerMinute: 1000000 }\nresilience: { retries: 0, backoffMs: 1, maxBackoffMs: 5 }\n`;
    const endpoint = (id: string, url: string, cost: number): string => `  - { id: ${id}, url: "${url}", dialect: openai, model: m, provider: p, region: r, jurisdiction: us, contextWindow: 100000, marginalCostPerMillionTokens: ${String(cost)}, capacity: 8, apiKeyEnv: LOOP_KEY }\n`;
    const a = createGateway({ config: gatewayConfig(`version: 1\nendpoints:\n${endpoint('to-b', `http://127.0.0.1:${String(portB)}`, 0)}${endpoint('real', upstream.url, 1)}routes:\n  - { model: m, endpoints: [to-b, real], policy: [cost] }\n${tenant}`), logger: false, env: { LOOP_KEY: apiKey } });
    const b = createGateway({ config: gatewayConfig(`version: 1\nendpoints:\n${endpoint('to-a', `http://127.0.0.1:${String(portA)}`, 0)}routes:\n  - { model: m, endpoints: [to-a], policy: [cost] }\n${tenant}`), logger: false, env: { LOOP_KEY: apiKey } });
    cleanups.push(() => a.close(), () => b.close());
    const urlA = await a.listen(portA, '127.0.0.1');
    await b.listen(portB, '127.0.0.1');
    const response = await fetch(`${urlA}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] }) });
    expect(response.status).toBe(200);
    expect(upstream.arrivals()).toBe(1);
    // A refused its own request once, when B sent it back; the real upstream got A's name alone.
    expect(metricValue(await scrape(urlA), 'switchyard_requests_total', { route: 'none', endpoint: 'none', status: '508', dialect: 'openai' })).toBe(1);
    expect(upstream.headers[0]?.via).toMatch(/^1\.1 switchyard-[0-9a-f]{12}$/);
  });
});
