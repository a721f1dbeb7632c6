import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createGateway } from '../../src/gateway/gateway-server.js';
import { delay, singleEndpointConfig } from './helpers/fleet.js';
import { scriptedClient, scriptedHang } from './helpers/scripted-client.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

/**
 * A chat request sent over a raw socket whose body comes `uploadMs` after its head, to a gateway with
 * a 1,000 ms deadline over an endpoint that never answers: the answer's status line, when it came
 * after the body was in, and how many calls the endpoint got.
 */
async function slowUpload(uploadMs: number): Promise<{ statusLine: string; body: string; afterBodyMs: number; calls: number }> {
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
  await delay(uploadMs);
  socket.write(body.slice(10));
  const bodyInAt = Date.now();
  await expect.poll(() => answer.includes('\r\n\r\n{'), { timeout: 5000 }).toBe(true);
  return { statusLine: answer.split('\r\n')[0] ?? '', body: answer.slice(answer.indexOf('\r\n\r\n') + 4), afterBodyMs: answeredAt - bodyInAt, calls: upstream.calls.length };
}

describe('the deadline counts from the request\'s arrival, its upload included (R29)', () => {
  it('the rest of it bounds the upstream wait', async () => {
    const answered = await slowUpload(600);
    expect(answered.statusLine).toBe('HTTP/1.1 504 Gateway Timeout');
    // About 400 ms left of the 1,000: not a whole deadline (nor the 1,000 ms TTFT timeout) after the body.
    expect(answered.afterBodyMs).toBeLessThan(800);
    expect(answered.calls).toBe(1);
  });

  it('an upload that took all of it is refused with a 408 saying so, and sent nowhere (R30)', async () => {
    const answered = await slowUpload(1200);
    expect(answered.statusLine).toBe('HTTP/1.1 408 Request Timeout');
    expect(answered.body).toMatch(/the request took \d+ ms to arrive, its whole deadline of 1000 ms \(counted from when its head arrived\): send it faster/);
    expect(answered.afterBodyMs).toBeLessThan(300);
    expect(answered.calls).toBe(0);
  });
});
