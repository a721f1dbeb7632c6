import type { ChatEvent, ChatRequest } from '../protocol/chat.js';
import type { Cancellation } from './cancellation.js';
import { recordTtft, recordTtftTimeout, ttftSending, type EndpointRuntime } from './endpoint-pool.js';
import type { GatewayCore } from './gateway-core.js';
import { connectFailureStatus, isEndpointFault, parseRetryAfterMs } from './retry-policy.js';
import type { UpstreamFailure } from './upstream-client.js';
import { judgeAfterReads } from './judge-after-reads.js';

/**
 * What one upstream attempt came to before anything reached the client. Upstreams
 * are always asked to stream, even for a non-stream client, so that the time to the
 * first token is observable (TTFT timeout) and a broken answer can be resumed.
 */
export type Attempt =
  | {
      readonly kind: 'stream';
      readonly endpoint: EndpointRuntime;
      /** Events up to and including the first token. */
      readonly head: ChatEvent[];
      readonly rest: AsyncIterator<ChatEvent>;
      readonly ttftMs: number;
      /** Stops this attempt's upstream request. */
      readonly cancellation: Cancellation;
      /** Stops the request's cancellation (client gone, deadline) from reaching this attempt. */
      readonly detach: () => void;
      /** The endpoint's attempt count when this one started (see EndpointRuntime.retryAfterAtAttempt). */
      readonly number: number;
      /** The x-request-id the upstream was sent (`<id>-<n>`), for matching the upstream's log to this attempt's lines. */
      readonly sentRequestId: string | undefined;
    }
  | ({ readonly kind: 'failed'; readonly endpoint: EndpointRuntime; /** As a stream attempt's. */ readonly number: number; /** As a stream attempt's. */ readonly sentRequestId: string | undefined } & UpstreamFailure);

export type StreamAttempt = Extract<Attempt, { kind: 'stream' }>;
export type FailedAttempt = Extract<Attempt, { kind: 'failed' }>;

/** Opens one upstream attempt and waits until its first token. `mayResend`: see UpstreamClient.send. */
export async function startAttempt(core: GatewayCore, endpoint: EndpointRuntime, request: ChatRequest, parent: Cancellation, ttftTimeoutMs: number, requestId?: string, mayResend?: () => boolean, forwardedVia?: string): Promise<Attempt> {
  const { now, metrics, endpoints } = core;
  const { cancellation, detach } = parent.child();
  const started = now();
  const sending = ttftSending(endpoint, started);
  const circuit = endpoints.circuitOf(endpoint);
  const probe = circuit === 'half-open';
  const ejected = circuit === 'open';
  if (probe) endpoints.setCircuit(endpoint, 'probe-start');
  endpoint.outstanding += 1;
  endpoint.attempts += 1;
  const number = endpoint.attempts;
  let timedOut = false;
  const fail = (status: number, message: string, fromUpstream = false, retryAfter?: string, named: Pick<UpstreamFailure, 'param' | 'code' | 'contextLimit' | 'label' | 'upstreamRequestId' | 'detail' | 'gatewayFault' | 'connectionLost' | 'unreadableAnswer' | 'outOfFiles' | 'withdrawn'> = {}): Attempt => {
    detach();
    cancellation.cancel();
    // A caller's own mistake (400, 413, 422), backpressure (429), the gateway's own failure and a
    // resend withdrawn (see UpstreamFailure.withdrawn) say nothing about the endpoint's health.
    const notTheEndpoints = status === 499 || named.gatewayFault === true || named.withdrawn === true;
    const endpointFault = !notTheEndpoints && isEndpointFault(status);
    endpoint.outstanding -= 1;
    if (!endpointFault) {
      // A probe of an earlier half-open (the circuit reopened since) holds no slot of this one's (R75).
      if (probe && !endpoints.sentBeforeOpening(endpoint, number)) endpoints.setCircuit(endpoint, 'probe-cancel');
    } else if (!endpoints.sentBeforeOpening(endpoint, number)) endpoints.setCircuit(endpoint, 'failure');
    // 499 is this request's own cancellation (client gone, deadline, a hedge that lost): not the endpoint's failure.
    if (!notTheEndpoints) metrics.upstreamErrors.inc({ endpoint: endpoint.config.id, status: String(status) });
    // A Retry-After means "later" only with a 429, 503 or 529 (RFC 9110 names 503 and 3xx; RFC 6585, 429).
    const retryAfterAt = rememberRetryAfter(endpoint, status, retryAfter, now());
    return { kind: 'failed', endpoint, number, sentRequestId: requestId, status, message, fromUpstream, retryAfter, ...(retryAfterAt === undefined ? {} : { retryAfterAt }), ...named };
  };
  const interrupted = (): Attempt | undefined => {
    if (parent.cancelled) return fail(499, 'client went away or the deadline passed');
    if (core.closing()) return fail(499, 'the gateway shut down');
    if (timedOut) {
      // Slow, not broken: the latency policy learns it.
      recordTtftTimeout(endpoint, ttftTimeoutMs, now(), sending);
      return fail(504, `no first token within ${ttftTimeoutMs} ms`);
    }
    return undefined;
  };
  // A first token that came while the gateway was held up is not a slow upstream (see judgeAfterReads).
  const stopTimer = judgeAfterReads(() => {
    timedOut = true;
    cancellation.cancel();
  }, ttftTimeoutMs);
  try {
    const response = await core.upstream.send(endpoint.target, { ...request, stream: true, model: endpoint.config.model }, cancellation, requestId, mayResend, forwardedVia);
    // 499 stands for this request's own cancellation here; an upstream's 499 is just a bad answer.
    if (response.kind === 'error') return interrupted() ?? fail(response.status === 499 ? 502 : response.status, response.message, response.fromUpstream, response.retryAfter, { param: response.param, code: response.code, contextLimit: response.contextLimit, label: response.label, upstreamRequestId: response.upstreamRequestId, ...(response.gatewayFault === true ? { gatewayFault: true as const } : {}), ...(response.connectionLost === true ? { connectionLost: true as const } : {}), ...(response.unreadableAnswer === true ? { unreadableAnswer: true as const } : {}), ...(response.outOfFiles === true ? { outOfFiles: true as const } : {}), ...(response.withdrawn === true ? { withdrawn: true as const } : {}), ...(response.detail === undefined ? {} : { detail: response.detail }) });
    const rest = response.events;
    const head: ChatEvent[] = [];
    for (;;) {
      const next = await rest.next();
      if (next.done === true) return interrupted() ?? fail(502, 'upstream stream ended before the first token');
      if (next.value.type === 'error') {
        const { kind, message, fromUpstream, detail } = next.value;
        // An upstream's own overload frame (Anthropic's overloaded_error event) says what its HTTP 529
        // would have: failed, counted and logged as that 529, and told as overload, not as a broken answer.
        if (fromUpstream === true && kind === 'overloaded') return interrupted() ?? fail(529, message, true, undefined, { label: 'overloaded_error' });
        return interrupted() ?? (fromUpstream === true ? fail(502, message, true) : fail(502, `${message} before the first token`, false, undefined, detail === undefined ? {} : { detail }));
      }
      head.push(next.value);
      // A tool call, thinking or reasoning is a first token as text is: the model answers.
      if (next.value.type === 'text' || next.value.type === 'tool_call' || next.value.type === 'thinking' || next.value.type === 'thinking_signature' || next.value.type === 'reasoning' || next.value.type === 'redacted_thinking' || next.value.type === 'finish') break;
    }
    const ttftMs = now() - started;
    recordTtft(endpoint, ttftMs, now());
    // A probe's verdict (or a panic-routed request's) is in at its first token: the endpoint
    // answers. Waiting for the end of an answer that may stream for minutes would keep every
    // other request off a recovered endpoint that long. A later break of this answer reopens it
    // (relapse). One that finds the circuit closed already (another probe's first token closed it)
    // is an ordinary answer: only a whole answer ends the probation that one left (R76).
    if ((probe || ejected) && endpoint.circuit.status !== 'closed') {
      endpoints.setCircuit(endpoint, ejected ? 'recovered' : 'success');
      // Until another answers whole, a break of this one is the probe failing after all (see 'relapse');
      // only of the one whose first token closed the circuit, not of one that found it closed (R23).
      if (endpoints.circuitOf(endpoint) === 'closed') endpoint.closedByAttempt = number;
    } else if (!endpoints.sentBeforeOpening(endpoint, number)) endpoints.answering(endpoint);
    // The request's cancellation keeps reaching this upstream until releaseAttempt: a client
    // that leaves mid-answer must cancel it.
    return { kind: 'stream', endpoint, head, rest, ttftMs, cancellation, detach, number, sentRequestId: requestId };
  } catch (error) {
    return interrupted() ?? fail(connectFailureStatus, error instanceof Error ? error.message : String(error));
  } finally {
    stopTimer();
  }
}

/** Ends an attempt that got past its first token: load, circuit and the upstream connection. */
export function releaseAttempt(core: GatewayCore, current: StreamAttempt, outcome: 'success' | 'failure' | 'cancel'): void {
  const endpoint = current.endpoint;
  current.detach();
  endpoint.outstanding -= 1;
  if (outcome !== 'success') current.cancellation.cancel();
  // A probe's verdict was given at its first token (see startAttempt); an attempt sent before the
  // circuit last opened gives none, but for the one whose first token closed it, which its end still
  // judges (R75: a probe of an earlier half-open, one of two probes at once, or a panic-routed
  // attempt, whose break was otherwise no relapse).
  const verdict = endpoint.closedByAttempt === current.number || !core.endpoints.sentBeforeOpening(endpoint, current.number);
  if (outcome === 'success') {
    if (verdict) {
      core.endpoints.setCircuit(endpoint, 'success');
      endpoint.closedByAttempt = 0;
    }
    // It answered whole an attempt made after its Retry-After: what that asked is over. An answer
    // to an attempt started before (a long stream) says nothing about it.
    if (current.number > endpoint.retryAfterAtAttempt) endpoint.retryAfterUntil = 0;
  }
  else if (outcome === 'failure' && verdict) {
    core.endpoints.setCircuit(endpoint, endpoint.closedByAttempt === current.number ? 'relapse' : 'failure');
    if (endpoint.closedByAttempt === current.number) endpoint.closedByAttempt = 0;
  }
}

/**
 * An endpoint's Retry-After, kept so that routing ranks it last until then (see
 * EndpointLiveState.backedOff); returns when that wait ends, or undefined when it asked for none.
 */
export function rememberRetryAfter(endpoint: EndpointRuntime, status: number, retryAfter: string | undefined, now: number): number | undefined {
  const askedMs = retryAfter === undefined || !asksForLater(status) ? undefined : parseRetryAfterMs(retryAfter, now);
  if (askedMs === undefined) return undefined;
  endpoint.retryAfterUntil = now + askedMs;
  endpoint.retryAfterAtAttempt = endpoint.attempts;
  return endpoint.retryAfterUntil;
}

/** Whether a failure's status is one whose Retry-After asks the gateway to come back later. */
function asksForLater(status: number): boolean {
  return status === 429 || status === 503 || status === 529;
}
