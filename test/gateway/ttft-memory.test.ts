import { expect, it } from 'vitest';
import type { ChatRequest } from '../../src/protocol/chat.js';
import { Cancellation } from '../../src/gateway/cancellation.js';
import { EndpointPool, longestTtftMemoryMs, recordTtft, recordTtftAtLeast, recordTtftTimeout, ttftMemoryMs } from '../../src/gateway/endpoint-pool.js';
import type { GatewayCore } from '../../src/gateway/gateway-core.js';
import { createGatewayMetrics } from '../../src/gateway/gateway-metrics.js';
import { routingPolicyFromConfig } from '../../src/gateway/route-request.js';
import { startAttempt } from '../../src/gateway/upstream-attempt.js';
import { singleEndpointConfig } from './helpers/fleet.js';

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
    // How long the latency policy keeps the endpoint's bound, read through the router's view.
    const from = now;
    let span = 0;
    for (const step of [ttftMemoryMs, 2 * ttftMemoryMs, 4 * ttftMemoryMs, 8 * ttftMemoryMs, 16 * ttftMemoryMs, longestTtftMemoryMs]) {
      now = from + step;
      if (pool.views(route)[0]?.ewmaTtftMs !== undefined) span = step;
      now = from + step + 1;
      if (pool.views(route)[0]?.ewmaTtftMs === undefined) break;
    }
    now = from;
    return span;
  };
  // A hung endpoint: each re-measurement (its average forgotten) ends in a timeout.
  const spans: number[] = [];
  for (let timeout = 0; timeout < 6; timeout += 1) {
    recordTtftTimeout(endpoint, 10_000, now);
    spans.push(trustedFor());
    now += spans.at(-1) ?? 0;
    now += 1;
  }
  expect(spans).toEqual([60_000, 120_000, 240_000, 480_000, 600_000, 600_000]);
  // Timeouts of requests sent together while the bound is trusted double nothing.
  recordTtftTimeout(endpoint, 10_000, now);
  recordTtftTimeout(endpoint, 10_000, now + 5);
  expect(trustedFor()).toBe(600_000);
  // It answers again: a first token, and its average is trusted for ttftMemoryMs again.
  recordTtft(endpoint, 200, now + 10);
  now += 10;
  expect(trustedFor()).toBe(ttftMemoryMs);
  // A healthy endpoint's one timeout (its average remembered) doubles nothing either.
  recordTtftTimeout(endpoint, 10_000, now + 10);
  now += 10;
  expect(trustedFor()).toBe(ttftMemoryMs);
  // Forgotten again, then two requests sent together time out together: doubled once, not twice.
  now += ttftMemoryMs + 1;
  recordTtftTimeout(endpoint, 10_000, now);
  recordTtftTimeout(endpoint, 10_000, now + 5);
  expect(trustedFor()).toBe(2 * ttftMemoryMs);
});
