import { connect, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { createGateway } from '../../src/gateway/gateway-server.js';
import { closedAfterEach, delay, openAIChunk, singleEndpointConfig } from './helpers/fleet.js';

const apiKey = 'sk-expect';
const { cleanups, scripted } = closedAfterEach();

/** A gateway whose bodies may be 2,000 bytes, in front of an upstream that answers "hi". */
async function startGateway(): Promise<{ port: number; arrivals: () => number }> {
  const upstream = await scripted((res) => res.end(`${openAIChunk({ role: 'assistant', content: 'hi' })}${openAIChunk({}, 'stop')}data: [DONE]\n\n`));
  const config = singleEndpointConfig(upstream.url, apiKey);
  const gateway = createGateway({ config: { ...config, limits: { ...config.limits, maxBodyBytes: 2_000 } }, logger: false });
  const url = await gateway.listen(0, '127.0.0.1');
  cleanups.push(() => gateway.close());
  return { port: Number(new URL(url).port), arrivals: upstream.arrivals };
}

/** A raw connection: what it received so far, and whether the gateway closed it. */
async function open(port: number): Promise<{ socket: Socket; received: () => string; closed: () => boolean }> {
  const socket = connect(port, '127.0.0.1');
  await new Promise((resolve) => socket.once('connect', resolve));
  const chunks: Buffer[] = [];
  let closed = false;
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.on('close', () => (closed = true));
  cleanups.push(async () => {
    socket.destroy();
  });
  return { socket, received: () => Buffer.concat(chunks).toString('latin1'), closed: () => closed };
}

const body = JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hello' }], max_tokens: 5 });
const head = (key: string, length: number, extra = ''): string => `POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\nauthorization: Bearer ${key}\r\ncontent-length: ${String(length)}\r\n${extra}\r\n`;

describe('Expect: 100-continue (RFC 9110, 10.1.1)', () => {
  it('is answered with the final status at once, without a 100, when the headers already refuse the request; its connection closes', async () => {
    const { port, arrivals } = await startGateway();
    for (const [request, status, says] of [
      [head('sk-wrong', body.length, 'expect: 100-continue\r\n'), 401, 'invalid API key'],
      [head(apiKey, 5_000, 'expect: 100-continue\r\n'), 413, 'request body exceeds the 2000-byte limit'],
      [head(apiKey, body.length, 'expect: 100-continue\r\ncontent-encoding: gzip\r\n'), 415, "content-encoding 'gzip' is not supported"],
    ] as const) {
      const connection = await open(port);
      connection.socket.write(request);
      await expect.poll(() => connection.closed(), { timeout: 5_000 }).toBe(true);
      const answer = connection.received();
      expect(answer).not.toContain('100 Continue');
      expect(answer).toMatch(new RegExp(`^HTTP/1\\.1 ${String(status)} `));
      expect(answer).toMatch(/\r\nconnection: close\r\n/i);
      expect(answer).toContain(says);
    }
    expect(arrivals()).toBe(0);
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
