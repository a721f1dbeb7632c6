import { connect, type Socket } from 'node:net';
import type { ServerResponse } from 'node:http';
import { afterEach, expect, it } from 'vitest';
import { createGateway } from '../../src/gateway/gateway-server.js';
import { delay, metricValue, openAIChunk, scrape, singleEndpointConfig, startScriptedUpstream, waitFor } from './helpers/fleet.js';

/**
 * A client that stops reading its stream: the gateway must stop reading the upstream too,
 * instead of holding the rest of the answer in memory, still end the request at the deadline,
 * and then let the client's connection go (node's keep-alive timer never starts for it).
 */

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

const frames = 20_000;
const token = 'x'.repeat(1_000);

/** An upstream that streams a 20 MB answer as fast as its reader takes it, counting what it wrote. */
async function fastLongUpstream(): Promise<{ url: string; written: () => number; closed: () => boolean }> {
  let written = 0;
  let closed = false;
  const upstream = await startScriptedUpstream((res: ServerResponse) => {
    res.on('close', () => {
      closed = true;
    });
    res.write(openAIChunk({ role: 'assistant', content: '' }));
    const pump = (): void => {
      while (written < frames && !res.destroyed) {
        written += 1;
        if (!res.write(openAIChunk({ content: token }))) {
          res.once('drain', pump);
          return;
        }
      }
      res.end(`${openAIChunk({}, 'stop')}data: [DONE]\n\n`);
    };
    pump();
  });
  cleanups.push(() => upstream.close());
  return { url: upstream.url, written: () => written, closed: () => closed };
}

async function startGateway(upstreamUrl: string, deadlineMs: number): Promise<string> {
  const gateway = createGateway({
    config: singleEndpointConfig(upstreamUrl, 'sk-bp', `{ retries: 0, ttftTimeoutMs: ${deadlineMs}, deadlineMs: ${deadlineMs} }`),
    logger: false,
  });
  const url = await gateway.listen(0, '127.0.0.1');
  cleanups.push(() => gateway.close());
  return url;
}

/** Requests the gateway counted with this status, once it has. */
async function countedWithStatus(url: string, status: string): Promise<number> {
  let count = 0;
  for (let tries = 0; tries < 100 && count === 0; tries += 1) {
    count = metricValue(await scrape(url), 'switchyard_requests_total', { status }) ?? 0;
    if (count === 0) await delay(20);
  }
  return count;
}

/** A raw client that sends a streaming request, takes the first bytes of the answer and then stops reading. */
function stalledClient(gatewayUrl: string): Promise<{ socket: Socket }> {
  const { hostname, port } = new URL(gatewayUrl);
  // A budget the 20 MB answer fits in (the gateway cuts an answer past 256 characters a token of it).
  const body = JSON.stringify({ model: 'm', stream: true, max_tokens: 100_000, messages: [{ role: 'user', content: 'a long answer please' }] });
  return new Promise((resolve) => {
    const socket = connect(Number(port), hostname, () => {
      socket.write(`POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sk-bp\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    });
    socket.once('data', () => {
      socket.pause();
      resolve({ socket });
    });
    cleanups.push(async () => {
      socket.destroy();
    });
  });
}

it('a client that stops reading stops the upstream being read: the rest of the answer is not buffered in the gateway', async () => {
  const upstream = await fastLongUpstream();
  const url = await startGateway(upstream.url, 60_000);
  const client = await stalledClient(url);
  // Loopback socket buffers take a few MB; without backpressure the whole 20 MB is read within a second or two.
  await delay(1_500);
  const early = upstream.written();
  await delay(500);
  expect(upstream.written()).toBe(early);
  expect(early).toBeLessThan(frames / 2);
  // The client leaving still cancels the upstream request.
  client.socket.destroy();
  expect(await waitFor(() => upstream.closed(), 2_000)).toBe(true);
  // And the request ends, counted as the client's leaving.
  expect(await countedWithStatus(url, '499')).toBe(1);
});

it('a stalled client does not outlive the deadline: the request ends as a timeout and the connection is let go', async () => {
  const upstream = await fastLongUpstream();
  const url = await startGateway(upstream.url, 400);
  const client = await stalledClient(url);
  // Listened for from the start: on a loaded machine the close may come before the waits below end.
  let closed = false;
  client.socket.on('close', () => {
    closed = true;
  });
  client.socket.on('error', () => undefined);
  expect(await waitFor(() => upstream.closed(), 2_000)).toBe(true);
  expect(upstream.written()).toBeLessThan(frames / 2);
  expect(await countedWithStatus(url, '504')).toBe(1);
  // The gateway closed the connection: a client reading again gets what was sent, then the close.
  // (Kept open, the connection would stay so for node's 65 s keep-alive timeout once drained.)
  client.socket.resume();
  // Reading what was buffered takes a while on a loaded machine; the point is well before 65 s.
  expect(await waitFor(() => closed, 20_000)).toBe(true);
});
