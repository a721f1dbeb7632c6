import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Pool, type Dispatcher } from 'undici';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { ChatEvent, ChatRequest } from '../../src/protocol/chat.js';
import { openaiDialect } from '../../src/protocol/openai/openai-dialect.js';
import { Cancellation } from '../../src/gateway/cancellation.js';
import { connectFailureStatus } from '../../src/gateway/retry-policy.js';
import { createPooledUpstreamClient, type UpstreamResponse, type UpstreamTarget } from '../../src/gateway/upstream-client.js';

const request: ChatRequest = { model: 'm', messages: [{ role: 'user', content: 'hi' }], maxTokens: undefined, temperature: undefined, topP: undefined, stop: [], stream: true, includeUsage: true, finalAssistant: 'continue' };
const servers: Server[] = [];
const clients: { close(): Promise<void> }[] = [];

afterEach(async () => {
  vi.restoreAllMocks();
  await Promise.all(clients.splice(0).map((client) => client.close()));
  await Promise.all(servers.splice(0).map((server) => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve); })));
});

async function upstream(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<UpstreamTarget> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => handler(req, res));
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { id: 'u', url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, dialect: 'openai', apiKey: undefined };
}

/** An upstream that answers the first request on each connection (`answer`) and resets a connection that brings a second: a stale pooled connection, as an upstream's keep-alive ends it. */
async function resettingReusedConnections(answer: (res: ServerResponse) => void): Promise<{ target: UpstreamTarget; resets: () => number }> {
  const seen = new WeakMap<object, number>();
  let resets = 0;
  const target = await upstream((req, res) => {
    const count = (seen.get(req.socket) ?? 0) + 1;
    seen.set(req.socket, count);
    if (count > 1) {
      resets += 1;
      req.socket.resetAndDestroy();
      return;
    }
    answer(res);
  });
  return { target, resets: () => resets };
}

function client(options: Parameters<typeof createPooledUpstreamClient>[0] = {}) {
  const created = createPooledUpstreamClient(options);
  clients.push(created);
  return created;
}

async function events(response: UpstreamResponse, pauseEveryMs = 0): Promise<ChatEvent[]> {
  if (response.kind !== 'events') throw new Error(`expected events, got ${JSON.stringify(response)}`);
  const seen: ChatEvent[] = [];
  for (;;) {
    const next = await response.events.next();
    if (next.done === true) return seen;
    seen.push(next.value);
    if (pauseEveryMs > 0 && seen.length % 100 === 0) await new Promise((resolve) => setTimeout(resolve, pauseEveryMs));
  }
}

function sseBody(tokens: number, complete: boolean): string {
  const writer = openaiDialect.createStreamWriter({ includeUsage: true, created: 0 });
  let frames = writer.write({ type: 'start', id: 'x', model: 'm', inputTokens: 1 });
  for (let i = 0; i < tokens; i += 1) frames += writer.write({ type: 'text', text: `t${i} ` });
  if (complete) frames += writer.write({ type: 'finish', finishReason: 'stop', usage: { inputTokens: 1, outputTokens: tokens } });
  return frames;
}

describe('pooled upstream client', () => {
  it('reads a long SSE answer in order even when the reader is slower than the socket (pause and resume)', async () => {
    const target = await upstream((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end(sseBody(2000, true));
    });
    const seen = await events(await client().send(target, request, new Cancellation()), 2);
    const texts = seen.filter((event) => event.type === 'text').map((event) => (event.type === 'text' ? event.text : ''));
    expect(texts).toHaveLength(2000);
    expect(texts[1999]).toBe('t1999 ');
    expect(seen.at(-1)).toEqual({ type: 'finish', finishReason: 'stop', usage: { inputTokens: 1, outputTokens: 2000 } });
  });

  /**
   * The text an answer's SSE bytes come to when the upstream sends them cut at the offsets `cuts`
   * gives. `texts` are its text frames; without `start` the first of them opens the stream.
   */
  async function textReceived(texts: readonly string[], cuts: (bytes: Buffer) => number[], { prefix = Buffer.alloc(0), start = true } = {}): Promise<string> {
    const writer = openaiDialect.createStreamWriter({ includeUsage: true, created: 0 });
    let frames = start ? writer.write({ type: 'start', id: 'x', model: 'm', inputTokens: 1 }) : '';
    for (const text of texts) frames += writer.write({ type: 'text', text });
    frames += writer.write({ type: 'finish', finishReason: 'stop', usage: { inputTokens: 1, outputTokens: 1 } });
    const bytes = Buffer.concat([prefix, Buffer.from(frames)]);
    const target = await upstream((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      void (async () => {
        let from = 0;
        for (const cut of [...cuts(bytes), bytes.length]) {
          res.write(bytes.subarray(from, cut));
          from = cut;
          await new Promise((resolve) => setTimeout(resolve, 30));
        }
        res.end();
      })();
    });
    const seen = await events(await client().send(target, request, new Cancellation()));
    return seen.flatMap((event) => (event.type === 'text' ? [event.text] : [])).join('');
  }
  const after = (bytes: Buffer, needle: string, offset = 0): number => bytes.indexOf(Buffer.from(needle)) + Buffer.byteLength(needle) + offset;

  it('multi-byte characters arrive whole, in chunks that end between characters and in chunks that end inside one', async () => {
    // Whole characters first, in a chunk ending in an ASCII space; then cuts inside é (2 bytes) and inside 🎉 (4 bytes, twice).
    const text = 'ünïcødé ✓ then héllo 🎉 done';
    expect(await textReceived([text], (bytes) => [after(bytes, '✓ '), after(bytes, 'hé', -1), after(bytes, '🎉', -3), after(bytes, '🎉', -1)])).toBe(text);
  });

  it('a byte-order mark opening the stream is dropped, and a U+FEFF inside the text is kept', async () => {
    const bom = Buffer.from([0xef, 0xbb, 0xbf]);
    // The mark opens the stream's first frame, here a text frame: left in, 'Hello' would be lost.
    expect(await textReceived(['Hello', ' world'], () => [], { prefix: bom, start: false })).toBe('Hello world');
    // A chunk that starts with U+FEFF mid-stream and ends inside é: the decoder made for it keeps the U+FEFF.
    const text = 'a\ufeffé';
    expect(await textReceived([text], (bytes) => [bytes.indexOf(bom), after(bytes, 'é', -1)])).toBe(text);
  });

  it("never passes on the gateway's key for an upstream that echoes it, in its request id or where a redirect points", async () => {
    const key = 'sk-upstream-key-0123456789abcdef';
    const keyed = async (handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<UpstreamTarget> => ({ ...(await upstream(handler)), apiKey: key });
    const echoId = await keyed((req, res) => {
      res.writeHead(500, { 'content-type': 'application/json', 'x-request-id': String(req.headers.authorization).replace('Bearer ', '') });
      res.end('{"error":{"message":"boom"}}');
    });
    const failed = await client().send(echoId, request, new Cancellation());
    expect(failed).toMatchObject({ kind: 'error', status: 500 });
    expect(failed.kind === 'error' ? failed.upstreamRequestId : 'not an error').toBeUndefined();
    // A plain id is still kept.
    const plainId = await keyed((_req, res) => {
      res.writeHead(500, { 'content-type': 'application/json', 'x-request-id': 'req_123' });
      res.end('{"error":{"message":"boom"}}');
    });
    expect(await client().send(plainId, request, new Cancellation())).toMatchObject({ kind: 'error', upstreamRequestId: 'req_123' });
    // A placeholder key (a server that checks none) takes nothing with it: ids, words, params, codes.
    const placeholder = { ...(await upstream((_req, res) => {
      res.writeHead(400, { 'content-type': 'application/json', 'x-request-id': 'req_9xQ2mZk7Lp0aB3' });
      res.end('{"error":{"message":"max_tokens exceeds the context","type":"invalid_request_error","param":"max_tokens"}}');
    })), apiKey: 'x' };
    expect(await client().send(placeholder, request, new Cancellation())).toMatchObject({ kind: 'error', upstreamRequestId: 'req_9xQ2mZk7Lp0aB3', message: 'max_tokens exceeds the context', param: 'max_tokens', label: 'invalid_request_error' });
    for (const location of [`/v1/${key}/chat`, `https://evil.example/p/${key.slice(0, 8)}x`]) {
      const redirect = await keyed((_req, res) => {
        res.writeHead(307, { location });
        res.end();
      });
      const refused = await client().send(redirect, request, new Cancellation());
      expect(refused.kind === 'error' ? refused.detail : 'not an error').toBe("it points to a location that quoted the gateway's key for that upstream (withheld)");
    }
  });

  it('a stream that ends without its final frame ends with an error event, never looking complete', async () => {
    const target = await upstream((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end(sseBody(3, false));
    });
    const seen = await events(await client().send(target, request, new Cancellation()));
    expect(seen.at(-1)).toMatchObject({ type: 'error', message: 'upstream stream ended without its final event' });
    expect(seen.some((event) => event.type === 'finish')).toBe(false);
  });

  it('an answer that cannot be one says what it was: a redirect, an encoding not asked for, a page with no stream event, a body not JSON', async () => {
    const answered = async (status: number, headers: Record<string, string | string[]>, body: string, asked: ChatRequest = request): Promise<string> => {
      const target = await upstream((_req, res) => {
        res.writeHead(status, headers);
        res.end(body);
      });
      const response = await client().send(target, asked, new Cancellation());
      if (response.kind === 'error') return `${String(response.status)} ${response.message}${response.detail === undefined ? '' : ` [log: ${response.detail}]`}`;
      const last = (await events(response)).at(-1);
      return last?.type === 'error' ? `event ${last.message}` : `no error: ${JSON.stringify(last)}`;
    };
    // Where a redirect points is for the log alone, without what may carry a secret: credentials, query, path parameters.
    const refusedRedirect = "upstream answered 307, a redirect, which the gateway does not follow: set the endpoint's url to where the upstream serves";
    expect(await answered(307, { location: 'https://admin:s3cret@api.example.com:8443/v1/chat/completions;jsessionid=X?token=secret' }, '')).toBe(`502 ${refusedRedirect} [log: it points to https://api.example.com:8443/v1/chat/completions]`);
    expect(await answered(307, { location: '/v2/chat/completions?token=secret' }, '')).toBe(`502 ${refusedRedirect} [log: it points to /v2/chat/completions]`);
    expect(await answered(301, {}, 'moved', { ...request, stream: false })).toBe("502 upstream answered 301, a redirect, which the gateway does not follow: set the endpoint's url to where the upstream serves");
    expect(await answered(200, { 'content-type': 'text/event-stream', 'content-encoding': 'gzip' }, 'x')).toBe('502 upstream answered with content-encoding gzip, which the gateway neither asks for nor decodes');
    expect(await answered(200, { 'content-type': 'text/event-stream', 'content-encoding': ['identity', 'br'] }, 'x')).toBe('502 upstream answered with content-encoding br, which the gateway neither asks for nor decodes');
    // 'none' is what SSE servers send to keep proxies from compressing a stream: the body is as it is.
    for (const coding of ['identity', 'none', 'None']) expect(await answered(200, { 'content-type': 'text/event-stream', 'content-encoding': coding }, sseBody(1, true))).toMatch(/^no error: \{"type":"finish"/);
    expect(await answered(200, { 'content-type': 'text/html' }, '<html><body>Welcome to nginx!</body></html>')).toBe('event upstream answered 200 (content-type text/html) with no stream event');
    expect(await answered(204, {}, '')).toBe('event upstream answered 204 (no content-type) with no stream event');
    expect(await answered(200, { 'content-type': 'text/html' }, '<html></html>', { ...request, stream: false })).toBe('502 upstream sent a response that is not JSON (200, content-type text/html)');
  });

  it("an upstream's wait is read from retry-after-ms first (finer than Retry-After's whole seconds), else from Retry-After", async () => {
    const waitOf = async (headers: Record<string, string>): Promise<string | undefined> => {
      const target = await upstream((_req, res) => {
        res.writeHead(429, { 'content-type': 'application/json', ...headers });
        res.end(JSON.stringify({ error: { message: 'slow down' } }));
      });
      const response = await client().send(target, request, new Cancellation());
      return response.kind === 'error' ? response.retryAfter : 'answered';
    };
    expect(await waitOf({ 'retry-after-ms': '250', 'retry-after': '1' })).toBe('0.250');
    // Written as seconds a Retry-After reader takes (no exponent), at most a day.
    expect(await waitOf({ 'retry-after-ms': '1000000000000000000000000', 'retry-after': '30' })).toBe('86400.000');
    expect(await waitOf({ 'retry-after-ms': '0.0000001', 'retry-after': '30' })).toBe('0.000');
    expect(await waitOf({ 'retry-after-ms': 'soon', 'retry-after': '2' })).toBe('2');
    expect(await waitOf({ 'retry-after': '3' })).toBe('3');
  });

  it('a JSON answer to a stream request is read as start, text, finish', async () => {
    const target = await upstream((_req, res) => {
      const body = JSON.stringify(openaiDialect.formatResult({ id: 'j', model: 'm', text: 'whole answer', finishReason: 'length', usage: { inputTokens: 4, outputTokens: 2 } }, 0));
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(body);
    });
    expect(await events(await client().send(target, request, new Cancellation()))).toEqual([
      { type: 'start', id: 'j', model: 'm', inputTokens: 4 },
      { type: 'text', text: 'whole answer' },
      { type: 'finish', finishReason: 'length', usage: { inputTokens: 4, outputTokens: 2 } },
    ]);
  });

  it('an error status carries the upstream message and Retry-After', async () => {
    const target = await upstream((_req, res) => {
      res.writeHead(429, { 'content-type': 'application/json', 'retry-after': '3' });
      res.end(JSON.stringify({ error: { message: 'slow down' } }));
    });
    expect(await client().send(target, request, new Cancellation())).toEqual({ kind: 'error', status: 429, message: 'slow down', fromUpstream: true, retryAfter: '3' });
  });

  it('a pooled connection lost as it is reused (before any answer) is no failure: the request goes once more, on a connection of its own', async () => {
    const { target, resets } = await resettingReusedConnections((res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end(`${sseBody(2, true)}data: [DONE]\n\n`);
    });
    const resent: string[] = [];
    const pooled = client({ onResend: (endpoint) => resent.push(endpoint) });
    for (let index = 0; index < 3; index += 1) {
      const answer = await events(await pooled.send(target, request, new Cancellation()));
      expect(answer.at(-1)).toMatchObject({ type: 'finish', finishReason: 'stop' });
    }
    expect(resets()).toBeGreaterThanOrEqual(1);
    expect(resent).toHaveLength(resets());
    expect(resent[0]).toBe('u');
    // Once only: an upstream that resets every request is a failure, not retried without end.
    const resetting = await upstream((req) => req.socket.resetAndDestroy());
    expect(await pooled.send(resetting, request, new Cancellation())).toMatchObject({ kind: 'error', status: connectFailureStatus, message: expect.stringMatching(/ECONNRESET|UND_ERR_SOCKET|EPIPE/) });
    // Lost only after a while (the upstream read the request, and crashed on it): not sent again.
    let slowArrivals = 0;
    const crashing = await upstream((req) => {
      slowArrivals += 1;
      setTimeout(() => req.socket.resetAndDestroy(), 400);
    });
    const resentBefore = resent.length;
    expect(await pooled.send(crashing, request, new Cancellation())).toMatchObject({ kind: 'error', status: connectFailureStatus });
    expect([slowArrivals, resent.length - resentBefore]).toEqual([1, 0]);
  });

  it('a token count lost with its pooled connection as it is reused goes once more on a connection of its own, as an answer does', async () => {
    const { target: counting, resets } = await resettingReusedConnections((res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"input_tokens":7}');
    });
    const target: UpstreamTarget = { ...counting, dialect: 'anthropic' };
    const resent: string[] = [];
    const pooled = client({ onResend: (endpoint) => resent.push(endpoint) });
    for (let index = 0; index < 3; index += 1) expect(await pooled.countTokens(target, request, new Cancellation())).toEqual({ kind: 'count', inputTokens: 7 });
    expect(resets()).toBeGreaterThanOrEqual(1);
    expect(resent).toEqual(Array.from({ length: resets() }, () => 'u'));
    // Once only, and not after a while.
    const resetting = await upstream((req) => req.socket.resetAndDestroy());
    expect(await pooled.countTokens({ ...resetting, dialect: 'anthropic' }, request, new Cancellation())).toMatchObject({ kind: 'error', status: connectFailureStatus, message: expect.stringMatching(/ECONNRESET|UND_ERR_SOCKET|EPIPE/) });
    expect(resent).toHaveLength(resets() + 1);
    const crashing = await upstream((req) => setTimeout(() => req.socket.resetAndDestroy(), 400));
    expect(await pooled.countTokens({ ...crashing, dialect: 'anthropic' }, request, new Cancellation())).toMatchObject({ kind: 'error', status: connectFailureStatus });
    expect(resent).toHaveLength(resets() + 1);
  });

  it('a resend its caller no longer allows (mayResend false: a reload took the jurisdiction) is not made: the request fails as lost', async () => {
    const { target, resets } = await resettingReusedConnections((res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end(`${sseBody(2, true)}data: [DONE]\n\n`);
    });
    const resent: string[] = [];
    const pooled = client({ onResend: (endpoint) => resent.push(endpoint) });
    let asked = 0;
    const forbidden = (): boolean => {
      asked += 1;
      return false;
    };
    let lost = 0;
    for (let index = 0; index < 3; index += 1) {
      const answer = await pooled.send(target, request, new Cancellation(), undefined, forbidden);
      if (answer.kind === 'error') {
        expect(answer).toMatchObject({ status: connectFailureStatus });
        lost += 1;
      } else await events(answer);
    }
    expect(resets()).toBeGreaterThanOrEqual(1);
    expect([asked, lost, resent.length]).toEqual([resets(), resets(), 0]);
    // A token count's resend asks the same.
    const counting = await resettingReusedConnections((res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"input_tokens":7}');
    });
    const countTarget: UpstreamTarget = { ...counting.target, dialect: 'anthropic' };
    asked = 0;
    let countsLost = 0;
    for (let index = 0; index < 3; index += 1) if ((await pooled.countTokens(countTarget, request, new Cancellation(), undefined, forbidden)).kind === 'error') countsLost += 1;
    expect(counting.resets()).toBeGreaterThanOrEqual(1);
    expect([asked, countsLost, resent.length]).toEqual([counting.resets(), counting.resets(), 0]);
  });

  it('once closed, a request that still comes (a hedge\'s losing leg) fails at once and opens no connection that stays', async () => {
    let arrived = 0;
    const target = await upstream((_req, res) => {
      arrived += 1;
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end(`${sseBody(1, true)}data: [DONE]\n\n`);
    });
    const pooled = createPooledUpstreamClient();
    await pooled.close();
    expect(await pooled.send(target, request, new Cancellation())).toMatchObject({ kind: 'error', status: connectFailureStatus });
    expect(await pooled.countTokens({ ...target, dialect: 'anthropic' }, request, new Cancellation())).toMatchObject({ kind: 'error', status: connectFailureStatus });
    expect(arrived).toBe(0);
  });

  it('a refused connection is a connect failure; a cancelled request settles at once', async () => {
    const refused = await client().send({ id: 'gone', url: 'http://127.0.0.1:1', dialect: 'openai', apiKey: undefined }, request, new Cancellation());
    expect(refused).toMatchObject({ kind: 'error', status: connectFailureStatus });
    const target = await upstream(() => undefined); // never answers
    const cancellation = new Cancellation();
    const pending = client().send(target, request, cancellation);
    setTimeout(() => cancellation.cancel(), 20);
    expect(await pending).toMatchObject({ kind: 'error', status: connectFailureStatus });
  });

  it('cancelling mid-stream ends the events quietly, without an error event', async () => {
    const target = await upstream((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(sseBody(2, false));
    });
    const cancellation = new Cancellation();
    const response = await client().send(target, request, cancellation);
    if (response.kind !== 'events') throw new Error('expected events');
    expect((await response.events.next()).value).toMatchObject({ type: 'start' });
    cancellation.cancel();
    const rest: ChatEvent[] = [];
    for (let next = await response.events.next(); next.done !== true; next = await response.events.next()) rest.push(next.value);
    expect(rest.every((event) => event.type !== 'error')).toBe(true);
  });

  it.each([
    ['with [DONE]', sseBody(2, true)],
    // OpenAI-dialect answers finish at their usage chunk: [DONE] may never come.
    ['without [DONE]', sseBody(2, true).replace('data: [DONE]\n\n', '')],
    ['with more chunks after its finish', sseBody(2, true).replace('data: [DONE]\n\n', '') + sseBody(600, false)],
  ])('an upstream that keeps its response open after the final event (%s) is let go after a grace period', async (_name, body) => {
    let closed: Promise<void> | undefined;
    const target = await upstream((_req, res) => {
      closed = new Promise((resolve) => res.on('close', () => resolve()));
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(body); // complete, but the response never ends
    });
    const response = await client({ graceMs: 50 }).send(target, request, new Cancellation());
    const within = <T>(promise: Promise<T>): Promise<T | 'still open'> => Promise.race([promise, new Promise<'still open'>((resolve) => setTimeout(() => resolve('still open'), 2000))]);
    // The gateway stops reading at the finish, as pumpAnswer does.
    if (response.kind !== 'events') throw new Error(`expected events, got ${JSON.stringify(response)}`);
    const seen: string[] = [];
    for (let next = await within(response.events.next()); next !== 'still open' && next.done !== true && seen.at(-1) !== 'finish'; next = await within(response.events.next())) seen.push(next.value.type);
    expect(seen).toEqual(['start', 'text', 'text', 'finish']);
    expect(await within(closed ?? Promise.resolve())).toBeUndefined();
  });

  it('an error status whose body never ends is answered with that status after the grace period', async () => {
    let closed: Promise<void> | undefined;
    const target = await upstream((_req, res) => {
      closed = new Promise((resolve) => res.on('close', () => resolve()));
      res.writeHead(400, { 'content-type': 'application/json' });
      res.write('{"error":{"message":"bad request: max_tokens too large"'); // and nothing more
    });
    const started = Date.now();
    const response = await client({ graceMs: 100 }).send(target, request, new Cancellation());
    expect(response).toMatchObject({ kind: 'error', status: 400 });
    expect(Date.now() - started).toBeLessThan(2_000);
    await closed;
  });

  it('an error body is read up to 64 KB for its message, not without end', async () => {
    let written = 0;
    const target = await upstream((_req, res) => {
      res.writeHead(500, { 'content-type': 'text/plain' });
      const pump = (): void => {
        while (!res.destroyed && written < 50_000_000) {
          written += 65_536;
          if (!res.write(Buffer.alloc(65_536, 120))) {
            res.once('drain', pump);
            return;
          }
        }
      };
      pump();
    });
    const response = await client({ graceMs: 60_000 }).send(target, request, new Cancellation());
    expect(response).toMatchObject({ kind: 'error', status: 500, message: 'upstream error' });
    expect(written).toBeLessThan(50_000_000);
  });

  it('an informational response (103 Early Hints) before the answer is passed over, not taken for it', async () => {
    const target = await upstream((_req, res) => {
      res.writeEarlyHints({ link: '</style.css>; rel=preload; as=style' });
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end(sseBody(3, true));
    });
    const response = await client().send(target, request, new Cancellation());
    const seen = await Promise.race([events(response), new Promise<never>((_resolve, reject) => setTimeout(() => reject(new Error('the answer never came')), 2_000))]);
    expect(seen.map((event) => event.type)).toEqual(['start', 'text', 'text', 'text', 'finish']);
  });

  it('a base URL with a path and a query is called at path + chat path + query', async () => {
    let called = '';
    const target = await upstream((req, res) => {
      called = req.url ?? '';
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end(sseBody(1, true));
    });
    const response = await client().send({ ...target, url: `${target.url}/proxy/team-a/?version=2024-10-21` }, request, new Cancellation());
    await events(response);
    expect(called).toBe('/proxy/team-a/v1/chat/completions?version=2024-10-21');
  });

  it('an open stream does not hold undici\'s raw response headers once they are read', async () => {
    // The controller undici hands the call: it keeps the raw header buffers unless told otherwise.
    const controllers: Dispatcher.DispatchController[] = [];
    const dispatch = Pool.prototype.dispatch;
    vi.spyOn(Pool.prototype, 'dispatch').mockImplementation(function (this: Pool, options, handler) {
      const start = handler.onRequestStart?.bind(handler);
      handler.onRequestStart = (controller, context) => {
        controllers.push(controller);
        start?.(controller, context);
      };
      return dispatch.call(this, options, handler);
    });
    const target = await upstream((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'x-padding': 'p'.repeat(200) });
      res.write(sseBody(1, false)); // and the stream stays open
    });
    const cancellation = new Cancellation();
    const response = await client().send(target, request, cancellation);
    if (response.kind !== 'events') throw new Error(`expected events, got ${response.kind}`);
    try {
      await response.events.next();
      expect(controllers).toHaveLength(1);
      expect(controllers[0]?.rawHeaders ?? null).toBeNull();
    } finally {
      cancellation.cancel();
    }
  });
});
