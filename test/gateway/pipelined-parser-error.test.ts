import type { ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import { afterEach, expect, it } from 'vitest';
import { createGateway } from '../../src/gateway/gateway-server.js';
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

it('a refused request is answered and its connection let go, though the client keeps its side open', async () => {
  const upstream = await startScriptedUpstream((res: ServerResponse) => res.end());
  cleanups.push(() => upstream.close());
  const gateway = createGateway({ config: singleEndpointConfig(upstream.url, apiKey), logger: false });
  const url = await gateway.listen(0, '127.0.0.1');
  cleanups.push(() => gateway.close());
  const socket = connect({ port: Number(new URL(url).port), host: '127.0.0.1', allowHalfOpen: true });
  cleanups.push(async () => {
    socket.destroy();
  });
  socket.on('error', () => undefined);
  let received = '';
  socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
  await new Promise((resolve) => socket.once('connect', resolve));
  socket.write('GARBAGE / HTTP/1.1\r\nhost: x\r\n\r\n');
  await new Promise((resolve) => socket.once('end', resolve));
  expect(received).toMatch(/^HTTP\/1\.1 400 /);
  const connections = (): Promise<number> => new Promise((resolve, reject) => gateway.server.getConnections((error, count) => (error ? reject(error) : resolve(count))));
  await expect.poll(connections, { timeout: 2_000 }).toBe(0);
});

it('a malformed request pipelined behind a stream in flight lets the stream finish whole, then closes the connection, writing no status line into it', async () => {
  const upstream = await startScriptedUpstream((res: ServerResponse) => {
    res.write(openAIChunk({ role: 'assistant', content: '' }));
    let sent = 0;
    const timer = setInterval(() => {
      sent += 1;
      if (sent === 20) {
        clearInterval(timer);
        res.end(`${openAIChunk({}, 'stop')}data: [DONE]\n\n`);
        return;
      }
      res.write(openAIChunk({ content: `t${sent} ` }));
    }, 50);
    res.on('close', () => clearInterval(timer));
  });
  cleanups.push(() => upstream.close());
  const gateway = createGateway({ config: singleEndpointConfig(upstream.url, apiKey), logger: false });
  const url = await gateway.listen(0, '127.0.0.1');
  cleanups.push(() => gateway.close());
  const body = JSON.stringify({ model: 'm', stream: true, messages: [{ role: 'user', content: 'hello' }] });
  let received = '';
  const socket = connect(Number(new URL(url).port), '127.0.0.1');
  socket.on('error', () => undefined);
  socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
  const closed = new Promise((resolve) => socket.once('close', resolve));
  await new Promise((resolve) => socket.once('connect', resolve));
  socket.write(`POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\nauthorization: Bearer ${apiKey}\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
  await expect.poll(() => received.includes('t1 '), { timeout: 3_000 }).toBe(true);
  socket.write('GARBAGE / HTTP/1.1\r\nhost: x\r\n\r\n');
  await closed;
  expect(received.match(/HTTP\/1\.1 \d{3}/g)).toEqual(['HTTP/1.1 200']);
  // The stream's last event, then the chunked body's end: whole.
  expect(received.slice(-200)).toMatch(/data: \[DONE\]\n\n\r\n0\r\n\r\n$/);
});

it('a malformed request right behind a request read whole: that request is answered, the refusal counted, nothing blamed on the client', async () => {
  const upstream = await startScriptedUpstream((res: ServerResponse) => {
    setTimeout(() => res.end(`${openAIChunk({ role: 'assistant', content: 'fine' })}${openAIChunk({}, 'stop')}data: [DONE]\n\n`), 50);
  });
  cleanups.push(() => upstream.close());
  const lines: { status?: number }[] = [];
  const logger = { info: (fields: { status?: number }) => lines.push(fields), warn: (fields: { status?: number }) => lines.push(fields), error: () => undefined };
  const gateway = createGateway({ config: singleEndpointConfig(upstream.url, apiKey), logger: logger as never });
  const url = await gateway.listen(0, '127.0.0.1');
  cleanups.push(() => gateway.close());
  const body = JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hello' }] });
  let received = '';
  const socket = connect(Number(new URL(url).port), '127.0.0.1');
  socket.on('error', () => undefined);
  socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
  const closed = new Promise((resolve) => socket.once('close', resolve));
  await new Promise((resolve) => socket.once('connect', resolve));
  socket.write(`POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\nauthorization: Bearer ${apiKey}\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}GARBAGE / HTTP/1.1\r\nhost: x\r\n\r\n`);
  await closed;
  expect(received.match(/HTTP\/1\.1 \d{3}/g)).toEqual(['HTTP/1.1 200']);
  expect(received).toContain('"content":"fine"');
  expect(lines.map((line) => line.status).filter((status) => status !== undefined).sort()).toEqual([200, 400]);
  const scraped = await gateway.metrics.registry.getSingleMetricAsString('switchyard_requests_total');
  expect(scraped).toMatch(/status="200"[^\n]*\} 1$/m);
  expect(scraped).toMatch(/status="400"[^\n]*\} 1$/m);
  expect(scraped).not.toContain('status="499"');
});

it("Node's parser giving up on a request whose body is still coming (its request timeout) answers it once: counted and logged as the 408, not again as a client that left", async () => {
  const upstream = await startScriptedUpstream((res: ServerResponse) => res.end());
  cleanups.push(() => upstream.close());
  const lines: { status?: number }[] = [];
  const logger = { info: (fields: { status?: number }) => lines.push(fields), warn: (fields: { status?: number }) => lines.push(fields), error: () => undefined };
  const gateway = createGateway({ config: singleEndpointConfig(upstream.url, apiKey), logger: logger as never });
  const url = await gateway.listen(0, '127.0.0.1');
  cleanups.push(() => gateway.close());
  const serverSide = new Promise<Socket>((resolve) => gateway.server.once('connection', resolve));
  let received = '';
  const socket = connect(Number(new URL(url).port), '127.0.0.1');
  socket.on('error', () => undefined);
  socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
  const closed = new Promise((resolve) => socket.once('close', resolve));
  await new Promise((resolve) => socket.once('connect', resolve));
  socket.write(`POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\nauthorization: Bearer ${apiKey}\r\ncontent-length: 500\r\n\r\n{"model": `);
  const server = await serverSide;
  await expect.poll(() => (server as Socket & { _httpMessage?: unknown })._httpMessage !== undefined && (server as Socket & { _httpMessage?: unknown })._httpMessage !== null).toBe(true);
  // As Node reports a request not received in full within its requestTimeout (300 s by default).
  gateway.server.emit('clientError', Object.assign(new Error('request timeout'), { code: 'ERR_HTTP_REQUEST_TIMEOUT' }), server);
  await closed;
  expect(received).toMatch(/^HTTP\/1\.1 408 /);
  await delay(50);
  expect(lines.map((line) => line.status).filter((status) => status !== undefined)).toEqual([408]);
  const scraped = await gateway.metrics.registry.getSingleMetricAsString('switchyard_requests_total');
  expect(scraped).toMatch(/status="408"[^\n]*\} 1$/m);
  expect(scraped).not.toContain('status="499"');
});

it('a pipelined request whose body breaks behind a stream: the stream finishes, the broken request is counted once, and the connection is let go', async () => {
  const upstream = await startScriptedUpstream((res: ServerResponse) => {
    res.write(openAIChunk({ role: 'assistant', content: '' }));
    let sent = 0;
    const timer = setInterval(() => {
      sent += 1;
      if (sent === 10) {
        clearInterval(timer);
        res.end(`${openAIChunk({}, 'stop')}data: [DONE]\n\n`);
        return;
      }
      res.write(openAIChunk({ content: `t${sent} ` }));
    }, 30);
    res.on('close', () => clearInterval(timer));
  });
  cleanups.push(() => upstream.close());
  const lines: { status?: number }[] = [];
  const logger = { info: (fields: { status?: number }) => lines.push(fields), warn: (fields: { status?: number }) => lines.push(fields), error: () => undefined };
  const gateway = createGateway({ config: singleEndpointConfig(upstream.url, apiKey), logger: logger as never });
  const url = await gateway.listen(0, '127.0.0.1');
  cleanups.push(() => gateway.close());
  const body = JSON.stringify({ model: 'm', stream: true, messages: [{ role: 'user', content: 'hello' }] });
  let received = '';
  // The client keeps its side open: the gateway must let the connection go itself.
  const socket = connect({ port: Number(new URL(url).port), host: '127.0.0.1', allowHalfOpen: true });
  cleanups.push(async () => {
    socket.destroy();
  });
  socket.on('error', () => undefined);
  socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
  const closed = new Promise((resolve) => socket.once('end', resolve));
  await new Promise((resolve) => socket.once('connect', resolve));
  socket.write(`POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\nauthorization: Bearer ${apiKey}\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
  await expect.poll(() => received.includes('t1 '), { timeout: 3_000 }).toBe(true);
  socket.write(`POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\nauthorization: Bearer ${apiKey}\r\ntransfer-encoding: chunked\r\n\r\n5\r\n{"mod\r\n`);
  await delay(30);
  socket.write('ZZZZ\r\n');
  await closed;
  expect(received.match(/HTTP\/1\.1 \d{3}/g)).toEqual(['HTTP/1.1 200']);
  expect(received).toContain('data: [DONE]');
  const connections = (): Promise<number> => new Promise((resolve, reject) => gateway.server.getConnections((error, count) => (error ? reject(error) : resolve(count))));
  await expect.poll(connections, { timeout: 2_000 }).toBe(0);
  await delay(50);
  expect(lines.map((line) => line.status).filter((status) => status !== undefined).sort()).toEqual([200, 400]);
});
