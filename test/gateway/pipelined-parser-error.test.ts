import type { ServerResponse } from 'node:http';
import { connect } from 'node:net';
import { afterEach, expect, it } from 'vitest';
import { createGateway } from '../../src/gateway/gateway-server.js';
import { openAIChunk, singleEndpointConfig, startScriptedUpstream } from './helpers/fleet.js';

/**
 * A request Node's parser refuses, pipelined behind an answer whose head is already out: no second
 * status line may follow (it would land inside that answer's body), so the connection is cut, as
 * Node's own handler does. Behind an answer that is complete, the refusal is answered.
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

it('a malformed request pipelined behind a stream in flight cuts the connection rather than writing a status line into the stream', async () => {
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
  expect(received).not.toContain('[DONE]');
});
