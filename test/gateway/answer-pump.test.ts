import { expect, it } from 'vitest';
import type { ChatEvent, ChatRequest } from '../../src/protocol/chat.js';
import type { AnswerSink } from '../../src/gateway/answer-sink.js';
import { pumpAnswer } from '../../src/gateway/answer-pump.js';
import { Cancellation } from '../../src/gateway/cancellation.js';
import { EndpointPool } from '../../src/gateway/endpoint-pool.js';
import type { GatewayCore } from '../../src/gateway/gateway-core.js';
import { createGatewayMetrics } from '../../src/gateway/gateway-metrics.js';
import { EventQueue } from '../../src/gateway/event-queue.js';
import { routingPolicyFromConfig } from '../../src/gateway/route-request.js';
import type { RequestContext } from '../../src/gateway/request-context.js';
import { singleEndpointConfig } from './helpers/fleet.js';

const config = singleEndpointConfig('http://127.0.0.1:9', 'sk-pump');

// The answer's finish is not held behind a slow client: the endpoint's load and probe slot are
// given back as soon as the upstream has finished, whatever the client has still to read.
it('an answer whose finish arrives while the client is congested completes at once, and clears the endpoint\'s Retry-After', async () => {
  const endpoints = new EndpointPool(config, {}, Date.now);
  const core: GatewayCore = { config, now: Date.now, random: Math.random, metrics: createGatewayMetrics(), upstream: { send: () => Promise.reject(new Error('unused')), countTokens: () => Promise.reject(new Error('unused')), close: () => Promise.resolve() }, endpoints, policy: routingPolicyFromConfig(config), watched: new Set(), closing: () => false, upstreamRequestId: (id) => id };
  const endpoint = endpoints.get('up');
  const route = config.routes[0];
  const tenant = config.tenants[0];
  if (endpoint === undefined || route === undefined || tenant === undefined) throw new Error('config');
  const context: RequestContext = { requestId: 'r', via: undefined, tenant, route, resilience: config.resilience, deadlineAt: Date.now() + config.resilience.deadlineMs, promptTokens: 3, resumed: undefined, roomBudget: undefined, promptFloor: undefined, attempts: 1, waiting: 0, clientGone: () => false, shuttingDown: () => false, failures: undefined, banned: undefined, log: { warn: () => undefined, info: () => undefined }, routeInput: () => ({ model: 'm', tenantJurisdictions: ['us'], promptTokens: 3, maxOutputTokens: 10 }) };
  const request: ChatRequest = { model: 'm', messages: [{ role: 'user', content: 'hi' }], maxTokens: 10, temperature: undefined, topP: undefined, stop: [], stream: true, includeUsage: false, finalAssistant: 'answer' };
  const rest = new EventQueue<ChatEvent>();
  rest.push({ type: 'finish', finishReason: 'stop', usage: { inputTokens: 3, outputTokens: 2 } });
  rest.end();
  endpoint.outstanding = 1;
  endpoint.retryAfterUntil = Date.now() + 86_400_000;
  const finished: string[] = [];
  // A client that never drains, congested since the head's text: only the request's cancellation would end a wait.
  const sink: AnswerSink = { committed: true, needsObjectArguments: false, showsReasoning: true, startStatesUsage: false, congested: true, drained: (cancellation) => new Promise((resolve) => cancellation.onCancel(resolve)), event: () => undefined, finish: (_event, answer) => finished.push(answer.text), fail: () => undefined };
  const deadline = new Cancellation();
  const outcome = pumpAnswer(core, context, sink, request, { kind: 'stream', endpoint, head: [{ type: 'start', id: 'x', model: 'm', inputTokens: 3 }, { type: 'text', text: 'hello' }], rest, ttftMs: 1, cancellation: new Cancellation(), detach: () => undefined, number: 1, sentRequestId: undefined }, new Set(['up']), deadline);
  const settled = await Promise.race([outcome, new Promise<'waiting'>((resolve) => setTimeout(() => resolve('waiting'), 500))]);
  deadline.cancel();
  expect(settled).toMatchObject({ status: 200, text: 'hello' });
  expect(finished).toEqual(['hello']);
  expect(endpoint.outstanding).toBe(0);
  // A whole answer also ends whatever the endpoint asked by an earlier Retry-After.
  expect(endpoint.retryAfterUntil).toBe(0);
});
