import { connect } from 'node:net';
import { afterEach, expect, it } from 'vitest';
import { createGateway } from '../../src/gateway/gateway-server.js';
import { delay, singleEndpointConfig } from './helpers/fleet.js';
import { scriptedClient, scriptedHang } from './helpers/scripted-client.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

it('the deadline counts from the request\'s arrival, its upload included, as the retry loop judges it (R29)', async () => {
  const upstream = scriptedClient({ up: scriptedHang });
  const gateway = createGateway({ config: singleEndpointConfig('http://127.0.0.1:1', 'sk-deadline', '{ retries: 0, ttftTimeoutMs: 1000, deadlineMs: 1000, tokenIdleTimeoutMs: 400 }'), upstream, logger: false });
  cleanups.push(() => gateway.close());
  const { port } = new URL(await gateway.listen(0, '127.0.0.1'));
  const body = JSON.stringify({ model: 'm', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] });
  const socket = connect(Number(port), '127.0.0.1');
  cleanups.push(() => Promise.resolve(void socket.destroy()));
  let answer = '';
  let answeredAt = 0;
  socket.on('data', (chunk: Buffer) => {
    answer += chunk.toString();
    answeredAt ||= Date.now();
  });
  await new Promise((resolve) => socket.once('connect', resolve));
  socket.write(`POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer sk-deadline\r\ncontent-type: application/json\r\ncontent-length: ${String(Buffer.byteLength(body))}\r\n\r\n${body.slice(0, 10)}`);
  // The body takes longer than the whole deadline to come in.
  await delay(1200);
  socket.write(body.slice(10));
  const bodyInAt = Date.now();
  await expect.poll(() => answeredAt, { timeout: 5000 }).toBeGreaterThan(0);
  expect(answer.split('\r\n')[0]).toBe('HTTP/1.1 504 Gateway Timeout');
  // Answered once the body is in, not a whole deadline later (the upstream never answers).
  expect(answeredAt - bodyInAt).toBeLessThan(500);
  expect(upstream.calls.length).toBeLessThanOrEqual(1);
});
