import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { Server as NetServer, type AddressInfo, type Socket } from 'node:net';
import type { Logger } from 'pino';
import type { ChatRequest } from '../protocol/chat.js';
import { closingInstructions, estimatePromptTokens, hasVisibleText, lastSpokenTurn, minThinkingBudget, promptText } from '../protocol/chat.js';
import { quoteIdentifier } from '../protocol/request-problem.js';
import { holdsKeyInId, withoutKeys } from './credential-text.js';
import type { Dialect } from '../protocol/dialect.js';
import { anthropicDialect } from '../protocol/anthropic/anthropic-dialect.js';
import { anthropicTokenCounting } from '../protocol/anthropic/anthropic-token-counting.js';
import { pumpAnswer, withoutPrefillWhitespace } from './answer-pump.js';
import { createJsonSink, createStreamSink, keepStreamsAlive, type KeptAliveStream, type ResponseHeaders } from './answer-sink.js';
import { sendJson } from '../protocol/send-json.js';
import { Cancellation } from './cancellation.js';
import { ClientError, problemError, shuttingDownError } from './client-error.js';
import { EndpointPool } from './endpoint-pool.js';
import { firstAnswer, routeFailureError } from './first-answer.js';
import { routeResilience, unlabelled, type GatewayConfig, type ResilienceConfig, type RouteConfig, type TenantConfig } from './gateway-config.js';
import type { GatewayCore, StreamWatch } from './gateway-core.js';
import { closeAfterAnswer, closesBeforeServing } from './close-after-answer.js';
import { discardRestOfBody, type DiscardLimits } from './discard-rest-of-body.js';
import { createGatewayLogger } from './gateway-logger.js';
import { createGatewayMetrics, seedTenantSeries, type GatewayMetrics } from './gateway-metrics.js';
import { readJsonBody } from './read-json-body.js';
import { routedPromptTokens, type RequestContext } from './request-context.js';
import { effectiveJurisdictions, prefixKeyOf, routeRequest, routingPolicyFromConfig } from './route-request.js';
import { routedTraits } from './routed-traits.js';
import { authenticate, reauthenticate, type Authenticated } from './tenant-auth.js';
import { carryTenantLimits, checkRequestLimit, checkTenantLimits, isPromiseLike, MemoryRateLimitStore, settleTokenUsage, tenantLimitState, type RateLimitStore, type TenantLimitDecision } from './token-bucket.js';
import { retryAfterHeaders } from '../protocol/retry-after-headers.js';
import { createPooledUpstreamClient, type UpstreamClient } from './upstream-client.js';
import { countTokens } from './count-tokens.js';
import { formatProblem, type Result } from '../domain/spec-problem.js';
import { planReload, type ReloadPlan } from './config-reload.js';
import { answerPreflight, corsResponseHeaders } from './cors-policy.js';
import { fitToTokenLimit } from './fit-to-token-limit.js';
import { judgeAfterReads } from './judge-after-reads.js';
import { headerJurisdictionsOf, refuseJurisdictionTrailer } from './jurisdiction-header.js';
import { createStoreCalls, storeErrorText, type StoreWait } from './store-calls.js';
import { headerLines, headerValue, inboundDialectOf, targetOf } from './request-head.js';
import { answeredOnSocket, hasPendingAnswer, parserRefusal, queueAnswer, refuseSocket, type SocketRefusal, type SocketRefusalShell } from './socket-refusal.js';

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
  /** How much of a refused request's unread body is read and dropped (default 64 MiB, 10 s); for tests. */
  readonly discardLimits?: DiscardLimits;
  /**
   * How often streams are swept for silence (default 5 s): one silent between two sweeps is sent its
   * dialect's keep-alive frame (Anthropic's ping), so a pause of 5 to 10 s gets one; for tests.
   */
  readonly keepAliveMs?: number;
  /** How long a new connection may stay open without sending a whole request head (default 60 s); for tests. */
  readonly firstRequestTimeoutMs?: number;
  /** Also export the process's own metrics (memory, CPU, event-loop lag): for the one gateway a process serves. */
  readonly processMetrics?: boolean;
}

export interface Gateway {
  readonly server: Server;
  readonly metrics: GatewayMetrics;
  /** Starts listening; resolves to the base URL. */
  listen(port?: number, host?: string): Promise<string>;
  /**
   * Stops taking connections, lets the requests in flight run for up to `graceMs` (default 0),
   * then ends the rest with an error in their caller's dialect (a 503, or an error event in a
   * stream already answering), never a silent cut; resolves when every connection is closed.
   * A second call returns the first one's promise; with `graceMs` 0 it ends the grace at once (a
   * second Ctrl-C: the requests in flight get their error now).
   */
  close(options?: { readonly graceMs?: number }): Promise<void>;
  /**
   * Takes the tenants of a reloaded config file when it is valid and nothing else in it changed
   * (see planReload). A request already admitted keeps its tenant's settings, but its attempts from
   * then on go only where both the old and the new jurisdictions allow (none, for a tenant removed),
   * and its tokens are settled against the new limits. Logged and counted in
   * switchyard_config_reloads_total whatever the outcome.
   */
  reload(loaded: Result<GatewayConfig>): ReloadPlan;
}

const requestIdPattern = /^[\w.:@/+=-]{1,128}$/;

// The token counting API the gateway serves: Anthropic's (OpenAI's API has none).
const tokenCounting = anthropicTokenCounting;

/** What a failed chat request is counted and logged under, filled in as serving learns it. */
interface FailureLabels {
  route: string;
  tenant: string | undefined;
  /**
   * Upstream attempts made, once the request was routed: a failed request's log line says them. A
   * number written as serving ends, not a closure over the serving scope: with the closure, requests'
   * objects survived more young-generation collections, whose time went up about 2.5 times.
   */
  attempts?: number;
  /** Which of its tenant's keys the request came with, when the tenant has several (see Authenticated.key). */
  key: string | undefined;
}

/**
 * The HTTP shell: reads and checks requests (auth, body, limits), hands them to
 * firstAnswer and pumpAnswer, and answers errors in the caller's dialect.
 */
export function createGateway(options: GatewayOptions): Gateway {
  const config = options.config;
  /** The config whose tenants are served: the first one's, or a reload's (see reload). */
  let current = config;
  let tenantsById = new Map(config.tenants.map((tenant) => [tenant.id, tenant]));
  /**
   * A request's id: the caller's x-request-id when it is a plain token and no key, else a new one. It is
   * echoed, logged on every line and sent upstream, so a key pasted there (a provider's, or a tenant's
   * own, found by its hash, whole or as a piece between the id's punctuation) would be too (E42, R36).
   */
  const requestIdFrom = (presented: string | undefined, headers: IncomingMessage['headers']): string => {
    if (presented === undefined || !requestIdPattern.test(presented) || holdsKeyInId(presented)) return randomUUID();
    // The request's own key, glued to other words in any way ('req-<key>', R37, R38): found as text
    // in one pass. Keys under 8 characters are placeholders, no secret (see the logging docs).
    for (const own of [bearer(headerValue(headers.authorization)), headerValue(headers['x-api-key'])]) {
      if (own !== undefined && own.length >= 8 && presented.includes(own)) return randomUUID();
    }
    const pieces = presented.split(/[.:@/+=]+/);
    return [presented, ...(pieces.length > 1 ? pieces : [])].some((piece) => authenticate(current.tenants, piece) !== undefined) ? randomUUID() : presented;
  };
  /**
   * The jurisdictions a request admitted as `tenant` may use now: its own, unless a reload changed
   * them since, then only those both its own and its key's tenant now allow (none for a key taken
   * away): a reload does not widen where a request already in flight may go beyond where it was
   * admitted to go.
   */
  const jurisdictionsNow = (tenant: TenantConfig, authenticated: Authenticated): readonly string[] => {
    if (tenantsById.get(tenant.id) === tenant) return tenant.jurisdictions;
    // The key's tenant now, as admission follows it: the same tenant renamed keeps its traffic moving.
    const now = reauthenticate(current.tenants, authenticated)?.tenant;
    const allowed = new Set((now?.jurisdictions ?? []).map((jurisdiction) => jurisdiction.toLowerCase()));
    return tenant.jurisdictions.filter((jurisdiction) => allowed.has(jurisdiction.toLowerCase()));
  };
  /**
   * The tenant a request is admitted as, once its body is in: its key's tenant as the config is now
   * (a reload may have come while the body was sent: the key moved, its tenant renamed or changed); a
   * 401 when a reload took the key away meanwhile.
   */
  const admittedTenant = (authenticated: Authenticated, labels: FailureLabels): TenantConfig => {
    const now = authenticated.tenant === tenantsById.get(authenticated.tenant.id) ? authenticated : reauthenticate(current.tenants, authenticated);
    if (now === undefined) throw new ClientError(401, 'authentication', 'invalid API key: a reload of the gateway config took this key away while the request was sent', { code: 'invalid_api_key' });
    labels.tenant = now.tenant.id;
    labels.key = now.key;
    return now.tenant;
  };
  /** Tenants a reload renamed (old id to new), for the requests admitted under the old id still in flight. */
  const renamedTo = new Map<string, string>();
  /**
   * The tenant whose limits a request's tokens are settled against: the current one of its id (a
   * reload's), or of the id it was renamed to (whose buckets took over its levels), else its own.
   */
  const limitsOf = (tenant: TenantConfig): TenantConfig => {
    let id: string | undefined = tenant.id;
    // A few renames in a row are followed; a chain longer than the map (a cycle) is not.
    for (let hops = 0; id !== undefined && hops <= renamedTo.size; hops += 1) {
      const found = tenantsById.get(id);
      if (found !== undefined) return found;
      id = renamedTo.get(id);
    }
    return tenant;
  };
  const now = options.now ?? Date.now;
  const generateId = options.generateId ?? (() => randomUUID().replaceAll('-', ''));
  const limits = options.rateLimits ?? new MemoryRateLimitStore();
  const logger = options.logger === false ? undefined : (options.logger ?? createGatewayLogger());
  // One for every request: a silent stand-in made per request was three objects per open stream.
  const requestLog: RequestContext['log'] = logger ?? { warn: () => undefined, info: () => undefined };
  const store = createStoreCalls({ limits, now, log: requestLog, limitsOf });
  const endpoints = new EndpointPool(config, options.env ?? process.env, now);
  let upstreamAttempts = 0;
  let upstreamClosing = false;
  // Gauges of live endpoint state are read at scrape time: nothing to write per request.
  const gatewayMetrics = createGatewayMetrics(() => endpoints.readings(), { processMetrics: options.processMetrics === true });
  seedTenantSeries(gatewayMetrics, config.tenants);
  // This gateway's name in the Via header of its upstream calls: a request that comes back with it
  // went through an endpoint whose url reaches this gateway (E51: each request nested until the
  // tenant's limit ran out).
  const viaName = `switchyard-${randomBytes(6).toString('hex')}`;
  const core: GatewayCore = {
    config,
    now,
    random: options.random ?? Math.random,
    metrics: gatewayMetrics,
    upstream: options.upstream ?? createPooledUpstreamClient({ onResend: (endpoint) => gatewayMetrics.upstreamResends.inc({ endpoint }), via: `1.1 ${viaName}` }),
    endpoints,
    policy: routingPolicyFromConfig(config),
    watched: new Set<StreamWatch>(),
    closing: () => upstreamClosing,
    upstreamRequestId: (requestId) => `${requestId}-${(upstreamAttempts += 1).toString(36)}`,
  };
  const { metrics } = core;
  const routes = new Map<string, RouteConfig>(config.routes.map((route) => [route.model, route]));
  /** Each route's resilience, merged once rather than per request. */
  const resilienceOf = new Map<RouteConfig, ResilienceConfig>(config.routes.map((route) => [route, routeResilience(config.resilience, route)]));

  // Shutdown: how many responses are not yet sent, a waiter told when none is, and the chat
  // requests running, each by the cancellation that ends it. A count and one shared listener:
  // responses kept as keys of a Map cost about 50 MB more peak RSS under the bench's load.
  const chatRequests = new Set<Cancellation>();
  let unsent = 0;
  let draining = false;
  let shuttingDown = false;
  let onIdle: (() => void) | undefined;
  // Body bytes held by the requests in flight, and each response's share, given back when it closes.
  let bodyBytesInFlight = 0;
  const bodyBytesOf = new WeakMap<ServerResponse, number>();
  function responseClosed(this: ServerResponse): void {
    unsent -= 1;
    const held = bodyBytesOf.get(this);
    if (held !== undefined) bodyBytesInFlight -= held;
    if (draining && unsent === 0) onIdle?.();
  }
  /** Takes a request's body bytes from the gateway's budget, or refuses them when it is spent. */
  const bodyBudgetFor =
    (res: ServerResponse) =>
    (bytes: number): boolean => {
      if (bodyBytesInFlight + bytes > config.limits.maxBodyBytesInFlight) return false;
      bodyBytesInFlight += bytes;
      bodyBytesOf.set(res, (bodyBytesOf.get(res) ?? 0) + bytes);
      return true;
    };
  // A new connection that never sends a request head would hold a socket (a file) for ever: Node's
  // headersTimeout starts at a request's first byte, and keepAliveTimeout only after a response.
  // Anyone who can reach the port could open them by the thousand, before any key is checked.
  const firstRequestTimers = new WeakMap<Socket, NodeJS.Timeout>();
  const firstRequestTimeoutMs = options.firstRequestTimeoutMs ?? 60_000;
  const track = (req: IncomingMessage, res: ServerResponse): void => {
    const firstRequestTimer = firstRequestTimers.get(req.socket);
    if (firstRequestTimer !== undefined) {
      clearTimeout(firstRequestTimer);
      firstRequestTimers.delete(req.socket);
    }
    unsent += 1;
    // 'close' comes once the response is sent (after 'finish'), or when its connection is gone.
    res.on('close', responseClosed);
    if (res.socket === null) closeWithConnection(req, res);
    // During a shutdown a connection takes no further request: it closes once its answer is sent.
    if (draining) res.shouldKeepAlive = false;
  };

  // The idle sweep: one timer for every streaming attempt, instead of a timer each.
  const idleMs = config.resilience.tokenIdleTimeoutMs;
  const cutStalled = (at: number): void => {
    for (const watch of core.watched) {
      if (watch.quietByDesign || at - watch.lastActive < idleMs) continue;
      watch.stalled = true;
      core.watched.delete(watch);
      watch.cancellation.cancel();
    }
  };
  // Timers run before the event loop reads its sockets: after the loop was held (a large body
  // parsed, a long collection), tokens that came meanwhile wait unread. Judged once they are read,
  // as of when the sweep fired (a hold between the two would otherwise count), so that the
  // gateway's own pause does not pass for every upstream's stall (see judgeAfterReads).
  const sweep = setInterval(() => {
    const at = now();
    setImmediate(() => cutStalled(at));
  }, Math.max(10, Math.min(1000, idleMs / 4)));
  sweep.unref();
  // The keep-alive sweep: one timer for every stream, as the idle sweep.
  const keptAlive = new Set<KeptAliveStream>();
  const keepAlive = setInterval(() => keepStreamsAlive(keptAlive), options.keepAliveMs ?? 5000);
  keepAlive.unref();

  /** What a served chat request reports to metrics and logs; text only when logging.logPrompts is on. */
  interface ChatOutcome {
    readonly status: number;
    readonly endpoint: string;
    readonly route: string;
    readonly tenant: string;
    readonly attempts: number;
    /** The answer's usage as told to the caller (an answer's, not a token count's). */
    readonly inputTokens?: number;
    readonly outputTokens?: number;
    readonly prompt?: string;
    readonly completion?: string;
  }

  // The two helpers below keep the raw key, the raw JSON body and its validated copy out of
  // serveChat's frame, which lives as long as the answer streams.
  const tenantOf = (req: IncomingMessage): Authenticated => {
    // Node keeps the first of several Authorization headers; a proxy in front may read another, and
    // so authenticate someone else. Two are refused, never one picked.
    if (req.headers.authorization !== undefined && headerLines(req.rawHeaders, 'authorization') > 1) throw new ClientError(400, 'invalid_request', 'the request has more than one Authorization header: send one');
    // Node joins repeated x-api-key lines into one value ('k1, k2'): which key is meant would be a guess.
    if (req.headers['x-api-key'] !== undefined && headerLines(req.rawHeaders, 'x-api-key') > 1) throw new ClientError(400, 'invalid_request', 'the request has more than one x-api-key header: send one');
    const presented = bearer(req.headers.authorization);
    const headerKey = headerValue(req.headers['x-api-key']);
    // Two different keys, for the same reason: which tenant is meant would be a guess.
    if (presented !== undefined && headerKey !== undefined && headerKey !== '' && headerKey !== presented) throw new ClientError(400, 'invalid_request', 'the request sends two different API keys (Authorization: Bearer and x-api-key): send one');
    const key = presented ?? headerKey ?? '';
    if (key === '') {
      // A key sent in another scheme (Basic, a bare key) is not "no key": say what is wrong with it, without echoing it.
      const unread = (req.headers.authorization ?? '').trim() !== '';
      throw new ClientError(401, 'authentication', `${unread ? 'no API key read: the Authorization header is not of the form "Bearer <key>"' : 'no API key'}: send "Authorization: Bearer <key>" or "x-api-key: <key>"`);
    }
    const authenticated = authenticate(current.tenants, key);
    if (authenticated === undefined) throw new ClientError(401, 'authentication', 'invalid API key: no tenant has this key; check the key you send in "Authorization: Bearer <key>" or "x-api-key: <key>"', { code: 'invalid_api_key' });
    return authenticated;
  };

  /** A request's body; a shutdown's cancellation (`deadline`) ends the wait for the rest of it, with a 503. */
  const readBody = (req: IncomingMessage, res: ServerResponse, deadline: Cancellation): Promise<unknown> => {
    const reading = { take: bodyBudgetFor(res), abandon: { cancellation: deadline, because: shuttingDownError }, maxJsonValues: config.limits.maxJsonValues };
    if (!awaitingContinue.has(req)) return readJsonBody(req, config.limits.maxBodyBytes, reading);
    return readJsonBody(req, config.limits.maxBodyBytes, {
      ...reading,
      beforeReading: () => {
        awaitingContinue.delete(req);
        res.writeContinue();
      },
    });
  };

  const readChatRequest = async (inbound: Dialect, req: IncomingMessage, res: ServerResponse, deadline: Cancellation): Promise<ChatRequest> => {
    const body = await readBody(req, res, deadline);
    refuseJurisdictionTrailer(req);
    // A key at a time, not Object.entries: no list made for every request (OpenAI's has none).
    for (const name in inbound.refusedHeaders) {
      // Sent twice, Node joins the values with ', ': empty ones are still nothing asked.
      if ((headerValue(req.headers[name]) ?? '').split(',').some((part) => part.trim() !== '')) throw new ClientError(400, 'invalid_request', `${name}: ${inbound.refusedHeaders[name] ?? ''}`, { param: name, isRetryable: false });
    }
    const parsed = inbound.parseRequest(body);
    if (!parsed.ok) throw problemError(parsed.problem);
    return parsed.value;
  };

  /**
   * Runs `serve` for a request that reaches upstreams: refused while the gateway drains, its deadline
   * (made first, so a shutdown reaches a request still sending its body) tracked for the shutdown,
   * its tenant authenticated.
   */
  const tracked = async <T>(req: IncomingMessage, labels: FailureLabels, serve: (authenticated: Authenticated, deadline: Cancellation) => Promise<T>): Promise<T> => {
    if (draining) throw shuttingDownError();
    const deadline = new Cancellation();
    chatRequests.add(deadline);
    try {
      const authenticated = tenantOf(req);
      labels.tenant = authenticated.tenant.id;
      labels.key = authenticated.key;
      return await serve(authenticated, deadline);
    } finally {
      chatRequests.delete(deadline);
    }
  };

  /** The route of a public model name, or a 404. */
  const routeOf = (model: string, labels: FailureLabels): RouteConfig => {
    const route = routes.get(model);
    if (route === undefined) throw new ClientError(404, 'not_found', `model ${quoteIdentifier(model)} is not served here; GET /v1/models lists the models`, { code: 'model_not_found' });
    labels.route = route.model;
    return route;
  };

  /** A tenant limit's refusal, with the wait until both limits let the request through. */
  const overLimit = (tenant: TenantConfig, admitted: Extract<TenantLimitDecision, { allowed: false }>, neededTokens = 0): ClientError => {
    metrics.rateLimited.inc({ tenant: tenant.id, limit: admitted.limit });
    const retry = retryAfterHeaders(admitted.retryAfterMs);
    const waitMs = Number(retry['retry-after-ms'] ?? Number.NaN);
    // The wait as the headers give it: under a second in milliseconds (retry-after-ms, which the SDKs read), else in whole seconds.
    const wait = waitMs < 1000 ? `${String(waitMs)} ms` : `${retry['retry-after'] ?? '?'} s`;
    // A request that needs the whole limit waits for a full bucket, which the headers' "remaining" does not show.
    const whole = admitted.limit === 'tokens' && neededTokens >= tenant.tokensPerMinute ? ` (this request needs all ${String(tenant.tokensPerMinute)} tokens of it at once: its max_tokens was lowered to what the limit leaves after the prompt; a smaller max_tokens waits less)` : '';
    return new ClientError(429, 'rate_limit', `tenant ${tenant.id} is over its ${admitted.limit}-per-minute limit${whole}; retry after ${wait}`, { headers: retry, limit: admitted.limit });
  };

  /**
   * A request whose upload took its whole deadline: refused before it is charged or sent anywhere
   * (R30: it was sent upstream, and the 504 then blamed the endpoints, or it was answered late).
   */
  const refuseIfArrivedLate = (arrivedAt: number, resilience: ResilienceConfig): void => {
    const took = now() - arrivedAt;
    if (took >= resilience.deadlineMs) throw new ClientError(408, 'timeout', `the request took ${String(took)} ms to arrive, its whole deadline of ${String(resilience.deadlineMs)} ms (counted from when its head arrived): send it faster`);
  };

  /**
   * Ends a request's upstream work (`deadline`) at its deadline, or when its client leaves first
   * (`onGone` runs then, before the cancellation); `gone` tells the two apart. `stop` once it is served.
   */
  const watchClient = (res: ServerResponse, deadline: Cancellation, deadlineMs: number, onGone: () => void = () => undefined): { readonly gone: () => boolean; readonly stopDeadline: () => void; stop(): void } => {
    let gone = false;
    // An answer that came while the gateway was held up is not one past its deadline (see judgeAfterReads).
    const stopDeadline = judgeAfterReads(() => deadline.cancel(), deadlineMs);
    const onClose = (): void => {
      if (res.writableFinished) return;
      gone = true;
      onGone();
      deadline.cancel();
    };
    res.on('close', onClose);
    return { gone: () => gone, stopDeadline, stop: () => res.off('close', onClose) };
  };

  const serveChat = (inbound: Dialect, req: IncomingMessage, res: ServerResponse, requestId: string, headers: ResponseHeaders, labels: FailureLabels): Promise<ChatOutcome> => {
    const arrivedAt = now();
    return tracked(req, labels, async (authenticated, deadline) => {
      const asked = await readChatRequest(inbound, req, res, deadline);
      const tenant = admittedTenant(authenticated, labels);
      const route = routeOf(asked.model, labels);
      const resilience = resilienceOf.get(route) ?? config.resilience;
      refuseIfArrivedLate(arrivedAt, resilience);
      const serving: StoreWait = { requestId, deadline, res, recheck: () => admittedTenant(authenticated, labels) };

      // Read once: routeInput runs on every attempt, retry, hedge and resume.
      const traits = routedTraits(asked, tenant, headerJurisdictionsOf(req));
      const promptTokens = estimatePromptTokens(asked);
      const fitted = fitToTokenLimit(asked, promptTokens, tenant.tokensPerMinute);
      const outputTokens = fitted.outputTokens;
      /**
       * A request too long for every window it may use, told so before any limit's refusal: clients
       * act on it (they compact). Checked with the output the caller asked for, or none when it asked
       * for none (a default it never chose must not make a short prompt "too long").
       */
      const contextRefusal = (maxOutputTokens = asked.maxTokens ?? 1): ClientError | undefined => {
        const fits = routeRequest({ ...traits, promptTokens, maxOutputTokens }, endpoints.views(route), core.policy, core.random);
        return !fits.ok && fits.code === 'context' ? routeFailureError(core, fits, tenant.id) : undefined;
      };
      if (!fitted.ok) {
        const tooLong = contextRefusal();
        if (tooLong !== undefined) throw tooLong;
        const at = now();
        const state = store.ask(() => tenantLimitState(limits, tenant, at), serving);
        Object.assign(headers, inbound.rateLimitHeaders(isPromiseLike(state) ? await state : state, at));
        metrics.rateLimited.inc({ tenant: tenant.id, limit: 'tokens' });
        throw new ClientError(429, 'rate_limit', `tenant ${tenant.id}'s whole limit of ${String(tenant.tokensPerMinute)} tokens per minute leaves about ${String(outputTokens)} tokens for the answer after the prompt, too few for extended thinking (at least ${String(minThinkingBudget)}): shorten the prompt, or send the request without thinking`, { isRetryable: false, limit: 'tokens' });
      }
      const request = fitted.request;
      // A max_tokens lowered to the tenant's limit that still fits no window: refused in the caller's
      // own figures, not in those of the lowered budget, which it never sent.
      if (request.maxTokens !== undefined && request.maxTokens !== asked.maxTokens) {
        const tooLong = contextRefusal(request.maxTokens) === undefined ? undefined : contextRefusal();
        if (tooLong !== undefined) throw tooLong;
      }
      const estimated = promptTokens + outputTokens;
      const admittedAt = now();
      const admission = store.ask(() => checkTenantLimits(limits, tenant, estimated, admittedAt), serving, store.refund(tenant, estimated, requestId));
      const admitted = isPromiseLike(admission) ? await admission : admission;
      Object.assign(headers, inbound.rateLimitHeaders(admitted.state, admittedAt));
      if (!admitted.allowed) {
        if (admitted.tooLarge) {
          const tooLong = contextRefusal();
          if (tooLong !== undefined) throw tooLong;
          metrics.rateLimited.inc({ tenant: tenant.id, limit: admitted.limit });
          // No wait helps, so neither the SDKs (which retry a 429) nor the caller should retry it as it is.
          const why =
            promptTokens >= tenant.tokensPerMinute
              ? `the prompt alone is about ${String(promptTokens)} tokens, which leaves no room for an answer in tenant ${tenant.id}'s whole limit of ${String(tenant.tokensPerMinute)} tokens per minute: shorten the prompt`
              : `the request needs about ${String(estimated)} tokens (prompt about ${String(promptTokens)} plus the default ${String(outputTokens)} output), more than tenant ${tenant.id}'s whole limit of ${String(tenant.tokensPerMinute)} tokens per minute: send max_tokens (the limit leaves about ${String(tenant.tokensPerMinute - promptTokens)} tokens for the answer; a larger max_tokens is lowered to that)`;
          throw new ClientError(429, 'rate_limit', why, { isRetryable: false, limit: 'tokens' });
        }
        throw overLimit(tenant, admitted, estimated);
      }
      const prefixKey = prefixKeyOf(request.messages);
      // How the request ends as each dialect's upstream receives it: OpenAI-dialect upstreams get the
      // turns as they are; Anthropic's encoder moves system messages out and leaves out turns without
      // text, so a turn of either kind after an assistant turn leaves that turn last there (a prefill).
      const last = request.messages.at(-1);
      const trailingAssistant = last?.role === 'assistant' && hasVisibleText(last.content) ? request.finalAssistant : undefined;
      // (But system messages that close the conversation after it reach Anthropic as a user turn: closingInstructions.)
      const joinedTrailingAssistant = trailingAssistant === undefined && lastSpokenTurn(request.messages)?.role === 'assistant' && closingInstructions(request) === undefined ? request.finalAssistant : undefined;
      /** The client left while an attempt waited for its first token: an upstream was reading its prompt. */
      let promptRead = false;
      // One cancellation stops upstream work on either event.
      // From the request's arrival, as deadlineAt counts (R29: armed for the whole deadline once the
      // body was in, a slow upload stretched it, and retries judged by deadlineAt were given up early).
      const client = watchClient(res, deadline, Math.max(0, arrivedAt + resilience.deadlineMs - now()), () => {
        // An upstream was reading the prompt (its prefill) for it: charged below.
        promptRead = context.waiting > 0;
      });
      const clientGone = client.gone;
      const context: RequestContext = {
        requestId,
        via: headerValue(req.headers.via),
        tenant,
        route,
        resilience,
        deadlineAt: arrivedAt + resilience.deadlineMs,
        promptTokens,
        resumed: undefined,
        roomBudget: undefined,
        promptFloor: undefined,
        attempts: 0,
        waiting: 0,
        clientGone,
        shuttingDown: () => shuttingDown && !clientGone(),
        // Made on a first failure: most requests never have one.
        failures: undefined,
        banned: undefined,
        log: requestLog,
        routeInput: (tried) => ({
          ...traits,
          // Every attempt goes only where the tenant may send it now (see jurisdictionsNow).
          tenantJurisdictions: jurisdictionsNow(tenant, authenticated),
          promptTokens: routedPromptTokens(context),
          maxOutputTokens: context.resumed?.outputTokens ?? context.roomBudget ?? outputTokens,
          prefixKey,
          excludeEndpoints: tried,
          ...(request.tools !== undefined && (request.toolChoice === undefined || request.toolChoice.type === 'auto') ? { needsAutoToolChoice: true } : {}),
          // A resumed answer is a continuation: it goes only where prefills are taken.
          ...(context.resumed !== undefined ? { trailingAssistant: 'continue' as const } : { ...(trailingAssistant === undefined ? {} : { trailingAssistant }), ...(joinedTrailingAssistant === undefined ? {} : { joinedTrailingAssistant }) }),
        }),
      };

      const tried = new Set<string>();
      // Charged what was served: nothing for a request refused or failed before its first token
      // (but see promptRead).
      let usedTokens = 0;
      /** The request's own deadline ended it (not the client, nor a shutdown). */
      const deadlinePassed = (): boolean => deadline.cancelled && !clientGone() && !context.shuttingDown();
      let settled = false;
      /** Settles the tenant's token charge once; a response not yet begun then shows the limits after it. */
      const settle = (used: number): void => {
        if (settled) return;
        settled = true;
        const settledAt = now();
        // What the tenant was charged: what it used, or what admission took when the store failed to settle.
        const charged = (tokens: number): void => {
          if (tokens > 0) metrics.tenantTokens.inc({ tenant: tenant.id }, tokens);
        };
        const unsettled = (error: unknown): void => {
          charged(estimated);
          store.failedLater(requestId, error);
        };
        // Against the tenant's limits as they are now: a reload may have raised them since admission.
        const current = limitsOf(tenant);
        // A store's failure here costs the answer nothing: the charge stays as admitted, and is logged.
        let settling: ReturnType<typeof settleTokenUsage>;
        try {
          settling = settleTokenUsage(limits, current, estimated, used, settledAt);
        } catch (error) {
          unsettled(error);
          return;
        }
        // A store that answers later (a shared one): the response shows the limits as admission left them.
        if (isPromiseLike(settling)) {
          Promise.resolve(settling).then(() => charged(used), unsettled);
          return;
        }
        charged(used);
        if (res.headersSent) return;
        store.quietly(requestId, () => tenantLimitState(limits, current, settledAt), (state) => Object.assign(headers, inbound.rateLimitHeaders(state, settledAt)));
      };
      try {
        const answer = await firstAnswer(core, context, withoutPrefillWhitespace(request), tried, deadline);
        if (answer.kind === 'failed') throw new ClientError(502, 'api_error', answer.message);
        // The caller's time to first token: failed attempts, backoff and a lost hedge included.
        metrics.ttft.observe({ route: route.model, endpoint: answer.endpoint.config.id }, (now() - arrivedAt) / 1e3);
        // Ids are the caller's dialect's, whichever upstream answered.
        const target = { inbound, request, res, headers, id: inbound.responseId(generateId()), createdSeconds: Math.floor(now() / 1000) };
        // A complete answer that fails delivers nothing: settled at nothing before its error is written.
        // A deadline's failure is charged what was generated for it (`used`), settled before it is written.
        const sink = request.stream ? createStreamSink(target, keptAlive) : createJsonSink(target, (used) => settle(deadlinePassed() ? (used ?? 0) : 0), (usage) => settle(usage.inputTokens + usage.outputTokens));
        const outcome = await pumpAnswer(core, context, sink, request, answer, tried, deadline);
        // A stream cut short delivered its tokens; a complete answer the gateway failed (a break,
        // shutdown) delivered none. One whose client left, or whose deadline passed, is charged what
        // was generated for it: otherwise leaving just before the end, or asking for more than the
        // deadline allows, would be a way around the limit.
        usedTokens = request.stream || outcome.status === 200 || outcome.status === 499 || deadlinePassed() ? outcome.inputTokens + outcome.outputTokens : 0;
        return { status: outcome.status, endpoint: outcome.endpoint, route: route.model, tenant: tenant.id, attempts: context.attempts, inputTokens: outcome.inputTokens, outputTokens: outcome.outputTokens, ...texts(request, outcome.text) };
      } finally {
        labels.attempts = context.attempts;
        client.stop();
        // Ended but not all sent: the client is not reading (see releaseAtDeadline).
        if (res.writableEnded && !res.writableFinished && !res.destroyed) releaseAtDeadline(res, deadline, client.stopDeadline, context.shuttingDown);
        else client.stopDeadline();
        // The client left before the first token while an upstream read its prompt: charged that, or
        // many such would bypass the limit. (A deadline before the first token is the endpoints' fault.)
        if (usedTokens === 0 && promptRead) usedTokens = promptTokens;
        // A request refused or failed before its answer began was refunded: its error response shows
        // the limits after the refund, not the admission charge.
        settle(usedTokens);
      }
    });
  };

  /**
   * A token count (Anthropic's POST /v1/messages/count_tokens, which Claude Code calls before its
   * requests): checked as a chat request is (key, body, model, jurisdictions), charged one request
   * and no tokens, and asked of a counting endpoint the request may reach (see countTokens).
   */
  const serveTokenCount = (req: IncomingMessage, res: ServerResponse, requestId: string, headers: ResponseHeaders, labels: FailureLabels): Promise<Omit<ChatOutcome, 'prompt' | 'completion'>> => {
    const arrivedAt = now();
    return tracked(req, labels, async (authenticated, deadline) => {
      const body = await readBody(req, res, deadline);
      refuseJurisdictionTrailer(req);
      const parsed = tokenCounting.parseRequest(body);
      const tenant = admittedTenant(authenticated, labels);
      if (!parsed.ok) throw problemError(parsed.problem);
      const request = parsed.value;
      const route = routeOf(request.model, labels);
      const resilience = resilienceOf.get(route) ?? config.resilience;
      refuseIfArrivedLate(arrivedAt, resilience);
      // Before the request is charged, as a chat request's is: a caller's typo costs no quota.
      const headerJurisdictions = headerJurisdictionsOf(req);
      const admittedAt = now();
      const admission = store.ask(() => checkRequestLimit(limits, tenant, admittedAt), { requestId, deadline, res, recheck: () => admittedTenant(authenticated, labels) });
      const admitted = isPromiseLike(admission) ? await admission : admission;
      Object.assign(headers, anthropicDialect.rateLimitHeaders(admitted.state, admittedAt));
      if (!admitted.allowed) throw overLimit(tenant, admitted);
      // Counted where the same request would be answered: an endpoint that could not answer it may refuse to count it.
      const traits = routedTraits(request, tenant, headerJurisdictions);
      const promptTokens = estimatePromptTokens(request);
      // From the request's arrival, as a chat request's.
      const client = watchClient(res, deadline, Math.max(0, arrivedAt + resilience.deadlineMs - now()));
      const tried = new Set<string>();
      try {
        const counted = await countTokens(
          core,
          {
            requestId,
            via: headerValue(req.headers.via),
            log: requestLog,
            tenantId: tenant.id,
            route,
            resilience,
            deadline,
            clientGone: client.gone,
            shuttingDown: () => shuttingDown && !client.gone(),
            routeInput: (excluded) => ({ ...traits, tenantJurisdictions: jurisdictionsNow(tenant, authenticated), promptTokens, maxOutputTokens: 0, excludeEndpoints: excluded }),
          },
          request,
          tried,
        );
        sendJson(res, 200, tokenCounting.formatResult(counted.inputTokens), headers);
        return { status: 200, endpoint: counted.endpoint, route: route.model, tenant: tenant.id, attempts: counted.attempts };
      } finally {
        labels.attempts = tried.size;
        client.stop();
        client.stopDeadline();
      }
    });
  };

  // Prompt and completion text reach the logs only when the operator turned it on explicitly.
  const texts = (request: ChatRequest, completion: string): { prompt?: string; completion?: string } =>
    config.logging.logPrompts ? { prompt: promptText(request), completion } : {};

  /** Per public model, the jurisdictions its endpoints are in. */
  const modelJurisdictions = config.routes.map((route) => ({
    model: route.model,
    jurisdictions: new Set(route.endpoints.flatMap((id) => endpoints.get(id)?.config.jurisdiction ?? [])),
  }));

  /** The models this caller could be routed to: an endpoint in its (header-narrowed) jurisdictions. */
  const visibleModels = (req: IncomingMessage, labels: FailureLabels): string[] => {
    const { tenant, key } = tenantOf(req);
    labels.tenant = tenant.id;
    labels.key = key;
    const headerJurisdictions = headerJurisdictionsOf(req);
    const allowed = effectiveJurisdictions({ tenantJurisdictions: tenant.jurisdictions, ...(headerJurisdictions === undefined ? {} : { headerJurisdictions }) });
    return modelJurisdictions.filter((entry) => [...entry.jurisdictions].some((jurisdiction) => allowed.has(jurisdiction))).map((entry) => entry.model);
  };

  // The names the config gives things, shown as they are in a refusal's log line (see loggedReason).
  const namesOf = (served: GatewayConfig): ReadonlySet<string> => new Set([...served.endpoints.flatMap((endpoint) => [endpoint.id, endpoint.model]), ...served.routes.map((route) => route.model), ...served.tenants.map((tenant) => tenant.id)]);
  // Tenants' names as a reload leaves them (R35).
  let declaredNames = namesOf(config);
  /**
   * A refusal's reason as logged: without what looks like a key. It may quote what the caller sent
   * (a model, a path), where a key pasted by mistake (an environment variable mixed up) was logged
   * (E38); the caller is still told its own words.
   */
  const loggedReason = (reason: string): string => withoutKeys(reason, declaredNames);

  // Named in every 404, so a client calling an API this gateway lacks (the Responses API,
  // embeddings) learns what it can call instead.
  const servedPaths = 'POST /v1/chat/completions, POST /v1/messages, POST /v1/messages/count_tokens, GET /v1/models, GET /v1/models/{id}, GET /metrics and GET /healthz';

  // The paths a web page may call when cors allows its origin: the API, not the operator's (metrics, health).
  const corsPaths = 'POST /v1/chat/completions, POST /v1/messages, POST /v1/messages/count_tokens, GET /v1/models and GET /v1/models/{id}';
  const postOnly: readonly string[] = ['POST'];
  const readOnly: readonly string[] = ['GET', 'HEAD'];

  // The APIs the SDKs offer that callers try most, with why they are not served and what to use.
  const unservedApis: ReadonlyMap<string, string> = new Map([
    ['/v1/responses', 'the Responses API is not served: send the conversation as messages to POST /v1/chat/completions'],
    ['/v1/completions', 'legacy completions are not served: send the prompt as a user message to POST /v1/chat/completions'],
    ['/v1/complete', 'legacy Text Completions are not served: send the prompt as a user message to POST /v1/messages'],
    ['/v1/embeddings', 'embeddings are not served: this gateway routes chat'],
  ]);

  /** The methods an API path a web page may call takes (CORS); undefined for the others. */
  const apiMethods = (path: string): readonly string[] | undefined => {
    // The APIs not served too: a page is told what to call instead.
    if (path === '/v1/chat/completions' || path === '/v1/messages' || path === tokenCounting.path || unservedApis.has(path)) return postOnly;
    return path === '/v1/models' || path.startsWith('/v1/models/') ? readOnly : undefined;
  };

  /**
   * Who sent a request, for the log: the peer's address, or behind a proxy the header it writes the
   * caller's in (logging.clientAddressHeader, as it came, at most 256 characters: a caller can write
   * it too where the proxy does not replace it, so it is only a lead).
   */
  const clientHeader = config.logging.clientAddressHeader;
  const clientAddress = (req: IncomingMessage): string | undefined => {
    const forwarded = clientHeader === undefined ? undefined : req.headers[clientHeader];
    const value = forwarded === undefined ? '' : typeof forwarded === 'string' ? forwarded : forwarded.join(', ');
    // Absent or empty: the peer's, which says at least which proxy (R23).
    if (value.trim() === '') return req.socket.remoteAddress;
    return value.length > 256 ? `${value.slice(0, 256)}...` : value;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const started = now();
    const requestId = requestIdFrom(headerValue(req.headers['x-request-id']), req.headers);
    // Response headers are gathered here and written once: setHeader per header cost CPU and
    // kept a header table alive for every open stream.
    const { path, query } = targetOf(req);
    const inbound = inboundDialectOf(req, path);
    // x-request-id always (logs, docs), and the header the caller's SDK reads if it is another.
    const headers: ResponseHeaders = { 'x-request-id': requestId, [inbound.requestIdHeader]: requestId };
    // A page allowed to call the API may read its answers, errors included.
    if (config.cors !== undefined && apiMethods(path) !== undefined) Object.assign(headers, corsResponseHeaders(config.cors, headerValue(req.headers.origin)));
    const labels: FailureLabels = { route: unlabelled, tenant: undefined, key: undefined };
    const client = clientAddress(req);
    try {
      // RFC 9112 (3.2): an HTTP/1.1 request without Host is a 400. Node's own answer to it would be a
      // bare status, neither counted nor logged (so its check is off, and this is it).
      if (req.headers.host === undefined && req.httpVersion === '1.1') throw new ClientError(400, 'invalid_request', 'an HTTP/1.1 request needs a Host header (RFC 9112): send one', { headers: { connection: 'close' } });
      // ... and one with two is a 400 too: Node keeps the first, and a proxy in front may have read the other.
      if (headerLines(req.rawHeaders, 'host') > 1) throw new ClientError(400, 'invalid_request', 'the request has more than one Host header (RFC 9112): send one', { headers: { connection: 'close' } });
      if (req.headers.via?.includes(viaName) === true) throw new ClientError(508, 'api_error', "loop detected: this request was sent by this gateway itself (its Via header names it), so an endpoint's url reaches this gateway: point it at the upstream");
      if (unmetExpectations.has(req)) throw new ClientError(417, 'invalid_request', `Expect: ${quoteIdentifier(req.headers.expect ?? '')} is not met here; only 100-continue is (RFC 9110): remove the header`, { headers: { connection: 'close' } });
      // A browser's CORS preflight, before a page calls the API (no key: it carries none).
      const preflightMethod = req.method === 'OPTIONS' ? headerValue(req.headers['access-control-request-method']) : undefined;
      if (preflightMethod !== undefined) {
        const methods = apiMethods(path);
        if (methods === undefined && (path === '/' || path === '/healthz' || path === '/metrics')) throw new ClientError(403, 'permission', `${quoteIdentifier(path)} is not open to web pages: only the API is (${corsPaths})`);
        if (methods !== undefined) {
          const answer = answerPreflight(config.cors, headerValue(req.headers.origin), preflightMethod, headerValue(req.headers['access-control-request-headers']), methods);
          if (!answer.ok) throw new ClientError(answer.status, answer.status === 403 ? 'permission' : 'invalid_request', answer.message, { headers: answer.headers });
          res.writeHead(204, { ...headers, ...answer.headers });
          res.end();
          return;
        }
      }
      // While shutting down, a load balancer's health check is told to send requests elsewhere.
      if ((req.method === 'GET' || req.method === 'HEAD') && path === '/healthz') return draining ? sendJson(res, 503, { status: 'shutting down' }, { ...headers, connection: 'close' }) : sendJson(res, 200, { status: 'ok' }, headers);
      // The read-only paths answer GET and HEAD (RFC 9110, 9.3.2: Node sends a HEAD answer's headers only).
      const reading = req.method === 'GET' || req.method === 'HEAD';
      // The root, which clients touch to warm a connection (Claude Code sends HEAD / at start): what is served here.
      if (reading && path === '/') return sendJson(res, 200, { service: 'switchyard gateway', serves: servedPaths }, headers);
      if (!reading && (path === '/' || path === '/healthz' || path === '/metrics' || path === '/v1/models' || path.startsWith('/v1/models/'))) {
        throw new ClientError(405, 'invalid_request', `${quoteIdentifier(path)} takes GET or HEAD`, { headers: { allow: 'GET, HEAD' } });
      }
      if (reading && path === '/metrics') {
        headers['content-type'] = metrics.registry.contentType;
        res.writeHead(200, headers);
        res.end(await metrics.registry.metrics());
        return;
      }
      if (reading && path === '/v1/models') {
        const list = inbound.formatModelList(visibleModels(req, labels), new URLSearchParams(query));
        if (!list.ok) throw problemError(list.problem);
        sendJson(res, 200, list.value, headers);
        // Logged as other keyed requests are: a client that only lists models shows which key it still uses.
        logger?.info({ requestId, client, tenant: labels.tenant, key: labels.key, path: '/v1/models', status: 200, ms: now() - started }, 'models');
        return;
      }
      if (reading && path.startsWith('/v1/models/')) {
        const id = decodedPathPart(path.slice('/v1/models/'.length));
        if (!visibleModels(req, labels).includes(id)) throw new ClientError(404, 'not_found', `model ${quoteIdentifier(id)} is not served here to this key; GET /v1/models lists the models it can use`, { code: 'model_not_found' });
        sendJson(res, 200, inbound.formatModel(id), headers);
        logger?.info({ requestId, client, tenant: labels.tenant, key: labels.key, path: '/v1/models/{id}', status: 200, ms: now() - started }, 'models');
        return;
      }
      if (path === '/v1/chat/completions' || path === '/v1/messages') {
        if (req.method !== 'POST') throw new ClientError(405, 'invalid_request', `${path} takes POST`, { headers: { allow: 'POST' } });
        const outcome = await serveChat(inbound, req, res, requestId, headers, labels);
        metrics.requests.inc({ route: outcome.route, endpoint: outcome.endpoint, status: String(outcome.status), dialect: inbound.name });
        logger?.[levelOf(outcome.status)]({ requestId, client, tenant: outcome.tenant, key: labels.key, route: outcome.route, endpoint: outcome.endpoint, status: outcome.status, ...sentStatus(res, outcome.status), attempts: outcome.attempts, inputTokens: outcome.inputTokens, outputTokens: outcome.outputTokens, ms: now() - started, ...(outcome.prompt === undefined ? {} : { prompt: outcome.prompt, completion: outcome.completion }) }, 'request');
        return;
      }
      if (path === tokenCounting.path) {
        if (req.method !== 'POST') throw new ClientError(405, 'invalid_request', `${path} takes POST`, { headers: { allow: 'POST' } });
        const outcome = await serveTokenCount(req, res, requestId, headers, labels);
        metrics.tokenCounts.inc({ route: outcome.route, endpoint: outcome.endpoint, status: String(outcome.status) });
        logger?.info({ requestId, client, tenant: outcome.tenant, key: labels.key, route: outcome.route, endpoint: outcome.endpoint, status: outcome.status, attempts: outcome.attempts, ms: now() - started }, 'token count');
        return;
      }
      const why = unservedApis.get(path);
      throw new ClientError(404, 'not_found', `no such path: ${req.method ?? ''} ${quoteIdentifier(path)}${why === undefined ? '' : ` (${why})`}; this gateway serves ${servedPaths}`);
    } catch (error) {
      // Its socket was answered with a refusal of the request itself (a timeout mid-body): told, counted and logged there.
      if (answeredOnSocket(req)) return;
      const clientError = error instanceof ClientError ? error : new ClientError(500, 'api_error', 'internal gateway error');
      if (!(error instanceof ClientError)) logger?.error({ requestId, client, err: error instanceof Error ? error.message : String(error) }, 'internal error');
      if (path === tokenCounting.path) metrics.tokenCounts.inc({ route: labels.route, endpoint: clientError.endpoint ?? unlabelled, status: String(clientError.status) });
      else metrics.requests.inc({ route: labels.route, endpoint: clientError.endpoint ?? unlabelled, status: String(clientError.status), dialect: inbound.name });
      // The status the caller's dialect answers with (an Anthropic overload is 529), when not yet sent.
      const answered = inbound.errorStatus(clientError.kind, clientError.status);
      const httpStatus = res.headersSent ? sentStatus(res, clientError.status) : answered === clientError.status ? {} : { httpStatus: answered };
      logger?.[levelOf(clientError.status)]({ requestId, client, tenant: labels.tenant, key: labels.key, route: labels.route, endpoint: clientError.endpoint, status: clientError.status, ...httpStatus, reason: loggedReason(clientError.logMessage), ...(labels.attempts === undefined ? {} : { attempts: labels.attempts }), ms: now() - started }, path === tokenCounting.path ? 'token count refused' : 'request refused');
      if (res.headersSent) {
        res.end();
        return;
      }
      Object.assign(headers, clientError.responseHeaders);
      // A body not read to its end (too large, or refused before reading) is read and dropped,
      // within bounds, so that a caller still sending it gets this answer rather than a reset.
      const bodyComing = !req.complete && hasBody(req);
      if (bodyComing) discardRestOfBody(req, res, options.discardLimits);
      // The connection's last answer (Node sends one without its awaited 100 with Connection: close).
      if (awaitingContinue.has(req) || !res.shouldKeepAlive || headers.connection === 'close') closeAfterAnswer(req, bodyComing);
      sendJson(res, answered, inbound.formatError({ kind: clientError.kind, message: clientError.message, param: clientError.param, code: clientError.code, limit: clientError.limit, requestId, contextLimit: clientError.contextLimit }), headers);
    }
  };

  const serve = (req: IncomingMessage, res: ServerResponse): void => {
    if (closesBeforeServing(req)) return;
    // Pipelined behind an answer in progress, read in the same bytes: that request's refusal on its
    // headers alone, which may close the connection (closeAfterAnswer), is known once this turn ends.
    if (res.socket === null) {
      queueAnswer(req.socket, res);
      setImmediate(() => {
        // Its connection gone meanwhile, it has no one to answer (and closeWithConnection would wait for a close already past).
        if (closesBeforeServing(req) || req.socket.destroyed) return;
        track(req, res);
        void handle(req, res);
      });
      return;
    }
    track(req, res);
    void handle(req, res);
  };
  const server = createServer({ requireHostHeader: false }, serve);
  // Node calls this for an HTTP/1.1 Expect it does not meet (anything but 100-continue); its own
  // answer would be a bare 417, neither counted nor logged.
  server.on('checkExpectation', (req: IncomingMessage, res: ServerResponse) => {
    unmetExpectations.add(req);
    serve(req, res);
  });
  // Node would send the 100 Continue at once. It goes out only when the body is about to be read
  // (readBody), so a request its headers already refuse (no key, a wrong path, a Content-Length
  // over the limit) is answered before its body is sent (RFC 9110, 10.1.1). Node closes such a
  // connection after the answer (Connection: close); a client that sent its body without waiting,
  // as a client may, still gets the answer (see closeAfterAnswer).
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
    awaitingContinue.add(req);
    serve(req, res);
  });
  const socketShell: SocketRefusalShell = {
    requestIdOf: (request) => requestIdFrom(request === undefined ? undefined : headerValue(request.headers['x-request-id']), request?.headers ?? {}),
    refused: (request, socket, requestId, status, reason) => {
      metrics.requests.inc({ route: unlabelled, endpoint: unlabelled, status: String(status), dialect: unlabelled });
      // Named as every other line names its client (logging.clientAddressHeader) once a head was read.
      logger?.info({ requestId, client: request === undefined ? socket.remoteAddress : clientAddress(request), route: unlabelled, status, reason }, 'request refused');
    },
  };
  const refuseOnSocket = (socket: Socket, refusal: SocketRefusal, reason: string, extraHeaders = ''): void => refuseSocket(socketShell, socket, refusal, reason, extraHeaders);
  // CONNECT (a tunnel) is no request this server answers; Node would close the socket without a word.
  server.on('connect', (_req: IncomingMessage, socket: Socket) => {
    refuseOnSocket(socket, { status: 405, kind: 'invalid_request', message: `CONNECT is not served: this is an API gateway, not a proxy; this gateway serves ${servedPaths}` }, 'CONNECT: this server is no proxy', 'allow: GET, HEAD, POST\r\n');
  });
  server.on('connection', (socket: Socket) => {
    // Cleared by the connection's first request (track); no close listener, which would stay on a
    // long stream's socket for nothing. A socket that closed first is destroyed again, harmlessly.
    // One that sent part of a head is told, as a later request's slow head is by Node (a 408,
    // counted and logged): this timer, started at connect, comes before Node's, started at its first byte.
    const timer = setTimeout(() => {
      if (socket.bytesRead > 0) refuseOnSocket(socket, parserRefusal('ERR_HTTP_REQUEST_TIMEOUT'), 'HTTP parser: ERR_HTTP_REQUEST_TIMEOUT');
      else socket.destroy();
    }, firstRequestTimeoutMs);
    timer.unref();
    firstRequestTimers.set(socket, timer);
  });
  // A request Node's parser refuses never reaches `handle`; Node would answer it with a bare status.
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) => {
    // The client went (a reset, or its side closed mid-request): nobody to answer; a request it was
    // sending is its 499, counted by its handler.
    if (error.code === 'ECONNRESET' || error.code === 'HPE_INVALID_EOF_STATE') socket.destroy();
    // Bytes after a request that asked to close the connection: no request (RFC 9112, 9.6: not
    // processed), so nothing to refuse or count; the answers pending finish, and Node closes after the last.
    else if (error.code === 'HPE_CLOSED_CONNECTION' && hasPendingAnswer(socket)) socket.pause();
    else refuseOnSocket(socket, parserRefusal(error.code), `HTTP parser: ${error.code ?? 'error'}`);
  });
  server.keepAliveTimeout = 65_000;
  // Node drops headers past its count limit (about a thousand here) without a word, and a dropped jurisdiction
  // header would widen what the request may reach: no count limit, only the size one (16 KB, 431).
  server.maxHeadersCount = 0;
  let closing: Promise<void> | undefined;
  /** Ends the shutdown's grace period now, while it runs. */
  let endGrace: (() => void) | undefined;

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
    close: (options = {}) => {
      if (closing !== undefined && (options.graceMs ?? 0) === 0) endGrace?.();
      return (closing ??= drainAndClose(options.graceMs ?? 0));
    },
    reload: (loaded) => {
      const plan: ReloadPlan = loaded.ok ? planReload(current, loaded.value) : { apply: false, problems: loaded.problems };
      if ('problems' in plan) {
        metrics.configReloads.inc({ outcome: 'invalid' });
        // Problems never quote a value that may be a key (see gateway-config's mayHoldSecret).
        logger?.warn({ problems: plan.problems.map(formatProblem) }, 'config reload refused: the file has problems');
      } else if (!plan.apply) {
        metrics.configReloads.inc({ outcome: 'restart-needed' });
        logger?.warn({ needsRestart: plan.needsRestart }, 'config reload not applied: it changes more than tenants');
      } else if (loaded.ok) {
        const before = tenantsById;
        current = { ...current, tenants: loaded.value.tenants };
        tenantsById = new Map(current.tenants.map((tenant) => [tenant.id, tenant]));
        for (const { from, to } of plan.renamed) {
          renamedTo.set(from, to);
          const old = before.get(from);
          const renamed = tenantsById.get(to);
          if (old === undefined || renamed === undefined) continue;
          carryTenantLimits(limits, old, renamed, now()).catch((error: unknown) => logger?.warn({ from, to, reason: storeErrorText(error) }, 'config reload: a renamed tenant\'s limits could not be carried (the rate-limit store failed); its new id starts with full buckets'));
        }
        // An id added again is that tenant's own, not a rename's old name.
        for (const id of plan.added) renamedTo.delete(id);
        declaredNames = namesOf(current);
        seedTenantSeries(metrics, current.tenants);
        metrics.configReloads.inc({ outcome: 'applied' });
        logger?.info({ added: plan.added, removed: plan.removed, renamed: plan.renamed, changed: plan.changed }, 'config reloaded: tenants');
      }
      return plan;
    },
  };

  async function drainAndClose(graceMs: number): Promise<void> {
    draining = true;
    // Stop taking connections. http.Server.close would also close every connection whose answer
    // has been ended, sent or not (node's idle test), cutting a slow reader's answer: the listener
    // is closed alone, and connections once their answers are sent.
    const closed = new Promise<void>((resolve) => NetServer.prototype.close.call(server, () => resolve()));
    if (unsent > 0) logger?.info({ inFlight: unsent, graceMs }, 'shutting down: waiting for requests in flight');
    const grace = untilIdle(graceMs);
    endGrace = grace.stop;
    await grace.idle;
    endGrace = undefined;
    // The rest are ended in their caller's dialect, and given a moment to say so.
    if (unsent > 0) logger?.warn({ inFlight: unsent, graceMs }, 'shutting down: grace period over, ending requests in flight with an error');
    shuttingDown = true;
    for (const cancellation of chatRequests) cancellation.cancel();
    await untilIdle(shutdownAnswerMs).idle;
    // Every answer is sent (or out of time): what is left is idle keep-alive connections.
    server.closeAllConnections();
    clearInterval(sweep);
    clearInterval(keepAlive);
    await closed;
    // node's own connection checks stop with its close, which now finds the listener closed.
    server.close(() => undefined);
    // What is cut now (a hedge's losing leg still waiting for its first token) is the gateway's doing.
    upstreamClosing = true;
    await core.upstream.close();
  }

  /** `idle` resolves when every response is sent, after `ms`, or when `stop` is called. */
  function untilIdle(ms: number): { readonly idle: Promise<void>; readonly stop: () => void } {
    if (unsent === 0) return { idle: Promise.resolve(), stop: () => undefined };
    let stop = (): void => undefined;
    const idle = new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        onIdle = undefined;
        resolve();
      }
      onIdle = done;
      stop = done;
    });
    return { idle, stop };
  }
}

/** How long requests ended by a shutdown have to write their error before connections close. */
const shutdownAnswerMs = 2_000;

/**
 * A response pipelined behind another one's answer waits for the connection without a socket, and
 * Node never closes it when the connection goes first: its request would run on (served upstream,
 * charged, counted in flight until a shutdown gave up on it). Closed with its connection instead.
 */
function closeWithConnection(req: IncomingMessage, res: ServerResponse): void {
  const socket = req.socket;
  let queued = queuedResponses.get(socket);
  if (queued === undefined) {
    // One listener per connection, however many requests a client pipelines on it.
    const responses = new Set<ServerResponse>();
    queued = responses;
    queuedResponses.set(socket, responses);
    socket.once('close', () => {
      queuedResponses.delete(socket);
      for (const waiting of responses) {
        if (waiting.socket !== null || waiting.writableFinished) continue; // its turn came: Node closes it
        waiting.destroy();
        waiting.emit('close');
      }
    });
  }
  queued.add(res);
  res.once('close', () => queued.delete(res));
}

/** Responses waiting behind another answer, by connection (see closeWithConnection). */
const queuedResponses = new WeakMap<Socket, Set<ServerResponse>>();

/** Requests whose Expect header Node found unmet (checkExpectation): answered with a 417. */
const unmetExpectations = new WeakSet<IncomingMessage>();

/** Requests sent with Expect: 100-continue whose body is not asked for yet. */
const awaitingContinue = new WeakSet<IncomingMessage>();


/**
 * A client that has not yet taken the end of its answer (it stopped reading) keeps its connection
 * until the request's deadline at most: node finishes a response, and only then starts the
 * keep-alive timer, once everything was sent, which for such a client is never. Sent in time, the
 * response finishes and the connection is left alone (a later request on it is not this one's).
 */
function releaseAtDeadline(res: ServerResponse, deadline: Cancellation, stopDeadline: () => void, shuttingDown: () => boolean): void {
  const stopWatching = (): void => {
    res.off('finish', sent);
    res.off('close', sent);
  };
  const sent = (): void => {
    stopDeadline();
    stopWatching();
    stopWaiting();
  };
  res.on('finish', sent);
  res.on('close', sent);
  // Runs at once when the deadline already fired, as a shutdown's cancellation does.
  const stopWaiting = deadline.onCancel(() => {
    stopDeadline();
    // A shutdown gives every answer a last moment to be taken, its error event included; it closes
    // the connections itself after that.
    if (shuttingDown()) return;
    stopWatching();
    if (!res.writableFinished) res.destroy();
  });
}

function bearer(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  // Node has taken HTTP's whitespace (space, tab) off the value's ends; a no-break space is no
  // separator and part of a key, as it is in x-api-key (JavaScript's \s and trim() would take it).
  const match = /^Bearer[ \t]+(.+?)[ \t]*$/i.exec(value);
  return match?.[1];
}

function decodedPathPart(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    return part; // malformed escapes: matched as written, so simply not found
  }
}

/** Whether a request carries a body (a request without one may not be marked complete yet while it is handled). */
function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/**
 * A request's log level: a caller's own mistake (4xx, 499 included) is routine, a failure of the
 * gateway or its upstreams (5xx) is a warning an operator may alert on.
 */
function levelOf(status: number): 'info' | 'warn' {
  return status >= 500 ? 'warn' : 'info';
}

/**
 * The HTTP status the caller actually got, when it is not the request's status: a stream whose
 * 200 was sent before it broke, ended with an error event and counted as its failure.
 */
function sentStatus(res: ServerResponse, status: number): { httpStatus?: number } {
  return res.headersSent && res.statusCode !== status ? { httpStatus: res.statusCode } : {};
}
