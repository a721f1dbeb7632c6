import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { Server as NetServer, type AddressInfo, type Socket } from 'node:net';
import type { Logger } from 'pino';
import { quoteIdentifier } from '../protocol/request-problem.js';
import { withoutCutQuotes, withoutKeys, withoutTenantKeys } from './credential-text.js';
import { keepStreamsAlive, type KeptAliveStream, type ResponseHeaders } from './answer-sink.js';
import { sendJson } from '../protocol/send-json.js';
import { Cancellation } from './cancellation.js';
import { ClientError, problemError, shuttingDownError } from './client-error.js';
import { EndpointPool } from './endpoint-pool.js';
import { routeResilience, unlabelled, type GatewayConfig } from './gateway-config.js';
import type { GatewayCore, StreamWatch } from './gateway-core.js';
import { closeAfterAnswer, closesBeforeServing } from './close-after-answer.js';
import { discardRestOfBody, type DiscardLimits } from './discard-rest-of-body.js';
import { createGatewayLogger } from './gateway-logger.js';
import { createGatewayMetrics, seedTenantSeries, type GatewayMetrics } from './gateway-metrics.js';
import { readJsonBody } from './read-json-body.js';
import type { RequestContext } from './request-context.js';
import { effectiveJurisdictions, routingPolicyFromConfig } from './route-request.js';
import { carryTenantLimits, MemoryRateLimitStore, type RateLimitStore } from './token-bucket.js';
import { createPooledUpstreamClient, type UpstreamClient } from './upstream-client.js';
import { formatProblem, type Result } from '../domain/spec-problem.js';
import { planReload, renamesApart, type ReloadPlan } from './config-reload.js';
import { answerPreflight, corsResponseHeaders } from './cors-policy.js';
import { headerJurisdictionsOf } from './jurisdiction-header.js';
import { createStoreCalls, storeErrorText } from './store-calls.js';
import { headerLines, headerValue, presentedKeys, targetOf } from './request-head.js';
import { inboundDialect, isChatPath } from '../protocol/inbound-dialect.js';
import { requestIdFrom } from './request-id.js';
import { scrapeKeyCheck } from './scrape-key.js';
import { serveChat } from './serve-chat.js';
import { serveTokenCount } from './serve-token-count.js';
import type { FailureLabels, ServingShell } from './serving-shell.js';
import { TenantDirectory } from './tenant-directory.js';
import { InFlightRequests } from './in-flight-requests.js';
import { apiMethods, corsPaths, servedPaths, tokenCounting, unservedApis } from './served-paths.js';
import { answeredOnSocket, hasPendingAnswer, parserRefusal, queueAnswer, refuseSocket, type SocketRefusal, type SocketRefusalShell } from './socket-refusal.js';

export interface GatewayOptions {
  readonly config: GatewayConfig;
  readonly upstream?: UpstreamClient;
  readonly rateLimits?: RateLimitStore;
  readonly now?: () => number;
  readonly random?: () => number;
  /** Unique opaque tokens for response ids (`chatcmpl-<token>`, `msg_<token>`); injected by tests. */
  readonly generateId?: () => string;
  /** A request's id when its caller sent no usable x-request-id (default a random UUID); injected by tests. */
  readonly generateRequestId?: () => string;
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

/**
 * The HTTP shell: takes connections and requests, answers the paths that need no upstream
 * (health, metrics, models, CORS preflights), hands chat requests and token counts to serveChat
 * and serveTokenCount, answers errors in the caller's dialect, and drains on shutdown.
 */
export function createGateway(options: GatewayOptions): Gateway {
  const config = options.config;
  /** The config as reloads left it (only its tenants change: see planReload). */
  let current = config;
  const tenants = new TenantDirectory(config.tenants);
  // The config is not reloaded for it (a change to metrics needs a restart, see planReload).
  const mayScrape = scrapeKeyCheck(config.metrics.scrapeKeySha256);
  const now = options.now ?? Date.now;
  const generateId = options.generateId ?? (() => randomUUID().replaceAll('-', ''));
  const generateRequestId = options.generateRequestId ?? randomUUID;
  const limits = options.rateLimits ?? new MemoryRateLimitStore();
  const logger = options.logger === false ? undefined : (options.logger ?? createGatewayLogger());
  // One for every request: a silent stand-in made per request was three objects per open stream.
  const requestLog: RequestContext['log'] = logger ?? { warn: () => undefined, info: () => undefined };
  const store = createStoreCalls({ limits, now, log: requestLog, limitsOf: (tenant) => tenants.limitsOf(tenant) });
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

  // What a shutdown waits for and ends, and the body bytes requests hold.
  const inFlight = new InFlightRequests(config.limits.maxBodyBytesInFlight);
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
    inFlight.track(res);
    if (res.socket === null) closeWithConnection(req, res);
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

  const shell: ServingShell = {
    core,
    tenants,
    limits,
    store,
    log: requestLog,
    generateId,
    keptAlive,
    routes: new Map(config.routes.map((route) => [route.model, route])),
    resilienceByRoute: new Map(config.routes.map((route) => [route, routeResilience(config.resilience, route)])),
    shuttingDown: () => inFlight.shuttingDown,
    tracked: async (req, labels, serve) => {
      if (inFlight.draining) throw shuttingDownError();
      const deadline = new Cancellation();
      inFlight.running.add(deadline);
      try {
        const authenticated = tenants.fromRequest(req);
        labels.tenant = authenticated.tenant.id;
        labels.key = authenticated.key;
        return await serve(authenticated, deadline);
      } finally {
        inFlight.running.delete(deadline);
      }
    },
    readBody: (req, res, deadline) => {
      const reading = { take: inFlight.bodyBudgetFor(res), abandon: { cancellation: deadline, because: shuttingDownError }, maxJsonValues: config.limits.maxJsonValues };
      if (!awaitingContinue.has(req)) return readJsonBody(req, config.limits.maxBodyBytes, reading);
      return readJsonBody(req, config.limits.maxBodyBytes, {
        ...reading,
        beforeReading: () => {
          awaitingContinue.delete(req);
          res.writeContinue();
        },
      });
    },
  };

  /** Per public model, the jurisdictions its endpoints are in. */
  const modelJurisdictions = config.routes.map((route) => ({
    model: route.model,
    jurisdictions: new Set(route.endpoints.flatMap((id) => endpoints.get(id)?.config.jurisdiction ?? [])),
  }));

  /** The models this caller could be routed to: an endpoint in its (header-narrowed) jurisdictions. */
  const visibleModels = (req: IncomingMessage, labels: FailureLabels): string[] => {
    const { tenant, key } = tenants.fromRequest(req);
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
   * (E38), or a tenant's own, which has no shape to tell it by and is found by its hash (R78); the
   * caller is still told its own words.
   */
  const loggedReason = (reason: string, req: IncomingMessage): string => {
    const own = presentedKeys(req.headers);
    return withoutKeys(withoutTenantKeys(withoutCutQuotes(reason), (word) => tenants.authenticate(word) !== undefined, [own.bearer, own.apiKeyHeader]), declaredNames);
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
    const requestId = requestIdFrom(headerValue(req.headers['x-request-id']), req.headers, tenants, generateRequestId);
    // Response headers are gathered here and written once: setHeader per header cost CPU and
    // kept a header table alive for every open stream.
    const { path, query } = targetOf(req);
    const inbound = inboundDialect(path, req.headers);
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
      if ((req.method === 'GET' || req.method === 'HEAD') && path === '/healthz') return inFlight.draining ? sendJson(res, 503, { status: 'shutting down' }, { ...headers, connection: 'close' }) : sendJson(res, 200, { status: 'ok' }, headers);
      // The read-only paths answer GET and HEAD (RFC 9110, 9.3.2: Node sends a HEAD answer's headers only).
      const reading = req.method === 'GET' || req.method === 'HEAD';
      // The root, which clients touch to warm a connection (Claude Code sends HEAD / at start): what is served here.
      if (reading && path === '/') return sendJson(res, 200, { service: 'switchyard gateway', serves: servedPaths }, headers);
      if (!reading && (path === '/' || path === '/healthz' || path === '/metrics' || path === '/v1/models' || path.startsWith('/v1/models/'))) {
        throw new ClientError(405, 'invalid_request', `${quoteIdentifier(path)} takes GET or HEAD`, { headers: { allow: 'GET, HEAD' } });
      }
      if (reading && path === '/metrics') {
        // Two Authorization headers are no key, as for a tenant (a proxy in front may read the other).
        mayScrape(headerLines(req.rawHeaders, 'authorization') > 1 ? undefined : presentedKeys(req.headers).bearer);
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
      if (isChatPath(path)) {
        if (req.method !== 'POST') throw new ClientError(405, 'invalid_request', `${path} takes POST`, { headers: { allow: 'POST' } });
        const outcome = await serveChat(shell, { inbound, req, res, requestId, headers, labels, arrivedAt: started });
        metrics.requests.inc({ route: outcome.route, endpoint: outcome.endpoint, status: String(outcome.status), dialect: inbound.name });
        logger?.[levelOf(outcome.status)]({ requestId, client, tenant: outcome.tenant, key: labels.key, route: outcome.route, endpoint: outcome.endpoint, status: outcome.status, ...sentStatus(res, outcome.status), attempts: outcome.attempts, inputTokens: outcome.inputTokens, outputTokens: outcome.outputTokens, ms: now() - started, ...(outcome.prompt === undefined ? {} : { prompt: outcome.prompt, completion: outcome.completion }) }, 'request');
        return;
      }
      if (path === tokenCounting.path) {
        if (req.method !== 'POST') throw new ClientError(405, 'invalid_request', `${path} takes POST`, { headers: { allow: 'POST' } });
        const outcome = await serveTokenCount(shell, { req, res, requestId, headers, labels, arrivedAt: started });
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
      logger?.[levelOf(clientError.status)]({ requestId, client, tenant: labels.tenant, key: labels.key, route: labels.route, endpoint: clientError.endpoint, status: clientError.status, ...httpStatus, reason: loggedReason(clientError.logMessage, req), ...(labels.attempts === undefined ? {} : { attempts: labels.attempts }), ms: now() - started }, path === tokenCounting.path ? 'token count refused' : 'request refused');
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
    requestIdOf: (request) => requestIdFrom(request === undefined ? undefined : headerValue(request.headers['x-request-id']), request?.headers ?? {}, tenants, generateRequestId),
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
        current = { ...current, tenants: loaded.value.tenants };
        for (const { from, to } of tenants.replace(current.tenants, plan.renamed, plan.added)) {
          carryTenantLimits(limits, from, to, now()).catch((error: unknown) => logger?.warn({ from: from.id, to: to.id, reason: storeErrorText(error) }, 'config reload: a renamed tenant\'s limits could not be carried (the rate-limit store failed); its new id starts with full buckets'));
        }
        declaredNames = namesOf(current);
        seedTenantSeries(metrics, current.tenants);
        metrics.configReloads.inc({ outcome: 'applied' });
        logger?.info({ ...renamesApart(plan), renamed: plan.renamed, changed: plan.changed }, 'config reloaded: tenants');
      }
      return plan;
    },
  };

  async function drainAndClose(graceMs: number): Promise<void> {
    inFlight.drain();
    // Stop taking connections. http.Server.close would also close every connection whose answer
    // has been ended, sent or not (node's idle test), cutting a slow reader's answer: the listener
    // is closed alone, and connections once their answers are sent.
    const closed = new Promise<void>((resolve) => NetServer.prototype.close.call(server, () => resolve()));
    if (inFlight.unsent > 0) logger?.info({ inFlight: inFlight.unsent, graceMs }, 'shutting down: waiting for requests in flight');
    const grace = inFlight.untilIdle(graceMs);
    /** A second close (a second Ctrl-C) ended the grace period before its time. */
    let cutShort = false;
    endGrace = () => {
      cutShort = true;
      grace.stop();
    };
    await grace.idle;
    endGrace = undefined;
    // The rest are ended in their caller's dialect, and given a moment to say so.
    if (inFlight.unsent > 0) logger?.warn({ inFlight: inFlight.unsent, graceMs }, cutShort ? 'shutting down: grace period cut short, ending requests in flight with an error' : 'shutting down: grace period over, ending requests in flight with an error');
    inFlight.endAll();
    await inFlight.untilIdle(shutdownAnswerMs).idle;
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
