import { createServer, type AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import type { GatewayConfig } from '../../src/gateway/gateway-config.js';
import { createGateway } from '../../src/gateway/gateway-server.js';
import { cheapestFirstConfig, closedAfterEach, metricValue, openAIChunk, scrape } from './helpers/fleet.js';

const apiKey = 'sk-loop-test';
const { cleanups, scripted } = closedAfterEach();
const noRetries = '{ retries: 0, backoffMs: 1, maxBackoffMs: 5 }';

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A gateway of `config` listening on `port`, its upstream key (for endpoints that are gateways) the tenant's own. */
async function gatewayOn(port: number, config: GatewayConfig): Promise<string> {
  const gateway = createGateway({ config, logger: false, env: { LOOP_KEY: apiKey } });
  cleanups.push(() => gateway.close());
  return gateway.listen(port, '127.0.0.1');
}

/** A one-word question to the gateway at `url`, with a Via header when given one. */
function ask(url: string, via?: string, body = JSON.stringify({ model: 'm', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] })): Promise<Response> {
  return fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json', ...(via === undefined ? {} : { via }) }, body });
}

const answering = (): Parameters<typeof scripted>[0] => (res) => res.end(openAIChunk({ content: 'hi' }, 'stop') + 'data: [DONE]\n\n');

describe('an endpoint whose url reaches the gateway itself (E51)', () => {
  it('is refused as a loop (508) at the first pass, not nested until the tenant limit runs out; the request goes on to a healthy endpoint', async () => {
    const port = await freePort();
    const upstream = await scripted(answering());
    // e0 (free) is the gateway itself; e1 the real upstream.
    const url = await gatewayOn(port, cheapestFirstConfig([[`http://127.0.0.1:${String(port)}`, 'openai'], [upstream.url, 'openai']], apiKey, noRetries));
    const response = await ask(url);
    expect(response.status).toBe(200);
    expect(upstream.arrivals()).toBe(1);
    // Its upstream calls name it in Via, so the one that came back was refused before anything else.
    expect(upstream.headers[0]?.via).toMatch(/^1\.1 switchyard-[0-9a-f]{12}$/);
    // What the refused pass was told: a 508 in the caller's dialect, saying what to fix.
    const own = await ask(url, upstream.headers[0]?.via ?? '', '{}');
    expect(own.status).toBe(508);
    expect(await own.json()).toMatchObject({ error: { message: "loop detected: this request was sent by this gateway itself (its Via header names it), so an endpoint's url reaches this gateway: point it at the upstream" } });
    const metrics = await scrape(url);
    expect(metricValue(metrics, 'switchyard_upstream_errors_total', { endpoint: 'e0', status: '508' })).toBe(1);
    // Each refused pass is counted as a request of its own (no route reached): the loop's and the one above.
    expect(metricValue(metrics, 'switchyard_requests_total', { route: 'none', endpoint: 'none', status: '508', dialect: 'openai' })).toBe(2);
    // Another gateway's name is no loop.
    expect((await ask(url, '1.1 switchyard-000000000000, 1.1 proxy')).status).toBe(200);
    expect(upstream.headers[1]?.via).toMatch(/^1\.1 switchyard-000000000000, 1\.1 proxy, 1\.1 switchyard-[0-9a-f]{12}$/);
    // A long Via is carried by its last entries within 1 KB, empty ones dropped (R47: 16 KB made every upstream refuse it).
    const hops = Array.from({ length: 800 }, (_, index) => `1.1 hop-${String(index)}`).join(', ');
    expect((await ask(url, ` , ,${hops}`)).status).toBe(200);
    const sent = upstream.headers[2]?.via ?? '';
    expect(sent.length).toBeLessThanOrEqual(1100);
    expect(sent).toMatch(/, 1\.1 hop-799, 1\.1 switchyard-[0-9a-f]{12}$/);
    expect(sent).not.toMatch(/^\s*,/);
    // A comment's comma is the comment's: the entry is kept whole (R48).
    expect((await ask(url, '1.1 edge (Acme proxy, v2), 1.1 lb')).status).toBe(200);
    expect(upstream.headers[3]?.via).toMatch(/^1\.1 edge \(Acme proxy, v2\), 1\.1 lb, 1\.1 switchyard-[0-9a-f]{12}$/);
    // An escaped parenthesis inside a comment, and a comment never closed, keep the hops after them (R49).
    for (const [index, via] of [[4, '1.1 p (a \\( b), 1.1 hop-1'], [5, '1.1 x (oops, 1.1 hop-2']] as const) {
      expect((await ask(url, via)).status).toBe(200);
      expect(upstream.headers[index]?.via?.startsWith(`${via}, 1.1 switchyard-`)).toBe(true);
    }
  });

  it('a loop through two gateways (A -> B -> A) is refused where it comes back: each carries the Via it got and adds its own (R46)', async () => {
    const [portA, portB] = [await freePort(), await freePort()];
    const upstream = await scripted(answering());
    // A: B first (free), then the real upstream; B: A alone.
    const keyed = ', apiKeyEnv: LOOP_KEY';
    const urlA = await gatewayOn(portA, cheapestFirstConfig([[`http://127.0.0.1:${String(portB)}`, 'openai'], [upstream.url, 'openai']], apiKey, noRetries, keyed));
    await gatewayOn(portB, cheapestFirstConfig([[`http://127.0.0.1:${String(portA)}`, 'openai']], apiKey, noRetries, keyed));
    const response = await ask(urlA);
    expect(response.status).toBe(200);
    expect(upstream.arrivals()).toBe(1);
    // A refused its own request once, when B sent it back; the real upstream got A's name alone.
    expect(metricValue(await scrape(urlA), 'switchyard_requests_total', { route: 'none', endpoint: 'none', status: '508', dialect: 'openai' })).toBe(1);
    expect(upstream.headers[0]?.via).toMatch(/^1\.1 switchyard-[0-9a-f]{12}$/);
  });
});
