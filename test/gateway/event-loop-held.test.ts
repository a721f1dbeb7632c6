import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { createGateway } from '../../src/gateway/gateway-server.js';
import { closedAfterEach, delay, metricValue, readSse, scrape, singleEndpointConfig } from './helpers/fleet.js';

// The gateway's own pause (a large body parsed, a long collection) is not its upstreams' stall:
// tokens that came while the event loop was held wait unread until it reads its sockets, after its
// timers. The upstream runs in a worker thread, so that it streams on while the test holds the
// thread the gateway runs on.
const { cleanups } = closedAfterEach();
const apiKey = 'sk-held';
const upstreamSource = `
const { createServer } = require('node:http');
const { parentPort, workerData } = require('node:worker_threads');
const chunk = (fields) => 'data: ' + JSON.stringify({ id: 'x', object: 'chat.completion.chunk', created: 0, model: 'm', ...fields }) + '\\n\\n';
const server = createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    let sent = 0;
    const next = () => {
      if (sent === workerData.tokens) {
        res.end(chunk({ choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] }) + chunk({ choices: [], usage: { prompt_tokens: 5, completion_tokens: sent } }) + 'data: [DONE]\\n\\n');
        return;
      }
      res.write(chunk({ choices: [{ index: 0, delta: { content: 't' + sent + ' ' }, finish_reason: null }] }));
      sent += 1;
      setTimeout(next, workerData.everyMs);
    };
    setTimeout(next, workerData.firstAfterMs);
  });
});
server.listen(0, '127.0.0.1', () => parentPort.postMessage(server.address().port));
`;

async function upstreamInWorker(shape: { readonly tokens: number; readonly everyMs: number; readonly firstAfterMs: number }): Promise<string> {
  const worker = new Worker(upstreamSource, { eval: true, workerData: shape });
  cleanups.push(async () => {
    await worker.terminate();
  });
  const port = await new Promise<number>((resolve) => worker.once('message', resolve));
  return `http://127.0.0.1:${String(port)}`;
}

/**
 * Holds this thread (the gateway's) for `ms`, as a long synchronous task would. From the event
 * loop's check phase (setImmediate), as a request body's parsing after its last chunk would: the
 * loop's next steps are its timers, then its sockets.
 */
async function holdEventLoop(ms: number): Promise<void> {
  await new Promise((resolve) => setImmediate(resolve));
  const until = Date.now() + ms;
  while (Date.now() < until) {
    // busy: nothing else runs on this thread meanwhile
  }
}

const expected = (tokens: number): string => Array.from({ length: tokens }, (_, index) => `t${String(index)} `).join('');

describe('a gateway held busy for longer than its timeouts', () => {
  it('does not cut streams whose tokens came meanwhile as stalled', async () => {
    const upstream = await upstreamInWorker({ tokens: 40, everyMs: 20, firstAfterMs: 0 });
    const gateway = createGateway({ config: singleEndpointConfig(upstream, apiKey, '{ retries: 0, ttftTimeoutMs: 5000, tokenIdleTimeoutMs: 200, deadlineMs: 30000 }'), logger: false });
    const url = await gateway.listen(0, '127.0.0.1');
    cleanups.push(() => gateway.close());
    const response = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', max_tokens: 100, stream: true, messages: [{ role: 'user', content: 'hi' }] }) });
    expect(response.status).toBe(200);
    // Streaming; then three times the idle timeout without the gateway running.
    await delay(100);
    await holdEventLoop(600);
    const streamed = await readSse(response, 'openai');
    expect(streamed.ending).toBe('complete');
    expect(streamed.text).toBe(expected(40));
    const metrics = await scrape(url);
    expect(metricValue(metrics, 'switchyard_upstream_errors_total', { endpoint: 'up', status: 'stream' })).toBeUndefined();
    expect(metricValue(metrics, 'switchyard_stream_resumes_total', { outcome: 'resumed' })).toBeUndefined();
  });

  it('does not time out an attempt whose first token came meanwhile', async () => {
    const upstream = await upstreamInWorker({ tokens: 3, everyMs: 5, firstAfterMs: 150 });
    const gateway = createGateway({ config: singleEndpointConfig(upstream, apiKey, '{ retries: 0, ttftTimeoutMs: 300, tokenIdleTimeoutMs: 5000, deadlineMs: 30000 }'), logger: false });
    const url = await gateway.listen(0, '127.0.0.1');
    cleanups.push(() => gateway.close());
    const answer = fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', max_tokens: 100, messages: [{ role: 'user', content: 'hi' }] }) });
    // The request is upstream by now; its first token comes at 150 ms, while the gateway is held
    // past its 300 ms TTFT timeout.
    await delay(100);
    await holdEventLoop(600);
    const response = await answer;
    expect(response.status).toBe(200);
    expect(((await response.json()) as { choices: { message: { content: string } }[] }).choices[0]?.message.content).toBe(expected(3));
  });
});
