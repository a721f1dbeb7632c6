import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { createGateway } from '../../src/gateway/gateway-server.js';
import { cheapestFirstConfig, closedAfterEach, delay, metricValue, openAIChunk, readSse, scrape, startTestEmulator } from './helpers/fleet.js';

// Only a probe decides a half-open circuit: an answer to an attempt sent before the circuit opened
// (a long stream) says nothing of the endpoint since. Taken for a verdict, a long stream that ended
// well during half-open closed the circuit with no probe sent, and the requests after went back to
// a broken endpoint, each paying its failure (or, hung, its TTFT timeout).

const apiKey = 'sk-circuit-verdicts';
const { cleanups } = closedAfterEach();

/** An upstream that holds its first request's stream open until released, and fails every later one with a 500. */
async function breakingUpstream(): Promise<{ readonly url: string; release(): void; arrivals(): number }> {
  let held: ServerResponse | undefined;
  let arrivals = 0;
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      arrivals += 1;
      if (arrivals > 1) {
        res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":{"message":"broken"}}');
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(openAIChunk({ role: 'assistant', content: 'long' }));
      held = res;
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    release: () => held?.end(openAIChunk({ content: ' answer' }, 'stop') + 'data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}\n\ndata: [DONE]\n\n'),
    arrivals: () => arrivals,
  };
}

const ask = (url: string, stream: boolean): Promise<Response> =>
  fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', stream, max_tokens: 8, messages: [{ role: 'user', content: 'hi' }] }) });

describe('half-open circuits', () => {
  it('a stream sent before the circuit opened ends well during half-open: the circuit stays half-open, and the next request is its probe', async () => {
    const breaking = await breakingUpstream();
    const healthy = await startTestEmulator({ servedModelName: 'm' });
    cleanups.push(() => healthy.close());
    const gateway = createGateway({ config: cheapestFirstConfig([[breaking.url, 'openai'], [healthy.url, 'openai']], apiKey, '{ retries: 0, circuitBreaker: { failureThreshold: 2, windowMs: 60000, openMs: 1500 } }'), logger: false });
    cleanups.push(() => gateway.close());
    const url = await gateway.listen(0, '127.0.0.1');
    const circuit = async (): Promise<number | undefined> => metricValue(await scrape(url), 'switchyard_circuit_state', { endpoint: 'e0' });

    const long = await ask(url, true);
    expect(long.status).toBe(200);
    // Two failures on the cheapest endpoint, each answered by the other: its circuit opens.
    for (let index = 0; index < 2; index += 1) {
      const failedOver = await ask(url, false);
      expect(failedOver.status).toBe(200);
      await failedOver.arrayBuffer();
    }
    expect(await circuit()).toBe(2);
    await delay(1600);
    expect(await circuit()).toBe(1);
    breaking.release();
    const read = await readSse(long, 'openai');
    expect(read.ending).toBe('complete');
    expect(read.text).toBe('long answer');
    expect(await circuit()).toBe(1);
    // The probe goes to the endpoint, fails there (answered by the other), and opens the circuit again.
    const probed = await ask(url, false);
    expect(probed.status).toBe(200);
    await probed.arrayBuffer();
    expect(breaking.arrivals()).toBe(4);
    expect(await circuit()).toBe(2);
  });
});
