import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
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
  readonly longContext?: boolean;
  readonly prefill?: boolean;
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

async function gateway(endpoints: readonly EndpointSpec[], resilience = defaultResilience): Promise<string> {
  const lines = endpoints.map((e) => `  - { id: ${e.id}, url: "${e.url}", dialect: openai, model: ${e.model}, provider: p-${e.id}, region: r1, jurisdiction: us, contextWindow: ${String(e.contextWindow ?? 131072)},${e.longContext === true ? ' longContext: true,' : ''} marginalCostPerMillionTokens: ${String(e.cost)}, capacity: 8${e.prefill === false ? ', prefill: false' : ''} }`);
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

/** An upstream whose n-th request (from 0) `respond` answers; it keeps each request's max_tokens. */
async function upstream(respond: (n: number, res: ServerResponse) => void): Promise<{ url: string; budgets: (number | undefined)[] }> {
  const budgets: (number | undefined)[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      budgets.push((JSON.parse(Buffer.concat(chunks).toString('utf8')) as { max_tokens?: number }).max_tokens);
      respond(budgets.length - 1, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { url: `http://127.0.0.1:${String((server.address() as AddressInfo).port)}`, budgets };
}
const streaming = (res: ServerResponse): void => {
  res.writeHead(200, { 'content-type': 'text/event-stream' });
};
const answerWhole = (res: ServerResponse): void => {
  streaming(res);
  answers(res);
};
/** Streams `texts`, then breaks the connection. */
const breaksAfter = (res: ServerResponse, texts: readonly string[]): void => {
  streaming(res);
  res.write(openAIChunk({ role: 'assistant', content: '' }));
  for (const text of texts) res.write(openAIChunk({ content: text }));
  setTimeout(() => res.destroy(), 30);
};
const failWith = (res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void => {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(body);
};
const tokensOf = (tokens: number): { role: string; content: string }[] => [{ role: 'user', content: 'x'.repeat(4 * tokens) }];
const quick = '{ retries: 2, backoffMs: 5, maxBackoffMs: 20, ttftTimeoutMs: 2000, deadlineMs: 10000, circuitBreaker: { failureThreshold: 1000 } }';

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

  it('once the ordinary windows are spent, panic routing may still reach a roomy window held back by its circuit', async () => {
    const long = await startTestEmulator({ servedModelName: 'm-long', faults: { errorRate: 1, errorStatus: 503 } });
    cleanups.push(() => long.close());
    const longFront = await startCountingProxy(long.url);
    cleanups.push(() => longFront.close());
    let refuse = false;
    const first = await upstream((_n, res) => (refuse ? failWith(res, 400, JSON.stringify({ error: { message: 'no' } })) : answerWhole(res)));
    const failing = await upstream((_n, res) => failWith(res, 502, busy));
    const url = await gateway(
      [
        { id: 'a', url: first.url, model: 'm', cost: 0, contextWindow: 8192 },
        { id: 'b', url: failing.url, model: 'm', cost: 1, contextWindow: 8192 },
        { id: 'long', url: longFront.url, model: 'm-long', cost: 2, contextWindow: 131_072, longContext: true },
      ],
      '{ retries: 2, ttftTimeoutMs: 800, tokenIdleTimeoutMs: 600, deadlineMs: 20000, hedgeAfterMs: 0, panicRouting: true, circuitBreaker: { failureThreshold: 2, windowMs: 60000, openMs: 60000 } }',
    );
    // Only the long window has room for the default budget, and the 8192 ones have under half of it
    // (about 6,500 tokens of prompt): it fails twice (its circuit opens), and a answers each in its room.
    for (let n = 0; n < 2; n += 1) expect((await ask(url, { messages: [{ role: 'user', content: `${'word '.repeat(5200)}${String(n)}` }] })).status).toBe(200);
    expect(metricValue(await scrape(url), 'switchyard_circuit_state', { endpoint: 'long' })).toBe(2);
    long.setFaults({ errorRate: 0 });
    refuse = true;
    // a refuses, b (the second opinion) fails: the long window, healthy again, is what is left.
    const response = await ask(url, { messages: [{ role: 'user', content: 'the '.repeat(6000) }] });
    expect(response.status).toBe(200);
    await response.text();
    expect(longFront.arrivals).toHaveLength(3);
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

describe('resumes and their windows', () => {
  it('a continuation whose only window with room to finish is the one it broke on goes on in a fresh smaller window, cut to its room', async () => {
    const broke = await upstream((n, res) => (n === 0 ? breaksAfter(res, ['one ', 'two ', 'three ']) : failWith(res, 503, busy)));
    const fresh = await upstream((_n, res) => answerWhole(res));
    const url = await gateway(
      [
        { id: 'a', url: broke.url, model: 'm', cost: 0, contextWindow: 16384 },
        { id: 'b', url: fresh.url, model: 'm', cost: 1, contextWindow: 8192 },
      ],
      quick,
    );
    const response = await ask(url, { stream: true, max_tokens: 6000, messages: tokensOf(5000) });
    expect(await response.text()).toContain('[DONE]');
    expect([broke.budgets.length, fresh.budgets.length]).toEqual([1, 1]);
  });

  it('a continuation that fits no window whole goes to the fresh window with the most room, not the cheapest', async () => {
    // One chunk of 12,000 characters: one token sent, 3,000 by the estimate.
    const broke = await upstream((n, res) => (n === 0 ? breaksAfter(res, ['y'.repeat(12000)]) : failWith(res, 503, busy)));
    const [cheap, roomy] = [await upstream((_n, res) => answerWhole(res)), await upstream((_n, res) => answerWhole(res))];
    const url = await gateway(
      [
        { id: 'a', url: broke.url, model: 'm', cost: 0, contextWindow: 16384 },
        { id: 'b', url: cheap.url, model: 'm', cost: 1, contextWindow: 8192 },
        { id: 'c', url: roomy.url, model: 'm', cost: 2, contextWindow: 12000 },
      ],
      quick,
    );
    const response = await ask(url, { stream: true, max_tokens: 12000, messages: tokensOf(2000) });
    expect(await response.text()).toContain('[DONE]');
    expect([cheap.budgets.length, roomy.budgets.length]).toEqual([0, 1]);
  });

  it("a non-stream answer started over after its continuation was refused as too long is routed by its own prompt, not the continuation's", async () => {
    const broke = await upstream((n, res) => (n === 0 ? breaksAfter(res, ['one ', 'two ', 'three ']) : failWith(res, 503, busy)));
    const refusing = await upstream((_n, res) => failWith(res, 400, contextRefusal));
    const whole = await upstream((_n, res) => answerWhole(res));
    const url = await gateway(
      [
        { id: 'a', url: broke.url, model: 'm', cost: 0, contextWindow: 8192 },
        { id: 'b', url: refusing.url, model: 'm', cost: 1, contextWindow: 8192 },
        { id: 'c', url: whole.url, model: 'm', cost: 2, contextWindow: 8192, prefill: false },
      ],
      '{ retries: 0, backoffMs: 5, maxBackoffMs: 20, ttftTimeoutMs: 2000, deadlineMs: 10000, circuitBreaker: { failureThreshold: 1000 } }',
    );
    const response = await ask(url, { max_tokens: 500, messages: tokensOf(100) });
    expect(response.status).toBe(200);
    await response.text();
    expect(whole.budgets).toHaveLength(1);
  });

  it("an answer's resumes together go back to endpoints it used at most retries times", async () => {
    // a cuts every answer after two tokens; b is down. Bound: 2 endpoints + 2 retries.
    const cutting = await upstream((_n, res) => breaksAfter(res, ['one ', 'two ']));
    const down = await upstream((_n, res) => failWith(res, 503, busy));
    const url = await gateway(
      [
        { id: 'a', url: cutting.url, model: 'm', cost: 0 },
        { id: 'b', url: down.url, model: 'm', cost: 1 },
      ],
      quick,
    );
    const response = await ask(url, { stream: true, max_tokens: 60, messages: tokensOf(10) });
    expect(await response.text()).not.toContain('[DONE]');
    expect(cutting.budgets.length + down.budgets.length).toBe(4);
  });

  it('resumes go back to the one endpoint at most retries times', async () => {
    const only = await upstream((n, res) => (n === 0 ? breaksAfter(res, ['one ', 'two ']) : failWith(res, 503, busy)));
    const url = await gateway([{ id: 'a', url: only.url, model: 'm', cost: 0 }], quick);
    const response = await ask(url, { stream: true, max_tokens: 50, messages: tokensOf(10) });
    expect(await response.text()).not.toContain('[DONE]');
    expect(only.budgets).toHaveLength(3);
  });
});

describe('what a caller is told when a smaller window refused the prompt as too long', () => {
  it('a larger window held back by its circuit: a 503 with Retry-After, which a wait cures, not context_length_exceeded', async () => {
    const small = await upstream((_n, res) => failWith(res, 400, contextRefusal));
    const large = await upstream((_n, res) => failWith(res, 503, busy));
    const url = await gateway(
      [
        { id: 'small', url: small.url, model: 'm', cost: 0, contextWindow: 8192 },
        { id: 'large', url: large.url, model: 'm', cost: 1, contextWindow: 131072 },
      ],
      '{ retries: 2, backoffMs: 5, maxBackoffMs: 20, ttftTimeoutMs: 2000, deadlineMs: 10000, panicRouting: false, circuitBreaker: { failureThreshold: 1, openMs: 60000 } }',
    );
    await (await ask(url, { max_tokens: 500, messages: tokensOf(7000) })).text();
    const held = await ask(url, { max_tokens: 500, messages: tokensOf(7000) });
    expect(held.status).toBe(503);
    expect(Number(held.headers.get('retry-after'))).toBeGreaterThan(50);
    await held.text();
  });

  it("a larger window that failed transiently: its 503 and Retry-After, not context_length_exceeded", async () => {
    const large = await upstream((_n, res) => failWith(res, 503, busy, { 'retry-after': '7' }));
    const small = await upstream((_n, res) => failWith(res, 400, contextRefusal));
    const url = await gateway(
      [
        { id: 'large', url: large.url, model: 'm', cost: 0, contextWindow: 131072 },
        { id: 'small', url: small.url, model: 'm', cost: 1, contextWindow: 8192 },
      ],
      '{ retries: 0, backoffMs: 5, maxBackoffMs: 20, ttftTimeoutMs: 2000, deadlineMs: 10000, circuitBreaker: { failureThreshold: 1000 } }',
    );
    const response = await ask(url, { max_tokens: 500, messages: tokensOf(7000) });
    expect(response.status).toBe(503);
    expect(response.headers.get('retry-after')).toBe('7');
    await response.text();
  });

  it('with hedging, a leg refusing the prompt as too long raises the floor: no window of its size is tried', async () => {
    const small = await upstream((_n, res) => setTimeout(() => failWith(res, 400, contextRefusal), 50));
    const mid = await upstream((_n, res) => setTimeout(() => failWith(res, 503, busy), 150));
    const small2 = await upstream((_n, res) => failWith(res, 400, contextRefusal));
    const large = await upstream((_n, res) => answerWhole(res));
    const url = await gateway(
      [
        { id: 'small', url: small.url, model: 'm', cost: 0, contextWindow: 8192 },
        { id: 'mid', url: mid.url, model: 'm', cost: 1, contextWindow: 32768 },
        { id: 'small2', url: small2.url, model: 'm', cost: 2, contextWindow: 8192 },
        { id: 'large', url: large.url, model: 'm', cost: 3, contextWindow: 131072 },
      ],
      '{ retries: 2, backoffMs: 5, maxBackoffMs: 20, ttftTimeoutMs: 2000, deadlineMs: 10000, hedgeAfterMs: 20, circuitBreaker: { failureThreshold: 1000 } }',
    );
    const response = await ask(url, { max_tokens: 500, messages: tokensOf(7000) });
    expect(response.status).toBe(200);
    await response.text();
    expect([small2.budgets.length, large.budgets.length]).toEqual([0, 1]);
  });
});

describe('hedged legs and the rules for what a caller is told', () => {
  for (const hedgeAfterMs of [20, 0]) {
    it(`a window the same size as the refusing one failing for a reason a wait cures does not hide the larger windows held back (hedgeAfterMs ${String(hedgeAfterMs)})`, async () => {
      const a = await upstream((_n, res) => setTimeout(() => failWith(res, 503, busy), 50));
      const b = await upstream((_n, res) => setTimeout(() => failWith(res, 400, contextRefusal), 150));
      const c = await upstream((_n, res) => failWith(res, 503, busy));
      const url = await gateway(
        [
          { id: 'a', url: a.url, model: 'm', cost: 0, contextWindow: 8192 },
          { id: 'b', url: b.url, model: 'm', cost: 1, contextWindow: 8192 },
          { id: 'c', url: c.url, model: 'm', cost: 2, contextWindow: 131072 },
        ],
        `{ retries: 2, backoffMs: 5, maxBackoffMs: 20, ttftTimeoutMs: 2000, deadlineMs: 10000, hedgeAfterMs: ${String(hedgeAfterMs)}, panicRouting: false, circuitBreaker: { failureThreshold: 1, openMs: 60000 } }`,
      );
      // Only the large window takes this one: it fails, and its circuit opens.
      await (await ask(url, { max_tokens: 500, messages: tokensOf(20000) })).text();
      const response = await ask(url, { max_tokens: 500, messages: tokensOf(7000) });
      expect(response.status).toBe(503);
      expect(Number(response.headers.get('retry-after'))).toBeGreaterThan(50);
      await response.text();
    });
  }

  it('a refusal of the caller\'s own request outranks a wait for larger windows held back, as it does when the search ends', async () => {
    const unknownField = JSON.stringify({ error: { message: "unknown field 'foo'" } });
    const r = await upstream((_n, res) => failWith(res, 400, unknownField));
    const a = await upstream((_n, res) => failWith(res, 503, busy));
    const b = await upstream((_n, res) => failWith(res, 400, contextRefusal));
    const c = await upstream((_n, res) => failWith(res, 503, busy));
    const url = await gateway(
      [
        { id: 'r', url: r.url, model: 'm', cost: 0, contextWindow: 8192 },
        { id: 'a', url: a.url, model: 'm', cost: 1, contextWindow: 8192 },
        { id: 'b', url: b.url, model: 'm', cost: 2, contextWindow: 8192 },
        { id: 'c', url: c.url, model: 'm', cost: 3, contextWindow: 131072 },
      ],
      '{ retries: 2, backoffMs: 5, maxBackoffMs: 20, ttftTimeoutMs: 2000, deadlineMs: 10000, panicRouting: false, circuitBreaker: { failureThreshold: 1, openMs: 60000 } }',
    );
    await (await ask(url, { max_tokens: 500, messages: tokensOf(20000) })).text();
    const response = await ask(url, { max_tokens: 500, messages: tokensOf(7000) });
    expect(response.status).toBe(400);
    expect(await response.text()).toContain("unknown field 'foo'");
  });

  it('a wait from a window no larger than the one that refused the prompt is not the answer: waiting there cures nothing', async () => {
    const z = await upstream((_n, res) => failWith(res, 429, busy, { 'retry-after': '30' }));
    const a = await upstream((_n, res) => failWith(res, 500, busy));
    const b = await upstream((_n, res) => failWith(res, 400, contextRefusal));
    const url = await gateway(
      [
        { id: 'z', url: z.url, model: 'm', cost: 0, contextWindow: 8192 },
        { id: 'a', url: a.url, model: 'm', cost: 1, contextWindow: 131072 },
        { id: 'b', url: b.url, model: 'm', cost: 2, contextWindow: 8192 },
      ],
      '{ retries: 0, ttftTimeoutMs: 2000, deadlineMs: 10000, circuitBreaker: { failureThreshold: 1000 } }',
    );
    const response = await ask(url, { max_tokens: 500, messages: tokensOf(7000) });
    expect([response.status, response.headers.get('retry-after')]).toEqual([502, null]);
    await response.text();
  });

  it('the wait told is the latest in a window larger than any that refused the prompt, wherever the refusal came in the search', async () => {
    const c = await upstream((_n, res) => failWith(res, 429, busy, { 'retry-after': '10' }));
    const z = await upstream((_n, res) => failWith(res, 429, busy, { 'retry-after': '30' }));
    const a = await upstream((_n, res) => failWith(res, 500, busy));
    const b = await upstream((_n, res) => failWith(res, 400, contextRefusal));
    const resilience = '{ retries: 0, ttftTimeoutMs: 2000, deadlineMs: 10000, circuitBreaker: { failureThreshold: 1000 } }';
    // The refusal last: c's wait (a large window), not z's (a window as small as the refusing one).
    const refusalLast = await gateway(
      [
        { id: 'c', url: c.url, model: 'm', cost: 0, contextWindow: 131072 },
        { id: 'z', url: z.url, model: 'm', cost: 1, contextWindow: 8192 },
        { id: 'a', url: a.url, model: 'm', cost: 2, contextWindow: 131072 },
        { id: 'b', url: b.url, model: 'm', cost: 3, contextWindow: 8192 },
      ],
      resilience,
    );
    const told = await ask(refusalLast, { max_tokens: 500, messages: tokensOf(7000) });
    expect(told.status).toBe(429);
    expect(Number(told.headers.get('retry-after'))).toBeLessThanOrEqual(10);
    await told.text();
    // The refusal in the middle: z's small-window wait is still no answer.
    const refusalMiddle = await gateway(
      [
        { id: 'z', url: z.url, model: 'm', cost: 0, contextWindow: 8192 },
        { id: 'b', url: b.url, model: 'm', cost: 1, contextWindow: 8192 },
        { id: 'a', url: a.url, model: 'm', cost: 2, contextWindow: 131072 },
      ],
      resilience,
    );
    const untold = await ask(refusalMiddle, { max_tokens: 500, messages: tokensOf(7000) });
    expect([untold.status, untold.headers.get('retry-after')]).toEqual([502, null]);
    await untold.text();
  });

  it('when the latest wait is over (capacity is back there), an older, longer one is not told instead', async () => {
    const a = await upstream((_n, res) => failWith(res, 429, busy, { 'retry-after': '30' }));
    const b = await upstream((_n, res) => failWith(res, 429, busy, { 'retry-after': '1' }));
    const c = await upstream((_n, res) => setTimeout(() => failWith(res, 500, busy), 1300));
    const url = await gateway(
      [
        { id: 'a', url: a.url, model: 'm', cost: 0 },
        { id: 'b', url: b.url, model: 'm', cost: 1 },
        { id: 'c', url: c.url, model: 'm', cost: 2 },
      ],
      '{ retries: 0, ttftTimeoutMs: 5000, deadlineMs: 10000, circuitBreaker: { failureThreshold: 1000 } }',
    );
    const response = await ask(url, { max_tokens: 5, messages: tokensOf(10) });
    expect([response.status, response.headers.get('retry-after')]).toEqual([502, null]);
    await response.text();
  });

  it('a wait still running is not lost to a larger window\'s failure that names none, chosen over a smaller window\'s refusal', async () => {
    const z = await upstream((_n, res) => failWith(res, 429, busy, { 'retry-after': '10' }));
    const a = await upstream((_n, res) => setTimeout(() => failWith(res, 500, busy), 50));
    const b = await upstream((_n, res) => setTimeout(() => failWith(res, 400, contextRefusal), 150));
    const url = await gateway(
      [
        { id: 'z', url: z.url, model: 'm', cost: 0, contextWindow: 131072 },
        { id: 'a', url: a.url, model: 'm', cost: 1, contextWindow: 131072 },
        { id: 'b', url: b.url, model: 'm', cost: 2, contextWindow: 8192 },
      ],
      '{ retries: 0, ttftTimeoutMs: 2000, deadlineMs: 10000, hedgeAfterMs: 20, circuitBreaker: { failureThreshold: 1000 } }',
    );
    const response = await ask(url, { max_tokens: 500, messages: tokensOf(7000) });
    expect(response.status).toBe(429);
    expect(Number(response.headers.get('retry-after'))).toBeGreaterThanOrEqual(9);
    await response.text();
  });
});
