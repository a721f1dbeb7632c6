import { describe, expect, it } from 'vitest';
import type { ChatRequest } from '../../src/protocol/chat.js';
import { Cancellation } from '../../src/gateway/cancellation.js';
import { EndpointPool, longestTtftMemoryMs, recordTtft, recordTtftAtLeast, recordTtftTimeout, ttftMemoryMs, ttftSending } from '../../src/gateway/endpoint-pool.js';
import type { GatewayCore } from '../../src/gateway/gateway-core.js';
import { createGatewayMetrics } from '../../src/gateway/gateway-metrics.js';
import { routingPolicyFromConfig } from '../../src/gateway/route-request.js';
import { startAttempt } from '../../src/gateway/upstream-attempt.js';
import { createGateway } from '../../src/gateway/gateway-server.js';
import { cheapestFirstConfig, closedAfterEach, delay, openAIChunk, singleEndpointConfig, startScriptedUpstream } from './helpers/fleet.js';

/**
 * What the latency policy knows of an endpoint: its TTFT average, forgotten when it has had no
 * sample for a while (so a slow endpoint that recovered is tried again), and raised by what shows
 * an endpoint is slow without a first token (a TTFT timeout, a hedge it lost).
 */

const config = singleEndpointConfig('http://127.0.0.1:9', 'sk-ttft', '{ ttftTimeoutMs: 50, deadlineMs: 5000 }');

it('an average with no sample for ttftMemoryMs is forgotten, so the router tries the endpoint again', () => {
  let now = 1_000_000;
  const pool = new EndpointPool(config, {}, () => now);
  const endpoint = pool.get('up');
  const route = config.routes[0];
  if (endpoint === undefined || route === undefined) throw new Error('config');
  recordTtft(endpoint, 300, now);
  expect(pool.views(route)[0]?.ewmaTtftMs).toBe(300);
  now += ttftMemoryMs;
  expect(pool.views(route)[0]?.ewmaTtftMs).toBe(300);
  now += 1;
  expect(pool.views(route)[0]?.ewmaTtftMs).toBeUndefined();
  // The first sample after starts the average afresh: the old value is gone, not blended in.
  recordTtft(endpoint, 100, now);
  expect(pool.views(route)[0]?.ewmaTtftMs).toBe(100);
  // Later samples are averaged as before.
  recordTtft(endpoint, 200, now + 10);
  expect(pool.views(route)[0]?.ewmaTtftMs).toBeCloseTo(120, 9);
});

it('a lower bound only ever raises the average', () => {
  const pool = new EndpointPool(config, {}, () => 0);
  const endpoint = pool.get('up');
  if (endpoint === undefined) throw new Error('config');
  recordTtftAtLeast(endpoint, 400, 0);
  expect(endpoint.ewmaTtftMs).toBe(400);
  recordTtftAtLeast(endpoint, 100, 0);
  expect(endpoint.ewmaTtftMs).toBe(400);
  recordTtftAtLeast(endpoint, 900, 0);
  expect(endpoint.ewmaTtftMs).toBe(500);
});

it('a TTFT timeout teaches the latency policy that the endpoint is slow', async () => {
  const endpoints = new EndpointPool(config, {}, Date.now);
  const endpoint = endpoints.get('up');
  if (endpoint === undefined) throw new Error('config');
  recordTtft(endpoint, 5, Date.now());
  // An upstream that never answers, until the attempt's own cancellation.
  const upstream: GatewayCore['upstream'] = {
    send: (_target, _request, cancellation) => new Promise((resolve) => cancellation.onCancel(() => resolve({ kind: 'error', status: 0, message: 'request cancelled', fromUpstream: false, retryAfter: undefined }))),
    countTokens: () => Promise.reject(new Error('unused')),
    close: () => Promise.resolve(),
  };
  const core: GatewayCore = { config, now: Date.now, random: Math.random, metrics: createGatewayMetrics(), upstream, endpoints, policy: routingPolicyFromConfig(config), watched: new Set(), closing: () => false, upstreamRequestId: (id) => id };
  const request: ChatRequest = { model: 'm', messages: [{ role: 'user', content: 'hi' }], maxTokens: 10, temperature: undefined, topP: undefined, stop: [], stream: true, includeUsage: false, finalAssistant: 'answer' };
  const attempt = await startAttempt(core, endpoint, request, new Cancellation(), config.resilience.ttftTimeoutMs);
  expect(attempt).toMatchObject({ kind: 'failed', status: 504 });
  // From 5 ms towards the 50 ms timeout: 5 + 0.2 * (50 - 5).
  expect(endpoint.ewmaTtftMs).toBeCloseTo(14, 9);
  expect(endpoint.ewmaTtftMemoryMs).toBe(ttftMemoryMs);
  // Its average forgotten, the endpoint is measured again and times out again: the bound is kept twice as long.
  endpoint.ewmaTtftAt -= ttftMemoryMs + 1;
  expect(await startAttempt(core, endpoint, request, new Cancellation(), config.resilience.ttftTimeoutMs)).toMatchObject({ kind: 'failed', status: 504 });
  expect(endpoint.ewmaTtftMs).toBe(50);
  expect(endpoint.ewmaTtftMemoryMs).toBe(2 * ttftMemoryMs);
});

it('TTFT timeouts that end re-measurements double how long the bound is trusted, up to ten minutes; a first token brings it back to ttftMemoryMs', () => {
  let now = 1_000_000;
  const pool = new EndpointPool(config, {}, () => now);
  const endpoint = pool.get('up');
  const route = config.routes[0];
  if (endpoint === undefined || route === undefined) throw new Error('config');
  const trustedFor = (): number => {
    // How long the latency policy keeps the endpoint's bound after its last sample, read through the router's view.
    const at = now;
    const from = endpoint.ewmaTtftAt;
    let span = 0;
    for (const step of [ttftMemoryMs, 2 * ttftMemoryMs, 4 * ttftMemoryMs, 8 * ttftMemoryMs, 16 * ttftMemoryMs, longestTtftMemoryMs]) {
      now = from + step;
      if (pool.views(route)[0]?.ewmaTtftMs !== undefined) span = step;
      now = from + step + 1;
      if (pool.views(route)[0]?.ewmaTtftMs === undefined) break;
    }
    now = at;
    return span;
  };
  // An attempt sent at `now`, timing out at its TTFT timeout (the clock moved on to it).
  const timesOut = (sent = ttftSending(endpoint, now)): void => {
    now += 10_000;
    recordTtftTimeout(endpoint, 10_000, now, sent);
  };
  // A hung endpoint: each re-measurement (its average forgotten) ends in a timeout.
  const spans: number[] = [];
  for (let timeout = 0; timeout < 6; timeout += 1) {
    timesOut();
    spans.push(trustedFor());
    now = endpoint.ewmaTtftAt + (spans.at(-1) ?? 0) + 1;
  }
  expect(spans).toEqual([60_000, 120_000, 240_000, 480_000, 600_000, 600_000]);
  // It answers again: a first token, and its average is trusted for ttftMemoryMs again.
  recordTtft(endpoint, 200, now);
  expect(trustedFor()).toBe(ttftMemoryMs);
  // A healthy endpoint's one timeout (its average remembered when it was sent) doubles nothing.
  timesOut();
  expect(trustedFor()).toBe(ttftMemoryMs);
  // Forgotten again: an attempt measures it, another request's first token comes meanwhile, then the
  // attempt times out: the endpoint answers, so the span stays 30 s.
  now += ttftMemoryMs + 1;
  const overtaken = ttftSending(endpoint, now);
  expect(overtaken.measuring).toBe(true);
  recordTtft(endpoint, 300, now + 1000);
  timesOut(overtaken);
  expect(trustedFor()).toBe(ttftMemoryMs);
  // Forgotten again, then two attempts sent together time out together: doubled once, not twice.
  now += ttftMemoryMs + 1;
  const together = ttftSending(endpoint, now);
  timesOut(together);
  timesOut(together);
  expect(trustedFor()).toBe(2 * ttftMemoryMs);
  // Forgotten again: a hedge that won samples the average (a lower bound) before this attempt's
  // timeout; the attempt was still a measurement when sent, so the timeout doubles the span.
  now += 2 * ttftMemoryMs + 1;
  const measuring = ttftSending(endpoint, now);
  expect(measuring.measuring).toBe(true);
  recordTtftAtLeast(endpoint, 150, now + 150);
  timesOut(measuring);
  expect(trustedFor()).toBe(4 * ttftMemoryMs);
});

describe('a hung endpoint under the latency policy, through the gateway', () => {
  const key = 'sk-ttft-routes';
  const { cleanups } = closedAfterEach();

  /** The hung endpoint's arrivals after each of three requests 31 s apart (on the gateway's clock). */
  async function measuredEvery31s(resilience: string): Promise<number[]> {
    // e0 hangs (its head, never a token); e1 answers at once.
    const hung = await startScriptedUpstream(() => undefined);
    const healthy = await startScriptedUpstream((res) => res.end(openAIChunk({ role: 'assistant', content: 'ok' }, 'stop') + 'data: [DONE]\n\n'));
    cleanups.push(() => hung.close(), () => healthy.close());
    let offset = 0;
    const routeConfig = cheapestFirstConfig([[hung.url, 'openai'], [healthy.url, 'openai']], key, resilience, '', '[latency]');
    const gateway = createGateway({ config: routeConfig, logger: false, now: () => Date.now() + offset });
    cleanups.push(() => gateway.close());
    const url = await gateway.listen(0, '127.0.0.1');
    const seen: number[] = [];
    for (let round = 0; round < 3; round += 1) {
      const answered = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', max_tokens: 8, messages: [{ role: 'user', content: 'hi' }] }) });
      expect(answered.status).toBe(200);
      await answered.arrayBuffer();
      // Past the hung leg's TTFT timeout (500 ms), then 31 s on: past 30 s, inside a doubled 60 s.
      await delay(700);
      seen.push(hung.arrivals());
      offset += 31_000;
    }
    return seen;
  }

  it('is measured again after 60 s, not every 30 s, with or without hedging (a winning hedge samples the average first)', async () => {
    expect(await measuredEvery31s('{ retries: 1, ttftTimeoutMs: 500, deadlineMs: 10000 }')).toEqual([1, 1, 2]);
    expect(await measuredEvery31s('{ retries: 1, ttftTimeoutMs: 500, hedgeAfterMs: 100, deadlineMs: 10000 }')).toEqual([1, 1, 2]);
  });
});
