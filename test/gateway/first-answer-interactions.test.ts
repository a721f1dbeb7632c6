import type { ServerResponse } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import type { RunningEmulator } from '../../src/emulator/index.js';
import { createGateway } from '../../src/gateway/gateway-server.js';
import { hashApiKey } from '../../src/gateway/tenant-auth.js';
import { gatewayConfig, metricValue, openAIChunk, scrape, startCountingProxy, startScriptedUpstream, startTestEmulator, type CountingProxy, type ScriptedUpstream } from './helpers/fleet.js';

// How the retry loop's rules meet (firstAnswer): context-length refusals, second opinions, hedging,
// room budgets and revisits, each pair in one test. Found by a review of the loop.

const apiKey = 'sk-interactions';
const publicModel = 'frontier';
const defaultResilience = '{ retries: 2, backoffMs: 5, maxBackoffMs: 50, ttftTimeoutMs: 2000, deadlineMs: 10000 }';

interface EndpointSpec {
  readonly id: string;
  readonly url: string;
  readonly model: string;
  readonly cost: number;
  readonly contextWindow?: number;
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

async function gateway(endpoints: readonly EndpointSpec[], resilience = defaultResilience): Promise<string> {
  const lines = endpoints.map((e) => `  - { id: ${e.id}, url: "${e.url}", dialect: openai, model: ${e.model}, provider: p-${e.id}, region: r1, jurisdiction: us, contextWindow: ${String(e.contextWindow ?? 131072)}, marginalCostPerMillionTokens: ${String(e.cost)}, capacity: 8 }`);
  const started = createGateway({
    config: gatewayConfig(`
version: 1
endpoints:
${lines.join('\n')}
routes:
  - { model: ${publicModel}, endpoints: [${endpoints.map((e) => e.id).join(', ')}], policy: [cost] }
tenants:
  - { id: t1, apiKeySha256: ${hashApiKey(apiKey)}, jurisdictions: [us], requestsPerMinute: 1000000, tokensPerMinute: 1000000000 }
resilience: ${resilience}
`),
    logger: false,
  });
  const url = await started.listen(0, '127.0.0.1');
  cleanups.push(() => started.close());
  return url;
}

async function scripted(respond: (res: ServerResponse) => void, head?: Parameters<typeof startScriptedUpstream>[1]): Promise<ScriptedUpstream> {
  const upstream = await startScriptedUpstream(respond, head);
  cleanups.push(() => upstream.close());
  return upstream;
}

async function emulator(name: string, faults?: Parameters<RunningEmulator['setFaults']>[0]): Promise<CountingProxy> {
  const running = await startTestEmulator({ servedModelName: name, ...(faults === undefined ? {} : { faults }) });
  cleanups.push(() => running.close());
  const front = await startCountingProxy(running.url);
  cleanups.push(() => front.close());
  return front;
}

const answers = (res: ServerResponse): void => {
  res.end(openAIChunk({ role: 'assistant', content: 'ok' }) + openAIChunk({}, 'stop') + 'data: [DONE]\n\n');
};
const json = { status: 400, contentType: 'application/json' } as const;
const contextRefusal = JSON.stringify({ error: { message: "This model's maximum context length is 8192 tokens. However, you requested 9100 tokens.", code: 'context_length_exceeded' } });
const busy = JSON.stringify({ error: { message: 'busy' } });
const ask = (url: string, body: object): Promise<Response> =>
  fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: publicModel, ...body }) });
/** A prompt of about 7,000 tokens by the gateway's estimate: it fits an 8192 window with 500 to answer, as far as the gateway knows. */
const longPrompt = (n: number): { max_tokens: number; messages: { role: string; content: string }[] } => ({ max_tokens: 500, messages: [{ role: 'user', content: `${'x'.repeat(4 * 7000)}${String(n)}` }] });
/** About 5,000 tokens, without max_tokens: no 8192 window has room for the default 4096. */
const noBudget = (n: number): { messages: { role: string; content: string }[] } => ({ messages: [{ role: 'user', content: `${'word '.repeat(4000)}${String(n)}` }] });
const budgetOf = (front: CountingProxy, index: number): number | undefined => (JSON.parse(front.arrivals[index]?.body ?? '{}') as { max_tokens?: number }).max_tokens;

describe('context-length refusals with hedging', () => {
  it.each([
    ['after the other leg answered', 150, 0],
    ['before the other leg answered', 50, 100],
  ])('a smaller window refusing the prompt as too long %s does not count against its circuit', async (_when, refusalMs, answerMs) => {
    const small = await scripted((res) => setTimeout(() => res.end(contextRefusal), refusalMs), json);
    const big = await scripted((res) => setTimeout(() => answers(res), answerMs));
    const url = await gateway(
      [
        { id: 'small', url: small.url, model: 'm', cost: 0, contextWindow: 8192 },
        { id: 'big', url: big.url, model: 'm', cost: 1, contextWindow: 32768 },
      ],
      '{ retries: 2, backoffMs: 5, maxBackoffMs: 50, ttftTimeoutMs: 2000, deadlineMs: 10000, hedgeAfterMs: 20, circuitBreaker: { failureThreshold: 2, openMs: 60000 } }',
    );
    for (let n = 0; n < 2; n += 1) {
      const response = await ask(url, longPrompt(n));
      expect(response.status).toBe(200);
      await response.text();
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(small.arrivals()).toBe(2);
    expect(metricValue(await scrape(url), 'switchyard_circuit_state', { endpoint: 'small' })).toBe(0);
  });

  it("a hedge leg's context-length refusal does not end the request while a larger window is untried", async () => {
    const small = await scripted((res) => setTimeout(() => res.end(contextRefusal), 50), json);
    const mid = await scripted((res) => setTimeout(() => res.end(busy), 100), { status: 503, contentType: 'application/json' });
    const large = await scripted(answers);
    const url = await gateway(
      [
        { id: 'small', url: small.url, model: 'm', cost: 0, contextWindow: 8192 },
        { id: 'mid', url: mid.url, model: 'm', cost: 1, contextWindow: 32768 },
        { id: 'large', url: large.url, model: 'm', cost: 2, contextWindow: 131072 },
      ],
      '{ retries: 2, backoffMs: 5, maxBackoffMs: 50, ttftTimeoutMs: 2000, deadlineMs: 10000, hedgeAfterMs: 20 }',
    );
    const response = await ask(url, longPrompt(0));
    expect(response.status).toBe(200);
    await response.text();
    expect([small.arrivals(), mid.arrivals(), large.arrivals()]).toEqual([1, 1, 1]);
  });
});

describe('a second opinion and a context-length refusal', () => {
  it('a second opinion refusing the prompt as too long for its window is no opinion: a larger window gives it', async () => {
    const first = await scripted((res) => res.end(JSON.stringify({ error: { message: 'unknown field foo', type: 'invalid_request_error', param: 'foo' } })), json);
    const small = await scripted((res) => res.end(contextRefusal), json);
    const large = await scripted(answers);
    const url = await gateway([
      { id: 'first', url: first.url, model: 'm', cost: 0, contextWindow: 8192 },
      { id: 'small', url: small.url, model: 'm', cost: 1, contextWindow: 8192 },
      { id: 'large', url: large.url, model: 'm', cost: 2, contextWindow: 131072 },
    ]);
    const response = await ask(url, longPrompt(0));
    expect(response.status).toBe(200);
    await response.text();
    expect([first.arrivals(), small.arrivals(), large.arrivals()]).toEqual([1, 1, 1]);
  });
});

describe('room budgets (a request without max_tokens that no window has room for the default in)', () => {
  it('after the window the budget was taken from fails, it shrinks to the room of a smaller window that holds the prompt', async () => {
    const [roomy, smaller] = [await emulator('m-a', { errorRate: 1, errorStatus: 503 }), await emulator('m-b')];
    const url = await gateway([
      { id: 'a', url: roomy.url, model: 'm-a', cost: 0, contextWindow: 8192 },
      { id: 'b', url: smaller.url, model: 'm-b', cost: 1, contextWindow: 6000 },
    ]);
    const response = await ask(url, noBudget(0));
    expect(response.status).toBe(200);
    await response.text();
    expect(smaller.arrivals).toHaveLength(1);
    expect(budgetOf(smaller, 0)).toBe(6000 - 5001);
  });

  it.each([
    ['off', 'panicRouting: false'],
    ['on', 'panicRouting: true'],
  ])('with panic routing %s, a roomy window held back by its circuit gives way to a smaller one that holds the prompt', async (_panic, setting) => {
    const [roomy, smaller] = [await emulator('m-a', { errorRate: 1, errorStatus: 503 }), await emulator('m-b')];
    const url = await gateway(
      [
        { id: 'a', url: roomy.url, model: 'm-a', cost: 0, contextWindow: 8192 },
        { id: 'b', url: smaller.url, model: 'm-b', cost: 1, contextWindow: 6000 },
      ],
      `{ retries: 0, backoffMs: 5, maxBackoffMs: 50, ttftTimeoutMs: 2000, deadlineMs: 10000, ${setting}, circuitBreaker: { failureThreshold: 1, openMs: 60000 } }`,
    );
    for (let n = 0; n < 3; n += 1) {
      const response = await ask(url, noBudget(n));
      expect(response.status).toBe(200);
      await response.text();
    }
    // The first opened a's circuit; the others went to b alone, neither refused nor panic-routed to a.
    expect([roomy.arrivals.length, smaller.arrivals.length]).toEqual([1, 3]);
  });

  it('a room-budget answer cut mid-way is resumed with the room it had, where that room still is', async () => {
    const [small, cutting, whole] = [await emulator('m-b'), await emulator('m-a', { cutAfterTokens: 10 }), await emulator('m-a2')];
    const url = await gateway(
      [
        { id: 'b', url: small.url, model: 'm-b', cost: 0, contextWindow: 6000 },
        { id: 'a', url: cutting.url, model: 'm-a', cost: 1, contextWindow: 8192 },
        { id: 'a2', url: whole.url, model: 'm-a2', cost: 2, contextWindow: 8192 },
      ],
      '{ retries: 2, backoffMs: 5, maxBackoffMs: 50, ttftTimeoutMs: 2000, deadlineMs: 20000, circuitBreaker: { failureThreshold: 1000 } }',
    );
    const response = await ask(url, { ...noBudget(0), stream: true });
    expect(response.status).toBe(200);
    expect(await response.text()).toContain('[DONE]');
    // Routed first where the most room was (a, 8192), cut, then resumed on a2: the budget left is about
    // 3,191 - 10 tokens, which the small window (about 999 of room) cannot give.
    expect([small.arrivals.length, cutting.arrivals.length, whole.arrivals.length]).toEqual([0, 1, 1]);
    expect(budgetOf(cutting, 0)).toBe(8192 - 5001);
  });
});

describe('hedging and revisits', () => {
  it('a revisit is not hedged: going back stays within retries', async () => {
    const upstreams = await Promise.all([0, 1, 2].map(() => scripted((res) => setTimeout(() => res.end(busy), 100), { status: 503, contentType: 'application/json' })));
    const url = await gateway(
      upstreams.map((upstream, index) => ({ id: `e${String(index)}`, url: upstream.url, model: 'm', cost: index })),
      '{ retries: 1, backoffMs: 5, maxBackoffMs: 50, ttftTimeoutMs: 2000, deadlineMs: 10000, hedgeAfterMs: 20, circuitBreaker: { failureThreshold: 1000 } }',
    );
    const response = await ask(url, { max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] });
    expect(response.status).toBe(503);
    await response.text();
    // Three fresh endpoints (one by a hedge), then one revisit.
    expect(upstreams.reduce((sum, upstream) => sum + upstream.arrivals(), 0)).toBe(4);
  });
});
