import { Pool, errors as undiciErrors } from 'undici';
import type { ChatEvent, ChatRequest, ChatResult } from '../protocol/chat.js';
import type { Dialect } from '../protocol/dialect.js';
import { dialects } from '../protocol/dialects.js';
import { createSseReader } from '../protocol/sse.js';

/** Where and how to reach one upstream replica. */
export interface UpstreamTarget {
  readonly id: string;
  readonly url: string;
  readonly dialect: Dialect['name'];
  readonly apiKey: string | undefined;
}

export type UpstreamResponse =
  | { readonly kind: 'result'; readonly result: ChatResult }
  | { readonly kind: 'stream'; readonly events: AsyncIterable<ChatEvent> }
  | { readonly kind: 'error'; readonly status: number; readonly message: string; readonly retryAfter: string | undefined };

/**
 * Sends canonical requests to upstream replicas. The gateway depends on this
 * interface only, so tests and the simulator can replace the network.
 */
export interface UpstreamClient {
  send(target: UpstreamTarget, request: ChatRequest, signal: AbortSignal): Promise<UpstreamResponse>;
  close(): Promise<void>;
}

/** Status used for failures that never got an HTTP status (refused, reset, timed out connecting). */
export const connectFailureStatus = 0;

/**
 * An undici connection pool per upstream origin: keep-alive, no per-request TCP handshakes.
 * Unbounded by default: a stream holds its connection for its whole life, so a cap would
 * queue new streams behind old ones (a cap of 256 stalled the 257th open stream).
 */
export function createPooledUpstreamClient(options: { connectionsPerUpstream?: number } = {}): UpstreamClient {
  const pools = new Map<string, Pool>();
  const poolFor = (origin: string): Pool => {
    let pool = pools.get(origin);
    if (pool === undefined) {
      pool = new Pool(origin, { connections: options.connectionsPerUpstream ?? null, pipelining: 1, keepAliveTimeout: 30_000 });
      pools.set(origin, pool);
    }
    return pool;
  };

  return {
    async send(target, request, signal) {
      const dialect = dialects[target.dialect];
      const base = new URL(target.url);
      const path = `${base.pathname.replace(/\/$/, '')}${dialect.chatPath}`;
      let response;
      try {
        response = await poolFor(base.origin).request({
          method: 'POST',
          path,
          headers: { 'content-type': 'application/json', accept: request.stream ? 'text/event-stream' : 'application/json', ...dialect.authHeaders(target.apiKey) },
          body: JSON.stringify(dialect.encodeRequest(request)),
          signal,
        });
      } catch (error) {
        if (signal.aborted) throw error;
        return { kind: 'error', status: connectFailureStatus, message: describeNetworkError(error), retryAfter: undefined };
      }
      const status = response.statusCode;
      if (status >= 400) {
        const text = await response.body.text().catch(() => '');
        let body: unknown;
        try {
          body = JSON.parse(text);
        } catch {
          body = undefined;
        }
        const retryAfter = response.headers['retry-after'];
        return { kind: 'error', status, message: dialect.errorMessage(body), retryAfter: Array.isArray(retryAfter) ? retryAfter[0] : retryAfter };
      }
      if (!request.stream) {
        let body: unknown;
        try {
          body = await response.body.json();
        } catch (error) {
          if (signal.aborted) throw error;
          return { kind: 'error', status: 502, message: 'upstream sent a response that is not JSON', retryAfter: undefined };
        }
        const parsed = dialect.parseResult(body);
        return parsed.ok ? { kind: 'result', result: parsed.value } : { kind: 'error', status: 502, message: parsed.problem.message, retryAfter: undefined };
      }
      return { kind: 'stream', events: readStream(response.body, dialect, signal) };
    },
    async close() {
      await Promise.all([...pools.values()].map((pool) => pool.close()));
      pools.clear();
    },
  };
}

/**
 * Canonical events from an upstream SSE body. A body that ends (or breaks)
 * before the dialect's terminal frame yields an error event: the gateway then
 * resumes or reports, and never passes a cut stream off as complete.
 */
async function* readStream(body: AsyncIterable<Uint8Array | string>, dialect: Dialect, signal: AbortSignal): AsyncGenerator<ChatEvent> {
  const reader = dialect.createStreamReader();
  const pending: ChatEvent[] = [];
  let done = false;
  const sse = createSseReader((message) => {
    if (done) return;
    const read = reader.read(message.event, message.data);
    pending.push(...read.events);
    done = read.done;
  });
  const decoder = new TextDecoder();
  try {
    for await (const chunk of body) {
      sse.feed(typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true }));
      while (pending.length > 0) yield pending.shift() as ChatEvent;
      if (done) return;
    }
  } catch (error) {
    if (signal.aborted) return;
    yield { type: 'error', kind: 'api_error', message: `upstream stream broke: ${describeNetworkError(error)}` };
    return;
  }
  while (pending.length > 0) yield pending.shift() as ChatEvent;
  if (!done) yield { type: 'error', kind: 'api_error', message: 'upstream stream ended before its final event' };
}

function describeNetworkError(error: unknown): string {
  if (error instanceof undiciErrors.UndiciError) return `${error.code}: ${error.message}`;
  const code = (error as { code?: string }).code;
  return code === undefined ? (error instanceof Error ? error.message : String(error)) : `${code}: ${(error as Error).message}`;
}
