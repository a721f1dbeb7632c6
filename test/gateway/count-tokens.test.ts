import Anthropic from '@anthropic-ai/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGateway } from '../../src/gateway/gateway-server.js';
import { hashApiKey } from '../../src/gateway/tenant-auth.js';
import { cheapestFirstConfig, closedAfterEach, gatewayConfig, metricValue, scrape, singleEndpointConfig, startBothDialects, startCountingProxy, startScriptedUpstream, startTestEmulator, type BothDialects } from './helpers/fleet.js';

// Anthropic's token counting (POST /v1/messages/count_tokens), which Claude Code calls before its
// requests: asked of a counting endpoint the request may reach, jurisdiction first, as answers are.

const apiKey = 'sk-count';
const { cleanups } = closedAfterEach();
let fleet: BothDialects;
let client: Anthropic;

beforeAll(async () => {
  fleet = await startBothDialects('counter', apiKey);
  client = new Anthropic({ apiKey, baseURL: fleet.url, maxRetries: 0 });
});
afterAll(() => fleet.close());

const conversation = {
  system: 'You place workloads.',
  messages: [
    { role: 'user' as const, content: 'Which pool should serve the EU traffic?' },
    { role: 'assistant' as const, content: 'Frankfurt.' },
    { role: 'user' as const, content: 'Why there?' },
  ],
  tools: [{ name: 'pick_pool', description: 'Picks a pool', input_schema: { type: 'object' as const, properties: { region: { type: 'string' } } } }],
};

function countRequest(url: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${url}/v1/messages/count_tokens`, { method: 'POST', headers: { 'x-api-key': apiKey, 'anthropic-version': '2023-06-01', 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
}

/** A gateway over `config`'s endpoints, closed after the test. */
async function gatewayFor(config: Parameters<typeof createGateway>[0]['config']): Promise<string> {
  const gateway = createGateway({ config, logger: false });
  cleanups.push(() => gateway.close());
  return gateway.listen(0, '127.0.0.1');
}

describe('token counting through the gateway', () => {
  it("the SDK's countTokens (and its beta's) gets the upstream's count: the input tokens the same request is charged", async () => {
    const counted = await client.messages.countTokens({ model: 'anthropic-upstream', ...conversation });
    const answered = await client.messages.create({ model: 'anthropic-upstream', max_tokens: 20, ...conversation });
    expect(counted.input_tokens).toBeGreaterThan(0);
    expect(counted.input_tokens).toBe(answered.usage.input_tokens);
    const beta = await client.beta.messages.countTokens({ model: 'anthropic-upstream', ...conversation });
    expect(beta.input_tokens).toBe(counted.input_tokens);
    // Thinking needs no max_tokens to count.
    const thinking = await client.messages.countTokens({ model: 'anthropic-upstream', thinking: { type: 'enabled', budget_tokens: 2048 }, ...conversation });
    expect(thinking.input_tokens).toBe(counted.input_tokens);
  });

  it('a route with no Anthropic-dialect endpoint does not count: a 404 saying so, and where the count is instead', async () => {
    const refused = await countRequest(fleet.url, { model: 'openai-upstream', messages: conversation.messages });
    expect(refused.status).toBe(404);
    expect(await refused.json()).toMatchObject({ type: 'error', error: { type: 'not_found_error', message: expect.stringContaining("token counting for model 'openai-upstream' is not served here: no endpoint in jurisdictions [us] counts tokens") } });
  });

  it('bad requests are refused in Anthropic\'s shape before any upstream: no key, bad body, unknown model, GET', async () => {
    const noKey = await countRequest(fleet.url, { model: 'anthropic-upstream', messages: conversation.messages }, { 'x-api-key': '' });
    expect(noKey.status).toBe(401);
    const noMessages = await countRequest(fleet.url, { model: 'anthropic-upstream' });
    expect(noMessages.status).toBe(400);
    expect(await noMessages.json()).toMatchObject({ type: 'error', error: { type: 'invalid_request_error', message: expect.stringContaining('messages') } });
    const unknown = await countRequest(fleet.url, { model: 'nope', messages: conversation.messages });
    expect(unknown.status).toBe(404);
    const get = await fetch(`${fleet.url}/v1/messages/count_tokens`, { headers: { 'x-api-key': apiKey } });
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('POST');
  });

  it('sends the upstream a counting body (its model, no answer settings) with its key and version, and counts it in its own metric', async () => {
    const upstream = await startScriptedUpstream((res) => res.end('{"input_tokens":42}'), { status: 200, contentType: 'application/json' });
    cleanups.push(() => upstream.close());
    const config = gatewayConfig(`
version: 1
endpoints:
  - { id: claude, url: "${upstream.url}", dialect: anthropic, model: claude-upstream-name, provider: anthropic, region: r1, jurisdiction: us, contextWindow: 200000, marginalCostPerMillionTokens: 3, capacity: 8, apiKeyEnv: COUNT_TEST_KEY }
routes:
  - { model: m, endpoints: [claude], policy: [cost] }
tenants:
  - { id: t, apiKeySha256: ${hashApiKey(apiKey)}, jurisdictions: [us], requestsPerMinute: 100, tokensPerMinute: 1000 }
`);
    const gateway = createGateway({ config, logger: false, env: { COUNT_TEST_KEY: 'sk-upstream-key' } });
    cleanups.push(() => gateway.close());
    const url = await gateway.listen(0, '127.0.0.1');
    const response = await countRequest(url, { model: 'm', max_tokens: 4096, temperature: 0.5, stream: true, metadata: { user_id: 'u1' }, ...conversation });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ input_tokens: 42 });
    expect(upstream.bodies).toHaveLength(1);
    expect(Object.keys(upstream.bodies[0] as object).sort()).toEqual(['messages', 'model', 'system', 'tools']);
    expect(upstream.bodies[0]).toMatchObject({ model: 'claude-upstream-name', system: 'You place workloads.' });
    expect(upstream.headers[0]).toMatchObject({ 'x-api-key': 'sk-upstream-key', 'anthropic-version': '2023-06-01' });
    // One request charged, no tokens: the token limit (1,000) is untouched, a prompt of any size.
    expect(response.headers.get('anthropic-ratelimit-requests-remaining')).toBe('99');
    expect(response.headers.get('anthropic-ratelimit-tokens-remaining')).toBe('1000');
    const metrics = await scrape(url);
    expect(metricValue(metrics, 'switchyard_token_count_requests_total', { route: 'm', endpoint: 'claude', status: '200' })).toBe(1);
    expect(metricValue(metrics, 'switchyard_requests_total', { route: 'm' })).toBeUndefined();
  });
});

describe('where counts go', () => {
  it('never outside the allowed jurisdictions: the header narrows, and none left is a 503 that no retry helps', async () => {
    const replica = await startTestEmulator({ servedModelName: 'counter' });
    cleanups.push(() => replica.close());
    const us = await startCountingProxy(replica.url);
    const eu = await startCountingProxy(replica.url);
    cleanups.push(() => us.close(), () => eu.close());
    const url = await gatewayFor(
      gatewayConfig(`
version: 1
endpoints:
  - { id: in-us, url: "${us.url}", dialect: anthropic, model: counter, provider: p1, region: r1, jurisdiction: us, contextWindow: 131072, marginalCostPerMillionTokens: 0, capacity: 8 }
  - { id: in-eu, url: "${eu.url}", dialect: anthropic, model: counter, provider: p2, region: r2, jurisdiction: eu, contextWindow: 131072, marginalCostPerMillionTokens: 5, capacity: 8 }
routes:
  - { model: m, endpoints: [in-us, in-eu], policy: [cost] }
tenants:
  - { id: t, apiKeySha256: ${hashApiKey(apiKey)}, jurisdictions: [us, eu], requestsPerMinute: 1000, tokensPerMinute: 100000 }
`),
    );
    for (let index = 0; index < 5; index += 1) expect((await countRequest(url, { model: 'm', messages: conversation.messages }, { 'x-switchyard-jurisdiction': 'eu' })).status).toBe(200);
    expect(eu.arrivals.map((arrival) => arrival.path)).toEqual(Array(5).fill('/v1/messages/count_tokens'));
    expect(us.arrivals).toHaveLength(0);
    const none = await countRequest(url, { model: 'm', messages: conversation.messages }, { 'x-switchyard-jurisdiction': 'jp' });
    expect(none.status).toBe(503);
    expect(none.headers.get('x-should-retry')).toBe('false');
    expect(us.arrivals.length + eu.arrivals.length).toBe(5);
  });

  it('past an endpoint that fails (503), hangs past the TTFT timeout or has no counting API (404), to one that counts', async () => {
    const failing = await startTestEmulator({ servedModelName: 'm', faults: { errorRate: 1, errorStatus: 503 } });
    const hanging = await startTestEmulator({ servedModelName: 'm', faults: { hangMs: -1 } });
    const counting = await startTestEmulator({ servedModelName: 'm' });
    const noApi = await startScriptedUpstream((res) => res.end('{"error":{"message":"Not Found"}}'), { status: 404, contentType: 'application/json' });
    cleanups.push(() => failing.close(), () => hanging.close(), () => counting.close(), () => noApi.close());
    const url = await gatewayFor(cheapestFirstConfig([[noApi.url, 'anthropic'], [failing.url, 'anthropic'], [hanging.url, 'anthropic'], [counting.url, 'anthropic']], apiKey, '{ ttftTimeoutMs: 300 }'));
    const response = await countRequest(url, { model: 'm', messages: conversation.messages });
    expect(response.status).toBe(200);
    const expected = await (await fetch(`${counting.url}/v1/messages/count_tokens`, { method: 'POST', body: JSON.stringify({ model: 'm', messages: conversation.messages }) })).json();
    expect(await response.json()).toEqual(expected);
    const metrics = await scrape(url);
    expect(metricValue(metrics, 'switchyard_token_count_requests_total', { route: 'm', endpoint: 'e3', status: '200' })).toBe(1);
    expect(metricValue(metrics, 'switchyard_upstream_errors_total', { endpoint: 'e1', status: '503' })).toBe(1);
    expect(metricValue(metrics, 'switchyard_upstream_errors_total', { endpoint: 'e2', status: '504' })).toBe(1);
    // A count's failures open no circuit: a circuit judges answers.
    expect(metricValue(metrics, 'switchyard_circuit_state', { endpoint: 'e1' })).toBe(0);
  });

  it("when none counts: the last failure's status and Retry-After; all without the API, a 404; a refused request gets one second opinion", async () => {
    const busy = await startTestEmulator({ servedModelName: 'm', faults: { errorRate: 1, errorStatus: 529 } });
    cleanups.push(() => busy.close());
    const busyUrl = await gatewayFor(cheapestFirstConfig([[busy.url, 'anthropic']], apiKey, '{}'));
    const overloaded = await countRequest(busyUrl, { model: 'm', messages: conversation.messages });
    expect(overloaded.status).toBe(529);
    expect(overloaded.headers.get('retry-after')).toBe('1');
    expect(await overloaded.json()).toMatchObject({ type: 'error', error: { type: 'overloaded_error' } });

    const noApi = await startScriptedUpstream((res) => res.end('{"error":{"message":"Not Found"}}'), { status: 404, contentType: 'application/json' });
    cleanups.push(() => noApi.close());
    const noApiUrl = await gatewayFor(cheapestFirstConfig([[noApi.url, 'anthropic']], apiKey, '{}'));
    const missing = await countRequest(noApiUrl, { model: 'm', messages: conversation.messages });
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ error: { type: 'not_found_error', message: expect.stringContaining("its endpoints answered 404, 405 or 501 (no token counting API, or not the model)") } });

    // One endpoint's refusal is not the request's fault while another counts it.
    const refusing = await startScriptedUpstream((res) => res.end('{"type":"error","error":{"type":"invalid_request_error","message":"messages.0: bad block"}}'), { status: 400, contentType: 'application/json' });
    const alsoRefusing = await startScriptedUpstream((res) => res.end('{"type":"error","error":{"type":"invalid_request_error","message":"messages.1: other block"}}'), { status: 400, contentType: 'application/json' });
    const spare = await startCountingProxy((await startTestEmulator({ servedModelName: 'm' }).then((replica) => (cleanups.push(() => replica.close()), replica))).url);
    cleanups.push(() => refusing.close(), () => alsoRefusing.close(), () => spare.close());
    const secondOpinionUrl = await gatewayFor(cheapestFirstConfig([[refusing.url, 'anthropic'], [spare.url, 'anthropic']], apiKey, '{}'));
    const counted = await countRequest(secondOpinionUrl, { model: 'm', messages: conversation.messages });
    expect(counted.status).toBe(200);
    expect(await counted.json()).toEqual({ input_tokens: expect.any(Number) });
    expect(spare.arrivals).toHaveLength(1);
    // Two refusals are the caller's: it gets the first, and no third endpoint is asked.
    const refusedUrl = await gatewayFor(cheapestFirstConfig([[refusing.url, 'anthropic'], [alsoRefusing.url, 'anthropic'], [spare.url, 'anthropic']], apiKey, '{}'));
    const refused = await countRequest(refusedUrl, { model: 'm', messages: conversation.messages });
    expect(refused.status).toBe(400);
    expect(await refused.json()).toMatchObject({ error: { type: 'invalid_request_error', message: expect.stringContaining('messages.0: bad block') } });
    expect(refusing.arrivals()).toBe(2);
    expect(alsoRefusing.arrivals()).toBe(1);
    expect(spare.arrivals).toHaveLength(1);
  });

  it("asks a refusal's second opinion of another pool than the refusing one's, as answers do (E55)", async () => {
    const refusal = '{"type":"error","error":{"type":"invalid_request_error","message":"messages.0: bad block"}}';
    const [a0, a1] = [await startScriptedUpstream((res) => res.end(refusal), { status: 400, contentType: 'application/json' }), await startScriptedUpstream((res) => res.end(refusal), { status: 400, contentType: 'application/json' })];
    const counting = await startTestEmulator({ servedModelName: 'm' });
    cleanups.push(() => a0.close(), () => a1.close(), () => counting.close());
    const endpoint = (id: string, url: string, pool: string, cost: number): string => `  - { id: ${id}, url: "${url}", dialect: anthropic, model: m, provider: p, region: r1, pool: ${pool}, jurisdiction: us, contextWindow: 131072, marginalCostPerMillionTokens: ${String(cost)}, capacity: 8 }`;
    const config = gatewayConfig(['version: 1', 'endpoints:', endpoint('a0', a0.url, 'a', 0), endpoint('a1', a1.url, 'a', 1), endpoint('b0', counting.url, 'b', 2), 'routes:', '  - { model: m, endpoints: [a0, a1, b0], policy: [cost] }', 'tenants:', `  - { id: t, apiKeySha256: ${hashApiKey(apiKey)}, jurisdictions: [us], requestsPerMinute: 100000, tokensPerMinute: 100000000 }`].join('\n'));
    const counted = await countRequest(await gatewayFor(config), { model: 'm', messages: conversation.messages });
    expect(counted.status).toBe(200);
    expect([a0.arrivals(), a1.arrivals()]).toEqual([1, 0]);
    // Not of another pool's window too small for the prompt, while routing's own choice holds it.
    const small = await startScriptedUpstream((res) => res.end('{"input_tokens":1}'), { status: 200, contentType: 'application/json' });
    cleanups.push(() => small.close());
    const roomy = endpoint('a1', counting.url, 'a', 1);
    const tooSmall = endpoint('b0', small.url, 'b', 2).replace('contextWindow: 131072', 'contextWindow: 8');
    const sized = gatewayConfig(['version: 1', 'endpoints:', endpoint('a0', a0.url, 'a', 0), roomy, tooSmall, 'routes:', '  - { model: m, endpoints: [a0, a1, b0], policy: [cost] }', 'tenants:', `  - { id: t, apiKeySha256: ${hashApiKey(apiKey)}, jurisdictions: [us], requestsPerMinute: 100000, tokensPerMinute: 100000000 }`].join('\n'));
    expect((await countRequest(await gatewayFor(sized), { model: 'm', messages: conversation.messages })).status).toBe(200);
    expect([a0.arrivals(), small.arrivals()]).toEqual([2, 0]);
  });

  it('a count that ends on a failure naming no wait, after one that asked for a wait still running, answers with that one', async () => {
    const busy = await startScriptedUpstream((res) => res.end('{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}'), { status: 429, contentType: 'application/json', headers: { 'retry-after': '30' } });
    const broken = await startScriptedUpstream((res) => res.end('{"type":"error","error":{"type":"api_error","message":"boom"}}'), { status: 500, contentType: 'application/json' });
    cleanups.push(() => busy.close(), () => broken.close());
    const url = await gatewayFor(cheapestFirstConfig([[busy.url, 'anthropic'], [broken.url, 'anthropic']], apiKey, '{}'));
    const answer = await countRequest(url, { model: 'm', messages: conversation.messages });
    expect([busy.arrivals(), broken.arrivals()]).toEqual([1, 1]);
    expect(answer.status).toBe(429);
    expect(Number(answer.headers.get('retry-after'))).toBeGreaterThanOrEqual(29);
    expect(Number(answer.headers.get('retry-after'))).toBeLessThanOrEqual(30);
  });

  it('reach a counting endpoint whose circuit answers opened, once it is half-open, though answers go elsewhere and never probe it', async () => {
    // Answers that need thinking go only to the Anthropic-dialect endpoint, fail there and open its
    // circuit; plain answers go to the cheaper OpenAI-dialect one, so no answer probes it again.
    const counter = await startTestEmulator({ servedModelName: 'm', faults: { errorRate: 1, errorStatus: 500 } });
    const cheap = await startTestEmulator({ servedModelName: 'm' });
    cleanups.push(() => counter.close(), () => cheap.close());
    const url = await gatewayFor(cheapestFirstConfig([[cheap.url, 'openai'], [counter.url, 'anthropic']], apiKey, '{ retries: 0, circuitBreaker: { failureThreshold: 2, openMs: 200 } }'));
    const thinking = { model: 'm', max_tokens: 4000, thinking: { type: 'enabled', budget_tokens: 2048 }, messages: conversation.messages };
    for (let index = 0; index < 2; index += 1) {
      const failed = await fetch(`${url}/v1/messages`, { method: 'POST', headers: { 'x-api-key': apiKey, 'anthropic-version': '2023-06-01', 'content-type': 'application/json' }, body: JSON.stringify(thinking) });
      expect(failed.status).toBe(502);
      await failed.body?.cancel();
    }
    expect(metricValue(await scrape(url), 'switchyard_circuit_state', { endpoint: 'e1' })).toBe(2);
    counter.setFaults({ errorRate: 0 });
    await new Promise((resolve) => setTimeout(resolve, 300));
    const plain = await fetch(`${url}/v1/messages`, { method: 'POST', headers: { 'x-api-key': apiKey, 'anthropic-version': '2023-06-01', 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', max_tokens: 20, messages: conversation.messages }) });
    expect(plain.status).toBe(200);
    await plain.body?.cancel();
    const counted = await countRequest(url, { model: 'm', messages: conversation.messages });
    expect(counted.status, await counted.clone().text()).toBe(200);
    const metrics = await scrape(url);
    expect(metricValue(metrics, 'switchyard_token_count_requests_total', { route: 'm', endpoint: 'e1', status: '200' })).toBe(1);
    // The count moved no circuit: an answer's probe still decides.
    expect(metricValue(metrics, 'switchyard_circuit_state', { endpoint: 'e1' })).toBe(1);
  });

  it('charges the requests limit: past it a 429 with Retry-After, no upstream asked', async () => {
    const replica = await startTestEmulator({ servedModelName: 'm' });
    const proxy = await startCountingProxy(replica.url);
    cleanups.push(() => replica.close(), () => proxy.close());
    const url = await gatewayFor(singleEndpointConfig(proxy.url, apiKey, '', 'anthropic', { requestsPerMinute: 2 }));
    const statuses = [];
    for (let index = 0; index < 3; index += 1) statuses.push((await countRequest(url, { model: 'm', messages: conversation.messages })).status);
    expect(statuses).toEqual([200, 200, 429]);
    expect(proxy.arrivals).toHaveLength(2);
  });
});

describe('counted where the same request would be answered', () => {
  /** An upstream that refuses every count with a 400 (as a server that cannot take the request would). */
  const refusing = async (message: string): Promise<Awaited<ReturnType<typeof startScriptedUpstream>>> => {
    const upstream = await startScriptedUpstream((res) => res.end(JSON.stringify({ type: 'error', error: { type: 'invalid_request_error', message } })), { status: 400, contentType: 'application/json' });
    cleanups.push(() => upstream.close());
    return upstream;
  };

  it('a thinking or image request skips endpoints that could not answer it (thinking: false, images: false)', async () => {
    const limited = await refusing('this model takes no thinking and no images');
    const replica = await startTestEmulator({ servedModelName: 'm' });
    const full = await startCountingProxy(replica.url);
    cleanups.push(() => replica.close(), () => full.close());
    const config = gatewayConfig(`
version: 1
endpoints:
  - { id: limited, url: "${limited.url}", dialect: anthropic, model: m, provider: p, region: r1, jurisdiction: us, contextWindow: 131072, marginalCostPerMillionTokens: 0, capacity: 8, thinking: false, images: false }
  - { id: full, url: "${full.url}", dialect: anthropic, model: m, provider: p, region: r1, jurisdiction: us, contextWindow: 131072, marginalCostPerMillionTokens: 1, capacity: 8 }
routes:
  - { model: m, endpoints: [limited, full], policy: [cost] }
tenants:
  - { id: t, apiKeySha256: ${hashApiKey(apiKey)}, jurisdictions: [us], requestsPerMinute: 1000, tokensPerMinute: 100000 }
`);
    const gatewayUrl = await gatewayFor(config);
    const thinking = await countRequest(gatewayUrl, { model: 'm', thinking: { type: 'enabled', budget_tokens: 2048 }, messages: conversation.messages });
    expect(thinking.status, await thinking.clone().text()).toBe(200);
    const image = await countRequest(gatewayUrl, { model: 'm', messages: [{ role: 'user', content: [{ type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==' } }, { type: 'text', text: 'what is this?' }] }] });
    expect(image.status, await image.clone().text()).toBe(200);
    expect(limited.arrivals()).toBe(0);
    expect(full.arrivals).toHaveLength(2);
    // A plain count goes to the cheapest, which could answer it (its refusal then gets a second opinion).
    expect((await countRequest(gatewayUrl, { model: 'm', messages: conversation.messages })).status).toBe(200);
    expect(limited.arrivals()).toBe(1);
    expect(full.arrivals).toHaveLength(3);
  });

  it('a window that fits the prompt first; a context-length refusal passes to a larger window', async () => {
    const small = await refusing('prompt is too long: 6000 tokens > 1000 maximum');
    const replica = await startTestEmulator({ servedModelName: 'm' });
    const big = await startCountingProxy(replica.url);
    cleanups.push(() => replica.close(), () => big.close());
    const endpoints = (smallWindow: number): string => `
version: 1
endpoints:
  - { id: small, url: "${small.url}", dialect: anthropic, model: m, provider: p, region: r1, jurisdiction: us, contextWindow: ${String(smallWindow)}, marginalCostPerMillionTokens: 0, capacity: 8 }
  - { id: big, url: "${big.url}", dialect: anthropic, model: m, provider: p, region: r1, jurisdiction: us, contextWindow: 200000, marginalCostPerMillionTokens: 1, capacity: 8 }
routes:
  - { model: m, endpoints: [small, big], policy: [cost] }
tenants:
  - { id: t, apiKeySha256: ${hashApiKey(apiKey)}, jurisdictions: [us], requestsPerMinute: 1000, tokensPerMinute: 100000 }
`;
    const long = { model: 'm', messages: [{ role: 'user', content: 'fleet '.repeat(5000) }] };
    // The small window does not fit the prompt by the gateway's estimate: the big one counts it.
    expect((await countRequest(await gatewayFor(gatewayConfig(endpoints(1000))), long)).status).toBe(200);
    expect(small.arrivals()).toBe(0);
    // Where the estimate says it fits but the upstream counts longer, its refusal passes on.
    expect((await countRequest(await gatewayFor(gatewayConfig(endpoints(100_000))), long)).status).toBe(200);
    expect(small.arrivals()).toBe(1);
    expect(big.arrivals).toHaveLength(2);
  });

  it("an endpoint's Retry-After on a count ranks it last for what follows, as on an answer", async () => {
    const busy = await startScriptedUpstream((res) => res.end('{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}'), { status: 429, contentType: 'application/json', headers: { 'retry-after': '30' } });
    const replica = await startTestEmulator({ servedModelName: 'm' });
    cleanups.push(() => busy.close(), () => replica.close());
    const url = await gatewayFor(cheapestFirstConfig([[busy.url, 'anthropic'], [replica.url, 'anthropic']], apiKey, '{}'));
    expect((await countRequest(url, { model: 'm', messages: conversation.messages })).status).toBe(200);
    expect((await countRequest(url, { model: 'm', messages: conversation.messages })).status).toBe(200);
    expect(busy.arrivals()).toBe(1);
  });
});
