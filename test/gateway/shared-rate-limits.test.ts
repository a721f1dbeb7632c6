import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { createGateway } from '../../src/gateway/gateway-server.js';
import type { RateLimitStore } from '../../src/gateway/token-bucket.js';
import { DeferredRateLimitStore } from './helpers/deferred-rate-limit-store.js';
import { closedAfterEach, singleEndpointConfig, startTestEmulator } from './helpers/fleet.js';

// Tenant limits kept in a store that answers later, as one shared by several gateway processes
// across a network does: the limits hold across the gateways, a refund reaches the store, and a
// store out of reach admits nothing (a 503 the caller may retry) while the gateway keeps serving.

const apiKey = 'sk-shared-limits';
const { cleanups } = closedAfterEach();

async function gateways(count: number, rateLimits: RateLimitStore, limits: { readonly requestsPerMinute?: number; readonly tokensPerMinute?: number }): Promise<string[]> {
  const replica = await startTestEmulator({ servedModelName: 'm' });
  cleanups.push(() => replica.close());
  const urls: string[] = [];
  for (let index = 0; index < count; index += 1) {
    const gateway = createGateway({ config: singleEndpointConfig(replica.url, apiKey, '', 'openai', limits), logger: false, rateLimits });
    cleanups.push(() => gateway.close());
    urls.push(await gateway.listen(0, '127.0.0.1'));
  }
  return urls;
}

/** One gateway over the store, its log lines kept. */
async function loggedGateway(rateLimits: RateLimitStore): Promise<{ readonly url: string; readonly lines: string[] }> {
  const lines: string[] = [];
  const replica = await startTestEmulator({ servedModelName: 'm' });
  cleanups.push(() => replica.close());
  const gateway = createGateway({ config: singleEndpointConfig(replica.url, apiKey), logger: pino({ base: null }, { write: (line: string) => lines.push(line) }), rateLimits });
  cleanups.push(() => gateway.close());
  return { url: await gateway.listen(0, '127.0.0.1'), lines };
}

const chat = (url: string, maxTokens = 8): Promise<Response> =>
  fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', max_tokens: maxTokens, messages: [{ role: 'user', content: 'hi' }] }) });

describe('tenant limits in a store that answers later', () => {
  it('one limit across two gateways sharing the store: the fourth request of three a minute is refused, on either', async () => {
    const store = new DeferredRateLimitStore();
    const [first = '', second = ''] = await gateways(2, store, { requestsPerMinute: 3 });
    const statuses: number[] = [];
    for (const url of [first, second, first, second]) {
      const response = await chat(url);
      await response.arrayBuffer();
      statuses.push(response.status);
    }
    expect(statuses).toEqual([200, 200, 200, 429]);
    const refused = await chat(first);
    expect(refused.status).toBe(429);
    // One request back in 20 s at 3 a minute; the headers say so as a memory store's would.
    expect(Number(refused.headers.get('retry-after-ms'))).toBeGreaterThan(19_000);
    expect(refused.headers.get('x-ratelimit-remaining-requests')).toBe('0');
    expect(store.calls).toBeGreaterThanOrEqual(5);
  });

  it('an answer that used less than its estimate is refunded in the store: the next such request fits', async () => {
    const store = new DeferredRateLimitStore();
    const [url = ''] = await gateways(1, store, { tokensPerMinute: 6000 });
    // 5,000 tokens estimated (the budget), a few used: without the refund the second would wait.
    for (let index = 0; index < 2; index += 1) {
      const response = await chat(url, 5000);
      expect(response.status).toBe(200);
      const answer = (await response.json()) as { usage: { total_tokens: number } };
      expect(answer.usage.total_tokens).toBeLessThan(1000);
      // The refund reaches the store after the answer: wait for it, as a later request would.
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  });

  it('a settlement the store fails is logged, and the answer and the gateway are unharmed', async () => {
    const store = new DeferredRateLimitStore();
    const { url, lines } = await loggedGateway(store);
    store.failingSettlements = true;
    const served = await chat(url, 5000);
    expect(served.status).toBe(200);
    await served.arrayBuffer();
    await expect.poll(() => lines.map((line) => (JSON.parse(line) as { msg: string }).msg)).toContain('rate-limit store failed to settle a charge');
    store.failingSettlements = false;
    expect((await chat(url)).status).toBe(200);
  });

  it('a store out of reach admits nothing: a 503 saying why, retried once it answers again', async () => {
    const store = new DeferredRateLimitStore();
    const { url, lines } = await loggedGateway(store);
    store.failing = true;
    const refused = await chat(url);
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(((await refused.json()) as { error: { message: string } }).error.message).toBe("the gateway could not check the tenant's rate limits (its limit store did not answer); retry the request");
    // Logged, without the store's connection string (its password) that the error quoted.
    expect(lines.some((line) => line.includes('"msg":"rate-limit store failed"'))).toBe(true);
    expect(lines.join('\n')).not.toContain('hunter2');
    store.failing = false;
    const served = await chat(url);
    expect(served.status).toBe(200);
    await served.arrayBuffer();
  });
});
