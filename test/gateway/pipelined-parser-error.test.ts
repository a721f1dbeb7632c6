import type { ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import { afterEach, expect, it } from 'vitest';
import { createGateway, type Gateway } from '../../src/gateway/gateway-server.js';
import { delay, openAIChunk, singleEndpointConfig, startScriptedUpstream } from './helpers/fleet.js';

/**
 * A request Node's parser refuses, pipelined behind a request read whole whose answer is not done:
 * no status line may be written (it would be taken for that answer, or land inside it), so that
 * answer is finished and the connection closed after it; the refusal is counted. Behind an answer
 * that is complete, the refusal is answered.
 */

const apiKey = 'sk-pipelined';
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

/** An upstream that streams `tokens - 1` tokens, one every `everyMs`, then finishes. */
const streaming =
  (tokens: number, everyMs: number) =>
  (res: ServerResponse): void => {
    res.write(openAIChunk({ role: 'assistant', content: '' }));
    let sent = 0;
    const timer = setInterval(() => {
      sent += 1;
      if (sent === tokens) {
        clearInterval(timer);
        res.end(`${openAIChunk({}, 'stop')}data: [DONE]\n\n`);
        return;
      }
      res.write(openAIChunk({ content: `t${sent} ` }));
    }, everyMs);
    res.on('close', () => clearInterval(timer));
  };

/** A gateway in front of an upstream answering with `answer`, and the statuses its request log gives. */
async function startGateway(answer: (res: ServerResponse) => void, clientAddressHeader?: string): Promise<{ gateway: Gateway; url: string; statuses: () => number[]; lines: { status?: number; requestId?: string; client?: string }[] }> {
  const upstream = await startScriptedUpstream(answer);
  cleanups.push(() => upstream.close());
  const lines: { status?: number; requestId?: string; client?: string }[] = [];
  const logger = { info: (fields: { status?: number }) => lines.push(fields), warn: (fields: { status?: number }) => lines.push(fields), error: () => undefined };
  const config = singleEndpointConfig(upstream.url, apiKey);
  const gateway = createGateway({ config: clientAddressHeader === undefined ? config : { ...config, logging: { ...config.logging, clientAddressHeader } }, logger: logger as never });
  const url = await gateway.listen(0, '127.0.0.1');
  cleanups.push(() => gateway.close());
  return { gateway, url, lines, statuses: () => lines.map((line) => line.status).filter((status) => status !== undefined) };
}

/** A raw connection to the gateway: what it has received, and when the gateway ended it (its `end`, or `close` for a client that closes with it). */
async function rawConnection(url: string, options: { readonly keepOwnSideOpen?: boolean } = {}): Promise<{ socket: Socket; received: () => string; ended: Promise<unknown> }> {
  const keepOwnSideOpen = options.keepOwnSideOpen === true;
  const socket = connect({ port: Number(new URL(url).port), host: '127.0.0.1', allowHalfOpen: keepOwnSideOpen });
  cleanups.push(async () => {
    socket.destroy();
  });
  socket.on('error', () => undefined);
  let received = '';
  socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
  const ended = new Promise((resolve) => socket.once(keepOwnSideOpen ? 'end' : 'close', resolve));
  await new Promise((resolve) => socket.once('connect', resolve));
  return { socket, received: () => received, ended };
}

/** A chat request's head, and its body when given whole. */
function chatRequest(body: string, framing = `content-length: ${Buffer.byteLength(body)}`): string {
  return `POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\nauthorization: Bearer ${apiKey}\r\n${framing}\r\n\r\n${body}`;
}

const streamBody = JSON.stringify({ model: 'm', stream: true, messages: [{ role: 'user', content: 'hello' }] });

function connections(gateway: Gateway): Promise<number> {
  return new Promise((resolve, reject) => gateway.server.getConnections((error, count) => (error ? reject(error) : resolve(count))));
}

it('a refused request is answered and its connection let go, though the client keeps its side open', async () => {
  const { gateway, url } = await startGateway((res) => res.end());
  const client = await rawConnection(url, { keepOwnSideOpen: true });
  client.socket.write('GARBAGE / HTTP/1.1\r\nhost: x\r\n\r\n');
  await client.ended;
  expect(client.received()).toMatch(/^HTTP\/1\.1 400 /);
  await expect.poll(() => connections(gateway), { timeout: 2_000 }).toBe(0);
});

it('a malformed request pipelined behind a stream in flight lets the stream finish whole, then closes the connection, writing no status line into it', async () => {
  const { url } = await startGateway(streaming(20, 50));
  const client = await rawConnection(url);
  client.socket.write(chatRequest(streamBody));
  await expect.poll(() => client.received().includes('t1 '), { timeout: 3_000 }).toBe(true);
  client.socket.write('GARBAGE / HTTP/1.1\r\nhost: x\r\n\r\n');
  await client.ended;
  expect(client.received().match(/HTTP\/1\.1 \d{3}/g)).toEqual(['HTTP/1.1 200']);
  // The stream's last event, then the chunked body's end: whole.
  expect(client.received().slice(-200)).toMatch(/data: \[DONE\]\n\n\r\n0\r\n\r\n$/);
});

it('a malformed request right behind a request read whole: that request is answered, the refusal counted, nothing blamed on the client', async () => {
  const { gateway, url, statuses } = await startGateway((res) => {
    setTimeout(() => res.end(`${openAIChunk({ role: 'assistant', content: 'fine' })}${openAIChunk({}, 'stop')}data: [DONE]\n\n`), 50);
  });
  const client = await rawConnection(url);
  client.socket.write(`${chatRequest(JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hello' }] }))}GARBAGE / HTTP/1.1\r\nhost: x\r\n\r\n`);
  await client.ended;
  expect(client.received().match(/HTTP\/1\.1 \d{3}/g)).toEqual(['HTTP/1.1 200']);
  expect(client.received()).toContain('"content":"fine"');
  expect(statuses().sort()).toEqual([200, 400]);
  const scraped = await gateway.metrics.registry.getSingleMetricAsString('switchyard_requests_total');
  expect(scraped).toMatch(/status="200"[^\n]*\} 1$/m);
  expect(scraped).toMatch(/status="400"[^\n]*\} 1$/m);
  expect(scraped).not.toContain('status="499"');
});

it("Node's parser giving up on a request whose body is still coming (its request timeout) answers it once: counted and logged as the 408, not again as a client that left", async () => {
  const { gateway, url, statuses } = await startGateway((res) => res.end());
  const serverSide = new Promise<Socket>((resolve) => gateway.server.once('connection', resolve));
  const client = await rawConnection(url);
  client.socket.write(chatRequest('{"model": ', 'content-length: 500'));
  const server = await serverSide;
  await expect.poll(() => (server as Socket & { _httpMessage?: unknown })._httpMessage !== undefined && (server as Socket & { _httpMessage?: unknown })._httpMessage !== null).toBe(true);
  // As Node reports a request not received in full within its requestTimeout (300 s by default).
  gateway.server.emit('clientError', Object.assign(new Error('request timeout'), { code: 'ERR_HTTP_REQUEST_TIMEOUT' }), server);
  await client.ended;
  expect(client.received()).toMatch(/^HTTP\/1\.1 408 /);
  await delay(50);
  expect(statuses()).toEqual([408]);
  const scraped = await gateway.metrics.registry.getSingleMetricAsString('switchyard_requests_total');
  expect(scraped).toMatch(/status="408"[^\n]*\} 1$/m);
  expect(scraped).not.toContain('status="499"');
});

it('a pipelined request whose body breaks behind a stream: the stream finishes, the broken request is counted once, and the connection is let go', async () => {
  const { gateway, url, statuses } = await startGateway(streaming(10, 30));
  // The client keeps its side open: the gateway must let the connection go itself.
  const client = await rawConnection(url, { keepOwnSideOpen: true });
  client.socket.write(chatRequest(streamBody));
  await expect.poll(() => client.received().includes('t1 '), { timeout: 3_000 }).toBe(true);
  client.socket.write(chatRequest('5\r\n{"mod\r\n', 'transfer-encoding: chunked'));
  await delay(30);
  client.socket.write('ZZZZ\r\n');
  await client.ended;
  expect(client.received().match(/HTTP\/1\.1 \d{3}/g)).toEqual(['HTTP/1.1 200']);
  expect(client.received()).toContain('data: [DONE]');
  await expect.poll(() => connections(gateway), { timeout: 2_000 }).toBe(0);
  await delay(50);
  expect(statuses().sort()).toEqual([200, 400]);
});

const wholeBody = JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hello' }] });
/** An upstream answering each request whole after `afterMs`, so that requests pipelined in one write are still in flight when the bad bytes are read. */
const answeringAfter =
  (afterMs: number) =>
  (res: ServerResponse): void => {
    setTimeout(() => res.end(`${openAIChunk({ role: 'assistant', content: 'fine' })}${openAIChunk({}, 'stop')}data: [DONE]\n\n`), afterMs);
  };

it('bad bytes behind several requests pipelined in one write: every request read whole is answered, in order, before the connection is let go', async () => {
  const { gateway, url, statuses } = await startGateway(answeringAfter(50));
  // The client keeps its side open: nothing of the client's ends the connection.
  const client = await rawConnection(url, { keepOwnSideOpen: true });
  client.socket.write(`${chatRequest(wholeBody)}${chatRequest(wholeBody)}${chatRequest(wholeBody)}GARBAGE / HTTP/1.1\r\nhost: x\r\n\r\n`);
  await client.ended;
  expect(client.received().match(/HTTP\/1\.1 \d{3}/g)).toEqual(['HTTP/1.1 200', 'HTTP/1.1 200', 'HTTP/1.1 200']);
  expect(client.received().match(/"content":"fine"/g)).toHaveLength(3);
  await expect.poll(() => connections(gateway), { timeout: 2_000 }).toBe(0);
  await delay(50);
  // None of the three taken for a client that left; the bad bytes counted once.
  expect(statuses().sort()).toEqual([200, 200, 200, 400]);
});

it('bytes behind a request that asked to close the connection are no request: the answers before it and its own are sent, nothing is refused or counted', async () => {
  const { gateway, url, statuses } = await startGateway(answeringAfter(50));
  const client = await rawConnection(url, { keepOwnSideOpen: true });
  const closing = chatRequest(wholeBody).replace('host: x\r\n', 'host: x\r\nconnection: close\r\n');
  client.socket.write(`${chatRequest(wholeBody)}${closing}${chatRequest(wholeBody)}`);
  await client.ended;
  expect(client.received().match(/HTTP\/1\.1 \d{3}/g)).toEqual(['HTTP/1.1 200', 'HTTP/1.1 200']);
  await expect.poll(() => connections(gateway), { timeout: 2_000 }).toBe(0);
  await delay(50);
  expect(statuses()).toEqual([200, 200]);
  const scraped = await gateway.metrics.registry.getSingleMetricAsString('switchyard_requests_total');
  expect(scraped).not.toContain('status="400"');
});

it('a request whose body breaks behind requests read whole: each of those is answered, in order, and the broken one counted once', async () => {
  const { gateway, url, statuses } = await startGateway(answeringAfter(50));
  const client = await rawConnection(url, { keepOwnSideOpen: true });
  client.socket.write(`${chatRequest(wholeBody)}${chatRequest(wholeBody)}${chatRequest('5\r\n{"mod\r\nZZZZ\r\n', 'transfer-encoding: chunked')}`);
  await client.ended;
  expect(client.received().match(/HTTP\/1\.1 \d{3}/g)).toEqual(['HTTP/1.1 200', 'HTTP/1.1 200']);
  await expect.poll(() => connections(gateway), { timeout: 2_000 }).toBe(0);
  await delay(50);
  expect(statuses().sort()).toEqual([200, 200, 400]);
});

it("a body Node's parser refuses is told in the dialect of the request whose head was read (E38)", async () => {
  const { url, lines } = await startGateway(streaming(2, 5), 'x-forwarded-for');
  const { port } = new URL(url);
  const refusal = async (path: string): Promise<string> => {
    const socket = connect(Number(port), '127.0.0.1');
    cleanups.push(() => Promise.resolve(void socket.destroy()));
    let received = '';
    socket.on('data', (chunk: Buffer) => (received += chunk.toString()));
    await new Promise((resolve) => socket.once('connect', resolve));
    // A chunk size that is no hex number, once the head is in.
    socket.write(`POST ${path} HTTP/1.1\r\nhost: x\r\nx-api-key: ${apiKey}\r\nanthropic-version: 2023-06-01\r\ncontent-type: application/json\r\nx-request-id: trace-${path.length}\r\nx-forwarded-for: 203.0.113.7\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n{}\r\n`);
    await new Promise((resolve) => socket.once('close', resolve));
    return received;
  };
  const anthropic = await refusal('/v1/messages');
  expect(anthropic.split('\r\n')[0]).toBe('HTTP/1.1 400 Bad Request');
  // The caller's own id, echoed as any request's is (R32).
  expect(anthropic).toContain('\r\nrequest-id: trace-12\r\n');
  expect(anthropic).toContain('\r\nx-request-id: trace-12\r\n');
  expect(JSON.parse(anthropic.slice(anthropic.indexOf('\r\n\r\n') + 4))).toMatchObject({ type: 'error', error: { type: 'invalid_request_error' }, request_id: 'trace-12' });
  const openai = await refusal('/v1/chat/completions');
  expect(JSON.parse(openai.slice(openai.indexOf('\r\n\r\n') + 4))).toMatchObject({ error: { type: 'invalid_request_error' } });
  expect(openai).not.toContain('\r\nrequest-id:');
  // Logged with the client the configured header names, as every other line is.
  expect(lines.filter((line) => line.status === 400).map((line) => line.client)).toEqual(['203.0.113.7', '203.0.113.7']);
});

it("bad bytes behind a request read whole are refused under an id of their own, not that request's (R33)", async () => {
  const { url, lines } = await startGateway(streaming(6, 40));
  const client = await rawConnection(url);
  client.socket.write(chatRequest(streamBody).replace('host: x\r\n', 'host: x\r\nx-request-id: trace-A\r\n'));
  await expect.poll(() => client.received().includes('t1 '), { timeout: 3_000 }).toBe(true);
  client.socket.write('GARBAGE / HTTP/1.1\r\nhost: x\r\n\r\n');
  await client.ended;
  await expect.poll(() => lines.filter((line) => line.status !== undefined).length, { timeout: 3_000 }).toBe(2);
  const refusal = lines.find((line) => line.status === 400);
  expect(refusal?.requestId).toMatch(/^[0-9a-f-]{36}$/);
  expect(lines.find((line) => line.status === 200)?.requestId).toBe('trace-A');
});

it('a request answered on its head (a 401) whose body then breaks gets no second answer nor log line (R34)', async () => {
  const { url, lines } = await startGateway((res) => res.end());
  const client = await rawConnection(url);
  const head = chatRequest('', 'transfer-encoding: chunked').replace(`Bearer ${apiKey}`, 'Bearer sk-wrong').replace('host: x\r\n', 'host: x\r\nx-request-id: trace-A\r\n');
  client.socket.write(`${head}5\r\n{"mod\r\n`);
  await expect.poll(() => client.received().includes('\r\n\r\n'), { timeout: 3_000 }).toBe(true);
  await delay(100);
  client.socket.write('zz\r\nbroken\r\n');
  await Promise.race([client.ended, delay(2_000)]);
  await delay(100);
  expect(client.received().match(/HTTP\/1\.1 \d{3}/g)).toEqual(['HTTP/1.1 401']);
  expect(lines.filter((line) => line.status !== undefined).map((line) => [line.status, line.requestId])).toEqual([[401, 'trace-A']]);
});

