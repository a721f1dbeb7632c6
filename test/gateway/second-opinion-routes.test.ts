import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createGateway } from '../../src/gateway/gateway-server.js';
import { hashApiKey } from '../../src/gateway/tenant-auth.js';
import { delay, gatewayConfig, metricValue, openAIChunk, scrape } from './helpers/fleet.js';

/**
 * A refusal's second opinion through the gateway, where routing's order would ask the refusing pool's
 * own sibling (see second-opinion.ts; R71's cases, written as its review's reproductions).
 */
const apiKey = 'sk-second-opinion';
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

interface Up { url: string; arrivals: () => number; mode: { status: number; delayMs: number } }
async function upstream(mode: { status: number; delayMs: number }): Promise<Up> {
  let arrivals = 0;
  const server = createServer((req, res: ServerResponse) => {
    arrivals += 1;
    req.resume();
    req.on('end', () => {
      setTimeout(() => {
        if (mode.status === 200) {
          res.writeHead(200, { 'content-type': 'text/event-stream' });
          res.end(openAIChunk({ role: 'assistant', content: 'ok' }) + openAIChunk({}, 'stop') + 'data: [DONE]\n\n');
        } else {
          res.writeHead(mode.status, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ error: { message: 'injected', type: mode.status === 400 ? 'invalid_request_error' : 'server_error' } }));
        }
      }, mode.delayMs);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(async () => { server.closeAllConnections(); await new Promise<void>((r) => server.close(() => r())); });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, arrivals: () => arrivals, mode };
}

async function gw(eps: { id: string; url: string; pool: string; cost: number }[], resilience: string): Promise<string> {
  const cfg = gatewayConfig(`
version: 1
endpoints:
${eps.map((e) => `  - { id: ${e.id}, url: "${e.url}", dialect: openai, model: m, provider: p, region: r1, jurisdiction: us, contextWindow: 131072, pool: ${e.pool}, marginalCostPerMillionTokens: ${e.cost}, capacity: 8 }`).join('\n')}
routes:
  - { model: frontier, endpoints: [${eps.map((e) => e.id).join(', ')}], policy: [cost] }
tenants:
  - { id: t1, apiKeySha256: ${hashApiKey(apiKey)}, jurisdictions: [us], requestsPerMinute: 1000000, tokensPerMinute: 1000000000 }
resilience: ${resilience}
`);
  const g = createGateway({ config: cfg, logger: false });
  const url = await g.listen(0, '127.0.0.1');
  cleanups.push(() => g.close());
  return url;
}

const ask = (url: string): Promise<number> =>
  fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'frontier', messages: [{ role: 'user', content: 'hi' }], max_tokens: 5, stream: true }) }).then(async (r) => { await r.text(); return r.status; });

describe('a refusal\'s second opinion across pools', () => {
  it("goes to another pool whose circuit is half-open rather than to the refusing pool's sibling (which would fail every request for good)", async () => {
    const a0 = await upstream({ status: 400, delayMs: 0 });
    const a1 = await upstream({ status: 400, delayMs: 0 });
    const b0 = await upstream({ status: 500, delayMs: 0 });
    const url = await gw([{ id: 'a0', url: a0.url, pool: 'a', cost: 0 }, { id: 'a1', url: a1.url, pool: 'a', cost: 0 }, { id: 'b0', url: b0.url, pool: 'b', cost: 1 }],
      '{ retries: 2, backoffMs: 5, maxBackoffMs: 50, ttftTimeoutMs: 2000, deadlineMs: 10000, circuitBreaker: { failureThreshold: 1, openMs: 200 } }');
    expect(await ask(url)).toBe(400); // b0 500s once: its circuit opens
    b0.mode.status = 200; // b0 recovers
    await delay(300); // b0 half-open
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push(await ask(url));
    const scraped = await scrape(url);
    expect(statuses).toEqual([200, 200, 200, 200, 200]);
    // Its probe answered: b0's circuit closed again, and the refusing pool's opened.
    expect(metricValue(scraped, 'switchyard_circuit_state', { endpoint: 'b0' })).toBe(0);
    expect(['a0', 'a1'].map((endpoint) => metricValue(scraped, 'switchyard_circuit_state', { endpoint }))).toContain(2);
  });

  it("is not the refusal of a hedge's leg routed to the refusing pool's sibling: another pool is still asked", async () => {
    const a0 = await upstream({ status: 400, delayMs: 300 });
    const a1 = await upstream({ status: 400, delayMs: 300 });
    const b0 = await upstream({ status: 200, delayMs: 0 });
    const url = await gw([{ id: 'a0', url: a0.url, pool: 'a', cost: 0 }, { id: 'a1', url: a1.url, pool: 'a', cost: 0 }, { id: 'b0', url: b0.url, pool: 'b', cost: 1 }],
      '{ retries: 2, backoffMs: 5, maxBackoffMs: 50, ttftTimeoutMs: 2000, deadlineMs: 10000, hedgeAfterMs: 100, circuitBreaker: { failureThreshold: 2, openMs: 60000 } }');
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) statuses.push(await ask(url));
    expect(statuses).toEqual([200, 200, 200]);
    expect(b0.arrivals()).toBe(3);
  });
});
