import { afterEach, describe, expect, it } from 'vitest';
import { EventQueue } from '../../src/gateway/event-queue.js';
import { createGateway } from '../../src/gateway/gateway-server.js';
import { hashApiKey } from '../../src/gateway/tenant-auth.js';
import type { UpstreamResponse } from '../../src/gateway/upstream-client.js';
import type { ChatEvent } from '../../src/protocol/chat.js';
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

/**
 * Endpoints a (free), b and c (paid, dearer) serving m; routes `hedged` [a, b] and `hedged3` [a, b, c]
 * hedging after `hedgeAfterMs`, `retried` [a], and `only-a`, `only-b` with no retries.
 */
async function start(behaviours: Readonly<Record<'a' | 'b', ScriptedBehaviour> & { c?: ScriptedBehaviour }>, resilience: string, options: { hedgeAfterMs?: number; random?: () => number } = {}): Promise<{ ask: (model: string, stream?: boolean) => Promise<Response>; calls: ScriptedCall[]; url: string }> {
  const upstream = scriptedClient(behaviours);
  const gateway = createGateway({
    config: gatewayConfig(`
version: 1
endpoints:
  - { id: a, url: "http://127.0.0.1:1", dialect: openai, model: m, provider: p1, region: r, jurisdiction: us, contextWindow: 131072, marginalCostPerMillionTokens: 0, capacity: 8 }
  - { id: b, url: "http://127.0.0.1:2", dialect: openai, model: m, provider: p2, region: r, jurisdiction: us, contextWindow: 131072, marginalCostPerMillionTokens: 1, capacity: 8 }
  - { id: c, url: "http://127.0.0.1:3", dialect: openai, model: m, provider: p3, region: r, jurisdiction: us, contextWindow: 131072, marginalCostPerMillionTokens: 2, capacity: 8 }
routes:
  - { model: hedged, endpoints: [a, b], policy: [cost], resilience: { hedgeAfterMs: ${String(options.hedgeAfterMs ?? 800)}, retries: 0 } }
  - { model: hedged3, endpoints: [a, b, c], policy: [cost], resilience: { hedgeAfterMs: ${String(options.hedgeAfterMs ?? 800)}, retries: 0 } }
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
  const ask = async (model: string, stream = false): Promise<Response> => {
    const response = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ model, stream, max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }) });
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
        `{ ttftTimeoutMs: 2000, deadlineMs: 10000, panicRouting: ${String(panicRouting)}, circuitBreaker: { failureThreshold: 2, windowMs: 60000, openMs: 60000 } }`,
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
        expect((bCall?.at ?? 0) - (aCall?.at ?? 0)).toBeGreaterThanOrEqual(1900);
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
      '{ ttftTimeoutMs: 2000, deadlineMs: 10000, panicRouting: false, circuitBreaker: { failureThreshold: 1, windowMs: 60000, openMs: 200, halfOpenProbes: 1 } }',
      { hedgeAfterMs: 1200 },
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

  it('goes to the best other endpoint when the second one no longer takes it (R30)', async () => {
    const { ask, calls } = await start({ a: scriptedHang, b: () => scriptedStatus(500), c: () => scriptedAnswer(['from c']) }, '{ ttftTimeoutMs: 3000, deadlineMs: 10000, circuitBreaker: { failureThreshold: 2, windowMs: 60000, openMs: 60000 } }');
    const started = Date.now();
    const hedged = ask('hedged3');
    await expect.poll(() => callsTo(calls, 'a')).toBe(1);
    expect((await ask('only-b')).status).toBe(502);
    expect((await ask('only-b')).status).toBe(502);
    const answered = await hedged;
    expect(answered.status).toBe(200);
    expect(await answered.text()).toContain('from c');
    // At the hedge's delay, not after a's whole TTFT timeout (3 s).
    expect((calls.find((call) => call.endpoint === 'c')?.at ?? Number.POSITIVE_INFINITY) - started).toBeLessThan(2000);
    expect(callsTo(calls, 'b')).toBe(2);
  });

  it('is not sent to an endpoint that asked for a wait during the delay', async () => {
    let bCalls = 0;
    const { ask, calls } = await start({ a: scriptedHang, b: () => (++bCalls === 1 ? scriptedStatus(429, '5') : scriptedAnswer(['from b'])) }, '{ ttftTimeoutMs: 2000, deadlineMs: 10000, panicRouting: false }');
    const hedged = ask('hedged');
    await expect.poll(() => callsTo(calls, 'a')).toBe(1);
    expect((await ask('only-b')).status).toBe(429);
    // No hedge to b inside its 5 s: the request waits out a's TTFT timeout before it fails over there.
    expect((await hedged).status).toBe(200);
    const [aCall] = calls.filter((call) => call.endpoint === 'a');
    const bCall = calls.filter((call) => call.endpoint === 'b')[1];
    expect((bCall?.at ?? 0) - (aCall?.at ?? 0)).toBeGreaterThanOrEqual(1900);
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

  it('under steady 429s from others, waits a newer Retry-After once and goes back, not held to its deadline (R30)', async () => {
    const { ask, calls, url } = await start({ a: () => scriptedStatus(429, '1'), b: scriptedHang }, '{ retries: 1, backoffMs: 50, maxBackoffMs: 2000, ttftTimeoutMs: 3000, deadlineMs: 8000 }');
    let running = true;
    const others = (async (): Promise<void> => {
      while (running) {
        await ask('only-a');
        await delay(300);
      }
    })();
    const started = Date.now();
    const answered = await ask('retried');
    const took = Date.now() - started;
    running = false;
    await others;
    expect(answered.status).toBe(429);
    // About 1 s (its own Retry-After) and under 1 s more (the newest one then): not about 8 s.
    expect(took).toBeLessThan(3500);
    expect(metricValue(await scrape(url), 'switchyard_retries_total', { route: 'retried' })).toBe(1);
    expect(callsTo(calls, 'a')).toBeGreaterThan(2);
  });

  it('chosen by panic routing (its circuit already open), is sent', async () => {
    let aCalls = 0;
    const { ask, url } = await start({ a: () => (++aCalls === 1 ? scriptedStatus(500) : scriptedAnswer(['ok'])), b: scriptedHang }, '{ retries: 1, backoffMs: 300, maxBackoffMs: 300, ttftTimeoutMs: 3000, deadlineMs: 6000, panicRouting: true, circuitBreaker: { failureThreshold: 1, windowMs: 60000, openMs: 60000 } }', { random: () => 0.999 });
    const started = Date.now();
    expect((await ask('retried')).status).toBe(200);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(aCalls).toBe(2);
    expect(metricValue(await scrape(url), 'switchyard_panic_routes_total', { route: 'retried' })).toBe(1);
  });

  it("of a resume, routed afresh when its endpoint's circuit opened during the backoff, is no retry in the metrics (R30)", async () => {
    let aCalls = 0;
    /** One token, then the stream breaks. */
    const breaking = (): UpstreamResponse => {
      const events = new EventQueue<ChatEvent>();
      events.push({ type: 'start', id: 's', model: 'm', inputTokens: 5 });
      events.push({ type: 'text', text: 'partial ' });
      setTimeout(() => {
        events.push({ type: 'error', kind: 'api_error', message: 'boom', fromUpstream: true });
        events.end();
      }, 50);
      return { kind: 'events', events };
    };
    const { ask, url } = await start(
      { a: () => (++aCalls === 1 ? breaking() : aCalls <= 3 ? scriptedStatus(500) : scriptedAnswer(['rest'])), b: scriptedHang },
      '{ retries: 1, backoffMs: 600, maxBackoffMs: 600, ttftTimeoutMs: 3000, deadlineMs: 20000, panicRouting: true, circuitBreaker: { failureThreshold: 3, windowMs: 60000, openMs: 60000 } }',
      { random: () => 0.999 },
    );
    const resumed = ask('retried', true);
    await delay(250);
    // During the resume's backoff, two others' failures open a's circuit (with the break, three).
    expect((await ask('only-a')).status).toBe(502);
    expect((await ask('only-a')).status).toBe(502);
    const answered = await resumed;
    expect(await answered.text()).toContain('rest');
    // One attempt for the resume, by panic routing: not a retry, nor a failover.
    expect(aCalls).toBe(4);
    const metrics = await scrape(url);
    expect(metricValue(metrics, 'switchyard_retries_total', { route: 'retried' }) ?? 0).toBe(0);
    expect(metricValue(metrics, 'switchyard_failovers_total', { route: 'retried' }) ?? 0).toBe(0);
  });
});
