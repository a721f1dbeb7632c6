import type { IncomingHttpHeaders } from 'node:http';
import { Client, Pool, errors as undiciErrors, type buildConnector, type Dispatcher } from 'undici';
import { upstreamErrorDetail, type ChatEvent, type ChatRequest, type ContextLimit, type ErrorCode } from '../protocol/chat.js';
import type { Dialect, EncodeOptions, StreamReader } from '../protocol/dialect.js';
import { dialects } from '../protocol/dialects.js';
import { stringifyJson } from '../protocol/raw-json.js';
import { createSseReader } from '../protocol/sse.js';
import { withoutByteOrderMark } from '../protocol/without-byte-order-mark.js';
import type { Cancellation } from './cancellation.js';
import { EventQueue } from './event-queue.js';
import { releasingBody } from './releasing-body.js';
import { connectFailureStatus, longestRetryAfterMs } from './retry-policy.js';

/** Where and how to reach one upstream replica. */
export interface UpstreamTarget {
  readonly id: string;
  readonly url: string;
  readonly dialect: Dialect['name'];
  readonly apiKey: string | undefined;
  /** How this upstream wants requests written (see EncodeOptions). */
  readonly encoding?: EncodeOptions;
  /** Sent on every call (the endpoint's configured `headers`). */
  readonly headers?: Readonly<Record<string, string>>;
}

export type UpstreamResponse =
  /**
   * The answer as canonical events, streamed or not: a JSON answer arrives as
   * start, text, finish. A stream that breaks or ends early ends with an error
   * event, so a cut answer never looks complete. After cancellation it just ends.
   */
  | { readonly kind: 'events'; readonly events: AsyncIterator<ChatEvent> }
  | ({ readonly kind: 'error' } & UpstreamFailure);

export type TokenCountResponse = { readonly kind: 'count'; readonly inputTokens: number } | ({ readonly kind: 'error' } & UpstreamFailure);

/** Why an upstream request failed: shared by the client's answer and the gateway's failed attempt. */
export interface UpstreamFailure {
  readonly status: number;
  readonly message: string;
  /** Whether `message` is the upstream's own words (its error body or error event), which may quote the request, not the gateway's account of what went wrong. */
  readonly fromUpstream: boolean;
  readonly retryAfter: string | undefined;
  /**
   * When the wait this failure asked for ends, on the gateway's clock: set as the failure is
   * recorded, for a 429, 503 or 529 whose Retry-After parsed. What the caller is told is left of it.
   */
  readonly retryAfterAt?: number | undefined;
  /** The field and code an upstream's error names (OpenAI's param and code), when plain. */
  readonly param?: string | undefined;
  readonly code?: ErrorCode | undefined;
  /** A context-length refusal's figures (see UpstreamErrorDetail). */
  readonly contextLimit?: ContextLimit | undefined;
  /** The upstream's own error code or type, when a plain name (see UpstreamErrorDetail). */
  readonly label?: string | undefined;
  /** The upstream's id for the failed request (OpenAI's x-request-id, Anthropic's request-id), when a plain token: for its operator. */
  readonly upstreamRequestId?: string | undefined;
  /** Network detail of a failure the gateway saw (its HTTP client's error code): logged, never told to the caller. */
  readonly detail?: string | undefined;
  /** The gateway's own failure (it could not write the request for this upstream): never held against the endpoint. */
  readonly gatewayFault?: true;
  /** A connection failure that was an open connection lost (reset, closed by the upstream) before any answer, as against one never made. */
  readonly connectionLost?: true;
  /** A connection failure that was an answer the HTTP client could not read (headers past its limit, bytes that are not HTTP). */
  readonly unreadableAnswer?: true;
  /** A connection the gateway's own open-file limit stopped (EMFILE, ENFILE): a gatewayFault, told to the caller as one to retry shortly. */
  readonly outOfFiles?: true;
  /**
   * Lost with a stale pooled connection, and not sent again because its caller no longer allows the
   * endpoint (mayResend: a reload took its jurisdiction): no failure of the endpoint's, nor a verdict
   * on the request.
   */
  readonly withdrawn?: true;
}

/**
 * Sends canonical requests to upstream replicas. The gateway depends on this
 * interface only, so tests and the simulator can replace the network.
 */
export interface UpstreamClient {
  /**
   * Resolves once the upstream's status and headers are in (an error status once its body is).
   * `requestId` is sent as x-request-id, so the upstream's logs (vLLM's, with request-id headers
   * on) can be matched with the gateway's. `mayResend`, when given, is asked before a request lost
   * with a stale pooled connection is sent once more (see createPooledUpstreamClient): false, and it
   * fails as withdrawn instead (UpstreamFailure.withdrawn: a reload took the endpoint's jurisdiction
   * from its tenant meanwhile).
   */
  send(target: UpstreamTarget, request: ChatRequest, cancellation: Cancellation, requestId?: string, mayResend?: () => boolean, forwardedVia?: string): Promise<UpstreamResponse>;
  /**
   * Asks the upstream to count the request's input tokens, by its dialect's token counting API
   * (Dialect.tokenCounting); resolves once the count or the failure is in.
   */
  countTokens(target: UpstreamTarget, request: ChatRequest, cancellation: Cancellation, requestId?: string, mayResend?: () => boolean, forwardedVia?: string): Promise<TokenCountResponse>;
  /** Ends every connection, cutting what is still in flight. */
  close(): Promise<void>;
}

/**
 * The Via header of an upstream call: the one the request came with, and this gateway's name after
 * it (RFC 9110: each intermediary appends itself), so that a loop through several gateways comes
 * back to one that finds its own name (R46: A -> B -> A, each sending only its own, went unseen).
 */
function viaOf(forwarded: string | undefined, own: string): string {
  if (forwarded === undefined) return own;
  // Empty entries dropped; a long chain cut to its last entries within forwardedViaChars: the
  // nearest hops, where a loop's gateways are, and never past what an upstream's header limit
  // takes (R47: a 16 KB Via from a client made every upstream answer 431, blamed on them).
  // Read from the end, once (R48: dropping entries from the front one at a time took 33 ms for 8,000).
  const kept: string[] = [];
  let length = 0;
  for (const entry of viaEntries(forwarded).reverse()) {
    length += entry.length + 2;
    if (length > forwardedViaChars) break;
    kept.push(entry);
  }
  return kept.length === 0 ? own : `${kept.reverse().join(', ')}, ${own}`;
}

/**
 * A Via header's entries, trimmed, empty ones left out; a comma inside a comment, `(...)`, is the
 * comment's (R48), and a character after `\` in one is escaped (RFC 9110). A comment never closed
 * (malformed) splits at every comma, as though none were there (R49: it took the nearest hops in).
 */
function viaEntries(via: string): string[] {
  const entries: string[] = [];
  let depth = 0;
  let start = 0;
  for (let at = 0; at <= via.length; at += 1) {
    const char = via.charAt(at);
    if (depth > 0 && char === '\\') at += 1;
    else if (char === '(') depth += 1;
    else if (char === ')') depth = Math.max(0, depth - 1);
    else if (at === via.length || (char === ',' && depth === 0)) {
      const entry = via.slice(start, at).trim();
      if (entry !== '') entries.push(entry);
      start = at + 1;
    }
  }
  return depth === 0 ? entries : via.split(',').map((entry) => entry.trim()).filter((entry) => entry !== '');
}

/** The most of a request's own Via carried onto an upstream call (see viaOf): about 40 hops. */
const forwardedViaChars = 1024;

/**
 * Request bodies longer than this many characters go to undici as a releasingBody: undici keeps a
 * string or Buffer body for the life of the request, which for a streaming answer is minutes, and
 * with long prompts that was one more copy of the prompt per open stream. Short bodies stay
 * strings, undici's cheapest path.
 */
const releasedBodyChars = 16 * 1024;

/**
 * How long an upstream may keep its response open after the stream's final event, or take over
 * an error body, before the request is aborted. With no HTTP-client timeouts (see the pool), an
 * upstream that never ends its response would otherwise hold its connection for good once the
 * answer was delivered, and an error would wait for the TTFT timeout and be reported as one.
 */
const defaultGraceMs = 5_000;

/** Bytes of an error body read for its message; the rest is not read (an error body has no use for more). */
const errorBodyLimit = 64 * 1024;
/**
 * Bounds on what one upstream answer may make the gateway hold: an SSE event (a token's chunk is
 * tens of bytes) and a whole JSON answer. Past them the answer is a failed upstream response.
 */
const maxEventChars = 16 * 1024 * 1024;
const maxJsonAnswerBytes = 64 * 1024 * 1024;

/** Queued events past which the upstream socket is paused until the gateway catches up. */
const queueHighWater = 256;

/**
 * An undici connection pool per upstream origin: keep-alive, no per-request TCP handshakes.
 * Unbounded by default: a stream holds its connection for its whole life, so a cap would
 * queue new streams behind old ones (a cap of 256 stalled the 257th open stream). Requests go
 * through undici's dispatch API, straight from socket callbacks to the SSE parser: no
 * Readable body and no promise per chunk.
 */
export function createPooledUpstreamClient(options: { connectionsPerUpstream?: number; graceMs?: number; /** A request sent once more on a fresh connection (see send). */ onResend?: (endpointId: string) => void; /** How connections are made (tests: a connector that fails as the system would); undici's own by default. */ connect?: buildConnector.connector; /** This gateway's Via entry, sent on every call after the request's own Via (see viaOf). */ via?: string } = {}): UpstreamClient {
  const graceMs = options.graceMs ?? defaultGraceMs;
  const pools = new Map<string, Pool>();
  /** The one-request connections of resends (see send), destroyed with the pools. */
  const resending = new Set<Client>();
  let closed = false;
  const paths = new Map<string, { origin: string; path: string }>();
  const poolFor = (origin: string): Pool => {
    let pool = pools.get(origin);
    if (pool === undefined) {
      // Idle connections are retired after 4 s, or the server's Keep-Alive hint less 2 s: one kept
      // longer than the upstream keeps it (uvicorn and node:http close after 5 s, mostly without a
      // hint on streams) can be reused just as the upstream closes it, and the request then fails
      // as 'other side closed' against a healthy endpoint.
      // No undici timeouts: the gateway's own (ttftTimeoutMs, tokenIdleTimeoutMs, deadlineMs, each up
      // to a day) decide how long an upstream may think or pause; undici's 300 s defaults cut a slow
      // reasoning model first, as a connection failure.
      pool = new Pool(origin, { connections: options.connectionsPerUpstream ?? null, pipelining: 1, keepAliveTimeout: 4_000, keepAliveTimeoutThreshold: 2_000, headersTimeout: 0, bodyTimeout: 0, ...(options.connect === undefined ? {} : { connect: options.connect }) });
      // Once closed, nothing new stays open: a request that comes then (a hedge's losing leg) fails at once.
      if (closed) void pool.destroy();
      else pools.set(origin, pool);
    }
    return pool;
  };
  const locate = (target: UpstreamTarget, apiPath: string): { origin: string; path: string } => {
    const key = `${apiPath} ${target.url}`;
    let located = paths.get(key);
    if (located === undefined) {
      const base = new URL(target.url);
      // A query is sent on every call; the config refuses a fragment.
      located = { origin: base.origin, path: `${base.pathname.replace(/\/$/, '')}${apiPath}${base.search}` };
      paths.set(key, located);
    }
    return located;
  };

  /**
   * A pooled connection the upstream dropped as it was reused (its keep-alive ran out, a proxy or
   * load balancer closed it) loses the request before any answer: that is no failure of the
   * endpoint's, and the request is sent once more, by `use`, on a connection of its own, which
   * closes once that one request is done.
   */
  const resendOnFreshConnection = <T>(endpointId: string, origin: string, use: (client: Client) => T): T => {
    const client = new Client(origin, { pipelining: 1, headersTimeout: 0, bodyTimeout: 0 });
    // Once closed, nothing is sent: the request fails at once, and is no resend.
    if (closed) void client.destroy();
    else {
      options.onResend?.(endpointId);
      resending.add(client);
    }
    const sent = use(client);
    void client
      .close()
      .catch(() => undefined)
      .finally(() => resending.delete(client));
    return sent;
  };

  return {
    send(target, request, cancellation, requestId, mayResend, forwardedVia) {
      const dialect = dialects[target.dialect];
      const { origin, path } = locate(target, dialect.chatPath);
      const json = encodedBody(dialect, request, target.encoding);
      if (typeof json !== 'string') return Promise.resolve(json);
      return new Promise((resolve) => {
        const headers = upstreamHeaders(dialect, target, request.stream ? 'text/event-stream' : 'application/json', options.via, forwardedVia, requestId);
        // A long body is released as it is written (a long stream would otherwise hold it): such a
        // request cannot be sent again, so only a short one gets a second connection.
        const released = json.length > releasedBodyChars;
        const dispatch = (dispatcher: Dispatcher, again: (() => boolean) | undefined): void => {
          const call = new UpstreamCall(dialect, request.stream, cancellation, resolve, graceMs, target.apiKey, again);
          // Already cancelled, the call has answered: dispatched, undici would abort it on a pooled
          // connection and destroy that connection.
          if (cancellation.cancelled) return;
          try {
            let body: string | Iterable<Buffer> = json;
            if (released) {
              const bytes = Buffer.from(json);
              headers['content-length'] = String(bytes.length);
              body = releasingBody(bytes);
            }
            // undici documents Iterable bodies, but its DispatchOptions type does not list them yet.
            dispatcher.dispatch({ method: 'POST', path, headers, body } as Dispatcher.DispatchOptions, call);
          } catch (error) {
            call.onResponseError(undefined, error instanceof Error ? error : new Error(String(error)));
          }
        };
        dispatch(
          poolFor(origin),
          released
            ? undefined
            : () => {
                if (mayResend?.() === false) return false;
                resendOnFreshConnection(target.id, origin, (client) => dispatch(client, undefined));
                return true;
              },
        );
      });
    },
    async countTokens(target, request, cancellation, requestId, mayResend, forwardedVia) {
      const counting = dialects[target.dialect].tokenCounting;
      if (counting === undefined) return { kind: 'error', status: 404, message: `the ${target.dialect} API has no token counting`, fromUpstream: false, retryAfter: undefined, gatewayFault: true };
      const { origin, path } = locate(target, counting.path);
      const body = encodedBody(counting, request, target.encoding);
      if (typeof body !== 'string') return body;
      const abort = new AbortController();
      const stopListening = cancellation.onCancel(() => abort.abort(new CancelledError()));
      const headers = upstreamHeaders(dialects[target.dialect], target, 'application/json', options.via, forwardedVia, requestId);
      const ask = async (dispatcher: Dispatcher, pooled: boolean): Promise<TokenCountResponse> => {
        const sent = performance.now();
        /** The upstream's status is in: a later break is a broken answer, not a failure to connect. */
        let answered = false;
        try {
          const response = await dispatcher.request({ method: 'POST', path, headers, body, signal: abort.signal });
          answered = true;
          // A count is a few bytes: a body longer than an error's limit is no count.
          const chunks: Buffer[] = [];
          let bytes = 0;
          for await (const chunk of response.body as AsyncIterable<Buffer>) {
            chunks.push(chunk);
            bytes += chunk.length;
            if (bytes > errorBodyLimit) {
              response.body.destroy();
              break;
            }
          }
          const text = Buffer.concat(chunks).toString('utf8');
          const json = parseJsonOrUndefined(text);
          if (response.statusCode >= 400) return upstreamError(response.statusCode, response.headers, json, target.apiKey);
          const parsed = counting.parseResult(json);
          if (!parsed.ok) return { kind: 'error', status: 502, message: parsed.problem.message, fromUpstream: false, retryAfter: undefined };
          return { kind: 'count', inputTokens: parsed.value };
        } catch (error) {
          if (cancellation.cancelled) return { kind: 'error', status: connectFailureStatus, message: 'request cancelled', fromUpstream: false, retryAfter: undefined };
          // As an answer's (see UpstreamCall.onResponseError): a connection lost at once is resent, once.
          if (pooled && !answered && lostAsStale(error, sent)) {
            if (mayResend?.() === false) return { ...connectFailure(error), withdrawn: true };
            return resendOnFreshConnection(target.id, origin, (client) => ask(client, false));
          }
          return answered ? { kind: 'error', status: 502, message: `the upstream's answer broke: ${describeNetworkError(error)}`, fromUpstream: false, retryAfter: undefined } : connectFailure(error);
        }
      };
      try {
        return await ask(poolFor(origin), true);
      } finally {
        stopListening();
      }
    },
    async close() {
      // Destroyed, not closed (which waits for requests in flight): the gateway closes its client
      // after its own drain, when what may still run (a hedge's losing leg waiting for its first
      // token) is needed by no one.
      // Taken at once: a resend or a pool made while these are destroyed is destroyed as it is made.
      closed = true;
      const open = [...pools.values(), ...resending];
      pools.clear();
      resending.clear();
      await Promise.all(open.map((dispatcher) => dispatcher.destroy()));
    },
  };
}

/** An upstream's request id as logged: only a plain token, never text an upstream could fill with anything. */
const plainToken = /^[\w.:@/+=-]{1,128}$/;

function firstHeader(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/**
 * A request's JSON for an upstream, or the failure when the gateway cannot write it: a bug of the
 * gateway's, which no endpoint caused, said so and kept off every circuit.
 */
function encodedBody(encoder: Pick<Dialect, 'encodeRequest'>, request: ChatRequest, encoding: EncodeOptions | undefined): string | ({ readonly kind: 'error' } & UpstreamFailure) {
  try {
    return stringifyJson(encoder.encodeRequest(request, encoding));
  } catch (error) {
    return { kind: 'error', status: 500, message: `the gateway could not write the request for this upstream: ${error instanceof Error ? error.message : String(error)}`, fromUpstream: false, retryAfter: undefined, gatewayFault: true };
  }
}

/** The headers of an upstream call: JSON in, the dialect's auth, the endpoint's own, the Via with the gateway's name, the request id. */
function upstreamHeaders(dialect: Dialect, target: UpstreamTarget, accept: string, ownVia: string | undefined, forwardedVia: string | undefined, requestId: string | undefined): Record<string, string> {
  const headers: Record<string, string> = { 'content-type': 'application/json', accept, ...dialect.authHeaders(target.apiKey) };
  if (target.headers !== undefined) Object.assign(headers, target.headers);
  if (ownVia !== undefined) headers.via = viaOf(forwardedVia, ownVia);
  if (requestId !== undefined) headers['x-request-id'] = requestId;
  return headers;
}

function parseJsonOrUndefined(text: string): unknown {
  try {
    return JSON.parse(withoutByteOrderMark(text));
  } catch {
    return undefined;
  }
}

/**
 * An upstream's error response as a failure: its words (upstreamErrorDetail), every field of which
 * that may reach the caller or the log left out when it quotes the gateway's key; its Retry-After;
 * its request id when a plain token that does not quote the key either (an upstream may echo what it got).
 */
function upstreamError(status: number, headers: IncomingHttpHeaders, body: unknown, apiKey: string | undefined): { readonly kind: 'error' } & UpstreamFailure {
  const detail = upstreamErrorDetail(body);
  const kept = (value: string | undefined): string | undefined => (value !== undefined && quotesKey(value, apiKey) ? undefined : value);
  const id = firstHeader(headers['x-request-id'] ?? headers['request-id']);
  return { kind: 'error', status, retryAfter: retryAfterOf(headers), ...detail, label: kept(detail.label), param: kept(detail.param), message: redacted(detail.message, apiKey), fromUpstream: true, upstreamRequestId: id !== undefined && plainToken.test(id) && !quotesKey(id, apiKey) ? id : undefined };
}

/**
 * An upstream's wait: its retry-after-ms when a plain number (OpenAI's and Azure's, and the
 * emulator's, finer than whole seconds), as seconds, else its Retry-After.
 */
function retryAfterOf(headers: IncomingHttpHeaders): string | undefined {
  const ms = firstHeader(headers['retry-after-ms'])?.trim();
  // Written as plain seconds (no exponent, which a Retry-After never has), at most a day, as any wait is kept.
  return ms !== undefined && /^\d+(\.\d+)?$/.test(ms) ? (Math.min(longestRetryAfterMs, Number(ms)) / 1000).toFixed(3) : firstHeader(headers['retry-after']);
}

/**
 * Whether an upstream's text quotes the gateway's key for it (an upstream 401 may). Keys under 8
 * characters are placeholders for servers that check none ('EMPTY', vLLM's; 'none', 'x'), no
 * secret: ordinary text holds them, and was withheld as if it quoted a key.
 */
function quotesKey(text: string, key: string | undefined): boolean {
  if (key === undefined || key.length < 8) return false;
  if (text.includes(key)) return true;
  // Masked, as OpenAI's 401 quotes a key: its first characters and last four around asterisks.
  return key.length >= 16 && (text.includes(key.slice(0, 8)) || text.includes(`*${key.slice(-4)}`));
}

/**
 * An upstream's text, withheld whole when it quotes the gateway's key for it. Not the key replaced
 * in place: the text around it would show where it stood, and what kind of key it is.
 */
function redacted(text: string, key: string | undefined): string {
  return quotesKey(text, key) ? "[the upstream's message, withheld: it quoted the gateway's key for that upstream]" : text;
}

class CancelledError extends Error {
  constructor() {
    super('request cancelled');
  }
}

/** One upstream request: undici's handler on one side, an UpstreamResponse on the other. */
class UpstreamCall implements Dispatcher.DispatchHandler {
  #controller: Dispatcher.DispatchController | undefined;
  #settled = false;
  #status = 0;
  #mode: 'stream' | 'json' | 'error' = 'json';
  #chunks: Buffer[] = [];
  /** An error response's headers (its Retry-After and request id are read from them). */
  #errorHeaders: IncomingHttpHeaders | undefined;
  #queue: EventQueue<ChatEvent> | undefined;
  #sse: { feed(chunk: string): void } | undefined;
  #reader: StreamReader | undefined;
  /** Made only once a chunk ends inside a character: most streams never need one. */
  #decoder: InstanceType<typeof TextDecoder> | undefined;
  /** Whether a non-empty chunk of the stream was decoded already (a byte-order mark can only lead). */
  #decoding = false;
  #streamDone = false;
  /** Whether the stream held any event: one without (an HTML page, an empty 200) is named by its status and type. */
  #sawEvent = false;
  /** A 2xx answer's content type, for saying what an answer that is no stream nor JSON was. */
  #contentType: string | undefined;
  /** Lets the response go: after the final event (trailer grace), or during a long error body. */
  #letGoTimer: NodeJS.Timeout | undefined;
  #bodyBytes = 0;
  readonly #stopListening: () => void;
  /** See the constructor; let go once an answer starts, so that a long stream does not hold it. */
  #again: (() => boolean) | undefined;
  readonly #created = performance.now();

  constructor(
    private readonly dialect: Dialect,
    private readonly streamRequested: boolean,
    private readonly cancellation: Cancellation,
    private readonly resolve: (response: UpstreamResponse) => void,
    private readonly graceMs: number,
    /** The gateway's key for this upstream: its error texts (which reach logs) may quote it. */
    private readonly apiKey: string | undefined,
    /** Sends the request again on a fresh connection, once, when this one is lost before any answer; false when it may not be. */
    again: (() => boolean) | undefined = undefined,
  ) {
    this.#again = again;
    this.#stopListening = cancellation.onCancel(() => {
      if (this.#controller !== undefined) this.#controller.abort(new CancelledError());
      // Not on a socket yet: answer now; the request is aborted when undici starts it.
      else this.#settle({ kind: 'error', status: connectFailureStatus, message: 'request cancelled', fromUpstream: false, retryAfter: undefined });
    });
  }

  #settle(response: UpstreamResponse): void {
    if (this.#settled) return;
    this.#settled = true;
    this.resolve(response);
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.#controller = controller;
    if (this.cancellation.cancelled) controller.abort(new CancelledError());
  }

  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders): void {
    // An informational response (103 Early Hints, 100 Continue) comes before the real one: it
    // is not the answer, and taken for it the real one would be read into a queue nobody reads.
    // Any response, informational included, shows the request was read: no resend after it.
    this.#again = undefined;
    if (statusCode < 200) return;
    // undici keeps the raw header buffers on its controller for the life of the response (about
    // 1 KB of heap): a stream may stay open for hours, and the parsed headers are all we read.
    controller.rawHeaders = null;
    this.#status = statusCode;
    if (statusCode >= 400) {
      this.#mode = 'error';
      this.#errorHeaders = headers;
      this.#letGoTimer = setTimeout(() => this.#endErrorEarly(), this.graceMs);
      return;
    }
    const unusable = unusableAnswer(statusCode, headers, this.apiKey);
    if (unusable !== undefined) {
      this.#refuse(unusable.message, unusable.detail);
      return;
    }
    const contentType = headers['content-type'];
    if (typeof contentType === 'string') this.#contentType = contentType;
    const isJson = typeof contentType === 'string' && contentType.includes('application/json');
    if (!this.streamRequested || isJson) return;
    this.#mode = 'stream';
    const queue = new EventQueue<ChatEvent>(queueHighWater, () => controller.pause(), () => controller.resume());
    const reader = this.dialect.createStreamReader();
    this.#reader = reader;
    this.#queue = queue;
    this.#sse = createSseReader((message) => {
      this.#sawEvent = true;
      if (this.#streamDone) return;
      const read = reader.read(message.event, message.data);
      let finished = false;
      for (const event of read.events) {
        queue.push(event.type === 'error' ? { ...event, message: redacted(event.message, this.apiKey) } : event);
        if (event.type === 'finish') finished = true;
      }
      // The answer is whole at its finish: what an upstream sends after it ([DONE], or anything
      // else) is not read, and the response is let go if it does not end (see onResponseData).
      this.#streamDone = read.done || finished;
    }, maxEventChars, () => {
      this.#streamDone = true;
      queue.push({ type: 'error', kind: 'api_error', message: `upstream sent an SSE event or line longer than ${maxEventChars} characters` });
      queue.end();
      this.#controller?.abort(new CancelledError());
    });
    this.#settle({ kind: 'events', events: queue });
  }

  onResponseData(_controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.#mode !== 'stream') {
      this.#chunks.push(chunk);
      this.#bodyBytes += chunk.length;
      if (this.#mode === 'error' && this.#bodyBytes > errorBodyLimit) this.#endErrorEarly();
      else if (this.#mode === 'json' && this.#bodyBytes > maxJsonAnswerBytes) this.#refuseLargeAnswer();
      return;
    }
    if (this.#streamDone) return;
    this.#sse?.feed(this.#decode(chunk));
    if (this.#streamDone) {
      // The response normally ends in this same read; the timer is for one that never does.
      const controller = this.#controller;
      this.#letGoTimer = setTimeout(() => controller?.abort(new CancelledError()), this.graceMs);
    }
  }

  /**
   * UTF-8 text of a chunk. A chunk that ends in an ASCII byte ends between characters (every byte
   * of a multi-byte character is 0x80 or above) and decodes on its own; an SSE chunk nearly always
   * ends in a newline. A streaming decoder, about 1 KB of native memory per open stream, is made
   * only when one does not, and then keeps the partial character for the next chunk.
   */
  #decode(chunk: Buffer): string {
    if (this.#decoder === undefined) {
      const first = !this.#decoding;
      if (chunk.length > 0) this.#decoding = true;
      // A stream may open with a byte-order mark, which a decoder drops at the start of a stream
      // (SSE allows one; left in, it would hide the first field name and lose the first frame).
      if (first && chunk[0] === 0xef) this.#decoder = new TextDecoder();
      else if (chunk.length === 0 || (chunk[chunk.length - 1] ?? 0) < 0x80) return chunk.toString('utf8');
      // Mid-stream a U+FEFF is text: the decoder must not take it for a byte-order mark.
      else this.#decoder = new TextDecoder('utf-8', { ignoreBOM: true });
    }
    return this.#decoder.decode(chunk, { stream: true });
  }

  onResponseEnd(): void {
    clearTimeout(this.#letGoTimer);
    this.#stopListening();
    if (this.#mode === 'stream') {
      if (!this.#streamDone) this.#queue?.push(this.#announcedFinish() ?? { type: 'error', kind: 'api_error', message: this.#sawEvent ? 'upstream stream ended without its final event' : `upstream answered ${this.#status} (${this.#typeText()}) with no stream event` });
      this.#queue?.end();
      return;
    }
    const body = this.#bodyJson();
    if (this.#mode === 'error') {
      this.#settleError(body);
      return;
    }
    if (body === undefined) {
      this.#settle({ kind: 'error', status: 502, message: `upstream sent a response that is not JSON (${this.#status}, ${this.#typeText()})`, fromUpstream: false, retryAfter: undefined });
      return;
    }
    // An error body sent with a 200 (by the upstream or a proxy before it) is told as what it says, as
    // with an error status it would be: Anthropic's overload as a 529, not a malformed answer (E59).
    const error = typeof body === 'object' && body !== null && 'error' in body ? body.error : undefined;
    if (typeof error === 'object' && error !== null) {
      this.#settle(upstreamError('type' in error && error.type === 'overloaded_error' ? 529 : 502, {}, body, this.apiKey));
      return;
    }
    const parsed = this.dialect.parseResult(body);
    if (!parsed.ok) {
      this.#settle({ kind: 'error', status: 502, message: parsed.problem.message, fromUpstream: false, retryAfter: undefined });
      return;
    }
    // A complete answer, read as the stream it would have been.
    const result = parsed.value;
    const queue = new EventQueue<ChatEvent>();
    queue.push({ type: 'start', id: result.id, model: result.model, inputTokens: result.usage.inputTokens, ...(result.usage.cache === undefined ? {} : { cache: result.usage.cache }) });
    for (const block of result.thinking ?? []) {
      if (block.type === 'redacted_thinking') queue.push({ type: 'redacted_thinking', data: block.data });
      else {
        queue.push({ type: 'thinking', text: block.thinking });
        queue.push({ type: 'thinking_signature', signature: block.signature });
      }
    }
    if (result.reasoning !== undefined) queue.push({ type: 'reasoning', text: result.reasoning });
    if (result.text !== '') queue.push({ type: 'text', text: result.text, ...(result.refusal === true ? { refusal: true as const } : {}) });
    for (const [index, call] of (result.toolCalls ?? []).entries()) {
      queue.push({ type: 'tool_call', index, id: call.id, name: call.name });
      if (call.arguments !== '') queue.push({ type: 'tool_arguments', index, text: call.arguments });
    }
    queue.push({ type: 'finish', finishReason: result.finishReason, ...(result.stopSequence === undefined ? {} : { stopSequence: result.stopSequence }), usage: result.usage });
    queue.end();
    this.#settle({ kind: 'events', events: queue });
  }

  /** A JSON answer past maxJsonAnswerBytes: a failed response, the rest not read. */
  #refuseLargeAnswer(): void {
    this.#refuse(`upstream sent a JSON answer larger than ${maxJsonAnswerBytes} bytes`);
  }

  /** An answer that cannot be one (see unusableAnswer, refuseLargeAnswer): a failed response, the rest not read. */
  #refuse(message: string, detail?: string): void {
    this.#chunks = [];
    this.#settle({ kind: 'error', status: 502, message, fromUpstream: false, retryAfter: undefined, ...(detail === undefined ? {} : { detail }) });
    this.#controller?.abort(new CancelledError());
  }

  #typeText(): string {
    return this.#contentType === undefined ? 'no content-type' : `content-type ${this.#contentType.slice(0, 100)}`;
  }

  /** The body read so far, as JSON; undefined when it is not JSON (or not whole). */
  #bodyJson(): unknown {
    return parseJsonOrUndefined(Buffer.concat(this.#chunks).toString('utf8'));
  }

  #settleError(body: unknown): void {
    this.#settle(upstreamError(this.#status, this.#errorHeaders ?? {}, body, this.apiKey));
  }


  /** An error body too long, or too slow to end: the status is the answer, read with what came of the body. */
  #endErrorEarly(): void {
    clearTimeout(this.#letGoTimer);
    this.#settleError(this.#bodyJson());
    this.#chunks = [];
    this.#controller?.abort(new CancelledError());
  }

  /** A stream that broke after announcing its finish is complete but for its trailer. */
  #announcedFinish(): ChatEvent | undefined {
    return this.#reader?.announcedFinish();
  }

  onResponseError(_controller: Dispatcher.DispatchController | undefined, error: Error): void {
    clearTimeout(this.#letGoTimer);
    this.#stopListening();
    // Lost at once, before any answer, by a reset or close (not refused): as a stale connection is,
    // so sent once more. One lost later was read, and perhaps run: an upstream that crashes on a
    // request after reading it is not sent it twice. One that drops a request at once, on a fresh
    // connection too, is (a stale connection cannot be told apart here).
    if (this.#again !== undefined && this.#status === 0 && !this.#settled && !this.cancellation.cancelled && lostAsStale(error, this.#created)) {
      if (this.#again()) return;
      this.#settle({ ...connectFailure(error), withdrawn: true });
      return;
    }
    if (this.#queue !== undefined) {
      if (!this.#streamDone) {
        // An answer whose finish was announced is complete, however the connection ended (even
        // cut by the gateway's own stall sweep while the trailer never came).
        const announced = this.#announcedFinish();
        if (announced !== undefined) this.#queue.push(announced);
        // Otherwise, cancelled on purpose: the gateway knows why and stops reading; else say it broke.
        else if (!this.cancellation.cancelled) this.#queue.push({ type: 'error', kind: 'api_error', message: 'the upstream stream broke', detail: describeNetworkError(error) });
      }
      this.#queue.end();
      return;
    }
    // A head came: the failure is its body's. An error status is the answer (as when its body is
    // too slow, see endErrorEarly); a whole answer cut off is no lost connection (E45: told as one).
    if (this.#mode === 'error') this.#settleError(this.#bodyJson());
    else if (this.#status !== 0) this.#settle({ kind: 'error', status: 502, message: 'its answer broke off', detail: describeNetworkError(error), fromUpstream: false, retryAfter: undefined });
    else this.#settle(connectFailure(error));
  }
}

/**
 * Why a 2xx or 3xx response cannot be an answer, if it cannot: a redirect, which the gateway does not
 * follow (an endpoint's url says where it serves; a POST is not sent on to wherever a server points),
 * or a body compressed, which the gateway never asks for. Said so, rather than read and reported as a
 * broken stream, so that an operator sees what is wrong with the endpoint's url. Where a redirect
 * points goes to the log only (`detail`): it names the upstream's hosts, which are not the caller's
 * business.
 */
function unusableAnswer(status: number, headers: IncomingHttpHeaders, apiKey: string | undefined): { readonly message: string; readonly detail?: string } | undefined {
  if (status >= 300) {
    const location = typeof headers.location === 'string' ? redirectTarget(headers.location) : undefined;
    // A path may hold the key too (an upstream may put what it got there): then only that it did.
    const detail = location === undefined ? undefined : quotesKey(location, apiKey) ? "it points to a location that quoted the gateway's key for that upstream (withheld)" : `it points to ${location}`;
    return { message: `upstream answered ${status}, a redirect, which the gateway does not follow: set the endpoint's url to where the upstream serves`, ...(detail === undefined ? {} : { detail }) };
  }
  const encoding = headers['content-encoding'];
  if (encoding === undefined) return undefined;
  const codings = (Array.isArray(encoding) ? encoding.join(',') : encoding).toLowerCase();
  // Only a compression: 'identity', and 'none' (which SSE servers send to keep proxies from
  // compressing a stream), leave the body as it is.
  const compressed = /(^|[\s,])(x-)?(gzip|deflate|br|zstd|compress)($|[\s,;])/.exec(codings);
  if (compressed !== null) return { message: `upstream answered with content-encoding ${compressed[3] ?? ''}, which the gateway neither asks for nor decodes` };
  return undefined;
}

/**
 * Where a redirect points, for the log: its scheme, host and path, without what may carry a secret
 * (credentials before the host, the query, path parameters after a ';'), at most 200 characters.
 */
function redirectTarget(location: string): string | undefined {
  try {
    const url = new URL(location, 'http://upstream.invalid');
    const path = url.pathname.split(';', 1)[0] ?? '';
    return (url.host === 'upstream.invalid' ? path : `${url.protocol}//${url.host}${path}`).slice(0, 200);
  } catch {
    return undefined;
  }
}

/**
 * How soon after it was sent a request's lost connection counts as stale (dropped by the upstream as
 * it was reused): a reset of a connection the upstream had already closed comes back within a round
 * trip; one that comes later followed the upstream's reading of the request.
 */
const staleLossMs = 250;

/** The codes of a connection that was open and then lost (reset, closed by the other side, a write after its close), as against one never made. */
const lostCodes: ReadonlySet<string> = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET']);

/** Whether a request sent at `sentAt` was lost as a stale connection loses it: by a reset or close, at once (answers and counts alike). */
function lostAsStale(error: unknown, sentAt: number): boolean {
  return performance.now() - sentAt <= staleLossMs && lostCodes.has((error as { code?: string } | undefined)?.code ?? '') && !isUnreadableAnswer(error);
}

/**
 * The codes of the gateway's own open-file limit reached (its process's, EMFILE, or the system's,
 * ENFILE): no upstream's fault. Counted against the endpoint, a flood of idle connections to the
 * gateway opened every healthy endpoint's circuit (E38).
 */
const outOfFilesCodes: ReadonlySet<string> = new Set(['EMFILE', 'ENFILE']);

/** The codes of an answer undici could not read: its parser's (HPE_), headers past its limit, a body unlike its length. */
const unreadableCode = /^(HPE_|UND_ERR_HEADERS_OVERFLOW$|UND_ERR_RES_)/;

/**
 * An answer undici could not read. Its parser's error has no code for some faults (an answer that is
 * not HTTP at all: `HTTZ/9`), and an answer it refuses to read (a 100 Continue it did not ask for, an
 * upgrade) comes as a socket error, 'bad response': either was an answer, so the request was read and
 * is not lost as a stale connection's is (E45: a 100 Continue was resent as a lost request, thrice).
 */
function isUnreadableAnswer(error: unknown): boolean {
  if (error instanceof undiciErrors.HTTPParserError) return true;
  if (error instanceof undiciErrors.SocketError && (error.message === 'bad response' || error.message === 'bad upgrade')) return true;
  return unreadableCode.test((error as { code?: string } | undefined)?.code ?? '');
}

/** A request that got no answer for a network error: a connection never made, one lost (connectionLost), or an answer that was not HTTP (unreadableAnswer). */
function connectFailure(error: unknown): { readonly kind: 'error' } & UpstreamFailure {
  const code = (error as { code?: string } | undefined)?.code ?? '';
  const unreadable = isUnreadableAnswer(error);
  const lost = lostCodes.has(code) && !unreadable;
  return { kind: 'error', status: connectFailureStatus, message: describeNetworkError(error), fromUpstream: false, retryAfter: undefined, ...(lost ? { connectionLost: true as const } : {}), ...(unreadable ? { unreadableAnswer: true as const } : {}), ...(outOfFilesCodes.has(code) ? { gatewayFault: true as const, outOfFiles: true as const } : {}) };
}

function describeNetworkError(error: unknown): string {
  if (error instanceof undiciErrors.UndiciError) return `${error.code}: ${error.message}`;
  const code = (error as { code?: string }).code;
  return code === undefined ? (error instanceof Error ? error.message : String(error)) : `${code}: ${(error as Error).message}`;
}
