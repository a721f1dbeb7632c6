import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, expect, it } from 'vitest';
import { createGateway } from '../../src/gateway/gateway-server.js';
import { hashApiKey } from '../../src/gateway/tenant-auth.js';
import { delay, gatewayConfig, openAIChunk, waitFor } from './helpers/fleet.js';

/**
 * An endpoint that asked to be left alone (429 with Retry-After) is ranked last while that lasts,
 * and an answer that completes there clears it only when it answers an attempt made after it:
 * a long stream that began before the 429 says nothing about whether the endpoint recovered.
 */

const apiKey = 'sk-ra';
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

async function listen(handler: Parameters<typeof createServer>[1]): Promise<{ url: string; close: () => Promise<void> }> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function answer(res: ServerResponse, text: string): void {
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  res.end(`${openAIChunk({ role: 'assistant', content: '' })}${openAIChunk({ content: text })}${openAIChunk({}, 'stop')}data: [DONE]\n\n`);
}

it("an answer that began before the endpoint's 429 Retry-After does not erase it when it completes", async () => {
  // Endpoint "cheap": its first request is a long stream the test finishes; every later one is 429, Retry-After 60 s.
  let cheapArrivals = 0;
  let finishLong: (() => void) | undefined;
  const cheap = await listen((req, res) => {
    cheapArrivals += 1;
    const n = cheapArrivals;
    req.resume();
    req.on('end', () => {
      if (n === 1) {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write(openAIChunk({ role: 'assistant', content: '' }));
        res.write(openAIChunk({ content: 'long ' }));
        finishLong = () => res.end(`${openAIChunk({ content: 'answer' })}${openAIChunk({}, 'stop')}data: [DONE]\n\n`);
        return;
      }
      res.writeHead(429, { 'content-type': 'application/json', 'retry-after': '60' });
      res.end(JSON.stringify({ error: { message: 'slow down' } }));
    });
  });
  cleanups.push(cheap.close);
  const dear = await listen((req, res) => {
    req.resume();
    req.on('end', () => answer(res, 'from dear'));
  });
  cleanups.push(dear.close);
  const config = gatewayConfig(`
version: 1
endpoints:
  - { id: cheap, url: "${cheap.url}", dialect: openai, model: m, provider: p, region: r, jurisdiction: us, contextWindow: 100000, marginalCostPerMillionTokens: 0, capacity: 8 }
  - { id: dear, url: "${dear.url}", dialect: openai, model: m, provider: p, region: r, jurisdiction: us, contextWindow: 100000, marginalCostPerMillionTokens: 5, capacity: 8 }
routes:
  - { model: m, endpoints: [cheap, dear], policy: [cost] }
tenants:
  - { id: t, apiKeySha256: ${hashApiKey(apiKey)}, jurisdictions: [us], requestsPerMinute: 100000, tokensPerMinute: 100000000 }
resilience: { retries: 1, backoffMs: 5, maxBackoffMs: 50, ttftTimeoutMs: 5000, deadlineMs: 20000 }
`);
  const gateway = createGateway({ config, logger: false });
  const url = await gateway.listen(0, '127.0.0.1');
  cleanups.push(() => gateway.close());
  const ask = async (stream = false): Promise<Response> =>
    fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${apiKey}` },
      body: JSON.stringify({ model: 'm', stream, max_tokens: 50, messages: [{ role: 'user', content: 'hi' }] }),
    });

  // 1. A long stream starts on cheap.
  const long = await ask(true);
  expect(await waitFor(() => finishLong !== undefined, 3_000)).toBe(true);
  // 2. The next request gets cheap's 429 (Retry-After 60 s) and fails over to dear.
  expect((await (await ask()).json()) as unknown).toMatchObject({ choices: [{ message: { content: 'from dear' } }] });
  expect(cheapArrivals).toBe(2);
  // 3. While the Retry-After lasts, cheap is ranked last: the next request goes to dear directly.
  await (await ask()).text();
  expect(cheapArrivals).toBe(2);
  // 4. The long stream, begun before the 429, completes.
  finishLong?.();
  await long.text();
  await delay(50);
  // 5. Still well inside the 60 s cheap asked for: the next requests should not be sent to it.
  const before = cheapArrivals;
  for (let i = 0; i < 3; i += 1) await (await ask()).text();
  expect(cheapArrivals - before).toBe(0);
});
