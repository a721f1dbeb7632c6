import type { ServerResponse } from 'node:http';
import { afterEach, expect, it } from 'vitest';
import { createGateway, type Gateway } from '../../src/gateway/gateway-server.js';
import { openAIChunk, readSse, singleEndpointConfig, startScriptedUpstream, waitFor } from './helpers/fleet.js';

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
