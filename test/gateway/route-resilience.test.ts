import { afterEach, describe, expect, it } from 'vitest';
import { gatewayConfigWarnings, parseGatewayConfig } from '../../src/gateway/gateway-config.js';
import { createGateway } from '../../src/gateway/gateway-server.js';
import { hashApiKey } from '../../src/gateway/tenant-auth.js';
import { gatewayConfig, metricValue, openAIChunk, scrape, startScriptedUpstream } from './helpers/fleet.js';

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

  it('warns of a route whose hedge comes after its TTFT timeout, once, naming the route', () => {
    const config = gatewayConfig(yaml(['  - { model: big, endpoints: [slow, fast], resilience: { hedgeAfterMs: 3000, ttftTimeoutMs: 2000 } }', '  - { model: small, endpoints: [slow, fast], resilience: { retries: 0 } }'].join('\n'), '{}'));
    expect(gatewayConfigWarnings(config, {})).toEqual(["route 'big': resilience.hedgeAfterMs (3000) is not below ttftTimeoutMs (2000): an attempt times out before it would be hedged, so hedging never happens; lower hedgeAfterMs"]);
  });
});

describe("a route's resilience at run time", () => {
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
