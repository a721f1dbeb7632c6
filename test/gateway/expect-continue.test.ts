import { connect, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import type { DiscardLimits } from '../../src/gateway/discard-rest-of-body.js';
import { createGateway } from '../../src/gateway/gateway-server.js';
import { closedAfterEach, delay, metricValue, openAIChunk, scrape, singleEndpointConfig } from './helpers/fleet.js';

const apiKey = 'sk-expect';
const { cleanups, scripted } = closedAfterEach();

/** A gateway whose bodies may be 2,000 bytes, in front of an upstream that answers "hi". */
async function startGateway(discardLimits?: DiscardLimits): Promise<{ port: number; arrivals: () => number }> {
  const upstream = await scripted((res) => res.end(`${openAIChunk({ role: 'assistant', content: 'hi' })}${openAIChunk({}, 'stop')}data: [DONE]\n\n`));
  const config = singleEndpointConfig(upstream.url, apiKey);
  const gateway = createGateway({ config: { ...config, limits: { ...config.limits, maxBodyBytes: 2_000 } }, logger: false, ...(discardLimits === undefined ? {} : { discardLimits }) });
  const url = await gateway.listen(0, '127.0.0.1');
  cleanups.push(() => gateway.close());
  return { port: Number(new URL(url).port), arrivals: upstream.arrivals };
}

/**
 * A raw connection: what it received so far, whether it closed, whether it met an error (a reset, a
 * write after the close) and whether the gateway ended its side. `allowHalfOpen`: it goes on sending
 * after the gateway's end (as Python's http.client does), rather than closing too (Node's default).
 */
async function open(port: number, allowHalfOpen = false): Promise<{ socket: Socket; received: () => string; closed: () => boolean; reset: () => boolean; ended: () => boolean }> {
  const socket = connect({ port, host: '127.0.0.1', allowHalfOpen });
  await new Promise((resolve) => socket.once('connect', resolve));
  const chunks: Buffer[] = [];
  let closed = false;
  let reset = false;
  let ended = false;
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.on('end', () => (ended = true));
  socket.on('close', () => (closed = true));
  socket.on('error', () => (reset = true));
  cleanups.push(async () => {
    socket.destroy();
  });
  return { socket, received: () => Buffer.concat(chunks).toString('latin1'), closed: () => closed, reset: () => reset, ended: () => ended };
}

const body = JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hello' }], max_tokens: 5 });
const head = (key: string, length: number, extra = ''): string => `POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\nauthorization: Bearer ${key}\r\ncontent-length: ${String(length)}\r\n${extra}\r\n`;

describe('Expect: 100-continue (RFC 9110, 10.1.1)', () => {
  it('is answered with the final status at once, without a 100, when the headers already refuse the request', async () => {
    const { port, arrivals } = await startGateway();
    for (const [request, status, says] of [
      [head('sk-wrong', body.length, 'expect: 100-continue\r\n'), 401, 'invalid API key'],
      [head(apiKey, 5_000, 'expect: 100-continue\r\n'), 413, 'request body exceeds the 2000-byte limit'],
      [head(apiKey, body.length, 'expect: 100-continue\r\ncontent-encoding: gzip\r\n'), 415, "content-encoding 'gzip' is not supported"],
    ] as const) {
      const connection = await open(port);
      connection.socket.write(request);
      await expect.poll(() => connection.received(), { timeout: 5_000 }).toContain(says);
      const answer = connection.received();
      expect(answer).not.toContain('100 Continue');
      expect(answer).toMatch(new RegExp(`^HTTP/1\\.1 ${String(status)} `));
      // The body was never asked for: the connection closes after the answer.
      expect(answer).toMatch(/\r\nconnection: close\r\n/i);
      await expect.poll(() => connection.closed(), { timeout: 5_000 }).toBe(true);
    }
    expect(arrivals()).toBe(0);
  });

  it.each([
    ['sent with Expect: 100-continue, not waiting for the 100 (as it may)', 'HTTP/1.1', 'expect: 100-continue\r\n'],
    ['sent with Connection: close', 'HTTP/1.1', 'connection: close\r\n'],
    ['sent over HTTP/1.0', 'HTTP/1.0', ''],
  ])('a body refused while it is still coming, %s, does not cost the client its answer: no reset', async (_case, version, extra) => {
    const { port } = await startGateway();
    const connection = await open(port, true);
    const size = 16 * 1024 * 1024;
    // Headers and a body far larger than socket buffers hold, sent at once: the answer comes mid-upload.
    connection.socket.write(head('sk-wrong', size, extra).replace('HTTP/1.1', version));
    const chunk = Buffer.alloc(64 * 1024, 'x');
    for (let sent = 0; sent < size && !connection.reset(); sent += chunk.length) {
      if (!connection.socket.write(chunk)) await new Promise((resolve) => connection.socket.once('drain', resolve).once('close', resolve));
    }
    await expect.poll(() => connection.received(), { timeout: 10_000 }).toContain('invalid API key');
    expect(connection.received()).toMatch(/^HTTP\/1\.1 401 /);
    expect(connection.received()).toMatch(/\r\nconnection: close\r\n/i);
    // The whole body was taken (read and dropped), and the gateway ended the connection: no reset.
    await expect.poll(() => connection.ended(), { timeout: 5_000 }).toBe(true);
    expect(connection.reset()).toBe(false);
  });

  it.each([
    ['with a body', `${head('sk-wrong', body.length, 'expect: 100-continue\r\n')}${body}`, 401],
    ['without a body', head('sk-wrong', 0, 'expect: 100-continue\r\n'), 401],
    ['an Expect not met (417)', `${head(apiKey, body.length, 'expect: something-else\r\n')}${body}`, 417],
  ])('a request pipelined behind a refusal that closes its connection (%s) is not served (RFC 9112, 9.6)', async (_case, refused, status) => {
    const { port, arrivals } = await startGateway();
    const connection = await open(port);
    connection.socket.write(`${refused}${head(apiKey, body.length)}${body}`);
    await expect.poll(() => connection.closed(), { timeout: 5_000 }).toBe(true);
    expect(connection.received()).toMatch(new RegExp(`^HTTP/1\\.1 ${String(status)} `));
    expect(connection.received().match(/HTTP\/1\.1 /g)).toHaveLength(1);
    await delay(100);
    expect(arrivals()).toBe(0);
    // Neither served nor counted: no attempt upstream, no request cut as if its client had left.
    const metrics = await scrape(`http://127.0.0.1:${String(port)}`);
    expect(metricValue(metrics, 'switchyard_upstream_attempts_total', { endpoint: 'up' }) ?? 0).toBe(0);
    expect(metricValue(metrics, 'switchyard_requests_total', { status: '499' })).toBeUndefined();
  });

  it.each([
    ['in the same bytes as the body', true],
    ['a moment after the body', false],
  ])('once a refused body is cut off (past the bound the gateway reads and drops), a request that follows on its connection is not served: %s', async (_case, sameBytes) => {
    const { port, arrivals } = await startGateway({ maxBytes: 1_000, maxMs: 10_000 });
    const connection = await open(port, true);
    // A keep-alive refusal (a bad key), then a body past the 1,000 bytes read and dropped, that ends in the same chunk.
    connection.socket.write(head('sk-wrong', 3_000));
    const next = `${head(apiKey, body.length)}${body}`;
    connection.socket.write(sameBytes ? `${'x'.repeat(3_000)}${next}` : 'x'.repeat(3_000));
    await expect.poll(() => connection.received(), { timeout: 5_000 }).toContain('invalid API key');
    if (!sameBytes) {
      await delay(100);
      connection.socket.write(next);
    }
    await delay(300);
    expect(connection.received().match(/HTTP\/1\.1 /g)).toHaveLength(1);
    expect(arrivals()).toBe(0);
    const metrics = await scrape(`http://127.0.0.1:${String(port)}`);
    expect(metricValue(metrics, 'switchyard_requests_total', { status: '200' })).toBeUndefined();
  });

  it('a refused body cut off behind an answer still in progress on its connection leaves that answer whole, then its own', async () => {
    // The first request's answer takes about 600 ms.
    const upstream = await scripted((res) => {
      res.write(openAIChunk({ role: 'assistant', content: 'hi' }));
      setTimeout(() => res.write(openAIChunk({ content: ' there' })), 300);
      setTimeout(() => res.end(`${openAIChunk({}, 'stop')}data: [DONE]\n\n`), 600);
    });
    const config = singleEndpointConfig(upstream.url, apiKey);
    const gateway = createGateway({ config: { ...config, limits: { ...config.limits, maxBodyBytes: 2_000 } }, logger: false, discardLimits: { maxBytes: 1_000, maxMs: 10_000 } });
    const port = Number(new URL(await gateway.listen(0, '127.0.0.1')).port);
    cleanups.push(() => gateway.close());
    const connection = await open(port, true);
    connection.socket.write(`${head(apiKey, body.length)}${body}`);
    await delay(100);
    // Pipelined behind it: a bad key, and a body past the 1,000 bytes read and dropped.
    connection.socket.write(head('sk-wrong', 3_000));
    await delay(100);
    connection.socket.write('x'.repeat(3_000));
    await expect.poll(() => connection.ended(), { timeout: 5_000 }).toBe(true);
    expect(connection.received()).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*hi there[\s\S]*HTTP\/1\.1 401 /);
    expect(connection.reset()).toBe(false);
  });

  it('is told to go on only once the body is to be read; the answer follows the body and the connection stays open', async () => {
    const { port, arrivals } = await startGateway();
    const connection = await open(port);
    connection.socket.write(head(apiKey, body.length, 'expect: 100-continue\r\n'));
    await expect.poll(() => connection.received(), { timeout: 5_000 }).toBe('HTTP/1.1 100 Continue\r\n\r\n');
    connection.socket.write(body);
    await expect.poll(() => connection.received(), { timeout: 5_000 }).toContain('"content":"hi"');
    expect(connection.received()).toMatch(/^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 OK\r\n/);
    expect(connection.received()).toMatch(/\r\nconnection: keep-alive\r\n/i);
    // The same connection takes the next request.
    connection.socket.write('GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n');
    await expect.poll(() => connection.received(), { timeout: 5_000 }).toContain('{"status":"ok"}');
    expect(connection.closed()).toBe(false);
    expect(arrivals()).toBe(1);
  });

  it('without Expect, a Content-Length over the limit is a 413 before any of the body is sent', async () => {
    const { port } = await startGateway();
    const connection = await open(port);
    connection.socket.write(head(apiKey, 5_000));
    await expect.poll(() => connection.received(), { timeout: 5_000 }).toMatch(/^HTTP\/1\.1 413 /);
    expect(connection.received()).toContain('request body exceeds the 2000-byte limit');
    // The body it goes on sending is read and dropped: the connection stays usable after it.
    connection.socket.write('x'.repeat(5_000));
    await delay(50);
    connection.socket.write('GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n');
    await expect.poll(() => connection.received(), { timeout: 5_000 }).toContain('{"status":"ok"}');
  });
});
