import { connect, createServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { createGateway, type Gateway } from '../../src/gateway/gateway-server.js';
import { cheapestFirstConfig, closedAfterEach, delay, metricValue, readSse, scrape, singleEndpointConfig } from './helpers/fleet.js';

// The gateway's own pause (a large body parsed, a long collection) is not its upstreams' stall or
// slowness: tokens and counts that came while the event loop was held wait unread until it reads
// its sockets, after its timers. The upstream runs in a worker thread, so that it answers on while
// the test holds the thread the gateway runs on.
const { cleanups } = closedAfterEach();
const apiKey = 'sk-held';
const upstreamSource = `
const { createServer } = require('node:http');
const { parentPort, workerData } = require('node:worker_threads');
const chunk = (fields) => 'data: ' + JSON.stringify({ id: 'x', object: 'chat.completion.chunk', created: 0, model: 'm', ...fields }) + '\\n\\n';
let arrivals = 0;
const server = createServer((req, res) => {
  arrivals += 1;
  parentPort.postMessage({ arrivals });
  req.resume();
  req.on('end', () => {
    if (req.url.includes('count_tokens')) {
      setTimeout(() => { res.writeHead(200, { 'content-type': 'application/json' }); res.end(JSON.stringify({ input_tokens: 7 })); }, workerData.firstAfterMs);
      return;
    }
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
server.listen(0, '127.0.0.1', () => parentPort.postMessage({ port: server.address().port }));
`;

interface WorkerUpstream {
  readonly url: string;
  readonly arrivals: () => number;
}

async function upstreamInWorker(shape: { readonly tokens: number; readonly everyMs: number; readonly firstAfterMs: number }): Promise<WorkerUpstream> {
  const worker = new Worker(upstreamSource, { eval: true, workerData: shape });
  cleanups.push(async () => {
    await worker.terminate();
  });
  let arrivals = 0;
  const port = await new Promise<number>((resolve) =>
    worker.on('message', (message: { arrivals?: number; port?: number }) => {
      if (message.arrivals !== undefined) arrivals = message.arrivals;
      if (message.port !== undefined) resolve(message.port);
    }),
  );
  return { url: `http://127.0.0.1:${String(port)}`, arrivals: () => arrivals };
}

/** Holds this thread (the gateway's) for `ms`, as a long synchronous task would. */
function hold(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    // busy: nothing else runs on this thread meanwhile
  }
}

/**
 * Holds the thread from the event loop's check phase (setImmediate), as a request body's parsing
 * after its last chunk would: the loop's next steps are its timers, then its sockets.
 */
async function holdEventLoop(ms: number): Promise<void> {
  await new Promise((resolve) => setImmediate(resolve));
  hold(ms);
}

const expected = (tokens: number): string => Array.from({ length: tokens }, (_, index) => `t${String(index)} `).join('');
const askChat = (url: string, stream = false): Promise<Response> => fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', max_tokens: 100, stream, messages: [{ role: 'user', content: 'hi' }] }) });
const textOf = async (response: Response): Promise<string | undefined> => ((await response.json()) as { choices: { message: { content: string } }[] }).choices[0]?.message.content;

/** The gateway's URL once it listens; closed after the test. */
async function listening(gateway: Gateway): Promise<string> {
  const url = await gateway.listen(0, '127.0.0.1');
  cleanups.push(() => gateway.close());
  return url;
}

/** The answer to `asked`, the gateway's thread held from 100 to 700 ms after it was sent (its upstream answers at 150 ms). */
async function heldWhileAnswered(asked: Promise<Response>): Promise<Response> {
  await delay(100);
  await holdEventLoop(600);
  return asked;
}

describe('a gateway held busy for longer than its timeouts', () => {
  // The upstream writes a token every 5 ms: on a loaded machine its thread still gets a turn in the
  // hold, and tokens come in meanwhile (the case under test, not a real stall).
  it('does not cut streams whose tokens came meanwhile as stalled', async () => {
    const upstream = await upstreamInWorker({ tokens: 300, everyMs: 5, firstAfterMs: 0 });
    const url = await listening(createGateway({ config: singleEndpointConfig(upstream.url, apiKey, '{ retries: 0, ttftTimeoutMs: 5000, tokenIdleTimeoutMs: 200, deadlineMs: 30000 }'), logger: false }));
    const response = await askChat(url, true);
    expect(response.status).toBe(200);
    // Streaming; then three times the idle timeout without the gateway running.
    await delay(100);
    await holdEventLoop(600);
    const streamed = await readSse(response, 'openai');
    expect(streamed.ending).toBe('complete');
    expect(streamed.text).toBe(expected(300));
    const metrics = await scrape(url);
    expect(metricValue(metrics, 'switchyard_upstream_errors_total', { endpoint: 'up', status: 'stream' })).toBeUndefined();
    expect(metricValue(metrics, 'switchyard_stream_resumes_total', { outcome: 'resumed' })).toBeUndefined();
  });

  it('nor when the hold comes in a socket callback after the sweep was due: judged as of then', async () => {
    const upstream = await upstreamInWorker({ tokens: 500, everyMs: 5, firstAfterMs: 0 });
    // A local connection whose data callback holds the thread, as parsing a large body does (the poll phase).
    const holder = createServer((socket) => socket.on('data', () => hold(600)));
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => holder.close(() => resolve())));
    const poke = await new Promise<Socket>((resolve) => {
      const socket = connect((holder.address() as AddressInfo).port, '127.0.0.1', () => resolve(socket));
    });
    cleanups.push(async () => {
      poke.destroy();
    });
    const gateway = createGateway({ config: singleEndpointConfig(upstream.url, apiKey, '{ retries: 0, ttftTimeoutMs: 5000, tokenIdleTimeoutMs: 200, deadlineMs: 30000 }'), logger: false });
    // The gateway's sweep runs every 50 ms (a quarter of 200); this timer, of the same period and
    // made after it, fires in the same timers phase just after it: the hold then falls between the
    // sweep's firing and its verdict.
    let holds = 0;
    const poker = setInterval(() => {
      if (holds > 0) {
        holds -= 1;
        poke.write('x');
      }
    }, 50);
    cleanups.push(async () => {
      clearInterval(poker);
    });
    const url = await listening(gateway);
    const response = await askChat(url, true);
    expect(response.status).toBe(200);
    await delay(100);
    holds = 3;
    const streamed = await readSse(response, 'openai');
    expect(holds).toBe(0);
    expect(streamed.text).toBe(expected(500));
    expect(metricValue(await scrape(url), 'switchyard_upstream_errors_total', { endpoint: 'up', status: 'stream' })).toBeUndefined();
  });

  it('does not time out an attempt whose first token came meanwhile', async () => {
    const upstream = await upstreamInWorker({ tokens: 3, everyMs: 5, firstAfterMs: 150 });
    const url = await listening(createGateway({ config: singleEndpointConfig(upstream.url, apiKey, '{ retries: 0, ttftTimeoutMs: 300, tokenIdleTimeoutMs: 5000, deadlineMs: 30000 }'), logger: false }));
    // The request is upstream by the hold; its first token comes at 150 ms, while the gateway is
    // held past its 300 ms TTFT timeout.
    const response = await heldWhileAnswered(askChat(url));
    expect(response.status).toBe(200);
    expect(await textOf(response)).toBe(expected(3));
  });

  it('does not time out a token count that came meanwhile', async () => {
    const upstream = await upstreamInWorker({ tokens: 0, everyMs: 5, firstAfterMs: 150 });
    const url = await listening(createGateway({ config: singleEndpointConfig(upstream.url, apiKey, '{ retries: 0, ttftTimeoutMs: 300, tokenIdleTimeoutMs: 5000, deadlineMs: 30000 }', 'anthropic'), logger: false }));
    const response = await heldWhileAnswered(fetch(`${url}/v1/messages/count_tokens`, { method: 'POST', headers: { 'x-api-key': apiKey, 'anthropic-version': '2023-06-01', 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }] }) }));
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ input_tokens: 7 });
  });

  it('does not hedge an attempt whose first token came meanwhile', async () => {
    const primary = await upstreamInWorker({ tokens: 3, everyMs: 5, firstAfterMs: 150 });
    const second = await upstreamInWorker({ tokens: 3, everyMs: 5, firstAfterMs: 150 });
    const url = await listening(createGateway({ config: cheapestFirstConfig([[primary.url, 'openai'], [second.url, 'openai']], apiKey, '{ retries: 0, ttftTimeoutMs: 5000, tokenIdleTimeoutMs: 5000, deadlineMs: 30000, hedgeAfterMs: 300 }'), logger: false }));
    const response = await heldWhileAnswered(askChat(url));
    expect(response.status).toBe(200);
    await response.text();
    await delay(100);
    expect(primary.arrivals()).toBe(1);
    expect(second.arrivals()).toBe(0);
  });

  it('does not end at its deadline an answer that came meanwhile', async () => {
    const upstream = await upstreamInWorker({ tokens: 3, everyMs: 5, firstAfterMs: 150 });
    const url = await listening(createGateway({ config: singleEndpointConfig(upstream.url, apiKey, '{ retries: 0, ttftTimeoutMs: 300, tokenIdleTimeoutMs: 200, deadlineMs: 400 }'), logger: false }));
    // The whole answer is in by about 170 ms; the gateway is held past its 400 ms deadline.
    const response = await heldWhileAnswered(askChat(url));
    expect(response.status).toBe(200);
    expect(await textOf(response)).toBe(expected(3));
  });
});
