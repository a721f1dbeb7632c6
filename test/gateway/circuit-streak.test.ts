import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { createGateway } from '../../src/gateway/gateway-server.js';
import { hashApiKey } from '../../src/gateway/tenant-auth.js';
import { closedAfterEach, delay, gatewayConfig, metricValue, openAIChunk, scrape } from './helpers/fleet.js';

// A run of failures in a row opens a circuit however far apart (circuit-breaker.ts): answers between
// them end the run, from their first token, not only once whole (R74's reproductions).
const apiKey = 'sk-circuit-streak';
const { cleanups } = closedAfterEach();

/** An upstream whose requests are answered by `plan(n)`: 'fail' a fast 500, or a stream of `ms` length. */
async function upstream(plan: (n: number) => 'fail' | number): Promise<string> {
  let n = 0;
  const server = createServer((req, res: ServerResponse) => {
    req.resume();
    req.on('end', () => {
      const what = plan(n++);
      if (what === 'fail') {
        res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: 'boom', type: 'server_error' } }));
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(openAIChunk({ role: 'assistant', content: 'Hello' }));
      const timer = setInterval(() => res.write(openAIChunk({ content: ' more' })), 50);
      setTimeout(() => {
        clearInterval(timer);
        res.write(openAIChunk({}, 'stop'));
        res.end('data: [DONE]\n\n');
      }, what);
      res.on('close', () => clearInterval(timer));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function gw(flaky: string, good: string): Promise<string> {
  const config = gatewayConfig(`
version: 1
endpoints:
  - { id: flaky, url: "${flaky}", dialect: openai, model: m, provider: p1, region: r1, jurisdiction: us, contextWindow: 131072, marginalCostPerMillionTokens: 0, capacity: 8 }
  - { id: good, url: "${good}", dialect: openai, model: m, provider: p2, region: r1, jurisdiction: us, contextWindow: 131072, marginalCostPerMillionTokens: 1, capacity: 8 }
routes:
  - { model: frontier, endpoints: [flaky, good], policy: [cost] }
tenants:
  - { id: t1, apiKeySha256: ${hashApiKey(apiKey)}, jurisdictions: [us], requestsPerMinute: 1000000, tokensPerMinute: 1000000000 }
resilience: { retries: 2, backoffMs: 5, maxBackoffMs: 50, ttftTimeoutMs: 2000, deadlineMs: 20000, circuitBreaker: { failureThreshold: 3, windowMs: 100, openMs: 60000 } }
`);
  const g = createGateway({ config, logger: false });
  const url = await g.listen(0, '127.0.0.1');
  cleanups.push(() => g.close());
  return url;
}

const ask = (url: string, stream: boolean, signal?: AbortSignal) =>
  fetch(`${url}/v1/chat/completions`, { method: 'POST', signal: signal ?? null, headers: { 'content-type': 'application/json', authorization: `Bearer ${apiKey}` }, body: JSON.stringify({ model: 'frontier', messages: [{ role: 'user', content: 'hi' }], max_tokens: 50, stream }) });

describe('a run of failures in a row', () => {
  it('with nothing answered between them opens the circuit, each failure a window apart', async () => {
    const flaky = await upstream(() => 'fail');
    const good = await upstream(() => 50);
    const url = await gw(flaky, good);
    for (let i = 0; i < 3; i += 1) {
      const answer = await ask(url, false);
      expect(answer.status).toBe(200); // failed over to good
      await answer.text();
      await delay(150); // beyond windowMs: the window alone never opens it
    }
    expect(metricValue(await scrape(url), 'switchyard_circuit_state', { endpoint: 'flaky' })).toBe(2);
  });

  it('is ended by an answer its client stopped: fail, answer, fail, answer, fail leaves it closed', async () => {
    const flaky = await upstream((n) => (n % 2 === 0 ? 'fail' : 300));
    const good = await upstream(() => 50);
    const url = await gw(flaky, good);
    for (let i = 0; i < 5; i += 1) {
      if (i % 2 === 0) {
        const answer = await ask(url, false);
        expect(answer.status).toBe(200);
        await answer.text();
      } else {
        const controller = new AbortController();
        const answer = await ask(url, true, controller.signal);
        const reader = answer.body?.getReader();
        const first = await reader?.read();
        expect(new TextDecoder().decode(first?.value)).toContain('Hello');
        controller.abort(); // the user pressed stop
        await delay(50);
      }
      await delay(150);
    }
    expect(metricValue(await scrape(url), 'switchyard_circuit_state', { endpoint: 'flaky' })).toBe(0);
  });
});
