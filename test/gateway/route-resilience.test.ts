import { afterEach, describe, expect, it } from 'vitest';
import { parseGatewayConfig } from '../../src/gateway/gateway-config.js';
import { gatewayConfigWarnings } from '../../src/gateway/gateway-config-warnings.js';
import { createGateway } from '../../src/gateway/gateway-server.js';
import { hashApiKey } from '../../src/gateway/tenant-auth.js';
import { delay, gatewayConfig, metricValue, openAIChunk, scrape, startScriptedUpstream } from './helpers/fleet.js';

/** A route's own retries, timeouts and hedging over the gateway's: a 405B model's first token comes later than an 8B's. */

const apiKey = 'sk-route-resilience';
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

const yaml = (routes: string, resilience: string, urls = { slow: 'http://127.0.0.1:9', fast: 'http://127.0.0.1:9' }): string => `
version: 1
endpoints:
  - { id: slow, url: "${urls.slow}", dialect: openai, model: m, provider: p1, region: r, jurisdiction: us, contextWindow: 131072, marginalCostPerMillionTokens: 0, capacity: 8 }
  - { id: fast, url: "${urls.fast}", dialect: openai, model: m, provider: p2, region: r, jurisdiction: us, contextWindow: 131072, marginalCostPerMillionTokens: 1, capacity: 8 }
routes:
${routes}
tenants:
  - { id: t, apiKeySha256: ${hashApiKey(apiKey)}, jurisdictions: [us], requestsPerMinute: 100000, tokensPerMinute: 100000000 }
resilience: ${resilience}
`;

describe('a route\'s resilience in the config', () => {
  it('is checked against the gateway\'s where the route wrote it, and only what a route may set is taken', () => {
    const result = parseGatewayConfig(yaml(['  - { model: big, endpoints: [slow, fast], resilience: { deadlineMs: 5000 } }', '  - { model: small, endpoints: [slow], resilience: { backoffMs: 5 } }'].join('\n'), '{ ttftTimeoutMs: 8000 }'), 'gateway.yaml');
    const problems = result.ok ? [] : result.problems;
    expect(problems.map((problem) => [problem.path, problem.code, problem.message, problem.suggestion])).toEqual([
      ['routes[0].resilience.deadlineMs', 'inconsistent', "deadlineMs (5000) conflicts with the gateway's resilience.ttftTimeoutMs (8000), which exceeds it", 'the first token must be due before the whole request is: set ttftTimeoutMs for this route too, or change deadlineMs'],
      ['routes[1].resilience.backoffMs', 'unknown_key', "unknown field 'backoffMs'", 'allowed fields here: retries, ttftTimeoutMs, deadlineMs, hedgeAfterMs, resumeStreams'],
    ]);
    // The gateway's tokenIdleTimeoutMs, written, must fit the route's deadline too, and the fix is the gateway's.
    const idle = parseGatewayConfig(yaml('  - { model: big, endpoints: [slow], resilience: { deadlineMs: 4000, ttftTimeoutMs: 1000 } }', '{ tokenIdleTimeoutMs: 10000 }'), 'gateway.yaml');
    expect(idle.ok ? [] : idle.problems.map((problem) => [problem.path, problem.suggestion])).toEqual([['routes[0].resilience.deadlineMs', 'a stalled stream must be cut before the deadline to be resumed: set resilience.tokenIdleTimeoutMs to fit, or change deadlineMs']]);
  });

  it('the stall timeout, when not written, is fitted to the shortest deadline, a route\'s included', () => {
    expect(gatewayConfig(yaml('  - { model: big, endpoints: [slow], resilience: { deadlineMs: 4000, ttftTimeoutMs: 1000 } }', '{}')).resilience.tokenIdleTimeoutMs).toBe(2000);
    expect(gatewayConfig(yaml('  - { model: big, endpoints: [slow] }', '{}')).resilience.tokenIdleTimeoutMs).toBe(10_000);
  });

  it("a route's bad field does not hide its conflicts, a bad gateway field is no default to conflict with, and a conflict says whose the other value is", () => {
    const both = parseGatewayConfig(yaml('  - { model: big, endpoints: [slow], resilience: { deadlineMs: 5000, retries: -1 } }', '{}'), 'gateway.yaml');
    expect(both.ok ? [] : both.problems.map((problem) => [problem.path, problem.code])).toEqual([
      ['routes[0].resilience.deadlineMs', 'inconsistent'],
      ['routes[0].resilience.retries', 'invalid_value'],
    ]);
    const gatewayBad = parseGatewayConfig(yaml('  - { model: big, endpoints: [slow], resilience: { deadlineMs: 5000 } }', '{ ttftTimeoutMs: -3 }'), 'gateway.yaml');
    expect(gatewayBad.ok ? [] : gatewayBad.problems.map((problem) => [problem.path, problem.code])).toEqual([['resilience.ttftTimeoutMs', 'invalid_value']]);
    const routeBad = parseGatewayConfig(yaml('  - { model: big, endpoints: [slow], resilience: { deadlineMs: -5, ttftTimeoutMs: 200000 } }', '{}'), 'gateway.yaml');
    expect(routeBad.ok ? [] : routeBad.problems.map((problem) => [problem.path, problem.code])).toEqual([['routes[0].resilience.deadlineMs', 'invalid_value']]);
    const whose = parseGatewayConfig(yaml('  - { model: big, endpoints: [slow], resilience: { ttftTimeoutMs: 200000 } }', '{}'), 'gateway.yaml');
    expect(whose.ok ? [] : whose.problems.map((problem) => [problem.path, problem.message, problem.suggestion])).toEqual([
      ['routes[0].resilience.ttftTimeoutMs', "ttftTimeoutMs (200000) exceeds the gateway's resilience.deadlineMs (120000)", 'the first token must be due before the whole request is: set deadlineMs for this route too, or change ttftTimeoutMs'],
    ]);
  });

  it('warns of a route whose hedge comes after its TTFT timeout, once, naming the route; and of routes whose timeouts differ on shared endpoints', () => {
    const config = gatewayConfig(yaml(['  - { model: big, endpoints: [slow, fast], resilience: { hedgeAfterMs: 3000, ttftTimeoutMs: 2000 } }', '  - { model: small, endpoints: [slow, fast], resilience: { retries: 0 } }'].join('\n'), '{}'));
    expect(gatewayConfigWarnings(config, {})).toEqual([
      "route 'big': resilience.hedgeAfterMs (3000) is not below ttftTimeoutMs (2000): an attempt times out before it would be hedged, so hedging never happens; set this route's hedgeAfterMs below its ttftTimeoutMs, or 0 to turn hedging off there",
      "routes 'big' and 'small' share 'slow', 'fast' with different ttftTimeoutMs (2000 and 10000): the shorter one's timeouts count against the endpoints' circuits, which open for both; give them the same, or endpoints of their own",
    ]);
  });

  it("does not warn of the gateway's hedge when every route sets its own", () => {
    const config = gatewayConfig(yaml('  - { model: big, endpoints: [slow, fast], resilience: { hedgeAfterMs: 500 } }', '{ hedgeAfterMs: 20000 }'));
    expect(gatewayConfigWarnings(config, {})).toEqual([]);
    expect(gatewayConfigWarnings(gatewayConfig(yaml('  - { model: big, endpoints: [slow, fast] }', '{ hedgeAfterMs: 20000 }')), {})).toEqual([expect.stringMatching(/^resilience\.hedgeAfterMs \(20000\) is not below ttftTimeoutMs/)]);
  });

  it('warns of a route that hedges with one endpoint, and of a stall timeout a route\'s deadline shortened for all', () => {
    const config = gatewayConfig(yaml(['  - { model: lone, endpoints: [slow], resilience: { hedgeAfterMs: 100, deadlineMs: 4000, ttftTimeoutMs: 1000 } }', '  - { model: pair, endpoints: [fast] }'].join('\n'), '{}'));
    expect(gatewayConfigWarnings(config, {})).toEqual([
      "route 'lone' hedges but has one endpoint: a hedge needs a second one, so hedging never happens there",
      "resilience.tokenIdleTimeoutMs is 2000 ms for every route, fitted to the deadline of route 'lone': a stream silent that long is cut and resumed; set resilience.tokenIdleTimeoutMs to choose it",
    ]);
    // Written, it is the operator's choice: no warning.
    expect(gatewayConfigWarnings(gatewayConfig(yaml(['  - { model: lone, endpoints: [slow], resilience: { deadlineMs: 4000, ttftTimeoutMs: 1000 } }', '  - { model: pair, endpoints: [fast] }'].join('\n'), '{ tokenIdleTimeoutMs: 1000 }')), {})).toEqual([]);
  });
});

describe('a circuit window shorter than two TTFT timeouts', () => {
  it('is warned of: a hung endpoint would be ejected only by requests hanging on it at once (E55)', () => {
    const long = gatewayConfig(yaml('  - { model: big, endpoints: [slow, fast], resilience: { ttftTimeoutMs: 20000 } }', '{}'));
    expect(gatewayConfigWarnings(long, {})).toEqual([
      'resilience.circuitBreaker.windowMs (30000) is shorter than twice the longest ttftTimeoutMs (20000): an endpoint that hangs before its first token on some requests and answers others is ejected only when 5 of its requests time out within 30000 ms, which under such time-outs takes about that many sent to it at once; set circuitBreaker.windowMs to 40000',
    ]);
    // No advice past what the schema takes: a window at its largest is not warned of (R71).
    const longest = '{ ttftTimeoutMs: 50000000, deadlineMs: 86400000, tokenIdleTimeoutMs: 1000000, circuitBreaker: { windowMs: 86400000 } }';
    expect(gatewayConfigWarnings(gatewayConfig(yaml('  - { model: big, endpoints: [slow, fast] }', longest)), {})).toEqual([]);
    expect(gatewayConfigWarnings(gatewayConfig(yaml('  - { model: big, endpoints: [slow, fast], resilience: { ttftTimeoutMs: 20000 } }', '{ circuitBreaker: { windowMs: 40000 } }')), {})).toEqual([]);
  });
});

describe("a route's resilience at run time", () => {
  it('with resumeStreams off, a broken stream ends in an error event, but a non-stream answer nothing of which was sent starts over elsewhere', async () => {
    const breaking = await startScriptedUpstream((res) => {
      res.write(openAIChunk({ role: 'assistant', content: 'one' }) + openAIChunk({ content: ' two' }), () => setTimeout(() => res.socket?.destroy(), 20));
    });
    const whole = await startScriptedUpstream((res) => res.end(openAIChunk({ role: 'assistant', content: 'whole answer' }) + openAIChunk({}, 'stop') + 'data: [DONE]\n\n'));
    cleanups.push(() => breaking.close(), () => whole.close());
    const gateway = createGateway({ config: gatewayConfig(yaml('  - { model: plain, endpoints: [slow, fast], policy: [cost], resilience: { resumeStreams: false } }', '{ retries: 0 }', { slow: breaking.url, fast: whole.url })), logger: false });
    const url = await gateway.listen(0, '127.0.0.1');
    cleanups.push(() => gateway.close());
    const ask = (stream: boolean): Promise<Response> => fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'plain', max_tokens: 20, stream, messages: [{ role: 'user', content: 'hi' }] }) });
    const streamed = await (await ask(true)).text();
    expect(streamed).toContain('"error"');
    expect(streamed).not.toContain('[DONE]');
    const answered = await ask(false);
    expect(answered.status).toBe(200);
    expect(((await answered.json()) as { choices: { message: { content: string } }[] }).choices[0]?.message.content).toBe('whole answer');
  });

  it("a deadline that cuts a stream names the route's own setting, which the gateway's does not override", async () => {
    // A token every 50 ms, forever: the route's 1 s deadline cuts it, no stall does.
    const endless = await startScriptedUpstream((res) => {
      res.write(openAIChunk({ role: 'assistant', content: '' }));
      const timer = setInterval(() => res.write(openAIChunk({ content: ' more' })), 50);
      res.on('close', () => clearInterval(timer));
    });
    cleanups.push(() => endless.close());
    const gateway = createGateway({ config: gatewayConfig(yaml('  - { model: short, endpoints: [slow], policy: [cost], resilience: { deadlineMs: 1000, ttftTimeoutMs: 500 } }', '{ retries: 0 }', { slow: endless.url, fast: endless.url })), logger: false });
    const url = await gateway.listen(0, '127.0.0.1');
    cleanups.push(() => gateway.close());
    const response = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'short', max_tokens: 1000, stream: true, messages: [{ role: 'user', content: 'go on' }] }) });
    const text = await response.text();
    expect(text).toContain('the 1000 ms deadline passed after');
    expect(text).toContain('ask the operator to raise the resilience.deadlineMs of route short');
  });

  it('a hedge whose client leaves before either leg answers is counted as cancelled, not as both failed', async () => {
    const silent = [await startScriptedUpstream(() => undefined), await startScriptedUpstream(() => undefined)] as const;
    cleanups.push(() => silent[0].close(), () => silent[1].close());
    const gateway = createGateway({ config: gatewayConfig(yaml('  - { model: hedged, endpoints: [slow, fast], policy: [cost], resilience: { hedgeAfterMs: 20 } }', '{ retries: 0, ttftTimeoutMs: 60000, deadlineMs: 120000 }', { slow: silent[0].url, fast: silent[1].url })), logger: false });
    const url = await gateway.listen(0, '127.0.0.1');
    cleanups.push(() => gateway.close());
    const asking = fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'hedged', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] }), signal: AbortSignal.timeout(300) });
    await expect(asking).rejects.toThrow();
    await expect.poll(async () => metricValue(await scrape(url), 'switchyard_hedges_total', { route: 'hedged', outcome: 'cancelled' }), { timeout: 5_000 }).toBe(1);
    expect(metricValue(await scrape(url), 'switchyard_hedges_total', { route: 'hedged', outcome: 'both-failed' })).toBeUndefined();
    expect([silent[0].arrivals(), silent[1].arrivals()]).toEqual([1, 1]);
  });

  it('a hedge the deadline ends counts as both failed; one the shutdown ends, as cancelled', async () => {
    const silent = [await startScriptedUpstream(() => undefined), await startScriptedUpstream(() => undefined)] as const;
    cleanups.push(() => silent[0].close(), () => silent[1].close());
    const gateway = createGateway({ config: gatewayConfig(yaml('  - { model: hedged, endpoints: [slow, fast], policy: [cost], resilience: { hedgeAfterMs: 20, ttftTimeoutMs: 400, deadlineMs: 400 } }', '{ retries: 0 }', { slow: silent[0].url, fast: silent[1].url })), logger: false });
    const url = await gateway.listen(0, '127.0.0.1');
    cleanups.push(() => gateway.close());
    const ask = (): Promise<number> => fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'hedged', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] }) }).then(async (response) => (await response.text(), response.status));
    // Both legs wait for their first token until the deadline cuts them (no TTFT timeout before it).
    expect(await ask()).toBe(504);
    const counted = async (name: string): Promise<number | undefined> => (await gateway.metrics.hedges.get()).values.find((value) => value.labels.outcome === name)?.value;
    expect(await counted('both-failed')).toBe(1);
    // The deadline cut the legs, not their TTFT timeouts (which would count 504s against the endpoints).
    expect(metricValue(await scrape(url), 'switchyard_upstream_errors_total', { status: '504' })).toBeUndefined();
    const shutDown = ask();
    await delay(100);
    await gateway.close();
    expect(await shutDown).toBe(503);
    expect([await counted('both-failed'), await counted('cancelled')]).toEqual([1, 1]);
  });

  it('its TTFT timeout and hedging apply to its requests only, the gateway\'s to the others', async () => {
    // 'slow' (cheaper, first) never sends a first token; 'fast' answers at once.
    const slow = await startScriptedUpstream(() => undefined);
    const fast = await startScriptedUpstream((res) => res.end(openAIChunk({ role: 'assistant', content: 'hi' }) + openAIChunk({}, 'stop') + 'data: [DONE]\n\n'));
    cleanups.push(() => slow.close(), () => fast.close());
    const routes = [
      '  - { model: hedged, endpoints: [slow, fast], policy: [cost], resilience: { hedgeAfterMs: 20 } }',
      '  - { model: quick, endpoints: [slow, fast], policy: [cost], resilience: { ttftTimeoutMs: 200 } }',
      '  - { model: plain, endpoints: [slow, fast], policy: [cost] }',
    ].join('\n');
    // The gateway's TTFT timeout is a minute and its deadline two: a request that waited for them would outlast the test.
    const gateway = createGateway({ config: gatewayConfig(yaml(routes, '{ retries: 0, ttftTimeoutMs: 60000, deadlineMs: 120000, circuitBreaker: { failureThreshold: 100 } }', { slow: slow.url, fast: fast.url })), logger: false });
    const url = await gateway.listen(0, '127.0.0.1');
    cleanups.push(() => gateway.close());
    const ask = async (model: string, signal?: AbortSignal): Promise<number> => {
      const response = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ model, max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] }), ...(signal === undefined ? {} : { signal }) });
      await response.text();
      return response.status;
    };
    expect(await ask('hedged')).toBe(200);
    expect(await ask('quick')).toBe(200);
    // Under the gateway's own settings the request waits on 'slow': no hedge, no timeout within a second.
    await expect(ask('plain', AbortSignal.timeout(1000))).rejects.toThrow();
    const metrics = await scrape(url);
    expect(metricValue(metrics, 'switchyard_hedges_total', { route: 'hedged', outcome: 'hedge' })).toBe(1);
    expect(metricValue(metrics, 'switchyard_hedges_total', { route: 'quick', outcome: 'hedge' })).toBeUndefined();
    // 'quick' failed over after its own 200 ms TTFT timeout on 'slow'.
    expect(metricValue(metrics, 'switchyard_upstream_errors_total', { endpoint: 'slow', status: '504' })).toBe(1);
    expect(metricValue(metrics, 'switchyard_failovers_total', { route: 'quick' })).toBe(1);
  });
});
