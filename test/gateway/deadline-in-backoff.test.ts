import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterEach, expect, it } from 'vitest';
import { createGateway } from '../../src/gateway/gateway-server.js';
import { hashApiKey } from '../../src/gateway/tenant-auth.js';
import { delay, gatewayConfig, metricValue, openAIChunk, scrape, singleEndpointConfig } from './helpers/fleet.js';

/**
 * The deadline (or the client leaving) ends a backoff sleep early: no attempt follows it, none is
 * counted (upstream_attempts_total, retries_total, the log's attempts), and the upstream's idle
 * keep-alive connection is not taken only to be destroyed by an aborted dispatch.
 */

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

/** An upstream that answers each request with `respond` once its body is in; its URL. Closed after the test. */
async function upstream(respond: (res: ServerResponse) => void): Promise<string> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => respond(res));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** An upstream that refuses every request with `status` and a Retry-After of 5 s; its URL, and how many it refused. */
async function refusing(status: number): Promise<{ url: string; refused: () => number }> {
  let refused = 0;
  const url = await upstream((res) => {
    refused += 1;
    res.writeHead(status, { 'content-type': 'application/json', 'retry-after': '5' });
    res.end(JSON.stringify({ error: { message: 'busy' } }));
  });
  return { url, refused: () => refused };
}

/** A gateway over one endpoint 'up' at `upstreamUrl`, for key sk-bo; its URL. Closed after the test. */
async function oneEndpoint(upstreamUrl: string, resilience: string, random?: () => number): Promise<string> {
  const gateway = createGateway({ config: singleEndpointConfig(upstreamUrl, 'sk-bo', resilience), logger: false, ...(random === undefined ? {} : { random }) });
  cleanups.push(() => gateway.close());
  return gateway.listen(0, '127.0.0.1');
}

/** A chat request to a gateway with key sk-bo. */
function ask(gatewayUrl: string, signal?: AbortSignal): Promise<Response> {
  return fetch(`${gatewayUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: 'Bearer sk-bo' },
    body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }] }),
    ...(signal === undefined ? {} : { signal }),
  });
}

/** A gateway over a free endpoint 'cheap' and a paid one 'dear' (cost policy first), for key sk-bo; its URL. */
async function cheapAndDear(cheapUrl: string, dearUrl: string, resilience: string): Promise<string> {
  const gateway = createGateway({
    config: gatewayConfig(`
version: 1
endpoints:
  - { id: cheap, url: "${cheapUrl}", dialect: openai, model: m, provider: p1, region: r, jurisdiction: us, contextWindow: 100000, marginalCostPerMillionTokens: 0, capacity: 8 }
  - { id: dear, url: "${dearUrl}", dialect: openai, model: m, provider: p2, region: r, jurisdiction: us, contextWindow: 100000, marginalCostPerMillionTokens: 1, capacity: 8 }
routes:
  - { model: m, endpoints: [cheap, dear], policy: [cost] }
tenants:
  - { id: t, apiKeySha256: ${hashApiKey('sk-bo')}, jurisdictions: [us], requestsPerMinute: 1000, tokensPerMinute: 100000000 }
resilience: ${resilience}
`),
    logger: false,
  });
  cleanups.push(() => gateway.close());
  return gateway.listen(0, '127.0.0.1');
}

it.each([[0, 'control: no retry, so no backoff'], [2, 'the deadline passes in the backoff sleep']])('retries %i (%s): no attempt is counted that no upstream received, and the keep-alive connection survives', async (retries) => {
  let requests = 0;
  let closedConnections = 0;
  const server = createServer((req, res) => {
    requests += 1;
    req.resume();
    req.on('end', () => {
      res.writeHead(503, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: 'busy' } }));
    });
  });
  server.on('connection', (socket: Socket) => {
    socket.on('close', () => (closedConnections += 1));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const upstreamUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  // One endpoint: after its 503 the request may only go back to it, after a backoff of ~4 s
  // (random 0.99); the 300 ms deadline passes during that sleep.
  const url = await oneEndpoint(upstreamUrl, `{ retries: ${retries}, backoffMs: 4000, maxBackoffMs: 4000, ttftTimeoutMs: 250, deadlineMs: 300 }`, () => 0.99);
  const response = await ask(url);
  expect([503, 504]).toContain(response.status);
  await response.text();
  await delay(100);
  const metrics = await scrape(url);
  const attempts = metricValue(metrics, 'switchyard_upstream_attempts_total', { endpoint: 'up' });
  const retriesCounted = metricValue(metrics, 'switchyard_retries_total', { route: 'm' });
  expect(requests).toBe(1);
  expect(attempts).toBe(requests);
  expect(retriesCounted ?? 0).toBe(0);
  // The first attempt's keep-alive connection is still there for the next request.
  expect(closedConnections).toBe(0);
});

it('a client that leaves during the backoff is counted under the endpoint that failed it, not under none', async () => {
  const busy = await refusing(503);
  const url = await oneEndpoint(busy.url, '{ retries: 1, backoffMs: 50, maxBackoffMs: 10000 }');
  const leaving = new AbortController();
  const response = ask(url, leaving.signal);
  // The 503 comes at once; the request then waits out the upstream's Retry-After of 5 s.
  for (let tries = 0; tries < 200 && busy.refused() === 0; tries += 1) await delay(10);
  await delay(100);
  expect(busy.refused()).toBe(1);
  leaving.abort();
  await expect(response).rejects.toThrow();
  let counted: number | undefined;
  for (let tries = 0; tries < 100 && counted === undefined; tries += 1) {
    await delay(20);
    counted = metricValue(await scrape(url), 'switchyard_requests_total', { route: 'm', endpoint: 'up', status: '499' });
  }
  expect(counted).toBe(1);
  expect(metricValue(await scrape(url), 'switchyard_requests_total', { route: 'm', endpoint: 'none', status: '499' })).toBeUndefined();
});

it("a resume that goes back to an endpoint waits out the Retry-After it gave this request, rather than spend its go-back on a second 429", async () => {
  // 'cheap' answers this request's first attempt 429 (Retry-After: 1) and keeps refusing for 900 ms;
  // 'dear' streams two tokens and breaks. The resume has no fresh endpoint left: it goes back.
  const cheapArrivals: number[] = [];
  const cheap = await upstream((res) => {
    cheapArrivals.push(Date.now());
    if (Date.now() - (cheapArrivals[0] ?? 0) < 900) {
      res.writeHead(429, { 'content-type': 'application/json', 'retry-after': '1' });
      res.end(JSON.stringify({ error: { message: 'slow down' } }));
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.end(openAIChunk({ role: 'assistant', content: ' three' }) + openAIChunk({}, 'stop') + 'data: [DONE]\n\n');
  });
  const dear = await upstream((res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write(openAIChunk({ role: 'assistant', content: 'one' }) + openAIChunk({ content: ' two' }), () => setTimeout(() => res.socket?.destroy(), 20));
  });
  const url = await cheapAndDear(cheap, dear, '{ retries: 1, backoffMs: 10, maxBackoffMs: 5000 }');
  const response = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: 'Bearer sk-bo' },
    body: JSON.stringify({ model: 'm', max_tokens: 20, stream: true, messages: [{ role: 'user', content: 'count' }] }),
  });
  const text = await response.text();
  expect(text).not.toContain('"error"');
  const contents = text.split('\n\n').filter((frame) => frame.startsWith('data: {')).map((frame) => (JSON.parse(frame.slice(6)) as { choices: { delta: { content?: string } }[] }).choices[0]?.delta.content ?? '').join('');
  expect(contents).toBe('one two three');
  expect(text.trimEnd().endsWith('data: [DONE]')).toBe(true);
  // Two arrivals at 'cheap': its 429, then the resume, a Retry-After (1 s) later.
  expect(cheapArrivals).toHaveLength(2);
  expect((cheapArrivals[1] ?? 0) - (cheapArrivals[0] ?? 0)).toBeGreaterThanOrEqual(900);
});

it('going back, an endpoint whose Retry-After outlasts the deadline gives way to one that failed the request more but takes requests now', async () => {
  // 'cheap' answers 429 with Retry-After: 30 (a half failure); 'dear' fails once with a 503 (a whole
  // one), then answers. Going back to the least-failed 'cheap' would wait past the 1.5 s deadline.
  const cheap = await upstream((res) => {
    res.writeHead(429, { 'content-type': 'application/json', 'retry-after': '30' });
    res.end(JSON.stringify({ error: { message: 'slow down' } }));
  });
  let dearArrivals = 0;
  const dear = await upstream((res) => {
    dearArrivals += 1;
    if (dearArrivals === 1) {
      res.writeHead(503, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: 'busy' } }));
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.end(openAIChunk({ role: 'assistant', content: 'served' }) + openAIChunk({}, 'stop') + 'data: [DONE]\n\n');
  });
  const url = await cheapAndDear(cheap, dear, '{ retries: 1, backoffMs: 10, maxBackoffMs: 60000, ttftTimeoutMs: 1000, deadlineMs: 1500 }');
  const response = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: 'Bearer sk-bo' },
    body: JSON.stringify({ model: 'm', max_tokens: 20, messages: [{ role: 'user', content: 'hi' }] }),
  });
  expect(response.status).toBe(200);
  expect(await response.text()).toContain('served');
  expect(dearArrivals).toBe(2);
});

it('a wait for an endpoint that outlasts the deadline is not waited: the caller gets its 429 and Retry-After at once, not a 504 when the deadline passes', async () => {
  const limited = await refusing(429);
  const gatewayUrl = await oneEndpoint(limited.url, '{ retries: 2, backoffMs: 10, maxBackoffMs: 5000, ttftTimeoutMs: 1000, deadlineMs: 1500 }');
  const started = Date.now();
  const response = await ask(gatewayUrl);
  expect(response.status).toBe(429);
  expect(Number(response.headers.get('retry-after'))).toBeGreaterThanOrEqual(4);
  await response.text();
  // Answered without sitting out the 1.5 s deadline, and without asking the upstream again.
  expect(Date.now() - started).toBeLessThan(1200);
  expect(limited.refused()).toBe(1);
});
