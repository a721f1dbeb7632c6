import { execFile } from 'node:child_process';
import { connect } from 'node:net';
import { promisify } from 'node:util';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMockUpstream, type MockUpstream } from '../../bench/mock-upstream.js';
import type { GatewayConfig } from '../../src/gateway/gateway-config.js';
import { createGateway, type Gateway, type GatewayOptions } from '../../src/gateway/gateway-server.js';
import { singleEndpointConfig } from './helpers/fleet.js';

const apiKey = 'sk-refused-body';
const execFileAsync = promisify(execFile);

/** One endpoint, and a 4 KB body limit: a body of any size is one to refuse. */
const config = (upstreamUrl: string): GatewayConfig => {
  const base = singleEndpointConfig(upstreamUrl, apiKey);
  return { ...base, limits: { ...base.limits, maxBodyBytes: 4096 } };
};

let upstream: MockUpstream;
const started: Gateway[] = [];

async function start(options: Partial<GatewayOptions> = {}): Promise<string> {
  const gateway = createGateway({ config: config(upstream.url), logger: false, ...options });
  started.push(gateway);
  return gateway.listen(0, '127.0.0.1');
}

beforeAll(async () => {
  upstream = await startMockUpstream({ words: 3 });
});

afterAll(async () => {
  for (const gateway of started) await gateway.close();
  await upstream.close();
});

describe('a request refused while its caller is still sending the body', () => {
  it('gets its 413 or 401, not a connection reset that SDKs retry as a connection error; the connection serves on', async () => {
    const url = await start();
    // The caller in a process of its own: in this one, the gateway's reads and the caller's writes
    // take turns on one event loop and the race that loses the answer does not happen.
    const caller = `
      const body = JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'x'.repeat(5 * 1024 * 1024) }] });
      const outcomes = [];
      for (let i = 0; i < 6; i += 1) {
        for (const key of ['${apiKey}', 'sk-wrong']) {
          try {
            const response = await fetch('${url}/v1/chat/completions', { method: 'POST', headers: { authorization: 'Bearer ' + key, 'content-type': 'application/json' }, body });
            outcomes.push(response.status + ' ' + (await response.text()).slice(0, 200));
          } catch (error) {
            outcomes.push(String(error.cause?.code ?? error.message));
          }
        }
      }
      console.log(JSON.stringify(outcomes));`;
    const { stdout } = await execFileAsync(process.execPath, ['--input-type=module', '-e', caller]);
    const outcomes = JSON.parse(stdout) as string[];
    expect(outcomes).toHaveLength(12);
    outcomes.forEach((outcome, index) => expect(outcome).toMatch(index % 2 === 0 ? /^413 .*request body exceeds the 4096-byte limit/ : /^401 /));
    const client = new OpenAI({ apiKey, baseURL: `${url}/v1`, maxRetries: 0 });
    expect((await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'hi' }] })).choices[0]?.message.content).toBe('mock token token');
  });

  it.each([
    ['more bytes than it reads', { maxBytes: 64 * 1024, maxMs: 10_000 }, 1024 * 1024, 0],
    ['longer than it waits', { maxBytes: 64 * 1024 * 1024, maxMs: 200 }, 1024, 50],
  ])('is cut off when the caller sends %s', async (_case, discardLimits, chunkBytes, pauseMs) => {
    const url = new URL(await start({ discardLimits }));
    const socket = connect(Number(url.port), url.hostname);
    let answer = '';
    socket.on('data', (chunk: Buffer) => {
      answer += chunk.toString('latin1');
    });
    socket.on('error', () => undefined);
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.write(`POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${apiKey}\r\ncontent-type: application/json\r\ncontent-length: ${1024 * 1024 * 1024}\r\n\r\n`);
    let open = true;
    void closed.then(() => {
      open = false;
    });
    const chunk = Buffer.alloc(chunkBytes, 0x78);
    const startedAt = Date.now();
    for (let sent = 0; open && sent < 100 * 1024 * 1024; sent += chunkBytes) {
      if (!socket.write(chunk)) await new Promise((resolve) => setTimeout(resolve, 5));
      if (pauseMs > 0) await new Promise((resolve) => setTimeout(resolve, pauseMs));
    }
    await closed;
    expect(answer).toMatch(/^HTTP\/1\.1 413 /);
    // Cut by the limit under test, not by the other one (10 s, or 64 MiB at loopback speed).
    expect(Date.now() - startedAt).toBeLessThan(5_000);
  });
});
