import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect, it } from 'vitest';
import { createGateway } from '../../src/gateway/gateway-server.js';
import { cheapestFirstConfig, closedAfterEach, singleEndpointConfig, startScriptedUpstream } from './helpers/fleet.js';

const { cleanups } = closedAfterEach();
const apiKey = 'sk-relayed-wait';

it("an upstream's wait reaches the caller as what is left of it when the answer goes out, not as it was asked", async () => {
  const busy = await startScriptedUpstream((res) => res.end('{"error":{"message":"slow down"}}'), { status: 429, contentType: 'application/json', headers: { 'retry-after': '30' } });
  cleanups.push(() => busy.close());
  // Every reading of the clock moves it a second on: the time the gateway takes between the
  // upstream's answer and its own, made long.
  let clock = 1_700_000_000_000;
  const gateway = createGateway({ config: singleEndpointConfig(busy.url, apiKey, '{ retries: 0 }'), logger: false, now: () => (clock += 1000) });
  cleanups.push(() => gateway.close());
  const url = await gateway.listen(0, '127.0.0.1');
  const response = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 }) });
  expect(response.status).toBe(429);
  const waitMs = Number(response.headers.get('retry-after-ms'));
  expect(waitMs).toBeGreaterThanOrEqual(1000);
  expect(waitMs).toBeLessThan(30_000);
  expect(response.headers.get('retry-after')).toBe(String(Math.ceil(waitMs / 1000)));
});

it("each caller gets its own failure's wait: not one another request left on the endpoint, nor one that did not parse", async () => {
  // The first request is asked to wait 30 s; the second gets a wait that does not parse; the third none.
  const waits = ['30', 'soon', undefined];
  let arrival = 0;
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const wait = waits[arrival];
      arrival += 1;
      res.writeHead(429, { 'content-type': 'application/json', ...(wait === undefined ? {} : { 'retry-after': wait }) });
      res.end('{"error":{"message":"slow down"}}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  }));
  const gateway = createGateway({ config: singleEndpointConfig(`http://127.0.0.1:${String((server.address() as AddressInfo).port)}`, apiKey, '{ retries: 0, circuitBreaker: { failureThreshold: 100 } }'), logger: false });
  cleanups.push(() => gateway.close());
  const url = await gateway.listen(0, '127.0.0.1');
  const ask = (): Promise<Response> => fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 }) });
  const first = await ask();
  expect([first.status, first.headers.get('retry-after')]).toEqual([429, '30']);
  for (let index = 1; index < waits.length; index += 1) {
    const later = await ask();
    expect([later.status, later.headers.get('retry-after'), later.headers.get('retry-after-ms')]).toEqual([429, null, null]);
  }
});

it('a request that ends on a wait that does not parse answers with the earlier wait that did, still running', async () => {
  const busy = await startScriptedUpstream((res) => res.end('{"error":{"message":"slow down"}}'), { status: 429, contentType: 'application/json', headers: { 'retry-after': '30' } });
  const vague = await startScriptedUpstream((res) => res.end('{"error":{"message":"overloaded"}}'), { status: 503, contentType: 'application/json', headers: { 'retry-after': 'soon' } });
  cleanups.push(() => busy.close(), () => vague.close());
  const gateway = createGateway({ config: cheapestFirstConfig([[busy.url, 'openai'], [vague.url, 'openai']], apiKey, '{ retries: 1, backoffMs: 1, maxBackoffMs: 2 }'), logger: false });
  cleanups.push(() => gateway.close());
  const url = await gateway.listen(0, '127.0.0.1');
  const response = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 }) });
  expect(busy.arrivals()).toBe(1);
  expect(vague.arrivals()).toBeGreaterThanOrEqual(1);
  expect(response.status).toBe(429);
  expect(Number(response.headers.get('retry-after'))).toBeGreaterThanOrEqual(29);
});

/** An upstream that answers every request with `status` after `afterMs`. */
async function delayed(afterMs: number, status: number, headers: Record<string, string>, body = '{"error":{"message":"no"}}'): Promise<string> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => setTimeout(() => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(body);
    }, afterMs));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  }));
  return `http://127.0.0.1:${String((server.address() as AddressInfo).port)}`;
}

it("a hedge's first leg that asked for a wait is the answer when the other leg then fails for no reason a wait cures", async () => {
  const primary = await delayed(100, 429, { 'retry-after': '10' });
  const backup = await delayed(400, 500, {});
  const gateway = createGateway({ config: cheapestFirstConfig([[primary, 'openai'], [backup, 'openai']], apiKey, '{ retries: 0, hedgeAfterMs: 20, ttftTimeoutMs: 5000 }'), logger: false });
  cleanups.push(() => gateway.close());
  const url = await gateway.listen(0, '127.0.0.1');
  const response = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 }) });
  expect(response.status).toBe(429);
  expect(Number(response.headers.get('retry-after'))).toBeGreaterThanOrEqual(9);
  expect(Number(response.headers.get('retry-after'))).toBeLessThanOrEqual(10);
});

it("a hedge's failed leg that a wait cures outranks the other leg's smaller window refusing the prompt as too long", async () => {
  const larger = await delayed(100, 503, { 'retry-after': '10' });
  const tooLong = '{"error":{"message":"This model\'s maximum context length is 8192 tokens. However, you requested 9000 tokens (8000 in the messages, 1000 in the completion). Please reduce the length of the messages or completion.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}';
  const smaller = await delayed(300, 400, {}, tooLong);
  const config = cheapestFirstConfig([[larger, 'openai'], [smaller, 'openai']], apiKey, '{ retries: 0, hedgeAfterMs: 20, ttftTimeoutMs: 5000 }');
  const gateway = createGateway({ config: { ...config, endpoints: config.endpoints.map((endpoint, index) => ({ ...endpoint, contextWindow: index === 0 ? 200_000 : 8192 })) }, logger: false });
  cleanups.push(() => gateway.close());
  const url = await gateway.listen(0, '127.0.0.1');
  const response = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 }) });
  expect(response.status).toBe(503);
  expect(Number(response.headers.get('retry-after'))).toBeGreaterThanOrEqual(9);
});
