import type { ServerResponse } from 'node:http';
import { connect } from 'node:net';
import { Client } from 'undici';
import { afterEach, expect, it } from 'vitest';
import { createGateway, type Gateway } from '../../src/gateway/gateway-server.js';
import { cheapestFirstConfig, delay, openAIChunk, readSse, singleEndpointConfig, startScriptedUpstream, waitFor } from './helpers/fleet.js';

/**
 * Shutdown (SIGTERM from a supervisor, a rolling deploy): requests in flight finish within the
 * grace period; what is still running after it ends with an error in the caller's dialect, never
 * a silent cut that a client could take for a whole answer or a client's own disconnect.
 */

const apiKey = 'sk-shutdown';
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

/** An upstream that sends `tokens` tokens, one every `everyMs`, then finishes (never, for Infinity). */
async function tickingUpstream(tokens: number, everyMs: number): Promise<{ url: string; arrivals: () => number }> {
  const upstream = await startScriptedUpstream((res: ServerResponse) => {
    res.write(openAIChunk({ role: 'assistant', content: '' }));
    let sent = 0;
    const timer = setInterval(() => {
      if (sent === tokens) {
        clearInterval(timer);
        res.end(`${openAIChunk({}, 'stop')}data: [DONE]\n\n`);
        return;
      }
      sent += 1;
      res.write(openAIChunk({ content: `t${sent} ` }));
    }, everyMs);
    res.on('close', () => clearInterval(timer));
  });
  cleanups.push(() => upstream.close());
  return upstream;
}

async function startGateway(upstreamUrl: string): Promise<{ gateway: Gateway; url: string; logs: { msg: string }[] }> {
  const logs: { msg: string }[] = [];
  const logger = { info: (_fields: unknown, msg: string) => logs.push({ msg }), warn: (_fields: unknown, msg: string) => logs.push({ msg }), error: () => undefined };
  const gateway = createGateway({ config: singleEndpointConfig(upstreamUrl, apiKey), logger: logger as never });
  const url = await gateway.listen(0, '127.0.0.1');
  cleanups.push(() => gateway.close());
  return { gateway, url, logs };
}

const chat = (url: string, stream: boolean): Promise<Response> =>
  fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${apiKey}` },
    body: JSON.stringify({ model: 'm', stream, messages: [{ role: 'user', content: 'hello' }] }),
  });

it('a stream in flight finishes whole within the grace period, and no new connection is taken', async () => {
  const { gateway, url } = await startGateway((await tickingUpstream(10, 30)).url);
  const response = await chat(url, true);
  const closed = gateway.close({ graceMs: 10_000 });
  let closedYet = false;
  void closed.then(() => (closedYet = true));
  await expect(chat(url, false)).rejects.toThrow();
  await delay(50);
  expect(closedYet).toBe(false); // it waits for the stream
  const read = await readSse(response, 'openai');
  expect(read.ending).toBe('complete');
  expect(read.text).toBe('t1 t2 t3 t4 t5 t6 t7 t8 t9 t10 ');
  await closed;
  expect(closedYet).toBe(true);
});

it('past the grace period a stream ends with an error event and a waiting request with a 503, both saying to retry', async () => {
  const { url: upstreamUrl, arrivals } = await tickingUpstream(Number.POSITIVE_INFINITY, 20);
  const { gateway, url, logs } = await startGateway(upstreamUrl);
  const stream = await chat(url, true);
  const waiting = chat(url, false); // its answer never finishes: it waits for the whole of it
  // Both have reached the upstream before the shutdown starts.
  expect(await waitFor(() => arrivals() === 2, 2_000)).toBe(true);
  const started = Date.now();
  const closed = gateway.close({ graceMs: 200 });
  const read = await readSse(stream, 'openai');
  expect(read.ending).toBe('error-event');
  expect(read.raw).toContain('shut down');
  expect(read.text.startsWith('t1 ')).toBe(true);
  const refused = await waiting;
  expect(refused.status).toBe(503);
  expect(((await refused.json()) as { error: { message: string } }).error.message).toContain('retry');
  await closed;
  expect(Date.now() - started).toBeGreaterThanOrEqual(190);
  expect(Date.now() - started).toBeLessThan(5_000);
  expect(logs.map((log) => log.msg)).toContain('shutting down: grace period over, ending requests in flight with an error');
});

it('a second close ends the grace period at once, and the log says it was cut short, not over (E55)', async () => {
  const { url: upstreamUrl, arrivals } = await tickingUpstream(Number.POSITIVE_INFINITY, 20);
  const { gateway, url, logs } = await startGateway(upstreamUrl);
  const stream = await chat(url, true);
  expect(await waitFor(() => arrivals() === 1, 2_000)).toBe(true);
  const started = Date.now();
  const closed = gateway.close({ graceMs: 10_000 });
  await new Promise((resolve) => setTimeout(resolve, 50));
  await gateway.close();
  expect((await readSse(stream, 'openai')).ending).toBe('error-event');
  await closed;
  expect(Date.now() - started).toBeLessThan(5_000);
  const said = logs.map((log) => log.msg);
  expect(said).toContain('shutting down: grace period cut short, ending requests in flight with an error');
  expect(said).not.toContain('shutting down: grace period over, ending requests in flight with an error');
});

/** An upstream whose 4 MB answer comes after `afterMs`, all at once. */
async function bigUpstream(afterMs: number): Promise<string> {
  const upstream = await startScriptedUpstream((res: ServerResponse) => {
    setTimeout(() => {
      res.write(openAIChunk({ role: 'assistant', content: '' }));
      for (let i = 0; i < 1000; i += 1) res.write(openAIChunk({ content: 'x'.repeat(4096) }));
      res.end(`${openAIChunk({}, 'stop')}data: [DONE]\n\n`);
    }, afterMs);
  });
  cleanups.push(() => upstream.close());
  return upstream.url;
}

/** Sends a non-stream request on a raw socket that reads nothing until `readAfter` resolves; returns the body bytes against content-length. */
async function slowReader(url: string, readAfter: Promise<unknown>): Promise<{ body: number; contentLength: number }> {
  // A budget the 4 MB answer fits in (the gateway cuts an answer past 256 characters a token of it).
  const body = JSON.stringify({ model: 'm', max_tokens: 20_000, messages: [{ role: 'user', content: 'hello' }] });
  const socket = connect(Number(new URL(url).port), '127.0.0.1');
  await new Promise((resolve) => socket.once('connect', resolve));
  socket.pause();
  socket.write(`POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\nauthorization: Bearer ${apiKey}\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
  await readAfter;
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.resume();
  await new Promise((resolve) => socket.once('close', resolve));
  const all = Buffer.concat(chunks);
  const split = all.indexOf('\r\n\r\n');
  const contentLength = Number(/content-length: (\d+)/i.exec(all.subarray(0, split).toString('latin1'))?.[1]);
  return { body: all.length - split - 4, contentLength };
}

it.each([
  ['ended before the shutdown began', 0, 300],
  ['ending during the grace period', 300, 100],
])('an answer %s reaches a client that reads it slowly whole, not cut when its connection closes', async (_case, upstreamDelayMs, closeAfterMs) => {
  const { gateway, url } = await startGateway(await bigUpstream(upstreamDelayMs));
  let closed: Promise<void> | undefined;
  const read = slowReader(
    url,
    (async () => {
      await delay(closeAfterMs);
      closed = gateway.close({ graceMs: 10_000 });
      await delay(upstreamDelayMs + 300); // the gateway has ended the answer; the client reads only now
    })(),
  );
  const { body, contentLength } = await read;
  expect(contentLength).toBeGreaterThan(4_000_000);
  expect(body).toBe(contentLength);
  await closed;
});

it("a stream to a client that stopped reading, ended by the shutdown, still gets its error event when the client reads within the last moment, and leaves no timer behind", async () => {
  // An upstream that streams as fast as it is read and never finishes.
  const upstream = await startScriptedUpstream((res: ServerResponse) => {
    res.write(openAIChunk({ role: 'assistant', content: '' }));
    const pump = (): void => {
      while (!res.destroyed) {
        if (!res.write(openAIChunk({ content: 'x'.repeat(1000) }))) {
          res.once('drain', pump);
          return;
        }
      }
    };
    pump();
  });
  cleanups.push(() => upstream.close());
  const gateway = createGateway({ config: singleEndpointConfig(upstream.url, apiKey, '{ retries: 0, ttftTimeoutMs: 5000, deadlineMs: 15000 }'), logger: false });
  const url = await gateway.listen(0, '127.0.0.1');
  cleanups.push(() => gateway.close());
  const timersBefore = process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length;
  const body = JSON.stringify({ model: 'm', stream: true, max_tokens: 1_000_000, messages: [{ role: 'user', content: 'a long answer' }] });
  const socket = connect(Number(new URL(url).port), '127.0.0.1');
  socket.on('error', () => undefined);
  await new Promise((resolve) => socket.once('connect', resolve));
  socket.write(`POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\nauthorization: Bearer ${apiKey}\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
  await new Promise((resolve) => socket.once('data', resolve));
  socket.pause();
  await delay(500); // the gateway's socket to the client is backed up by now
  const closed = gateway.close({ graceMs: 100 });
  await delay(400); // past the grace period: the answer has been ended with its error event
  let received = '';
  socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
  const ended = new Promise((resolve) => socket.once('close', resolve));
  socket.resume();
  await ended;
  await closed;
  expect(received.slice(-2000)).toContain('shut down');
  // The request's deadline timer (15 s) went with it.
  expect(process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length).toBeLessThanOrEqual(timersBefore);
});

it('while draining, a request on a connection already open gets a 503 and the connection closes; /healthz says so', async () => {
  const { gateway, url } = await startGateway((await tickingUpstream(10, 50)).url);
  const open = [new Client(url), new Client(url)];
  cleanups.push(async () => Promise.all(open.map((client) => client.destroy())).then(() => undefined));
  const [health, chatting] = open as [Client, Client];
  // Both connections open and idle before the shutdown; a stream keeps the drain going.
  expect((await health.request({ method: 'GET', path: '/healthz' })).statusCode).toBe(200);
  expect((await chatting.request({ method: 'GET', path: '/healthz' })).statusCode).toBe(200);
  const stream = await chat(url, true);
  const closed = gateway.close({ graceMs: 10_000 });
  const healthz = await health.request({ method: 'GET', path: '/healthz' });
  expect(healthz.statusCode).toBe(503);
  expect(healthz.headers.connection).toBe('close');
  await healthz.body.dump();
  const refused = await chatting.request({ method: 'POST', path: '/v1/chat/completions', headers: { 'content-type': 'application/json', authorization: `Bearer ${apiKey}` }, body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }] }) });
  expect(refused.statusCode).toBe(503);
  expect(refused.headers.connection).toBe('close');
  expect(((await refused.body.json()) as { error: { message: string } }).error.message).toContain('shutting down');
  expect((await readSse(stream, 'openai')).ending).toBe('complete');
  await closed;
});

it('requests pipelined on a connection that closes are cancelled upstream and counted as gone, so a shutdown waits for none of them', async () => {
  let open = 0;
  const upstream = await startScriptedUpstream((res: ServerResponse) => {
    open += 1;
    res.write(openAIChunk({ role: 'assistant', content: '' }));
    res.on('close', () => {
      open -= 1;
    });
  });
  cleanups.push(() => upstream.close());
  const { gateway, url, logs } = await startGateway(upstream.url);
  const body = JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hello' }] });
  const request = `POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\nauthorization: Bearer ${apiKey}\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
  const { port } = new URL(url);
  const socket = connect(Number(port), '127.0.0.1');
  socket.on('error', () => undefined);
  // Three requests in one write: Node runs all three while the first answer holds the connection.
  socket.write(request.repeat(3));
  expect(await waitFor(() => upstream.arrivals() === 3, 5_000)).toBe(true);
  socket.destroy();
  expect(await waitFor(() => open === 0, 5_000)).toBe(true);
  await gateway.close({ graceMs: 5_000 });
  expect(logs.map((log) => log.msg)).not.toContain('shutting down: waiting for requests in flight');
});

it('many requests pipelined on one connection are answered in order without a listener warning', async () => {
  const { url } = await startGateway((await tickingUpstream(1, 1)).url);
  const warnings: string[] = [];
  const onWarning = (warning: Error): void => {
    warnings.push(warning.name);
  };
  process.on('warning', onWarning);
  try {
    const socket = connect(Number(new URL(url).port), '127.0.0.1');
    let received = '';
    socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
    socket.write('GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n'.repeat(20));
    expect(await waitFor(() => (received.match(/HTTP\/1\.1 200 /g) ?? []).length === 20, 5_000)).toBe(true);
    socket.destroy();
    await delay(50);
    expect(warnings).toEqual([]);
  } finally {
    process.off('warning', onWarning);
  }
});

it("a hedge's losing leg cut by the shutdown's end is the gateway's doing: not logged as the endpoint's failure", async () => {
  // e0 never answers (its leg is left waiting for its first token); e1 answers the hedge.
  const silent = await startScriptedUpstream(() => undefined);
  cleanups.push(() => silent.close());
  const quick = await tickingUpstream(2, 1);
  const logs: { msg: string; status?: number }[] = [];
  const logger = { info: (fields: { status?: number }, msg: string) => logs.push({ msg, ...fields }), warn: (fields: { status?: number }, msg: string) => logs.push({ msg, ...fields }), error: () => undefined };
  const gateway = createGateway({ config: cheapestFirstConfig([[silent.url, 'openai'], [quick.url, 'openai']], apiKey, '{ retries: 0, hedgeAfterMs: 50, ttftTimeoutMs: 5000, deadlineMs: 10000 }'), logger: logger as never });
  const url = await gateway.listen(0, '127.0.0.1');
  const response = await chat(url, false);
  expect(response.status).toBe(200);
  await response.text();
  expect(silent.arrivals()).toBe(1);
  await gateway.close({ graceMs: 1_000 });
  await delay(50);
  expect(logs.filter((log) => log.msg === 'upstream attempt failed')).toEqual([]);
});

it.each([
  ['still sending its body', false],
  ['told to go on (Expect: 100-continue) but not yet sending', true],
])('past the grace period a request %s gets a 503 saying to retry, logged as the shutdown, not as a client that left', async (_case, expectContinue) => {
  const { url: upstreamUrl } = await tickingUpstream(1, 10);
  const lines: { status?: number; reason?: string }[] = [];
  const logger = { info: (fields: { status?: number; reason?: string }) => lines.push(fields), warn: (fields: { status?: number; reason?: string }) => lines.push(fields), error: () => undefined };
  const gateway = createGateway({ config: singleEndpointConfig(upstreamUrl, apiKey), logger: logger as never });
  const url = await gateway.listen(0, '127.0.0.1');
  cleanups.push(() => gateway.close());
  const socket = connect(Number(new URL(url).port), '127.0.0.1');
  await new Promise((resolve) => socket.once('connect', resolve));
  const received: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => received.push(chunk));
  const ended = new Promise((resolve) => socket.once('close', resolve));
  const body = JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hello' }] });
  socket.write(`POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\nauthorization: Bearer ${apiKey}\r\ncontent-length: ${Buffer.byteLength(body)}\r\n${expectContinue ? 'expect: 100-continue\r\n' : ''}\r\n${expectContinue ? '' : body.slice(0, 10)}`);
  await delay(50);
  const started = Date.now();
  await gateway.close({ graceMs: 100 });
  await ended;
  const answer = Buffer.concat(received).toString('latin1').replace(/^HTTP\/1\.1 100 Continue\r\n\r\n/, '');
  expect(answer).toMatch(/^HTTP\/1\.1 503 /);
  expect(answer).toMatch(/\r\nconnection: close\r\n/i);
  expect(answer).toContain('the gateway is shutting down; retry the request');
  expect(Date.now() - started).toBeLessThan(5_000);
  expect(lines.filter((line) => line.status !== undefined)).toEqual([expect.objectContaining({ status: 503, reason: 'the gateway is shutting down; retry the request' })]);
});
