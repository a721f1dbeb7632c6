import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino, type Logger } from 'pino';
import type { ChatEvent, ChatMessage, ChatRequest, ErrorKind, RequestProblem } from '../protocol/chat.js';
import { defaultMaxOutputTokens, estimateTokens, promptText } from '../protocol/chat.js';
import type { Dialect } from '../protocol/dialect.js';
import { anthropicDialect } from '../protocol/anthropic-dialect.js';
import { openaiDialect } from '../protocol/openai-dialect.js';
import { Cancellation } from './cancellation.js';
import { StopSequenceGuard } from './stop-sequence-guard.js';
import { TextAccumulator } from './text-accumulator.js';
import { circuitView, initialCircuitState, msUntilHalfOpen, nextCircuitState, type CircuitState } from './circuit-breaker.js';
import type { EndpointConfig, GatewayConfig, RouteConfig, TenantConfig } from './gateway-config.js';
import { createGatewayMetrics, type GatewayMetrics } from './gateway-metrics.js';
import { answerForUpstreamFailure, backoffMs, isEndpointFault, isRetryableStatus, isWorthRevisiting, parseRetryAfterMs } from './retry-policy.js';
import { effectiveJurisdictions, parseJurisdictionHeader, routeRequest, routingPolicyFromConfig, type EndpointView } from './route-request.js';
import { authenticate } from './tenant-auth.js';
import { checkTenantLimits, MemoryRateLimitStore, settleTokenUsage, type RateLimitStore } from './token-bucket.js';
import { connectFailureStatus, createPooledUpstreamClient, type UpstreamClient, type UpstreamTarget } from './upstream-client.js';

export interface GatewayOptions {
  readonly config: GatewayConfig;
  readonly upstream?: UpstreamClient;
  readonly rateLimits?: RateLimitStore;
  readonly now?: () => number;
  readonly random?: () => number;
  /** Unique opaque tokens for response ids (`chatcmpl-<token>`, `msg_<token>`); injected by tests. */
  readonly generateId?: () => string;
  /** JSON logs; false for none. Prompts and completions are never logged unless logging.logPrompts. */
  readonly logger?: Logger | false;
  /** Where `apiKeyEnv` names are looked up. */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

export interface Gateway {
  readonly server: Server;
  readonly metrics: GatewayMetrics;
  /** Starts listening; resolves to the base URL. */
  listen(port?: number, host?: string): Promise<string>;
  close(): Promise<void>;
}

/** Header a caller may send to narrow (never widen) its tenant's jurisdictions, comma-separated. */
export const jurisdictionHeader = 'x-switchyard-jurisdiction';
const requestIdPattern = /^[\w.:@/+=-]{1,128}$/;
const ttftSmoothing = 0.2;

interface EndpointRuntime {
  readonly config: EndpointConfig;
  readonly target: UpstreamTarget;
  outstanding: number;
  ewmaTtftMs: number | undefined;
  circuit: CircuitState;
  /** Epoch ms before which the endpoint asked (Retry-After) not to be asked again. */
  retryAfterUntil: number;
}

/**
 * What one upstream attempt came to before anything reached the client. Upstreams
 * are always asked to stream, even for a non-stream client, so that the time to the
 * first token is observable (TTFT timeout) and a broken answer can be resumed.
 */
type Attempt =
  | {
      readonly kind: 'stream';
      readonly endpoint: EndpointRuntime;
      /** Events up to and including the first token. */
      readonly head: ChatEvent[];
      readonly rest: AsyncIterator<ChatEvent>;
      readonly ttftMs: number;
      /** Stops this attempt's upstream request. */
      readonly cancellation: Cancellation;
      /** Whether this attempt holds the endpoint's half-open probe slot. */
      readonly probe: boolean;
      /** Stops the request's cancellation (client gone, deadline) from reaching this attempt. */
      readonly detach: () => void;
    }
  | { readonly kind: 'failed'; readonly endpoint: EndpointRuntime; readonly status: number; readonly message: string; readonly retryAfter: string | undefined };

type StreamAttempt = Extract<Attempt, { kind: 'stream' }>;

/** How an answer ended: its status, the endpoint that last served it, what it used, and its text. */
interface AnswerOutcome {
  readonly status: number;
  readonly endpoint: string;
  readonly inputTokens: number;
  readonly outputTokens: number;
  readonly text: string;
}

/** An attempt past its first token, as the idle sweep sees it. */
interface StreamWatch {
  /** When it last sent a token (or started). */
  lastActive: number;
  readonly cancellation: Cancellation;
  /** Set by the sweep when it cut the attempt for silence. */
  stalled: boolean;
}

/** Where an answer goes: SSE frames to a streaming client, or one JSON body at the end. */
interface AnswerSink {
  /** Whether anything was already sent (a failure can then no longer be a clean status code). */
  readonly committed: boolean;
  event(event: Exclude<ChatEvent, { type: 'finish' } | { type: 'error' }>): void;
  finish(event: Extract<ChatEvent, { type: 'finish' }>, text: string): void;
  fail(kind: ErrorKind, message: string, status: number): void;
}

/** What a failed chat request is counted and logged under, filled in as serving learns it. */
interface FailureLabels {
  route: string;
  tenant: string | undefined;
}

/** One response's headers, gathered while serving and written once with the status. */
type ResponseHeaders = Record<string, string>;

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

class ClientError extends Error {
  constructor(
    readonly status: number,
    readonly kind: ErrorKind,
    message: string,
    readonly headers: Record<string, string> = {},
    /** The request field at fault, for dialects that name it (OpenAI's `param`). */
    readonly param?: string,
    /** The endpoint whose failure this is, for metrics and logs. */
    readonly endpoint?: string,
  ) {
    super(message);
  }
}

export function createGateway(options: GatewayOptions): Gateway {
  const config = options.config;
  const now = options.now ?? Date.now;
  const random = options.random ?? Math.random;
  const generateId = options.generateId ?? (() => randomUUID().replaceAll('-', ''));
  const env = options.env ?? process.env;
  const upstream = options.upstream ?? createPooledUpstreamClient();
  const limits = options.rateLimits ?? new MemoryRateLimitStore();
  const logger = options.logger === false ? undefined : (options.logger ?? pino({ base: null }));
  // Gauges of live endpoint state are read at scrape time: nothing to write per request, and
  // an open circuit shows as half-open once its open time has passed.
  const metrics = createGatewayMetrics(function* () {
    const at = now();
    for (const endpoint of endpoints.values()) {
      const status = circuitView(endpoint.circuit, at, breaker).circuit;
      yield { endpoint: endpoint.config.id, inFlight: endpoint.outstanding, circuit: status === 'closed' ? 0 : status === 'half-open' ? 1 : 2 };
    }
  });
  const breaker = config.resilience.circuitBreaker;

  const endpoints = new Map<string, EndpointRuntime>(
    config.endpoints.map((endpoint) => [
      endpoint.id,
      {
        config: endpoint,
        target: { id: endpoint.id, url: endpoint.url, dialect: endpoint.dialect, apiKey: endpoint.apiKeyEnv === undefined ? undefined : env[endpoint.apiKeyEnv] },
        outstanding: 0,
        ewmaTtftMs: undefined,
        circuit: initialCircuitState,
        retryAfterUntil: 0,
      },
    ]),
  );
  const routes = new Map<string, RouteConfig>(config.routes.map((route) => [route.model, route]));
  const policy = routingPolicyFromConfig(config);

  // One view object per endpoint, refreshed in place before each routing decision: the
  // router is synchronous and keeps nothing, and copying every config field per request
  // showed in profiles.
  const routeViews = new Map<RouteConfig, { runtime: EndpointRuntime; view: Mutable<EndpointView> }[]>(
    config.routes.map((route) => [
      route,
      route.endpoints.flatMap((id) => {
        const runtime = endpoints.get(id);
        return runtime === undefined ? [] : [{ runtime, view: { ...runtime.config, outstanding: 0, ewmaTtftMs: undefined, circuit: 'closed' as const, halfOpenInFlight: 0 } }];
      }),
    ]),
  );
  const views = (route: RouteConfig): EndpointView[] => {
    const at = now();
    const entries = routeViews.get(route) ?? [];
    const fresh: EndpointView[] = [];
    for (const { runtime, view } of entries) {
      const circuit = circuitView(runtime.circuit, at, breaker);
      view.outstanding = runtime.outstanding;
      view.ewmaTtftMs = runtime.ewmaTtftMs;
      view.circuit = circuit.circuit;
      view.halfOpenInFlight = circuit.halfOpenInFlight;
      fresh.push(view);
    }
    return fresh;
  };

  const setCircuit = (endpoint: EndpointRuntime, event: 'success' | 'failure' | 'probe-start' | 'probe-cancel'): void => {
    endpoint.circuit = nextCircuitState(endpoint.circuit, event, now(), breaker);
  };

  // The idle sweep: one timer for every streaming attempt, instead of a timer each.
  const watched = new Set<StreamWatch>();
  const idleMs = config.resilience.tokenIdleTimeoutMs;
  const sweep = setInterval(
    () => {
      const at = now();
      for (const watch of watched) {
        if (at - watch.lastActive < idleMs) continue;
        watch.stalled = true;
        watched.delete(watch);
        watch.cancellation.cancel();
      }
    },
    Math.max(10, Math.min(1000, idleMs / 4)),
  );
  sweep.unref();

  /** Opens one upstream attempt and waits until its first token. */
  const attempt = async (endpoint: EndpointRuntime, request: ChatRequest, parent: Cancellation): Promise<Attempt> => {
    const { cancellation, detach } = parent.child();
    const started = now();
    const probe = circuitView(endpoint.circuit, started, breaker).circuit === 'half-open';
    if (probe) setCircuit(endpoint, 'probe-start');
    endpoint.outstanding += 1;
    let timedOut = false;
    const fail = (status: number, message: string, retryAfter?: string): Attempt => {
      detach();
      cancellation.cancel();
      // A caller's own mistake (400, 413, 422) and backpressure (429) say nothing about the endpoint's health.
      const endpointFault = status !== 499 && isEndpointFault(status);
      endpoint.outstanding -= 1;
      if (!endpointFault) {
        if (probe) setCircuit(endpoint, 'probe-cancel');
      } else setCircuit(endpoint, 'failure');
      // 499 is this request's own cancellation (client gone, deadline, a hedge that lost): not the endpoint's failure.
      if (status !== 499) metrics.upstreamErrors.inc({ endpoint: endpoint.config.id, status: String(status) });
      const askedMs = retryAfter === undefined ? undefined : parseRetryAfterMs(retryAfter, now());
      if (askedMs !== undefined) endpoint.retryAfterUntil = now() + askedMs;
      return { kind: 'failed', endpoint, status, message, retryAfter };
    };
    const interrupted = (): Attempt | undefined => {
      if (parent.cancelled) return fail(499, 'client went away or the deadline passed');
      if (timedOut) return fail(504, `no first token within ${config.resilience.ttftTimeoutMs} ms`);
      return undefined;
    };
    const timer = setTimeout(() => {
      timedOut = true;
      cancellation.cancel();
    }, config.resilience.ttftTimeoutMs);
    try {
      const response = await upstream.send(endpoint.target, { ...request, stream: true, model: endpoint.config.model }, cancellation);
      // 499 stands for this request's own cancellation here; an upstream's 499 is just a bad answer.
      if (response.kind === 'error') return interrupted() ?? fail(response.status === 499 ? 502 : response.status, response.message, response.retryAfter);
      const rest = response.events;
      const head: ChatEvent[] = [];
      for (;;) {
        const next = await rest.next();
        if (next.done === true) return interrupted() ?? fail(502, 'upstream stream ended before the first token');
        if (next.value.type === 'error') return interrupted() ?? fail(502, next.value.message);
        head.push(next.value);
        if (next.value.type === 'text' || next.value.type === 'finish') break;
      }
      const ttftMs = now() - started;
      endpoint.ewmaTtftMs = endpoint.ewmaTtftMs === undefined ? ttftMs : endpoint.ewmaTtftMs + ttftSmoothing * (ttftMs - endpoint.ewmaTtftMs);
      // The request's cancellation keeps reaching this upstream until release(): a client that
      // leaves mid-answer must cancel it.
      return { kind: 'stream', endpoint, head, rest, ttftMs, cancellation, probe, detach };
    } catch (error) {
      return interrupted() ?? fail(connectFailureStatus, error instanceof Error ? error.message : String(error));
    } finally {
      clearTimeout(timer);
    }
  };

  /** Ends an attempt that got past its first token: load, circuit and the upstream connection. */
  const release = (current: StreamAttempt, outcome: 'success' | 'failure' | 'cancel'): void => {
    const endpoint = current.endpoint;
    current.detach();
    endpoint.outstanding -= 1;
    if (outcome !== 'success') current.cancellation.cancel();
    if (outcome === 'success') setCircuit(endpoint, 'success');
    else if (outcome === 'failure') setCircuit(endpoint, 'failure');
    else if (current.probe) setCircuit(endpoint, 'probe-cancel');
  };

  /**
   * A routing refusal in the caller's terms. Nothing the caller can retry fixes a
   * jurisdiction refusal, so both SDKs are told not to (they retry 503 by default).
   */
  const routeFailureError = (decision: Extract<ReturnType<typeof routeRequest>, { ok: false }>, context: RequestContext): ClientError => {
    switch (decision.code) {
      case 'jurisdiction':
        metrics.jurisdictionRejections.inc({ tenant: context.tenant.id });
        return new ClientError(decision.status, 'overloaded', decision.message, { 'x-should-retry': 'false' });
      case 'context':
        return new ClientError(decision.status, 'invalid_request', decision.message);
      case 'no_route':
        return new ClientError(decision.status, 'not_found', decision.message);
      case 'unavailable':
        // Every eligible endpoint is ejected: say when the first one will take a probe again.
        return new ClientError(decision.status, 'overloaded', decision.message, { 'retry-after': String(retryAfterSeconds(context.route)) });
    }
  };

  /**
   * Counts a failed attempt of this request against an endpoint: a fault 1, backpressure (429,
   * which also leaves a Retry-After) a half; a status not worth revisiting bans it for the request.
   */
  const noteFailure = (context: RequestContext, endpointId: string, status: number | 'stream'): void => {
    const failures = (context.failures ??= new Map());
    failures.set(endpointId, (failures.get(endpointId) ?? 0) + (status === 429 ? 0.5 : 1));
    if (status !== 'stream' && !isWorthRevisiting(status)) (context.banned ??= new Set()).add(endpointId);
  };

  /** What a revisit leaves out: banned endpoints, those that failed this request more than others, and rate-limited ones when others remain. */
  const revisitExclusions = (context: RequestContext): Set<string> => {
    const at = now();
    const open = (routeViews.get(context.route) ?? []).map(({ runtime }) => runtime).filter((runtime) => context.banned?.has(runtime.config.id) !== true);
    const failuresOf = (runtime: EndpointRuntime): number => context.failures?.get(runtime.config.id) ?? 0;
    const fewest = Math.min(...open.map(failuresOf));
    const least = open.filter((runtime) => failuresOf(runtime) === fewest);
    const ready = least.filter((runtime) => runtime.retryAfterUntil <= at);
    const keep = new Set((ready.length > 0 ? ready : least).map((runtime) => runtime.config.id));
    const excluded = new Set(context.banned);
    for (const runtime of open) if (!keep.has(runtime.config.id)) excluded.add(runtime.config.id);
    return excluded;
  };

  /** Why a request stopped waiting for a first token: the client left, or the deadline passed. */
  const stoppedError = (context: RequestContext): ClientError =>
    context.clientGone()
      ? new ClientError(499, 'api_error', 'the client went away before the first token')
      : new ClientError(504, 'timeout', `no endpoint answered within the ${config.resilience.deadlineMs} ms deadline`);

  /** Whole seconds (at least 1) until an endpoint of the route leaves its open circuit. */
  const retryAfterSeconds = (route: RouteConfig): number => {
    const at = now();
    let soonest = Number.POSITIVE_INFINITY;
    for (const { runtime } of routeViews.get(route) ?? []) {
      // Closed circuits here are ineligible for other reasons (jurisdiction, context) and never free up.
      if (runtime.circuit.status !== 'closed') soonest = Math.min(soonest, msUntilHalfOpen(runtime.circuit, at, breaker));
    }
    return Number.isFinite(soonest) ? Math.max(1, Math.ceil(soonest / 1000)) : 1;
  };

  /**
   * Tries endpoints until one answers: failover to a fresh eligible endpoint is
   * immediate; going back to one already tried waits a jittered backoff (and
   * honours Retry-After). Every attempt, retry and hedge is re-routed, so
   * eligibility (jurisdiction first) is re-checked each time.
   */
  const firstAnswer = async (context: RequestContext, request: ChatRequest, tried: Set<string>, cancellation: Cancellation): Promise<Attempt> => {
    let last: Attempt | undefined;
    const attempts = 1 + config.resilience.retries;
    for (let index = 0; index < attempts; index += 1) {
      if (cancellation.cancelled) throw stoppedError(context);
      let decision = routeRequest(context.routeInput(tried), views(context.route), policy, random);
      let revisiting = false;
      // Every eligible endpoint tried: go back to one, after a transient failure or to resume a
      // stream. Never to one that rejected the gateway's configuration; first to those that failed
      // this request least, and among them to one not asking to be left alone (Retry-After).
      const mayRevisit = last === undefined ? tried.size > 0 : last.kind === 'failed';
      if (!decision.ok && decision.code === 'unavailable' && mayRevisit) {
        decision = routeRequest(context.routeInput(revisitExclusions(context)), views(context.route), policy, random);
        if (!decision.ok && decision.code === 'unavailable') decision = routeRequest(context.routeInput(context.banned ?? new Set()), views(context.route), policy, random);
        revisiting = true;
      }
      if (!decision.ok) {
        if (last !== undefined) break;
        throw routeFailureError(decision, context);
      }
      const primary = endpoints.get(decision.ranked[0]?.id ?? '');
      if (primary === undefined) break;
      if (index > 0) {
        metrics.retries.inc({ route: context.route.model });
        if (!revisiting) metrics.failovers.inc({ route: context.route.model });
        else {
          // The endpoint's own Retry-After, remembered: other failures may have come in between.
          await sleep(backoffMs(index, config.resilience, random, Math.max(0, primary.retryAfterUntil - now())), cancellation);
        }
      }
      tried.add(primary.config.id);
      const hedgeAfter = config.resilience.hedgeAfterMs;
      const second = hedgeAfter > 0 ? endpoints.get(decision.ranked[1]?.id ?? '') : undefined;
      const result = second === undefined ? await attempt(primary, request, cancellation) : await hedged(context, primary, second, request, tried, cancellation);
      if (result.kind !== 'failed') return result;
      // 499 is this request's own cancellation: the deadline (a timeout for a waiting client) or the client leaving.
      if (result.status === 499) throw stoppedError(context);
      last = result;
      noteFailure(context, result.endpoint.config.id, result.status);
      context.log.warn({ requestId: context.requestId, endpoint: result.endpoint.config.id, status: result.status, reason: result.message }, 'upstream attempt failed');
      if (!isRetryableStatus(result.status)) break;
    }
    if (last === undefined || last.kind !== 'failed') throw new ClientError(503, 'overloaded', 'no eligible endpoint could serve the request');
    const answer = answerForUpstreamFailure(last.status);
    const headers: Record<string, string> = answer.passRetryAfter && last.retryAfter !== undefined ? { 'retry-after': last.retryAfter } : {};
    if (!answer.clientMayRetry) headers['x-should-retry'] = 'false';
    // A connect error's detail names internal addresses: it goes to the log above, not to the client.
    const detail = last.status === connectFailureStatus ? 'could not connect' : last.message;
    throw new ClientError(answer.status, answer.kind, `upstream ${last.endpoint.config.id} failed: ${detail}`, headers, undefined, last.endpoint.config.id);
  };

  /** Starts a second attempt when the first has no first token after hedgeAfterMs; the first to start wins. */
  const hedged = async (context: RequestContext, primary: EndpointRuntime, second: EndpointRuntime, request: ChatRequest, tried: Set<string>, cancellation: Cancellation): Promise<Attempt> => {
    const legs = [cancellation.child().cancellation, cancellation.child().cancellation] as const;
    const first = attempt(primary, request, legs[0]);
    let timer: NodeJS.Timeout | undefined;
    const delayed = new Promise<'hedge'>((resolve) => {
      timer = setTimeout(() => resolve('hedge'), config.resilience.hedgeAfterMs);
    });
    const early = await Promise.race([first, delayed]);
    clearTimeout(timer);
    if (early !== 'hedge') return early;
    tried.add(second.config.id);
    const backup = attempt(second, request, legs[1]);
    const winner = await Promise.race([first.then((a) => ({ a, i: 0 })), backup.then((a) => ({ a, i: 1 }))]);
    const loser = winner.i === 0 ? backup : first;
    if (winner.a.kind === 'failed') {
      // The first to finish failed: the other one is still our best chance.
      const other = await loser;
      metrics.hedges.inc({ route: context.route.model, outcome: other.kind === 'failed' ? 'both-failed' : winner.i === 0 ? 'hedge' : 'primary' });
      return other;
    }
    metrics.hedges.inc({ route: context.route.model, outcome: winner.i === 0 ? 'primary' : 'hedge' });
    legs[winner.i === 0 ? 1 : 0].cancel();
    // The loser did not fail, it was only slower: it stays a candidate for resuming this answer.
    tried.delete((winner.i === 0 ? second : primary).config.id);
    // The loser may already have its first token: give back its load and probe slot.
    void loser.then((late) => {
      if (late.kind === 'stream') release(late, 'cancel');
    });
    return winner.a;
  };

  /** What a served chat request reports to metrics and logs; text only when logging.logPrompts is on. */
  interface ChatOutcome {
    readonly status: number;
    readonly endpoint: string;
    readonly route: string;
    readonly tenant: string;
    readonly attempts: number;
    readonly prompt?: string;
    readonly completion?: string;
  }

  interface RequestContext {
    readonly requestId: string;
    readonly tenant: TenantConfig;
    readonly route: RouteConfig;
    /** The gateway's estimate of the prompt, as admitted by the limits. */
    readonly promptTokens: number;
    /** Whether the client disconnected (the deadline cancellation also fires then). */
    clientGone(): boolean;
    /** Failed attempts of this request per endpoint id (see noteFailure), stream breaks included. */
    failures: Map<string, number> | undefined;
    /** Endpoints this request does not go back to: they rejected the gateway's configuration. */
    banned: Set<string> | undefined;
    readonly log: Logger | { warn: (...args: unknown[]) => void; info: (...args: unknown[]) => void };
    routeInput(tried: ReadonlySet<string>): Parameters<typeof routeRequest>[0];
  }

  // The two helpers below keep the raw key, the raw JSON body and its validated copy out of
  // serveChat's frame, which lives as long as the answer streams.
  const tenantOf = (req: IncomingMessage): TenantConfig => {
    const tenant = authenticate(config.tenants, bearer(req.headers.authorization) ?? headerValue(req.headers['x-api-key']) ?? '');
    if (tenant === undefined) throw new ClientError(401, 'authentication', 'invalid or missing API key: send "Authorization: Bearer <key>" or "x-api-key: <key>"');
    return tenant;
  };

  const readChatRequest = async (inbound: Dialect, req: IncomingMessage): Promise<ChatRequest> => {
    const parsed = inbound.parseRequest(await readJson(req, config.limits.maxBodyBytes));
    if (!parsed.ok) throw problemError(parsed.problem);
    return parsed.value;
  };

  const serveChat = async (inbound: Dialect, req: IncomingMessage, res: ServerResponse, requestId: string, headers: ResponseHeaders, labels: FailureLabels): Promise<ChatOutcome> => {
    const tenant = tenantOf(req);
    labels.tenant = tenant.id;
    const request = await readChatRequest(inbound, req);
    const route = routes.get(request.model);
    if (route !== undefined) labels.route = route.model;
    if (route === undefined) throw new ClientError(404, 'not_found', `model '${request.model}' is not served here; GET /v1/models lists the models`);

    const headerJurisdictions = parseJurisdictionHeader(headerValue(req.headers[jurisdictionHeader]));
    const promptTokens = estimateTokens(promptText(request));
    const outputTokens = request.maxTokens ?? defaultMaxOutputTokens;
    const admitted = checkTenantLimits(limits, tenant, promptTokens + outputTokens, now());
    Object.assign(headers, admitted.headers);
    if (!admitted.allowed) {
      metrics.rateLimited.inc({ tenant: tenant.id, limit: admitted.limit });
      throw new ClientError(429, 'rate_limit', `tenant ${tenant.id} is over its ${admitted.limit}-per-minute limit; retry after ${admitted.headers['retry-after'] ?? '?'} s`, admitted.headers);
    }
    // One cancellation stops upstream work on either event; `clientGone` tells them apart.
    let clientGone = false;
    const prefixKey = request.messages.slice(0, -1).map((m) => m.content).join('\n').slice(0, 2048) || (request.messages[0]?.content ?? '').slice(0, 256);
    const context: RequestContext = {
      requestId,
      tenant,
      route,
      promptTokens,
      clientGone: () => clientGone,
      // Made on a first failure: most requests never have one.
      failures: undefined,
      banned: undefined,
      log: logger ?? { warn: () => undefined, info: () => undefined },
      routeInput: (tried) => ({
        model: request.model,
        tenantJurisdictions: tenant.jurisdictions,
        ...(headerJurisdictions === undefined ? {} : { headerJurisdictions }),
        promptTokens,
        maxOutputTokens: outputTokens,
        prefixKey,
        excludeEndpoints: tried,
      }),
    };

    const deadline = new Cancellation();
    const deadlineTimer = setTimeout(() => deadline.cancel(), config.resilience.deadlineMs);
    const onClose = (): void => {
      if (res.writableFinished) return;
      clientGone = true;
      deadline.cancel();
    };
    res.on('close', onClose);
    const tried = new Set<string>();
    // Charged what was served: nothing for a request refused or failed before its first token.
    let usedTokens = 0;
    try {
      const answer = await firstAnswer(context, request, tried, deadline);
      if (answer.kind === 'failed') throw new ClientError(502, 'api_error', answer.message);
      metrics.ttft.observe({ route: route.model, endpoint: answer.endpoint.config.id }, answer.ttftMs / 1e3);
      const sink = request.stream ? streamSink(inbound, request, res, headers) : jsonSink(inbound, request, res, headers);
      const outcome = await pump(context, sink, request, answer, tried, deadline);
      usedTokens = outcome.inputTokens + outcome.outputTokens;
      return { status: outcome.status, endpoint: outcome.endpoint, route: route.model, tenant: tenant.id, attempts: tried.size, ...texts(request, outcome.text) };
    } finally {
      clearTimeout(deadlineTimer);
      res.off('close', onClose);
      settleTokenUsage(limits, tenant, promptTokens + outputTokens, usedTokens, now());
    }
  };

  /** SSE frames in the client's dialect, headers sent with the first event. Ids are the caller's dialect's, whichever upstream answered. */
  const streamSink = (inbound: Dialect, request: ChatRequest, res: ServerResponse, headers: ResponseHeaders): AnswerSink => {
    const writer = inbound.createStreamWriter({ includeUsage: request.includeUsage, created: Math.floor(now() / 1000) });
    const id = inbound.responseId(generateId());
    let committed = false;
    const write = (frames: string): void => {
      if (!committed) {
        committed = true;
        headers['content-type'] = 'text/event-stream; charset=utf-8';
        headers['cache-control'] = 'no-cache';
        headers.connection = 'keep-alive';
        res.writeHead(200, headers);
      }
      res.write(frames);
    };
    return {
      get committed() {
        return committed;
      },
      event: (event) => write(writer.write(event.type === 'start' ? { ...event, id, model: request.model } : event)),
      finish: (event) => {
        write(writer.write(event));
        res.end();
      },
      fail: (kind, message) => {
        // After the first byte a status code can no longer change: the error travels as an event.
        write(writer.write({ type: 'error', kind, message }));
        res.end();
      },
    };
  };

  /** One JSON body at the end; a failure before that is a clean error status. */
  const jsonSink = (inbound: Dialect, request: ChatRequest, res: ServerResponse, headers: ResponseHeaders): AnswerSink => {
    const id = inbound.responseId(generateId());
    return {
      committed: false,
      event: () => undefined,
      finish: (event, text) => sendJson(res, 200, inbound.formatResult({ id, model: request.model, text, finishReason: event.finishReason, ...(event.stopSequence === undefined ? {} : { stopSequence: event.stopSequence }), usage: event.usage }), headers),
      fail: (kind, message, status) => sendJson(res, status, inbound.formatError(kind, message), headers),
    };
  };

  // Prompt and completion text reach the logs only when the operator turned it on explicitly.
  const texts = (request: ChatRequest, completion: string): { prompt?: string; completion?: string } =>
    config.logging.logPrompts ? { prompt: promptText(request), completion } : {};

  const countTokens = (route: string, endpoint: string, input: number, output: number): void => {
    metrics.tokens.inc({ route, endpoint, direction: 'input' }, input);
    metrics.tokens.inc({ route, endpoint, direction: 'output' }, output);
  };

  /**
   * Carries an answer to the client. If the upstream breaks after tokens were
   * sent, the answer is resumed on another eligible endpoint by continuation
   * (the prompt plus the text already sent, as an assistant turn to continue,
   * with the remaining budget); if that is off or fails, a stream ends with an
   * explicit error event and a non-stream request with an error status. A
   * broken answer never ends looking complete.
   */
  const pump = async (
    context: RequestContext,
    sink: AnswerSink,
    request: ChatRequest,
    first: StreamAttempt,
    tried: Set<string>,
    cancellation: Cancellation,
  ): Promise<AnswerOutcome> => {
    const route = context.route.model;
    let current = first;
    const sent = new TextAccumulator();
    let sentTokens = 0;
    let started = false;
    let inputTokens = 0;
    const firstTokenAt = now();
    let lastTokenAt = firstTokenAt;
    let watch: StreamWatch = { lastActive: firstTokenAt, cancellation: first.cancellation, stalled: false };
    // Only with stop sequences: one may span the join of a resumed answer, where no upstream sees it.
    const guard = request.stop.length > 0 ? new StopSequenceGuard(request.stop) : undefined;
    /** Set when the guard completed a stop sequence: the answer ends there. */
    let guardStop: string | undefined;
    const forward = (event: Exclude<ChatEvent, { type: 'finish' } | { type: 'error' }>): void => {
      if (event.type === 'start') {
        // A resumed answer continues the first one: its own start is not the client's.
        if (started) return;
        started = true;
        inputTokens = event.inputTokens;
        // OpenAI-dialect upstreams count the prompt only at the end: an Anthropic client's
        // message_start then carries the estimate, and message_delta the upstream's count.
        if (inputTokens === 0) {
          sink.event({ ...event, inputTokens: context.promptTokens });
          return;
        }
      } else {
        sentTokens += 1;
        lastTokenAt = now();
        watch.lastActive = lastTokenAt;
        if (guard !== undefined) {
          const guarded = guard.push(event.text);
          if (guarded.release !== '') {
            sent.append(guarded.release);
            sink.event({ type: 'text', text: guarded.release });
          }
          guardStop = guarded.stop;
          return;
        }
        sent.append(event.text);
      }
      sink.event(event);
    };
    /** An answer that ended without its finish: the prompt and the tokens delivered are what it used. */
    const cutShort = (status: number, endpoint: EndpointRuntime): AnswerOutcome => {
      const used = { inputTokens: inputTokens || context.promptTokens, outputTokens: sentTokens };
      countTokens(route, endpoint.config.id, used.inputTokens, used.outputTokens);
      return { status, endpoint: endpoint.config.id, ...used, text: sent.toString() };
    };
    /** The request's own cancellation ended the answer: the client left (499), or the deadline passed (504, told to the client). */
    const stopped = (endpoint: EndpointRuntime): AnswerOutcome => {
      if (context.clientGone()) return cutShort(499, endpoint);
      sink.fail('timeout', `the ${config.resilience.deadlineMs} ms deadline passed after ${sentTokens} tokens`, 504);
      return cutShort(504, endpoint);
    };
    /**
     * Ends the answer with its finish. An upstream that reports no prompt count (an
     * OpenAI-dialect server ignoring include_usage) is reported and charged at the
     * gateway's estimate, never at 0.
     */
    const complete = (finished: Extract<ChatEvent, { type: 'finish' }>, endpoint: EndpointRuntime, upstreamPrompt: number): AnswerOutcome => {
      const held = guard?.flush() ?? '';
      if (held !== '') {
        sent.append(held);
        sink.event({ type: 'text', text: held });
      }
      const usage = { inputTokens: upstreamPrompt || inputTokens || context.promptTokens, outputTokens: Math.max(finished.usage.outputTokens, sentTokens) };
      const text = sent.toString();
      sink.finish({ type: 'finish', finishReason: finished.finishReason, ...(finished.stopSequence === undefined ? {} : { stopSequence: finished.stopSequence }), usage }, text);
      countTokens(route, endpoint.config.id, usage.inputTokens, usage.outputTokens);
      if (sentTokens > 1) metrics.tpot.observe({ route, endpoint: endpoint.config.id }, (lastTokenAt - firstTokenAt) / 1e3 / (sentTokens - 1));
      return { status: 200, endpoint: endpoint.config.id, ...usage, text };
    };
    for (let resumes = 0; ; resumes += 1) {
      const endpoint = current.endpoint;
      let failure: string | undefined;
      let finished: Extract<ChatEvent, { type: 'finish' }> | undefined;
      // Watched by the idle sweep while it streams: one that goes quiet after its first token is
      // cut and resumed, instead of holding the client until the deadline.
      if (resumes > 0) watch = { lastActive: now(), cancellation: current.cancellation, stalled: false };
      watched.add(watch);
      try {
        for (const event of current.head) {
          if (event.type === 'finish') finished = event;
          else if (event.type !== 'error') forward(event);
        }
        while (finished === undefined && guardStop === undefined) {
          const next = await current.rest.next();
          if (next.done === true) {
            failure = 'upstream stream ended before its final event';
            break;
          }
          const event = next.value;
          if (event.type === 'error') {
            failure = event.message;
            break;
          }
          if (event.type === 'finish') finished = event;
          else forward(event);
        }
      } catch (error) {
        failure = error instanceof Error ? error.message : String(error);
      } finally {
        watched.delete(watch);
      }
      if (guardStop !== undefined) {
        // The stop sequence spanned the join: this upstream wrote past it, unaware. End here.
        release(current, 'success');
        current.cancellation.cancel();
        return complete({ type: 'finish', finishReason: 'stop', stopSequence: guardStop, usage: { inputTokens: 0, outputTokens: sentTokens } }, endpoint, 0);
      }
      if (watch.stalled && finished === undefined) failure = `no token for ${config.resilience.tokenIdleTimeoutMs} ms`;
      if (finished !== undefined) {
        release(current, 'success');
        // A resumed answer's upstream counted the continuation (prompt plus text sent) as its
        // input: the client's prompt is what the first attempt reported, or the gateway's estimate.
        return complete(finished, endpoint, resumes === 0 ? finished.usage.inputTokens : 0);
      }
      if (cancellation.cancelled) {
        release(current, 'cancel');
        return stopped(endpoint);
      }
      release(current, 'failure');
      noteFailure(context, endpoint.config.id, 'stream');
      metrics.upstreamErrors.inc({ endpoint: endpoint.config.id, status: 'stream' });
      context.log.warn({ requestId: context.requestId, endpoint: endpoint.config.id, reason: failure, sentTokens }, 'upstream stream broke');
      const budgetLeft = request.maxTokens === undefined ? undefined : request.maxTokens - sentTokens;
      // Every token the client asked for was delivered: the answer is whole, cut or not.
      if (budgetLeft !== undefined && budgetLeft <= 0) return complete({ type: 'finish', finishReason: 'length', usage: { inputTokens: 0, outputTokens: sentTokens } }, endpoint, 0);
      // A resume is not a retry of the request: one is allowed even with retries: 0.
      const canResume = config.resilience.resumeStreams && resumes < Math.max(1, config.resilience.retries);
      let next: Attempt | undefined;
      if (canResume) {
        // Held text (a possible stop sequence's start) was generated too: the continuation goes on from it.
        const received = sent.toString() + (guard?.held ?? '');
        const continuation: ChatRequest = received === '' ? request : { ...request, messages: continued(request.messages, received), maxTokens: budgetLeft };
        try {
          next = await firstAnswer(context, continuation, tried, cancellation);
        } catch {
          next = undefined;
        }
      }
      // The deadline (or the client leaving) ended the resume: say so, not "could not be resumed".
      if (next === undefined && cancellation.cancelled) return stopped(endpoint);
      if (next === undefined || next.kind !== 'stream') {
        metrics.resumes.inc({ route, outcome: 'error-event' });
        sink.fail('api_error', `the answer was cut after ${sentTokens} tokens and could not be resumed: ${failure ?? 'upstream failed'}`, 502);
        return cutShort(502, endpoint);
      }
      metrics.resumes.inc({ route, outcome: 'resumed' });
      current = next;
    }
  };

  /** Per public model, the jurisdictions its endpoints are in. */
  const modelJurisdictions = config.routes.map((route) => ({
    model: route.model,
    jurisdictions: new Set(route.endpoints.flatMap((id) => endpoints.get(id)?.config.jurisdiction ?? [])),
  }));

  /** The models this caller could be routed to: an endpoint in its (header-narrowed) jurisdictions. */
  const visibleModels = (req: IncomingMessage): string[] => {
    const tenant = tenantOf(req);
    const headerJurisdictions = parseJurisdictionHeader(headerValue(req.headers[jurisdictionHeader]));
    const allowed = effectiveJurisdictions({ tenantJurisdictions: tenant.jurisdictions, ...(headerJurisdictions === undefined ? {} : { headerJurisdictions }) });
    return modelJurisdictions.filter((entry) => [...entry.jurisdictions].some((jurisdiction) => allowed.has(jurisdiction))).map((entry) => entry.model);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const started = now();
    const presentedId = headerValue(req.headers['x-request-id']);
    // A caller's id is echoed only when it is a plain token: it goes into headers and logs.
    const requestId = presentedId !== undefined && requestIdPattern.test(presentedId) ? presentedId : randomUUID();
    // Response headers are gathered here and written once: setHeader per header cost CPU and
    // kept a header table alive for every open stream.
    const url = req.url ?? '/';
    const query = url.indexOf('?');
    const path = query < 0 ? url : url.slice(0, query);
    // The chat path names the dialect; elsewhere Anthropic's own required version header does.
    const inbound = path === '/v1/messages' || (path !== '/v1/chat/completions' && req.headers['anthropic-version'] !== undefined) ? anthropicDialect : openaiDialect;
    // x-request-id always (logs, docs), and the header the caller's SDK reads if it is another.
    const headers: ResponseHeaders = { 'x-request-id': requestId, [inbound.requestIdHeader]: requestId };
    const labels: FailureLabels = { route: 'none', tenant: undefined };
    try {
      if ((req.method === 'GET' || req.method === 'HEAD') && path === '/healthz') return sendJson(res, 200, { status: 'ok' }, headers);
      // The read-only paths answer GET (and HEAD for health) only.
      if (req.method !== 'GET' && (path === '/healthz' || path === '/metrics' || path === '/v1/models' || path.startsWith('/v1/models/'))) {
        throw new ClientError(405, 'invalid_request', `${path} takes GET`, { allow: path === '/healthz' ? 'GET, HEAD' : 'GET' });
      }
      if (req.method === 'GET' && path === '/metrics') {
        headers['content-type'] = metrics.registry.contentType;
        res.writeHead(200, headers);
        res.end(await metrics.registry.metrics());
        return;
      }
      if (req.method === 'GET' && path === '/v1/models') {
        const list = inbound.formatModelList(visibleModels(req), new URLSearchParams(query < 0 ? '' : url.slice(query + 1)));
        if (!list.ok) throw problemError(list.problem);
        return sendJson(res, 200, list.value, headers);
      }
      if (req.method === 'GET' && path.startsWith('/v1/models/')) {
        const id = decodedPathPart(path.slice('/v1/models/'.length));
        if (!visibleModels(req).includes(id)) throw new ClientError(404, 'not_found', `model '${id}' is not served here to this key; GET /v1/models lists the models it can use`);
        return sendJson(res, 200, inbound.formatModel(id), headers);
      }
      if (path === '/v1/chat/completions' || path === '/v1/messages') {
        if (req.method !== 'POST') throw new ClientError(405, 'invalid_request', `${path} takes POST`, { allow: 'POST' });
        const outcome = await serveChat(inbound, req, res, requestId, headers, labels);
        metrics.requests.inc({ route: outcome.route, endpoint: outcome.endpoint, status: String(outcome.status), dialect: inbound.name });
        logger?.info({ requestId, tenant: outcome.tenant, route: outcome.route, endpoint: outcome.endpoint, status: outcome.status, attempts: outcome.attempts, ms: now() - started, ...(outcome.prompt === undefined ? {} : { prompt: outcome.prompt, completion: outcome.completion }) }, 'request');
        return;
      }
      throw new ClientError(404, 'not_found', `no such path: ${req.method ?? ''} ${path}`);
    } catch (error) {
      const clientError = error instanceof ClientError ? error : new ClientError(500, 'api_error', 'internal gateway error');
      if (!(error instanceof ClientError)) logger?.error({ requestId, err: error instanceof Error ? error.message : String(error) }, 'internal error');
      metrics.requests.inc({ route: labels.route, endpoint: clientError.endpoint ?? 'none', status: String(clientError.status), dialect: inbound.name });
      logger?.info({ requestId, tenant: labels.tenant, route: labels.route, endpoint: clientError.endpoint, status: clientError.status, reason: clientError.message, ms: now() - started }, 'request refused');
      if (res.headersSent) {
        res.end();
        return;
      }
      Object.assign(headers, clientError.headers);
      // A body not read to its end (too large, or refused before reading) is not drained: the
      // connection closes after the answer instead.
      if (!req.complete) headers.connection = 'close';
      sendJson(res, clientError.status, inbound.formatError(clientError.kind, clientError.message, clientError.param), headers);
    }
  };

  const server = createServer((req, res) => {
    void handle(req, res);
  });
  server.keepAliveTimeout = 65_000;

  return {
    server,
    metrics,
    listen: (port = config.listen.port, host = config.listen.host) =>
      new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          const address = server.address() as AddressInfo;
          resolve(`http://${host.includes(':') ? `[${host}]` : host}:${address.port}`);
        });
      }),
    close: async () => {
      clearInterval(sweep);
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await upstream.close();
    },
  };
}

/**
 * The conversation with the text already sent as the assistant turn to continue: appended
 * to the caller's own trailing assistant turn (a prefill) rather than as a second one.
 */
function continued(messages: readonly ChatMessage[], sent: string): ChatMessage[] {
  const last = messages.at(-1);
  if (last?.role === 'assistant') return [...messages.slice(0, -1), { role: 'assistant', content: last.content + sent }];
  return [...messages, { role: 'assistant', content: sent }];
}

function problemError(problem: RequestProblem): ClientError {
  // A whole-body problem has no field to name.
  return new ClientError(problem.status, problem.kind, problem.message, {}, problem.param === '' ? undefined : problem.param);
}

function bearer(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const match = /^Bearer\s+(.+)$/i.exec(value.trim());
  return match?.[1];
}

function decodedPathPart(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    return part; // malformed escapes: matched as written, so simply not found
  }
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: ResponseHeaders): void {
  const text = JSON.stringify(body);
  headers['content-type'] = 'application/json';
  headers['content-length'] = String(Buffer.byteLength(text));
  res.writeHead(status, headers);
  res.end(text);
}

function readJson(req: IncomingMessage, limit: number): Promise<unknown> {
  // Plain events, not `for await`: the async iterator costs measurably per request on the hot path.
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        // Stop reading; the answer closes the connection (see handle), which ends the upload.
        req.removeAllListeners('data');
        req.pause();
        reject(new ClientError(413, 'invalid_request', `request body exceeds the ${limit}-byte limit`));
        return;
      }
      chunks.push(chunk);
    });
    // A client that leaves mid-body is a 499, not the gateway's own error.
    req.once('error', () => reject(new ClientError(499, 'invalid_request', 'the client went away while sending the body')));
    req.once('end', () => {
      if (size > limit) return;
      const text = chunks.length === 1 ? (chunks[0] as Buffer).toString('utf8') : Buffer.concat(chunks).toString('utf8');
      try {
        resolve(JSON.parse(text));
      } catch {
        // JSON.parse quotes the body in its message: not in a log, not back to the client.
        reject(new ClientError(400, 'invalid_request', 'request body is not valid JSON; check its quoting, commas and brackets'));
      }
    });
  });
}

function sleep(ms: number, cancellation: Cancellation): Promise<void> {
  return new Promise((resolve) => {
    if (ms <= 0 || cancellation.cancelled) return resolve();
    const stop = cancellation.onCancel(() => {
      clearTimeout(timer);
      resolve();
    });
    const timer = setTimeout(() => {
      stop();
      resolve();
    }, ms);
  });
}
