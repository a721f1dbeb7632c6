import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { createGateway } from '../../src/gateway/gateway-server.js';
import { cheapestFirstConfig, closedAfterEach, delay, metricValue, openAIChunk, readSse, scrape, startTestEmulator } from './helpers/fleet.js';

// Only a probe decides a half-open circuit: the end of an attempt sent before the circuit opened
// (a long stream, a refusal judged by a second opinion, a hedge leg's late refusal) says nothing of
// the endpoint since. Taken for a verdict, a long stream that ended well during half-open closed the
// circuit with no probe sent, and the requests after went back to a broken endpoint; a late failure
// re-opened it, keeping a recovered endpoint out one openMs longer.

const apiKey = 'sk-circuit-verdicts';
const { cleanups } = closedAfterEach();

/** An upstream that answers its nth request (from 1) as `handle` says. */
async function scripted(handle: (n: number, res: ServerResponse) => void): Promise<{ readonly url: string; arrivals(): number }> {
  let arrivals = 0;
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      arrivals += 1;
      handle(arrivals, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, arrivals: () => arrivals };
}

const broken = (res: ServerResponse): void => void res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":{"message":"broken"}}');
const refusal = (res: ServerResponse): void => void res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":{"message":"bad request","type":"invalid_request_error"}}');
const whole = (res: ServerResponse): void => {
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  res.end(openAIChunk({ role: 'assistant', content: 'ok' }, 'stop') + 'data: [DONE]\n\n');
};

const ask = (url: string, stream: boolean): Promise<Response> =>
  fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', stream, max_tokens: 8, messages: [{ role: 'user', content: 'hi' }] }) });

/** A gateway over e0 (cheapest) and e1, e0's circuit opening at its second failure and half-open after `openMs`. */
async function gatewayOver(e0: string, e1: string, openMs: number, resilience = '', ttftTimeoutMs = 10_000): Promise<{ readonly url: string; circuit(): Promise<number | undefined> }> {
  const gateway = createGateway({ config: cheapestFirstConfig([[e0, 'openai'], [e1, 'openai']], apiKey, `{ retries: 0, ttftTimeoutMs: ${String(ttftTimeoutMs)}, circuitBreaker: { failureThreshold: 2, windowMs: 60000, openMs: ${String(openMs)} }${resilience} }`), logger: false });
  cleanups.push(() => gateway.close());
  const url = await gateway.listen(0, '127.0.0.1');
  return { url, circuit: async () => metricValue(await scrape(url), 'switchyard_circuit_state', { endpoint: 'e0' }) };
}

/** Two requests that fail on e0 and are answered by e1: e0's circuit opens. */
async function openCircuit(url: string): Promise<void> {
  for (let index = 0; index < 2; index += 1) {
    const failedOver = await ask(url, false);
    expect(failedOver.status).toBe(200);
    await failedOver.arrayBuffer();
  }
}

/**
 * A stream to e0 (cheapest), held open after its first chunk, then two requests that fail on e0 (each
 * answered by a healthy replica) open its circuit, and its openMs (1.5 s) passes: half-open.
 */
async function longStreamIntoHalfOpen(): Promise<{ readonly url: string; circuit(): Promise<number | undefined>; readonly long: Response; held(): ServerResponse | undefined; readonly e0: { arrivals(): number } }> {
  let held: ServerResponse | undefined;
  // e0 holds its first request's stream open until released, and fails every later one.
  const e0 = await scripted((n, res) => {
    if (n > 1) return broken(res);
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write(openAIChunk({ role: 'assistant', content: 'long' }));
    held = res;
  });
  const healthy = await startTestEmulator({ servedModelName: 'm' });
  cleanups.push(() => healthy.close());
  const { url, circuit } = await gatewayOver(e0.url, healthy.url, 1500);
  const long = await ask(url, true);
  expect(long.status).toBe(200);
  await openCircuit(url);
  expect(await circuit()).toBe(2);
  await delay(1600);
  expect(await circuit()).toBe(1);
  return { url, circuit, long, held: () => held, e0 };
}

/**
 * With a request to e0 just sent, opens e0's circuit (two more requests failing there), then waits
 * `halfOpenAfterMs` (past openMs): half-open, the first request still in flight.
 */
async function openWhileInFlight(url: string, circuit: () => Promise<number | undefined>, halfOpenAfterMs: number): Promise<void> {
  await delay(200);
  await openCircuit(url);
  expect(await circuit()).toBe(2);
  await delay(halfOpenAfterMs);
  expect(await circuit()).toBe(1);
}

/** The request answered whole (200), read to its end. */
async function answeredWhole(pending: Promise<Response>): Promise<void> {
  const answered = await pending;
  expect(answered.status).toBe(200);
  await answered.arrayBuffer();
}

describe('half-open circuits', () => {
  it('a stream sent before the circuit opened ends well during half-open: the circuit stays half-open, and the next request is its probe', async () => {
    const { url, circuit, long, held, e0 } = await longStreamIntoHalfOpen();
    held()?.end(openAIChunk({ content: ' answer' }, 'stop') + 'data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}\n\ndata: [DONE]\n\n');
    const read = await readSse(long, 'openai');
    expect(read.ending).toBe('complete');
    expect(read.text).toBe('long answer');
    expect(await circuit()).toBe(1);
    // The probe goes to the endpoint, fails there (answered by the other), and opens the circuit again.
    const probed = await ask(url, false);
    expect(probed.status).toBe(200);
    await probed.arrayBuffer();
    expect(e0.arrivals()).toBe(4);
    expect(await circuit()).toBe(2);
  });

  it('a stream sent before the circuit opened breaks during half-open: still half-open (resumed elsewhere)', async () => {
    const { circuit, long, held, e0 } = await longStreamIntoHalfOpen();
    held()?.socket?.destroy();
    const read = await readSse(long, 'openai');
    expect(read.ending).toBe('complete');
    expect(e0.arrivals()).toBe(3);
    expect(await circuit()).toBe(1);
  });

  it('a probe whose answer breaks after its first token (which closed the circuit) opens it again at once, not one failure of the threshold (E23)', async () => {
    // e0 fails its first two requests (the circuit opens), then breaks every stream after its first chunk.
    const e0 = await scripted((n, res) => {
      if (n <= 2) return broken(res);
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(openAIChunk({ role: 'assistant', content: 'cut' }));
      setTimeout(() => res.socket?.destroy(), 50);
    });
    const healthy = await startTestEmulator({ servedModelName: 'm' });
    cleanups.push(() => healthy.close());
    const { url, circuit } = await gatewayOver(e0.url, healthy.url, 300);
    await openCircuit(url);
    expect(await circuit()).toBe(2);
    await delay(400);
    expect(await circuit()).toBe(1);
    // The probe: its first token closes the circuit, its break (resumed on the healthy one) opens it again.
    const probe = await ask(url, true);
    expect((await readSse(probe, 'openai')).ending).toBe('complete');
    expect(e0.arrivals()).toBe(3);
    expect(await circuit()).toBe(2);
    // A success of another attempt since the probe closed it would have made the break one failure: not so here.
    await answeredWhole(ask(url, false));
    expect(e0.arrivals()).toBe(3);
  });

  it('a second probe whose first token found the circuit closed already is no relapse when it breaks: one failure (R23)', async () => {
    // e0 fails twice (open), then: probe 1 answers whole (closes), probe 2 is slow to its first token and breaks, the rest answer whole.
    const e0 = await scripted((n, res) => {
      if (n <= 2) return broken(res);
      if (n === 3) return void setTimeout(() => whole(res), 200);
      if (n === 4) {
        setTimeout(() => {
          res.writeHead(200, { 'content-type': 'text/event-stream' });
          res.write(openAIChunk({ role: 'assistant', content: 'cut' }));
          setTimeout(() => res.socket?.destroy(), 100);
        }, 1500);
        return;
      }
      whole(res);
    });
    const healthy = await startTestEmulator({ servedModelName: 'm' });
    cleanups.push(() => healthy.close());
    const gateway = createGateway({ config: cheapestFirstConfig([[e0.url, 'openai'], [healthy.url, 'openai']], apiKey, '{ retries: 0, circuitBreaker: { failureThreshold: 2, windowMs: 60000, openMs: 300, halfOpenProbes: 2 } }'), logger: false });
    cleanups.push(() => gateway.close());
    const url = await gateway.listen(0, '127.0.0.1');
    const circuit = async (): Promise<number | undefined> => metricValue(await scrape(url), 'switchyard_circuit_state', { endpoint: 'e0' });
    await openCircuit(url);
    await delay(400);
    expect(await circuit()).toBe(1);
    const first = ask(url, false);
    await delay(50);
    const second = ask(url, true);
    await answeredWhole(first);
    expect(await circuit()).toBe(0);
    for (let index = 0; index < 3; index += 1) await answeredWhole(ask(url, false));
    expect((await readSse(await second, 'openai')).ending).toBe('complete');
    // One failure of two (failureThreshold): still closed.
    expect(await circuit()).toBe(0);
  });

  it("a refusal of an attempt sent before the circuit opened, judged the endpoint's by a second opinion that answers during half-open: no verdict", async () => {
    // e0 refuses the first request as the caller's fault, then fails every request; e1 answers
    // the refused request's second opinion slowly, the rest at once.
    const e0 = await scripted((n, res) => (n === 1 ? refusal(res) : broken(res)));
    const e1 = await scripted((n, res) => (n === 1 ? setTimeout(() => whole(res), 1500) : whole(res)));
    const { url, circuit } = await gatewayOver(e0.url, e1.url, 500);

    const secondOpinion = ask(url, false);
    await openWhileInFlight(url, circuit, 700);
    await answeredWhole(secondOpinion);
    expect(e0.arrivals()).toBe(3);
    expect(await circuit()).toBe(1);
  });

  it("a hedge leg sent before the circuit opened that refuses late, after the other leg won: no verdict", async () => {
    const e0 = await scripted((n, res) => (n === 1 ? setTimeout(() => refusal(res), 1200) : broken(res)));
    const e1 = await scripted((_n, res) => whole(res));
    const { url, circuit } = await gatewayOver(e0.url, e1.url, 800, ', hedgeAfterMs: 100');

    const hedged = ask(url, false);
    await openWhileInFlight(url, circuit, 900);
    await answeredWhole(hedged);
    // The losing leg's refusal comes 1.2 s after it was sent.
    await delay(400);
    expect(e0.arrivals()).toBe(3);
    expect(await circuit()).toBe(1);
  });

  it('an attempt sent before the circuit opened that times out waiting for its first token during half-open: no verdict', async () => {
    // e0 never answers its first request, and fails every later one.
    const e0 = await scripted((n, res) => (n === 1 ? undefined : broken(res)));
    const e1 = await scripted((_n, res) => whole(res));
    const { url, circuit } = await gatewayOver(e0.url, e1.url, 500, '', 2000);

    const timingOut = ask(url, false);
    await openWhileInFlight(url, circuit, 700);
    // Its TTFT timeout (2 s after it was sent) fails it over to e1.
    await answeredWhole(timingOut);
    expect(e0.arrivals()).toBe(3);
    expect(await circuit()).toBe(1);
  });
});
