import { afterEach, describe, expect, it } from 'vitest';
import { createGateway } from '../../src/gateway/gateway-server.js';
import { hashApiKey } from '../../src/gateway/tenant-auth.js';
import { delay, gatewayConfig, metricValue, scrape } from './helpers/fleet.js';
import { scriptedAnswer, scriptedClient, scriptedHang, scriptedStatus, type ScriptedBehaviour, type ScriptedCall } from './helpers/scripted-client.js';

/**
 * An attempt chosen before a wait (a hedge's delay, a retry's backoff) is sent only if its endpoint
 * still takes it when the wait ends: others' failures may have opened its circuit or taken its one
 * half-open probe slot, or it may have asked for a longer wait (R29: sent anyway, its first token
 * closed an open circuit with no probe).
 */

const apiKey = 'sk-chosen-before-wait';
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

/** Endpoints a (free) and b (paid) serving m; routes `hedged` [a, b] hedging after `hedgeAfterMs`, `retried` [a] and `only-a`, `only-b` with no retries. */
async function start(behaviours: Readonly<Record<'a' | 'b', ScriptedBehaviour>>, resilience: string, options: { hedgeAfterMs?: number; random?: () => number } = {}): Promise<{ ask: (model: string) => Promise<Response>; calls: ScriptedCall[]; url: string }> {
  const upstream = scriptedClient(behaviours);
  const gateway = createGateway({
    config: gatewayConfig(`
version: 1
endpoints:
  - { id: a, url: "http://127.0.0.1:1", dialect: openai, model: m, provider: p1, region: r, jurisdiction: us, contextWindow: 131072, marginalCostPerMillionTokens: 0, capacity: 8 }
  - { id: b, url: "http://127.0.0.1:2", dialect: openai, model: m, provider: p2, region: r, jurisdiction: us, contextWindow: 131072, marginalCostPerMillionTokens: 1, capacity: 8 }
routes:
  - { model: hedged, endpoints: [a, b], policy: [cost], resilience: { hedgeAfterMs: ${String(options.hedgeAfterMs ?? 300)}, retries: 0 } }
  - { model: retried, endpoints: [a], policy: [cost] }
  - { model: only-a, endpoints: [a], policy: [cost], resilience: { retries: 0 } }
  - { model: only-b, endpoints: [b], policy: [cost], resilience: { retries: 0 } }
tenants:
  - { id: t, apiKeySha256: ${hashApiKey(apiKey)}, jurisdictions: [us], requestsPerMinute: 100000, tokensPerMinute: 100000000 }
resilience: ${resilience}
`),
    upstream,
    logger: false,
    ...(options.random === undefined ? {} : { random: options.random }),
  });
  const url = await gateway.listen(0, '127.0.0.1');
  cleanups.push(() => gateway.close());
  const ask = async (model: string): Promise<Response> => {
    const response = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ model, max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }) });
    await response.clone().text();
    return response;
  };
  return { ask, calls: upstream.calls, url };
}

const callsTo = (calls: readonly ScriptedCall[], endpoint: string): number => calls.filter((call) => call.endpoint === endpoint).length;

describe('a hedge leg', () => {
  for (const panicRouting of [false, true]) {
    it(`is not sent to an endpoint whose circuit opened during the hedge's delay (panicRouting ${String(panicRouting)}: a slow primary is no panic)`, async () => {
      let bCalls = 0;
      const { ask, calls, url } = await start(
        { a: scriptedHang, b: () => (++bCalls <= 2 ? scriptedStatus(500) : scriptedAnswer(['from b'])) },
        `{ ttftTimeoutMs: 1500, deadlineMs: 10000, panicRouting: ${String(panicRouting)}, circuitBreaker: { failureThreshold: 2, windowMs: 60000, openMs: 60000 } }`,
        { hedgeAfterMs: 400 },
      );
      const hedged = ask('hedged');
      await expect.poll(() => callsTo(calls, 'a')).toBe(1);
      // Meanwhile b fails two others' requests: its circuit opens.
      expect((await ask('only-b')).status).toBe(502);
      expect((await ask('only-b')).status).toBe(502);
      expect(metricValue(await scrape(url), 'switchyard_circuit_state', { endpoint: 'b' })).toBe(2);
      // No hedge to b: the request waits out a's TTFT timeout, and b's circuit stays open. Under
      // panic routing it then fails over to b (the only endpoint left), as a panic route.
      const answered = await hedged;
      if (panicRouting) {
        expect(answered.status).toBe(200);
        const [aCall] = calls.filter((call) => call.endpoint === 'a');
        const bCall = calls.filter((call) => call.endpoint === 'b')[2];
        expect((bCall?.at ?? 0) - (aCall?.at ?? 0)).toBeGreaterThanOrEqual(1400);
        expect(metricValue(await scrape(url), 'switchyard_panic_routes_total', { route: 'hedged' })).toBe(1);
      } else {
        expect(answered.status).toBe(504);
        expect(callsTo(calls, 'b')).toBe(2);
        expect(metricValue(await scrape(url), 'switchyard_circuit_state', { endpoint: 'b' })).toBe(2);
      }
    });
  }

  it('is not a second probe of a half-open circuit whose one probe slot another request holds', async () => {
    let bCalls = 0;
    let bInFlight = 0;
    let bMostInFlight = 0;
    const { ask, calls } = await start(
      {
        a: scriptedHang,
        b: async (call) => {
          bCalls += 1;
          bInFlight += 1;
          bMostInFlight = Math.max(bMostInFlight, bInFlight);
          try {
            // The first opens b's circuit; the second, its probe, holds the one slot.
            if (bCalls === 1) return scriptedStatus(500);
            if (bCalls === 2) return await scriptedHang(call);
            return scriptedAnswer(['from b']);
          } finally {
            bInFlight -= 1;
          }
        },
      },
      '{ ttftTimeoutMs: 1500, deadlineMs: 10000, panicRouting: false, circuitBreaker: { failureThreshold: 1, windowMs: 60000, openMs: 200, halfOpenProbes: 1 } }',
      { hedgeAfterMs: 700 },
    );
    const hedged = ask('hedged');
    await expect.poll(() => callsTo(calls, 'a')).toBe(1);
    expect((await ask('only-b')).status).toBe(502);
    await delay(250);
    // b is half-open: this request is its probe, and hangs until its TTFT timeout.
    const probe = ask('only-b');
    await expect.poll(() => bCalls).toBe(2);
    // The slot is taken: another request is held back.
    expect((await ask('only-b')).status).toBe(503);
    expect((await hedged).status).toBe(504);
    expect(bMostInFlight).toBe(1);
    expect(bCalls).toBe(2);
    await probe;
  });
});

describe('a retry after its backoff', () => {
  it('is not sent to an endpoint whose circuit opened during the backoff', async () => {
    let aCalls = 0;
    const { ask, calls, url } = await start(
      { a: () => (++aCalls <= 3 ? scriptedStatus(500) : scriptedAnswer(['retried'])), b: scriptedHang },
      '{ retries: 1, backoffMs: 500, maxBackoffMs: 500, ttftTimeoutMs: 3000, deadlineMs: 10000, panicRouting: false, circuitBreaker: { failureThreshold: 3, windowMs: 60000, openMs: 60000 } }',
      // Full jitter at its top: the backoff is about 500 ms.
      { random: () => 0.999 },
    );
    const retrying = ask('retried');
    await expect.poll(() => callsTo(calls, 'a')).toBe(1);
    // During its backoff two others' failures open a's circuit.
    expect((await ask('only-a')).status).toBe(502);
    expect((await ask('only-a')).status).toBe(502);
    expect(metricValue(await scrape(url), 'switchyard_circuit_state', { endpoint: 'a' })).toBe(2);
    // The retry is not sent: the caller gets its failure, and a's circuit stays open.
    expect((await retrying).status).toBe(502);
    expect(callsTo(calls, 'a')).toBe(3);
    expect((await ask('only-a')).status).toBe(503);
  });

  it('waits out a longer Retry-After the endpoint asked for during the backoff', async () => {
    let aCalls = 0;
    let limitedAt = 0;
    const { ask, calls } = await start(
      {
        a: () => {
          aCalls += 1;
          if (aCalls === 1) return scriptedStatus(500);
          if (aCalls === 2) {
            limitedAt = Date.now();
            return scriptedStatus(429, '1');
          }
          return scriptedAnswer(['retried']);
        },
        b: scriptedHang,
      },
      '{ retries: 1, backoffMs: 300, maxBackoffMs: 2000, ttftTimeoutMs: 3000, deadlineMs: 10000 }',
      // Full jitter at its top: the first backoff is about 300 ms.
      { random: () => 0.999 },
    );
    const retrying = ask('retried');
    await expect.poll(() => callsTo(calls, 'a')).toBe(1);
    // During the backoff a asks another request for a second's wait.
    expect((await ask('only-a')).status).toBe(429);
    expect((await retrying).status).toBe(200);
    const retried = calls.filter((call) => call.endpoint === 'a')[2];
    // Sent once the second was over, not when the 300 ms backoff ended.
    expect((retried?.at ?? 0) - limitedAt).toBeGreaterThanOrEqual(990);
  });
});
