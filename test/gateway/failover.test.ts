import { createServer } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import type { RunningEmulator } from '../../src/emulator/index.js';
import { vocabulary } from '../../src/emulator/generate.js';
import { estimateTokens } from '../../src/protocol/chat.js';
import { createGateway, type Gateway } from '../../src/gateway/gateway-server.js';
import { hashApiKey } from '../../src/gateway/tenant-auth.js';
import { seededRandom } from './seeded-random.js';
import { delay, gatewayConfig, metricValue, openAIChunk, readSse, scrape, startCountingProxy, startScriptedUpstream, startTestEmulator, waitFor, type CountingProxy, type ReadStream, type ScriptedUpstream } from './helpers/fleet.js';

/**
 * Failover under faults, end to end: real emulated replicas behind a real
 * gateway on loopback, driven by the official SDKs (maxRetries 0, so every
 * retry seen here is the gateway's) and by raw fetch where the frames matter.
 */

const apiKey = 'sk-failover-test';
const publicModel = 'frontier';

interface EndpointSpec {
  readonly id: string;
  readonly url: string;
  readonly model: string;
  readonly dialect?: 'openai' | 'anthropic';
  readonly cost?: number;
  readonly capacity?: number;
  readonly contextWindow?: number;
  readonly longContext?: boolean;
  readonly prefill?: boolean;
  readonly thinking?: boolean;
  readonly pool?: string;
}

function config(endpoints: readonly EndpointSpec[], options: { policy?: string; resilience?: string } = {}): ReturnType<typeof gatewayConfig> {
  const lines = endpoints.map(
    (e) =>
      `  - { id: ${e.id}, url: "${e.url}", dialect: ${e.dialect ?? 'openai'}, model: ${e.model}, provider: p-${e.id}, region: r1, jurisdiction: us, contextWindow: ${e.contextWindow ?? 131072},${e.longContext === true ? ' longContext: true,' : ''}${e.prefill === false ? ' prefill: false,' : ''}${e.thinking === false ? ' thinking: false,' : ''}${e.pool === undefined ? '' : ` pool: ${e.pool},`} marginalCostPerMillionTokens: ${e.cost ?? 0}, capacity: ${e.capacity ?? 8} }`,
  );
  return gatewayConfig(`
version: 1
endpoints:
${lines.join('\n')}
routes:
  - { model: ${publicModel}, endpoints: [${endpoints.map((e) => e.id).join(', ')}], policy: ${options.policy ?? '[cost, least-load]'} }
tenants:
  - { id: t1, apiKeySha256: ${hashApiKey(apiKey)}, jurisdictions: [us], requestsPerMinute: 1000000, tokensPerMinute: 1000000000 }
resilience: ${options.resilience ?? '{ retries: 2, backoffMs: 5, maxBackoffMs: 50, ttftTimeoutMs: 2000, deadlineMs: 10000 }'}
`);
}

// Everything a test starts is stopped after it, even when it fails.
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

async function emulator(name: string, options: Omit<Parameters<typeof startTestEmulator>[0], 'servedModelName'> = {}): Promise<RunningEmulator> {
  const running = await startTestEmulator({ servedModelName: name, ...options });
  cleanups.push(() => running.close());
  return running;
}

async function proxy(target: string): Promise<CountingProxy> {
  const started = await startCountingProxy(target);
  cleanups.push(() => started.close());
  return started;
}

async function gateway(endpoints: readonly EndpointSpec[], options: { policy?: string; resilience?: string } = {}): Promise<{ gateway: Gateway; url: string }> {
  const started = createGateway({ config: config(endpoints, options), logger: false });
  const url = await started.listen(0, '127.0.0.1');
  cleanups.push(() => started.close());
  return { gateway: started, url };
}

/**
 * A cheap endpoint with `faults` and a dearer healthy one (Anthropic-dialect unless told), each behind a
 * counting proxy, routed by cost: every request tries the faulted one first.
 */
async function faultedThenGood(
  faulted: { readonly id: string; readonly faults: Parameters<RunningEmulator['setFaults']>[0] },
  options: { readonly goodDialect?: 'openai' | 'anthropic'; readonly circuitBreaker?: string } = {},
  faultedDialect: 'openai' | 'anthropic' = 'openai',
): Promise<{ url: string; faulted: RunningEmulator; first: CountingProxy; second: CountingProxy }> {
  const replica = await emulator(`m-${faulted.id}`, { faults: faulted.faults });
  const good = await emulator('m-good');
  const first = await proxy(replica.url);
  const second = await proxy(good.url);
  const { url } = await gateway(
    [
      { id: faulted.id, url: first.url, model: `m-${faulted.id}`, cost: 0, dialect: faultedDialect },
      { id: 'good', url: second.url, model: 'm-good', cost: 1, dialect: options.goodDialect ?? 'anthropic' },
    ],
    { policy: '[cost]', resilience: `{ retries: 2, backoffMs: 5, maxBackoffMs: 50, ttftTimeoutMs: 2000, deadlineMs: 10000, circuitBreaker: ${options.circuitBreaker ?? '{ failureThreshold: 1000 }'} }` },
  );
  return { url, faulted: replica, first, second };
}

const openai = (url: string): OpenAI => new OpenAI({ apiKey, baseURL: `${url}/v1`, maxRetries: 0, timeout: 15_000 });
const anthropic = (url: string): Anthropic => new Anthropic({ apiKey, baseURL: url, maxRetries: 0, timeout: 15_000 });

function streamOpenAI(url: string, content: string, maxTokens: number, signal?: AbortSignal): Promise<Response> {
  return fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: publicModel, messages: [{ role: 'user', content }], max_tokens: maxTokens, stream: true, stream_options: { include_usage: true } }),
    ...(signal === undefined ? {} : { signal }),
  });
}

function streamAnthropic(url: string, content: string, maxTokens: number, signal?: AbortSignal): Promise<Response> {
  return fetch(`${url}/v1/messages`, {
    method: 'POST',
    headers: { 'x-api-key': apiKey, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
    body: JSON.stringify({ model: publicModel, max_tokens: maxTokens, messages: [{ role: 'user', content }], stream: true }),
    ...(signal === undefined ? {} : { signal }),
  });
}

/** The `data: {...}` payload of every OpenAI frame that carries usage. */
function openAIUsage(raw: string, field: 'completion_tokens' | 'prompt_tokens' = 'completion_tokens'): number | undefined {
  for (const frame of raw.split('\n\n')) {
    const data = frame.startsWith('data: ') ? frame.slice(6) : '';
    if (data === '' || data === '[DONE]') continue;
    const json = JSON.parse(data) as { usage?: Partial<Record<typeof field, number>> | null };
    const value = json.usage?.[field];
    if (value !== undefined) return value;
  }
  return undefined;
}

function lastFrame(raw: string): string {
  const frames = raw.split('\n\n').filter((frame) => frame.trim() !== '');
  return frames[frames.length - 1] ?? '';
}

describe('failover under faults', () => {
  it('1. an emulator killed mid-run: no request fails while another eligible endpoint is healthy; mid-flight streams are resumed, never truncated', async () => {
    // Speed 2: a 160-token stream takes about 300 ms, so several are mid-generation at the kill.
    const slowEnough = { speed: 2, capacity: 32 } as const;
    const doomed = await emulator('m-a', slowEnough);
    const b = await emulator('m-b', slowEnough);
    const c = await emulator('m-c', slowEnough);
    const { url } = await gateway(
      [
        // The cheapest, so it carries the traffic until it dies; then the two others share it.
        { id: 'doomed', url: doomed.url, model: 'm-a', cost: 0 },
        { id: 'healthy-b', url: b.url, model: 'm-b', dialect: 'anthropic', cost: 1 },
        { id: 'healthy-c', url: c.url, model: 'm-c', cost: 1 },
      ],
      { policy: '[cost, least-load]', resilience: '{ retries: 3, backoffMs: 5, maxBackoffMs: 50, ttftTimeoutMs: 3000, deadlineMs: 15000, circuitBreaker: { failureThreshold: 3, openMs: 60000 } }' },
    );
    const oa = openai(url);
    const an = anthropic(url);

    type Outcome = { kind: 'non-stream'; ok: boolean; error?: string } | { kind: 'stream'; read: ReadStream };
    let sequence = 0;
    const one = async (): Promise<Outcome> => {
      const n = sequence++;
      const content = `request ${n}: tell me about failover`;
      try {
        switch (n % 4) {
          case 0: {
            const completion = await oa.chat.completions.create({ model: publicModel, messages: [{ role: 'user', content }], max_tokens: 20 });
            return { kind: 'non-stream', ok: (completion.choices[0]?.message.content ?? '').length > 0 };
          }
          case 1: {
            const message = await an.messages.create({ model: publicModel, max_tokens: 20, messages: [{ role: 'user', content }] });
            return { kind: 'non-stream', ok: message.content[0]?.type === 'text' && message.content[0].text.length > 0 };
          }
          case 2:
            return { kind: 'stream', read: await readSse(await streamOpenAI(url, content, 160), 'openai') };
          default:
            return { kind: 'stream', read: await readSse(await streamAnthropic(url, content, 160), 'anthropic') };
        }
      } catch (error) {
        return { kind: 'non-stream', ok: false, error: error instanceof Error ? error.message : String(error) };
      }
    };

    // A first batch, all at once; then more keep coming every few ms until 20 more have started after the kill.
    const inFlight: Promise<Outcome>[] = Array.from({ length: 24 }, () => one());
    let keepGoing = true;
    let killed = false;
    let launchedAfterKill = 0;
    const feeder = (async () => {
      while (keepGoing) {
        inFlight.push(one());
        if (killed) launchedAfterKill += 1;
        await delay(10);
      }
    })();
    let runningAtKill = 0;
    try {
      // Kill the doomed replica only once it is busy (streams and non-stream requests mid-generation).
      expect(await waitFor(() => doomed.stats().running >= 8, 30_000, 2)).toBe(true);
      runningAtKill = doomed.stats().running;
      await doomed.close();
      killed = true;
      // More keep coming while the dead replica is still in the config (and then behind an open circuit).
      expect(await waitFor(() => launchedAfterKill >= 20, 30_000)).toBe(true);
    } finally {
      keepGoing = false;
      await feeder;
    }
    const outcomes = await Promise.all(inFlight);

    const nonStream = outcomes.filter((o) => o.kind === 'non-stream');
    const streams = outcomes.flatMap((o) => (o.kind === 'stream' ? [o.read] : []));
    expect(runningAtKill).toBeGreaterThanOrEqual(8);
    expect(nonStream.filter((o) => !o.ok), 'failed non-stream requests').toEqual([]);
    // The hard rule: no stream may end looking complete when it is not. Each one completes or says it failed.
    expect(streams.filter((s) => s.ending === 'truncated' || s.ending === 'reset').map((s) => s.raw.slice(-200))).toEqual([]);
    // And with two healthy endpoints left, none needs to fail at all: the broken ones were resumed.
    expect(streams.filter((s) => s.ending !== 'complete').map((s) => s.raw.slice(-200))).toEqual([]);
    for (const s of streams) expect(s.status).toBe(200);

    const metrics = await scrape(url);
    // Every request the kill caught was rescued: failed over (nothing sent yet) or resumed (tokens already sent).
    const failovers = metricValue(metrics, 'switchyard_failovers_total', { route: publicModel }) ?? 0;
    const resumed = metricValue(metrics, 'switchyard_stream_resumes_total', { route: publicModel, outcome: 'resumed' }) ?? 0;
    expect(failovers + resumed).toBeGreaterThanOrEqual(runningAtKill);
    // Streams outlive non-stream answers eightfold, so the kill catches some mid-stream.
    expect(resumed).toBeGreaterThanOrEqual(1);
    expect(metricValue(metrics, 'switchyard_stream_resumes_total', { outcome: 'error-event' }) ?? 0).toBe(0);
    expect(metricValue(metrics, 'switchyard_circuit_state', { endpoint: 'doomed' })).toBe(2);
  });

  describe('2. an endpoint that hangs before the first token', () => {
    const resilience = '{ retries: 2, backoffMs: 5, maxBackoffMs: 50, ttftTimeoutMs: 300, deadlineMs: 10000, circuitBreaker: { failureThreshold: 3, windowMs: 60000, openMs: 60000 } }';

    it('requests succeed through the TTFT timeout and failover; the circuit opens after failureThreshold failures and later requests stop paying the timeout', async () => {
      const hung = await emulator('m-hung', { faults: { hangMs: -1 } });
      const good = await emulator('m-good');
      // The hung endpoint is the cheapest, so it is always tried first while its circuit is closed.
      const { url } = await gateway(
        [
          { id: 'hung', url: hung.url, model: 'm-hung', cost: 0 },
          { id: 'good', url: good.url, model: 'm-good', cost: 1, dialect: 'anthropic' },
        ],
        { policy: '[cost]', resilience },
      );
      const oa = openai(url);
      const an = anthropic(url);
      const timed = async (run: () => Promise<unknown>): Promise<number> => {
        const started = performance.now();
        await run();
        return performance.now() - started;
      };
      const ask = (n: number): Promise<unknown> =>
        n % 2 === 0
          ? oa.chat.completions.create({ model: publicModel, messages: [{ role: 'user', content: `hang ${n}` }], max_tokens: 10 })
          : an.messages.stream({ model: publicModel, max_tokens: 10, messages: [{ role: 'user', content: `hang ${n}` }] }).finalMessage();

      // failureThreshold (3) requests pay the TTFT timeout on the hung endpoint, then fail over and succeed.
      const paying: number[] = [];
      for (let n = 0; n < 3; n += 1) paying.push(await timed(() => ask(n)));
      for (const ms of paying) expect(ms).toBeGreaterThanOrEqual(290);
      for (const ms of paying) expect(ms).toBeLessThan(2000);

      const metrics = await scrape(url);
      expect(metricValue(metrics, 'switchyard_circuit_state', { endpoint: 'hung' })).toBe(2);
      expect(metricValue(metrics, 'switchyard_circuit_state', { endpoint: 'good' })).toBe(0);
      // The gateway gave up on the hung attempts: their batch slots are free again.
      expect(await waitFor(() => hung.stats().running === 0, 2000)).toBe(true);

      // The circuit is open: the hung endpoint is skipped, no more timeouts to pay.
      const after: number[] = [];
      for (let n = 3; n < 9; n += 1) after.push(await timed(() => ask(n)));
      for (const ms of after) expect(ms).toBeLessThan(200);
      expect(hung.stats().running).toBe(0);
    });

    it('one client asking one request after another opens it too: failures in a row count however far apart, a window shorter than the timeout notwithstanding (E55)', async () => {
      const hung = await emulator('m-hung', { faults: { hangMs: -1 } });
      const good = await emulator('m-good');
      // Each time-out comes a whole TTFT timeout (300 ms) after the last: never two within the 100 ms window.
      const { url } = await gateway(
        [
          { id: 'hung', url: hung.url, model: 'm-hung', cost: 0 },
          { id: 'good', url: good.url, model: 'm-good', cost: 1 },
        ],
        { policy: '[cost]', resilience: resilience.replace('windowMs: 60000', 'windowMs: 100') },
      );
      const oa = openai(url);
      const took: number[] = [];
      for (let n = 0; n < 6; n += 1) {
        const started = performance.now();
        const answer = await oa.chat.completions.create({ model: publicModel, messages: [{ role: 'user', content: `one after another ${n}` }], max_tokens: 5 });
        expect(answer.choices[0]?.finish_reason).toBeDefined();
        took.push(performance.now() - started);
      }
      // Three pay the timeout (failureThreshold), the circuit opens, and the rest go straight to the good endpoint.
      for (const ms of took.slice(0, 3)) expect(ms).toBeGreaterThanOrEqual(290);
      for (const ms of took.slice(3)) expect(ms).toBeLessThan(200);
      expect(metricValue(await scrape(url), 'switchyard_circuit_state', { endpoint: 'hung' })).toBe(2);
    });

    // Regression, fixed (src/gateway/gateway-server.ts, attempt(), lines 149-151 and 163): a STREAMED attempt that times out
    // waiting for its first token is recorded as 502 "upstream stream ended before the first token", not as the
    // TTFT timeout (504): the abort makes readStream end quietly (done), which attempt() reads as an early end.
    it('a streamed request whose only endpoint hangs gets 504 (TTFT timeout) like a non-stream one, and the metric says 504', async () => {
      const hung = await emulator('m-hung', { faults: { hangMs: -1 } });
      const { url } = await gateway([{ id: 'hung', url: hung.url, model: 'm-hung' }], {
        resilience: '{ retries: 0, backoffMs: 5, maxBackoffMs: 50, ttftTimeoutMs: 200, deadlineMs: 10000 }',
      });
      const nonStream = await fetch(`${url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: publicModel, messages: [{ role: 'user', content: 'x' }], max_tokens: 5 }),
      });
      expect(nonStream.status).toBe(504);
      const streamed = await streamOpenAI(url, 'x', 5);
      const body = (await streamed.json()) as { error: { message: string; type: string; code: string | null } };
      const metrics = await scrape(url);
      expect(streamed.status).toBe(504); // actual: 502 "upstream hung failed: upstream stream ended before the first token"
      expect(body.error.type).toBe('timeout');
      // OpenAI has no code for a timeout: null, as it sends for errors without one.
      expect(body.error.code).toBeNull();
      expect(body.error.message).toMatch(/no first token within 200 ms/);
      expect(metricValue(metrics, 'switchyard_upstream_errors_total', { endpoint: 'hung', status: '504' })).toBe(2);
    });

    it('a deadline that passes while attempts wait for a first token is a 504 timeout for the waiting client, never a 499', async () => {
      const hung = await emulator('m-hung', { faults: { hangMs: -1 } });
      const { url } = await gateway([{ id: 'hung', url: hung.url, model: 'm-hung' }], {
        // The second attempt is still waiting when the deadline fires.
        resilience: '{ retries: 2, backoffMs: 5, maxBackoffMs: 10, ttftTimeoutMs: 300, deadlineMs: 450, circuitBreaker: { failureThreshold: 100 } }',
      });
      await expect(openai(url).chat.completions.create({ model: publicModel, messages: [{ role: 'user', content: 'x' }], max_tokens: 5 })).rejects.toMatchObject({ status: 504 });
      await expect(anthropic(url).messages.create({ model: publicModel, max_tokens: 5, messages: [{ role: 'user', content: 'x' }] })).rejects.toMatchObject({ status: 504, error: { error: { type: 'timeout_error' } } });
      const streamed = await streamOpenAI(url, 'x', 5);
      expect(streamed.status).toBe(504);
      expect(((await streamed.json()) as { error: { message: string } }).error.message).toMatch(/450 ms deadline/);
      expect(metricValue(await scrape(url), 'switchyard_requests_total', { status: '499' }) ?? 0).toBe(0);
    });

    // Regression, fixed (src/gateway/gateway-server.ts, attempt(), line 134 with 138-139): for a NON-stream request the TTFT
    // timer stays armed until the whole answer has arrived, so a healthy endpoint that starts at once but needs
    // longer than ttftTimeoutMs to finish a long answer is aborted as "no first token within N ms" (504), counted
    // as a circuit failure, and retried everywhere. The same request streamed succeeds.
    it('a long non-stream answer from a healthy endpoint is not cut by the TTFT timeout', async () => {
      const replica = await emulator('m-long', { speed: 2, outputTokens: 4000 });
      const { url } = await gateway([{ id: 'long', url: replica.url, model: 'm-long' }], {
        resilience: '{ retries: 0, backoffMs: 5, maxBackoffMs: 50, ttftTimeoutMs: 300, deadlineMs: 10000 }',
      });
      const body = { model: publicModel, messages: [{ role: 'user', content: 'a long story please' }], max_tokens: 600 };
      const streamed = await readSse(await streamOpenAI(url, 'a long story please', 600), 'openai');
      expect(streamed.ending).toBe('complete');
      const response = await fetch(`${url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      // actual: 504 {"error":{"message":"upstream long failed: no first token within 300 ms",...}}
      expect(response.status).toBe(200);
    });
  });

  describe('3. cut streams', () => {
    const resilience = (resume: boolean): string =>
      `{ retries: 2, backoffMs: 5, maxBackoffMs: 50, ttftTimeoutMs: 2000, deadlineMs: 10000, resumeStreams: ${resume}, circuitBreaker: { failureThreshold: 1000 } }`;

    it("when every resume fails at an upstream, the caller is told the last failure's status, Retry-After and endpoint, as for a first answer", async () => {
      // The cheap endpoint breaks its first answer after two tokens and is overloaded after; so is the other.
      let arrivals = 0;
      const breaking = createServer((req, res) => {
        req.resume();
        req.on('end', () => {
          arrivals += 1;
          if (arrivals > 1) {
            res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '7' }).end('{"error":{"message":"busy"}}');
            return;
          }
          res.writeHead(200, { 'content-type': 'text/event-stream' });
          res.write(openAIChunk({ role: 'assistant', content: 'one' }) + openAIChunk({ content: ' two' }), () => setTimeout(() => res.socket?.destroy(), 20));
        });
      });
      await new Promise<void>((resolve) => breaking.listen(0, '127.0.0.1', resolve));
      cleanups.push(() => new Promise((resolve) => breaking.close(() => resolve())));
      // Its wait ends after the breaking one's: of two endpoints inside a Retry-After, the stream goes first to the breaking one.
      const overloaded = await startScriptedUpstream((res) => res.end('{"error":{"message":"busy"}}'), { status: 503, contentType: 'application/json', headers: { 'retry-after': '8' } });
      cleanups.push(() => overloaded.close());
      const { url } = await gateway(
        [
          { id: 'breaking', url: `http://127.0.0.1:${String((breaking.address() as AddressInfo).port)}`, model: 'm', cost: 0 },
          { id: 'overloaded', url: overloaded.url, model: 'm', cost: 1 },
        ],
        { policy: '[cost]', resilience: '{ retries: 0, backoffMs: 5, maxBackoffMs: 50, ttftTimeoutMs: 2000, deadlineMs: 10000, circuitBreaker: { failureThreshold: 1000 } }' },
      );
      // The continuation goes to the other endpoint, overloaded, then back to the first (once, even with
      // retries 0), overloaded by then; a whole answer's restart finds nothing left to try.
      const whole = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: publicModel, messages: [{ role: 'user', content: 'hi' }], max_tokens: 20 }) });
      expect(whole.status).toBe(503);
      expect(whole.headers.get('retry-after')).not.toBeNull();
      expect(((await whole.json()) as { error: { message: string } }).error.message).toBe('the answer was cut after 2 tokens and could not be resumed: the upstream stream broke; then upstream breaking failed: status 503 (the last of 2 endpoints tried for this request, in 3 attempts)');
      expect(metricValue(await scrape(url), 'switchyard_requests_total', { endpoint: 'breaking', status: '503' })).toBe(1);
      expect(overloaded.arrivals()).toBe(1);
      // A stream's resumes fail the same way: its error event says overloaded, as clients wait on that.
      arrivals = 0;
      const streamed = await readSse(await streamAnthropic(url, 'hi', 20), 'anthropic');
      expect(streamed.ending).toBe('error-event');
      expect(streamed.raw).toContain('"type":"overloaded_error","message":"the answer was cut after 2 tokens and could not be resumed: the upstream stream broke; then upstream ');
    });

    it('a continuation the upstreams refuse (a 400 of its own) is told as such, a 502, not as the stream breaking alone (E26)', async () => {
      // The cheap endpoint breaks its first answer after two tokens and refuses after; so does the other.
      let arrivals = 0;
      const refusal = '{"error":{"message":"The request body is not valid JSON: no low surrogate in string","type":"invalid_request_error"}}';
      const breaking = createServer((req, res) => {
        req.resume();
        req.on('end', () => {
          arrivals += 1;
          if (arrivals > 1) return void res.writeHead(400, { 'content-type': 'application/json' }).end(refusal);
          res.writeHead(200, { 'content-type': 'text/event-stream' });
          res.write(openAIChunk({ role: 'assistant', content: 'one' }) + openAIChunk({ content: ' two' }), () => setTimeout(() => res.socket?.destroy(), 20));
        });
      });
      await new Promise<void>((resolve) => breaking.listen(0, '127.0.0.1', resolve));
      cleanups.push(() => new Promise((resolve) => breaking.close(() => resolve())));
      const refuser = await startScriptedUpstream((res) => res.end(refusal), { status: 400, contentType: 'application/json' });
      cleanups.push(() => refuser.close());
      const { url } = await gateway(
        [
          { id: 'breaking', url: `http://127.0.0.1:${String((breaking.address() as AddressInfo).port)}`, model: 'm', cost: 0 },
          { id: 'refusing', url: refuser.url, model: 'm', cost: 1 },
        ],
        { policy: '[cost]', resilience: '{ retries: 0, backoffMs: 5, maxBackoffMs: 50, ttftTimeoutMs: 2000, deadlineMs: 10000, circuitBreaker: { failureThreshold: 1000 } }' },
      );
      const streamed = await readSse(await streamOpenAI(url, 'hi', 20), 'openai');
      expect(streamed.ending).toBe('error-event');
      expect(streamed.raw).toContain('the answer was cut after 2 tokens and could not be resumed: the upstream stream broke; then the continuation was refused (400): ');
      expect(streamed.raw).toContain('no low surrogate in string');
    });

    /** A cheap endpoint that streams `before` and breaks, and a dearer one that streams `after` and finishes: a resume goes from one to the other. */
    async function breakThenResume(before: readonly string[], after: readonly string[]): Promise<{ url: string; resuming: ScriptedUpstream }> {
      const chunks = (texts: readonly string[]): string => texts.map((text, index) => openAIChunk(index === 0 ? { role: 'assistant', content: text } : { content: text })).join('');
      const breaking = await startScriptedUpstream((res) => res.write(chunks(before), () => setTimeout(() => res.socket?.destroy(), 20)));
      const resuming = await startScriptedUpstream((res) => res.end(chunks(after) + openAIChunk({}, 'stop') + 'data: [DONE]\n\n'));
      cleanups.push(() => breaking.close(), () => resuming.close());
      const { url } = await gateway(
        [
          { id: 'breaking', url: breaking.url, model: 'm', cost: 0 },
          { id: 'resuming', url: resuming.url, model: 'm', cost: 1 },
        ],
        { policy: '[cost]', resilience: resilience(true) },
      );
      return { url, resuming };
    }

    async function cutFleet(resume: boolean): Promise<{ url: string; continued: CountingProxy; cuttingUrl: string; wholeUrl: string }> {
      const cutting = await emulator('m-cut', { faults: { cutAfterTokens: 5 } });
      const whole = await emulator('m-whole');
      const continued = await proxy(whole.url);
      const { url } = await gateway(
        [
          { id: 'cutting', url: cutting.url, model: 'm-cut', cost: 0 },
          { id: 'whole', url: continued.url, model: 'm-whole', cost: 1, dialect: 'anthropic' },
        ],
        { policy: '[cost]', resilience: resilience(resume) },
      );
      return { url, continued, cuttingUrl: cutting.url, wholeUrl: whole.url };
    }

    it("count each attempt's tokens against its own endpoint: the continuation's longer prompt where it was sent, and each one's share of the answer", async () => {
      const { url, cuttingUrl, wholeUrl } = await cutFleet(true);
      const read = await readSse(await streamOpenAI(url, 'cut me please', 30), 'openai');
      expect(read.ending).toBe('complete');
      // The caller is told its own prompt and the whole answer.
      expect([openAIUsage(read.raw, 'prompt_tokens'), openAIUsage(read.raw)]).toEqual([estimateTokens('cut me please'), 30]);
      const metrics = await scrape(url);
      const counted = (endpoint: string, direction: string): number | undefined => metricValue(metrics, 'switchyard_tokens_total', { route: publicModel, endpoint, direction });
      // Each endpoint as its own server counted what it read and wrote (vLLM's metrics).
      const served = async (replica: string, name: string): Promise<number | undefined> => metricValue(await scrape(replica), name);
      expect([counted('cutting', 'input'), counted('cutting', 'output')]).toEqual([await served(cuttingUrl, 'vllm:prompt_tokens_total'), 5]);
      expect([counted('whole', 'input'), counted('whole', 'output')]).toEqual([await served(wholeUrl, 'vllm:prompt_tokens_total'), 25]);
      // The continuation holds the prompt and the text sent: more than the caller's prompt.
      expect(counted('whole', 'input')).toBeGreaterThan(estimateTokens('cut me please'));
    });

    it('a continuation whose upstream packs several tokens a chunk: the caller is told the tokens before the break plus the continuation\'s own count (E50)', async () => {
      const cutting = await emulator('m-cut', { faults: { cutAfterTokens: 5 } });
      // The rest of the answer in two chunks, counted as `packed` tokens by its upstream.
      let packed = 25;
      const packing = await startScriptedUpstream((res) => res.end([openAIChunk({ role: 'assistant', content: '' }), openAIChunk({ content: ' and the rest of it, ' }), openAIChunk({ content: 'all of it.' }, 'stop'), `data: ${JSON.stringify({ id: 'x', object: 'chat.completion.chunk', created: 0, model: 'm', choices: [], usage: { prompt_tokens: 40, completion_tokens: packed, total_tokens: 40 + packed } })}\n\n`, 'data: [DONE]\n\n'].join('')));
      cleanups.push(() => packing.close());
      const { url } = await gateway(
        [
          { id: 'cutting', url: cutting.url, model: 'm-cut', cost: 0 },
          { id: 'packing', url: packing.url, model: 'm-packing', cost: 1 },
        ],
        { policy: '[cost]', resilience: resilience(true) },
      );
      const read = await readSse(await streamOpenAI(url, 'cut me please', 100), 'openai');
      expect(read.ending).toBe('complete');
      expect(openAIUsage(read.raw)).toBe(5 + 25);
      expect(metricValue(await scrape(url), 'switchyard_tokens_total', { route: publicModel, endpoint: 'packing', direction: 'output' })).toBe(25);
      // With max_tokens 10 the continuation is sent 5: its count of 10 is past that, not taken, and the
      // answer is counted by the pieces delivered (5 + 2), never past the caller's budget (R43: 15).
      packed = 10;
      const bounded = await readSse(await streamOpenAI(url, 'cut me please', 10), 'openai');
      expect(bounded.ending).toBe('complete');
      expect(JSON.parse(packing.texts.at(-1) ?? '{}')).toMatchObject({ max_tokens: 5 });
      expect(openAIUsage(bounded.raw)).toBe(5 + 2);
    });

    it("an Anthropic caller's prefill followed by a system message is resumed as a prefill: the system message stays in the system prompt (R40)", async () => {
      const { url, continued } = await cutFleet(true);
      const response = await fetch(`${url}/v1/messages`, {
        method: 'POST',
        headers: { 'x-api-key': apiKey, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
        body: JSON.stringify({ model: publicModel, max_tokens: 30, stream: true, messages: [{ role: 'user', content: 'Write a haiku' }, { role: 'assistant', content: 'Autumn' }, { role: 'system', content: 'Answer in English.' }] }),
      });
      expect((await readSse(response, 'anthropic')).ending).toBe('complete');
      const resumed = JSON.parse(continued.arrivals[0]?.body ?? '{}') as { system?: unknown; messages: { role: string }[] };
      expect(resumed.system).toBe('Answer in English.');
      expect(resumed.messages.map((message) => message.role)).toEqual(['user', 'assistant', 'assistant']);
    });

    it('are resumed by continuation on another endpoint: complete answers that end properly, in both dialects and through both SDKs', async () => {
      const { url, continued } = await cutFleet(true);

      const oaRaw = await readSse(await streamOpenAI(url, 'cut me please', 30), 'openai');
      expect(oaRaw.ending).toBe('complete');
      expect(oaRaw.finishReason).toBe('length');
      expect(lastFrame(oaRaw.raw)).toBe('data: [DONE]');
      expect(openAIUsage(oaRaw.raw)).toBe(30);
      // The client's prompt, not the longer continuation prompt the resuming endpoint was sent.
      expect(openAIUsage(oaRaw.raw, 'prompt_tokens')).toBe(estimateTokens('cut me please'));
      // The join reads as one answer: single spaces between whole words, none glued together.
      expect(oaRaw.text.split(' ').filter((word) => !vocabulary.includes(word))).toEqual([]);

      // The continuation carried the prompt plus exactly the text already sent, as an assistant turn.
      const continuation = JSON.parse(continued.arrivals.at(-1)?.body ?? '{}') as { messages?: { role: string; content: unknown }[]; max_tokens?: number };
      const turns = continuation.messages ?? [];
      expect(turns[0]?.role).toBe('user');
      expect(turns.at(-1)?.role).toBe('assistant');
      const prefix = JSON.stringify(turns.at(-1)?.content);
      expect(prefix.length).toBeGreaterThan(2);
      expect(oaRaw.text.startsWith(typeof turns.at(-1)?.content === 'string' ? (turns.at(-1)?.content as string) : '\u0000')).toBe(true);
      expect(continuation.max_tokens).toBe(25);

      const anRaw = await readSse(await streamAnthropic(url, 'cut me too', 30), 'anthropic');
      expect(anRaw.ending).toBe('complete');
      expect(anRaw.finishReason).toBe('max_tokens');
      expect(lastFrame(anRaw.raw)).toMatch(/^event: message_stop\n/);

      let text = '';
      let finish: string | null | undefined;
      for await (const chunk of await openai(url).chat.completions.create({ model: publicModel, messages: [{ role: 'user', content: 'sdk cut' }], max_tokens: 30, stream: true })) {
        text += chunk.choices[0]?.delta.content ?? '';
        finish = chunk.choices[0]?.finish_reason ?? finish;
      }
      expect(finish).toBe('length');
      expect(text.length).toBeGreaterThan(0);

      const final = await anthropic(url).messages.stream({ model: publicModel, max_tokens: 30, messages: [{ role: 'user', content: 'sdk cut' }] }).finalMessage();
      expect(final.stop_reason).toBe('max_tokens');
      expect(final.usage.output_tokens).toBe(30);

      const metrics = await scrape(url);
      expect(metricValue(metrics, 'switchyard_stream_resumes_total', { route: publicModel, outcome: 'resumed' })).toBeGreaterThanOrEqual(4);
      expect(metricValue(metrics, 'switchyard_stream_resumes_total', { outcome: 'error-event' }) ?? 0).toBe(0);
    });

    it('a request that fills the context window is resumed with the budget the longer continuation prompt leaves', async () => {
      const { url, second } = await faultedThenGood({ id: 'cut', faults: { cutAfterTokens: 10 } }, { goodDialect: 'openai' });
      // The prompt's estimate plus max_tokens is the window exactly (llama-3.1-8b: 131,072).
      const read = await readSse(await streamOpenAI(url, 'x'.repeat(4 * (131_072 - 40)), 40), 'openai');
      expect(read.ending).toBe('complete');
      expect(read.finishReason).toBe('length');
      const resumedWith = JSON.parse(second.arrivals[0]?.body ?? '{}') as { max_tokens?: number; messages?: { content: string }[] };
      const continuationTokens = Math.ceil((resumedWith.messages ?? []).map((message) => message.content).join('\n').length / 4);
      expect(continuationTokens + (resumedWith.max_tokens ?? 0)).toBe(131_072);
    });

    it('an answer cut again after a resume goes on to a fresh endpoint, however few retries are left', async () => {
      const first = await emulator('m-a', { faults: { cutAfterTokens: 3 } });
      const second = await emulator('m-b', { faults: { cutAfterTokens: 3 } });
      const [aFront, bFront, cFront] = [await proxy(first.url), await proxy(second.url), await proxy((await emulator('m-c')).url)];
      const { url } = await gateway(
        [
          { id: 'a', url: aFront.url, model: 'm-a', cost: 0 },
          { id: 'b', url: bFront.url, model: 'm-b', cost: 1 },
          { id: 'c', url: cFront.url, model: 'm-c', cost: 2 },
        ],
        { policy: '[cost]', resilience: '{ retries: 1, backoffMs: 5, maxBackoffMs: 50, ttftTimeoutMs: 2000, deadlineMs: 10000, circuitBreaker: { failureThreshold: 1000 } }' },
      );
      const read = await readSse(await streamOpenAI(url, 'cut me twice', 30), 'openai');
      expect(read.ending).toBe('complete');
      expect(openAIUsage(read.raw)).toBe(30);
      expect([aFront.arrivals.length, bFront.arrivals.length, cFront.arrivals.length]).toEqual([1, 1, 1]);
    });

    it('a resume goes only to an endpoint that takes prefills, past a cheaper one that refuses them (Claude 4.6 and later)', async () => {
      const cutting = await emulator('m-cut', { faults: { cutAfterTokens: 10 } });
      const [noPrefillFront, wholeFront] = [await proxy((await emulator('m-new')).url), await proxy((await emulator('m-whole')).url)];
      const { url } = await gateway(
        [
          { id: 'cut', url: cutting.url, model: 'm-cut', cost: 0 },
          { id: 'no-prefill', url: noPrefillFront.url, model: 'm-new', cost: 1, dialect: 'anthropic', prefill: false },
          { id: 'whole', url: wholeFront.url, model: 'm-whole', cost: 2, dialect: 'anthropic' },
        ],
        { policy: '[cost]', resilience: '{ retries: 2, backoffMs: 5, maxBackoffMs: 50, ttftTimeoutMs: 2000, deadlineMs: 10000, resumeStreams: true, circuitBreaker: { failureThreshold: 1000 } }' },
      );
      const read = await readSse(await streamOpenAI(url, 'cut me', 30), 'openai');
      expect(read.ending).toBe('complete');
      expect(openAIUsage(read.raw)).toBe(30);
      expect([noPrefillFront.arrivals.length, wholeFront.arrivals.length]).toEqual([0, 1]);
    });

    it('a non-stream answer cut where only an endpoint that takes no continuations is left starts over there, whole; a stream, already begun, ends with an error event', async () => {
      const cutting = await emulator('m-cut', { faults: { cutAfterTokens: 3 } });
      const [cutFront, freshFront] = [await proxy(cutting.url), await proxy((await emulator('m-fresh')).url)];
      const { url } = await gateway(
        [
          { id: 'cut', url: cutFront.url, model: 'm-cut', cost: 0 },
          { id: 'fresh', url: freshFront.url, model: 'm-fresh', cost: 1, dialect: 'anthropic', prefill: false },
        ],
        { policy: '[cost]', resilience: '{ retries: 2, backoffMs: 5, maxBackoffMs: 50, ttftTimeoutMs: 2000, deadlineMs: 10000, resumeStreams: true, circuitBreaker: { failureThreshold: 1000 } }' },
      );
      const answer = await openai(url).chat.completions.create({ model: publicModel, max_tokens: 30, messages: [{ role: 'user', content: 'hello there' }] });
      expect(answer.choices[0]?.finish_reason).toBe('length');
      expect(answer.usage?.completion_tokens).toBe(30);
      // The same text as the endpoint alone gives: the cut start was dropped, not joined to it.
      const direct = await anthropic(freshFront.url).messages.create({ model: 'm-fresh', max_tokens: 30, messages: [{ role: 'user', content: 'hello there' }] });
      expect(answer.choices[0]?.message.content).toBe(direct.content[0]?.type === 'text' ? direct.content[0].text : undefined);
      expect(freshFront.arrivals.filter((arrival) => !JSON.parse(arrival.body).messages.some((m: { role: string }) => m.role === 'assistant'))).toHaveLength(2);
      expect(metricValue(await scrape(url), 'switchyard_stream_resumes_total', { outcome: 'restarted' })).toBe(1);
      const streamed = await readSse(await streamOpenAI(url, 'hello there', 30), 'openai');
      expect(streamed.ending).toBe('error-event');
    });

    it("a caller's prefill goes past an endpoint that refuses prefills, which still takes conversations that end with a user turn", async () => {
      const [noPrefillFront, wholeFront] = [await proxy((await emulator('m-new')).url), await proxy((await emulator('m-whole')).url)];
      const { url } = await gateway(
        [
          { id: 'no-prefill', url: noPrefillFront.url, model: 'm-new', cost: 0, dialect: 'anthropic', prefill: false },
          { id: 'whole', url: wholeFront.url, model: 'm-whole', cost: 1 },
        ],
        { policy: '[cost]' },
      );
      await anthropic(url).messages.create({ model: publicModel, max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] });
      const prefilled = await anthropic(url).messages.create({ model: publicModel, max_tokens: 5, messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'Well,' }] });
      expect(prefilled.stop_reason).toBe('max_tokens');
      // An OpenAI caller's finished assistant turn is a prefill to an Anthropic upstream too.
      await openai(url).chat.completions.create({ model: publicModel, max_tokens: 5, messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'Hello.' }] });
      expect([noPrefillFront.arrivals.length, wholeFront.arrivals.length]).toEqual([1, 2]);
      // One without visible text is dropped on the way to Anthropic: no prefill, it may go there.
      await openai(url).chat.completions.create({ model: publicModel, max_tokens: 5, messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: '\n' }] });
      expect([noPrefillFront.arrivals.length, wholeFront.arrivals.length]).toEqual([2, 2]);
      // What ends the conversation is the last turn an upstream sees: a turn without text after an
      // assistant turn leaves that turn last; a system message after it reaches Anthropic as the last
      // user turn (closing instructions, E49), so the endpoint that refuses prefills may take it.
      await openai(url).chat.completions.create({ model: publicModel, max_tokens: 5, messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'It is 4' }, { role: 'user', content: ' ' }] });
      expect([noPrefillFront.arrivals.length, wholeFront.arrivals.length]).toEqual([2, 3]);
      await openai(url).chat.completions.create({ model: publicModel, max_tokens: 5, messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'It is 4' }, { role: 'system', content: 'Answer briefly.' }] });
      expect([noPrefillFront.arrivals.length, wholeFront.arrivals.length]).toEqual([3, 3]);
    });

    it('a turn after a prefill that only an Anthropic encoder leaves out does not keep the request from an OpenAI-dialect endpoint that refuses prefills', async () => {
      const front = await proxy((await emulator('m-new')).url);
      const { url } = await gateway([{ id: 'vllm-new', url: front.url, model: 'm-new', prefill: false }], { policy: '[cost]' });
      const response = await fetch(`${url}/v1/messages`, {
        method: 'POST',
        headers: { 'x-api-key': apiKey, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
        body: JSON.stringify({ model: publicModel, max_tokens: 5, messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'Well,' }, { role: 'system', content: 'Be brief.' }] }),
      });
      expect(response.status).toBe(200);
      // The OpenAI-dialect upstream got the turns as they were, the system message last: no prefill.
      const sent = JSON.parse(front.arrivals[0]?.body ?? '{}') as { messages: { role: string }[]; continue_final_message?: boolean };
      expect(sent.messages.at(-1)?.role).toBe('system');
      expect(sent.continue_final_message).toBeUndefined();
    });

    it('a request without max_tokens whose prompt leaves less than the default 4096 is answered to the end of the window, as vLLM does, not refused', async () => {
      const front = await proxy((await emulator('m-small')).url);
      const { url } = await gateway([{ id: 'small', url: front.url, model: 'm-small', contextWindow: 8192 }], { policy: '[cost]' });
      const prompt = 'x'.repeat(4 * 8180);
      const answer = await openai(url).chat.completions.create({ model: publicModel, messages: [{ role: 'user', content: prompt }] });
      expect(answer.choices[0]?.finish_reason).toBe('length');
      // Sent the room the window leaves after the prompt (by the gateway's estimate), not the default.
      expect((JSON.parse(front.arrivals[0]?.body ?? '{}') as { max_tokens?: number }).max_tokens).toBe(8192 - estimateTokens(prompt));
      expect(answer.usage?.completion_tokens).toBe(8192 - estimateTokens(prompt));
      // With max_tokens given, too long is still too long.
      await expect(openai(url).chat.completions.create({ model: publicModel, max_tokens: 500, messages: [{ role: 'user', content: prompt }] })).rejects.toMatchObject({ status: 400, code: 'context_length_exceeded' });
    });

    it('such a request goes where the window leaves the most room, past a cheaper one with less, a reserved long-context one included', async () => {
      const [smallFront, bigFront] = [await proxy((await emulator('m-small')).url), await proxy((await emulator('m-big')).url)];
      const { url } = await gateway(
        [
          { id: 'small', url: smallFront.url, model: 'm-small', contextWindow: 8192, cost: 0 },
          { id: 'big', url: bigFront.url, model: 'm-big', contextWindow: 12_000, cost: 1, longContext: true },
        ],
        { policy: '[cost]' },
      );
      const prompt = 'x'.repeat(4 * 8180);
      await openai(url).chat.completions.create({ model: publicModel, messages: [{ role: 'user', content: prompt }] });
      expect([smallFront.arrivals.length, bigFront.arrivals.length]).toEqual([0, 1]);
      expect((JSON.parse(bigFront.arrivals[0]?.body ?? '{}') as { max_tokens?: number }).max_tokens).toBe(12_000 - estimateTokens(prompt));
    });

    it('such a request whose prompt an ordinary window holds with room for half the default budget goes there, not to a reserved long-context window (E48)', async () => {
      const [smallFront, bigFront] = [await proxy((await emulator('m-small')).url), await proxy((await emulator('m-big')).url)];
      const { url } = await gateway(
        [
          { id: 'small', url: smallFront.url, model: 'm-small', contextWindow: 4000, cost: 0 },
          { id: 'big', url: bigFront.url, model: 'm-big', contextWindow: 131_072, cost: 1, longContext: true },
        ],
        { policy: '[cost]' },
      );
      await openai(url).chat.completions.create({ model: publicModel, messages: [{ role: 'user', content: 'hi' }] });
      expect([smallFront.arrivals.length, bigFront.arrivals.length]).toEqual([1, 0]);
      expect((JSON.parse(smallFront.arrivals[0]?.body ?? '{}') as { max_tokens?: number }).max_tokens).toBe(4000 - estimateTokens('hi'));
      // With max_tokens given, the budget is the caller's: only the reserved window holds it.
      await openai(url).chat.completions.create({ model: publicModel, max_tokens: 4096, messages: [{ role: 'user', content: 'hi' }] });
      expect([smallFront.arrivals.length, bigFront.arrivals.length]).toEqual([1, 1]);
    });

    it('such a request whose ordinary window with that room fails goes to the reserved window with the whole budget, not on to less room (R40)', async () => {
      const failing = await emulator('m-small', { faults: { errorRate: 1, errorStatus: 500 } });
      const [smallFront, tinyFront, bigFront] = [await proxy(failing.url), await proxy((await emulator('m-tiny')).url), await proxy((await emulator('m-big')).url)];
      const { url } = await gateway(
        [
          { id: 'small', url: smallFront.url, model: 'm-small', contextWindow: 4000, cost: 0 },
          { id: 'tiny', url: tinyFront.url, model: 'm-tiny', contextWindow: 1500, cost: 0 },
          { id: 'big', url: bigFront.url, model: 'm-big', contextWindow: 131_072, cost: 1, longContext: true },
        ],
        { policy: '[cost]' },
      );
      await openai(url).chat.completions.create({ model: publicModel, messages: [{ role: 'user', content: 'hi' }] });
      expect([smallFront.arrivals.length, tinyFront.arrivals.length, bigFront.arrivals.length]).toEqual([1, 0, 1]);
      expect((JSON.parse(bigFront.arrivals[0]?.body ?? '{}') as { max_tokens?: number }).max_tokens).toBe(4096);
    });

    it('such a request whose only window with room for the default budget fails is answered in the room an ordinary window leaves', async () => {
      const big = await emulator('m-big', { faults: { errorRate: 1, errorStatus: 500 } });
      const [smallFront, bigFront] = [await proxy((await emulator('m-small')).url), await proxy(big.url)];
      const { url } = await gateway(
        [
          { id: 'small', url: smallFront.url, model: 'm-small', contextWindow: 8192, cost: 0 },
          { id: 'big', url: bigFront.url, model: 'm-big', contextWindow: 131_072, cost: 1, longContext: true },
        ],
        { policy: '[cost]' },
      );
      // About 6,500 tokens: the ordinary window leaves under half the default budget (enoughRoom).
      const prompt = 'word '.repeat(5200);
      const answer = await openai(url).chat.completions.create({ model: publicModel, messages: [{ role: 'user', content: prompt }] });
      expect(answer.choices[0]?.message.content?.length ?? 0).toBeGreaterThan(0);
      expect(bigFront.arrivals.length).toBeGreaterThanOrEqual(1);
      expect(smallFront.arrivals).toHaveLength(1);
      expect((JSON.parse(smallFront.arrivals[0]?.body ?? '{}') as { max_tokens?: number }).max_tokens).toBe(8192 - estimateTokens(prompt));
    });

    it("an upstream that counts the prompt longer than the estimate did (its 400) sends the request on to a larger window, past others of the same size", async () => {
      // vLLM's flat error shape, no code: the wording names it.
      const countsMore = await startScriptedUpstream((res) => res.end(JSON.stringify({ object: 'error', type: 'BadRequestError', message: "This model's maximum context length is 8192 tokens. However, you requested 9100 tokens.", code: 400 })), { status: 400, contentType: 'application/json' });
      cleanups.push(() => countsMore.close());
      const [sameFront, largerFront] = [await proxy((await emulator('m-same')).url), await proxy((await emulator('m-larger')).url)];
      const { url } = await gateway(
        [
          { id: 'counts-more', url: countsMore.url, model: 'm-counts-more', contextWindow: 8192, cost: 0 },
          { id: 'same', url: sameFront.url, model: 'm-same', contextWindow: 8192, cost: 1 },
          { id: 'larger', url: largerFront.url, model: 'm-larger', contextWindow: 32_768, cost: 2 },
        ],
        { policy: '[cost]' },
      );
      const prompt = 'x'.repeat(4 * 7000);
      const answer = await openai(url).chat.completions.create({ model: publicModel, max_tokens: 500, messages: [{ role: 'user', content: prompt }] });
      expect(answer.choices[0]?.message.content).not.toBe('');
      expect([countsMore.arrivals(), sameFront.arrivals.length, largerFront.arrivals.length]).toEqual([1, 0, 1]);
    });

    it('nor for a request without max_tokens, which is not retried with the room a window of the same size would leave', async () => {
      const countsMore = await startScriptedUpstream((res) => res.end(JSON.stringify({ error: { message: "This model's maximum context length is 8192 tokens. However, you requested 9100 tokens.", code: 'context_length_exceeded' } })), { status: 400, contentType: 'application/json' });
      cleanups.push(() => countsMore.close());
      const sameFront = await proxy((await emulator('m-same')).url);
      const { url } = await gateway(
        [
          { id: 'counts-more', url: countsMore.url, model: 'm-counts-more', contextWindow: 8192, cost: 0 },
          { id: 'same', url: sameFront.url, model: 'm-same', contextWindow: 8192, cost: 1 },
        ],
        { policy: '[cost]' },
      );
      await expect(openai(url).chat.completions.create({ model: publicModel, messages: [{ role: 'user', content: 'x'.repeat(4 * 3000) }] })).rejects.toMatchObject({ status: 400, code: 'context_length_exceeded' });
      expect([countsMore.arrivals(), sameFront.arrivals.length]).toEqual([1, 0]);
    });

    it("with no larger window the upstream's context-length 400 reaches the caller, and no window of the same size is tried", async () => {
      const countsMore = await startScriptedUpstream((res) => res.end(JSON.stringify({ type: 'error', error: { type: 'invalid_request_error', message: 'prompt is too long: 9100 tokens > 8192 maximum' } })), { status: 400, contentType: 'application/json' });
      cleanups.push(() => countsMore.close());
      const sameFront = await proxy((await emulator('m-same')).url);
      const { url } = await gateway(
        [
          { id: 'counts-more', url: countsMore.url, model: 'm-counts-more', contextWindow: 8192, cost: 0, dialect: 'anthropic' },
          { id: 'same', url: sameFront.url, model: 'm-same', contextWindow: 8192, cost: 1 },
        ],
        { policy: '[cost]' },
      );
      const request = openai(url).chat.completions.create({ model: publicModel, max_tokens: 500, messages: [{ role: 'user', content: 'x'.repeat(4 * 7000) }] });
      await expect(request).rejects.toMatchObject({ status: 400, code: 'context_length_exceeded' });
      expect([countsMore.arrivals(), sameFront.arrivals.length]).toEqual([1, 0]);
    });

    it('a resume goes where the whole remaining budget fits (a long-context endpoint) rather than cut short on an ordinary one', async () => {
      const cutting = await emulator('m-cut', { faults: { cutAfterTokens: 10 } });
      const [cutFront, ordinaryFront, longFront] = [await proxy(cutting.url), await proxy((await emulator('m-ordinary')).url), await proxy((await emulator('m-long')).url)];
      const { url } = await gateway(
        [
          { id: 'cut', url: cutFront.url, model: 'm-cut', cost: 0, contextWindow: 8192 },
          { id: 'ordinary', url: ordinaryFront.url, model: 'm-ordinary', cost: 1, contextWindow: 8192 },
          { id: 'long', url: longFront.url, model: 'm-long', cost: 2, longContext: true },
        ],
        { policy: '[cost]', resilience: '{ retries: 2, backoffMs: 5, maxBackoffMs: 50, ttftTimeoutMs: 2000, deadlineMs: 10000, circuitBreaker: { failureThreshold: 1000 } }' },
      );
      // The prompt and max_tokens fill an ordinary window: the continuation, longer by the text sent, cannot finish there.
      const read = await readSse(await streamOpenAI(url, 'x'.repeat(4 * (8192 - 40)), 40), 'openai');
      expect(read.ending).toBe('complete');
      expect(openAIUsage(read.raw)).toBe(40);
      expect([cutFront.arrivals.length, ordinaryFront.arrivals.length, longFront.arrivals.length]).toEqual([1, 0, 1]);
      expect((JSON.parse(longFront.arrivals[0]?.body ?? '{}') as { max_tokens?: number }).max_tokens).toBe(30);
    });

    it('are resumed on the same endpoint when it is the only eligible one and it recovers', async () => {
      const flaky = await emulator('m-flaky', { faults: { cutAfterTokens: 5 } });
      const front = await proxy(flaky.url);
      // The fault is read when a request starts: the first stream is cut, the continuation is whole.
      front.onStatus = () => flaky.setFaults({ cutAfterTokens: null });
      const { url } = await gateway([{ id: 'flaky', url: front.url, model: 'm-flaky' }], { resilience: resilience(true) });
      const read = await readSse(await streamOpenAI(url, 'cut me once', 30), 'openai');
      expect(read.ending).toBe('complete');
      expect(openAIUsage(read.raw)).toBe(30);
      expect(front.arrivals).toHaveLength(2);
    });

    it('resuming a prefilled answer continues the caller\'s assistant turn, and an OpenAI upstream is told to continue it', async () => {
      const cutting = await emulator('m-cut', { faults: { cutAfterTokens: 4 } });
      const whole = await emulator('m-whole');
      const continued = await proxy(whole.url);
      const { url } = await gateway(
        [
          { id: 'cutting', url: cutting.url, model: 'm-cut', cost: 0, dialect: 'anthropic' },
          { id: 'whole', url: continued.url, model: 'm-whole', cost: 1, dialect: 'openai' },
        ],
        { policy: '[cost]', resilience: resilience(true) },
      );
      const response = await fetch(`${url}/v1/messages`, {
        method: 'POST',
        headers: { 'x-api-key': apiKey, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
        body: JSON.stringify({ model: publicModel, max_tokens: 20, stream: true, messages: [{ role: 'user', content: 'a haiku' }, { role: 'assistant', content: 'Here is' }] }),
      });
      const read = await readSse(response, 'anthropic');
      expect(read.ending).toBe('complete');
      const body = JSON.parse(continued.arrivals.at(-1)?.body ?? '{}') as { messages: { role: string; content: string }[]; continue_final_message?: boolean; add_generation_prompt?: boolean };
      // One assistant turn: the prefill followed by exactly the text already sent.
      expect(body.messages.map((message) => message.role)).toEqual(['user', 'assistant']);
      const resumedFrom = body.messages[1]?.content ?? '';
      expect(resumedFrom.startsWith('Here is ')).toBe(true);
      expect(read.text.startsWith(resumedFrom.slice('Here is'.length))).toBe(true);
      expect(body.continue_final_message).toBe(true);
      expect(body.add_generation_prompt).toBe(false);
    });

    it('a stream that goes quiet after its first tokens is cut after tokenIdleTimeoutMs, held against the endpoint and resumed elsewhere', async () => {
      // Two words, then silence with the connection held open.
      const stalling = await startScriptedUpstream((res) => res.write(openAIChunk({ role: 'assistant', content: 'one' }) + openAIChunk({ content: ' two' })));
      cleanups.push(() => stalling.close());
      const whole = await emulator('m-whole');
      const { url } = await gateway(
        [
          { id: 'stalling', url: stalling.url, model: 'm', cost: 0 },
          { id: 'whole', url: whole.url, model: 'm-whole', cost: 1 },
        ],
        { policy: '[cost]', resilience: '{ retries: 2, backoffMs: 5, maxBackoffMs: 50, ttftTimeoutMs: 2000, deadlineMs: 10000, tokenIdleTimeoutMs: 300, circuitBreaker: { failureThreshold: 1, openMs: 60000 } }' },
      );
      const started = performance.now();
      const read = await readSse(await streamOpenAI(url, 'stall me', 20), 'openai');
      expect(read.ending).toBe('complete');
      expect(read.text.startsWith('one two ')).toBe(true);
      expect(openAIUsage(read.raw)).toBe(20);
      expect(performance.now() - started).toBeLessThan(2000);
      const metrics = await scrape(url);
      expect(metricValue(metrics, 'switchyard_stream_resumes_total', { route: publicModel, outcome: 'resumed' })).toBe(1);
      // The stall counted as the endpoint's failure: threshold 1 opened its circuit.
      expect(metricValue(metrics, 'switchyard_circuit_state', { endpoint: 'stalling' })).toBe(2);
    });

    it('a stream cut right after its last allowed token is whole: it ends with finish length, not an error', async () => {
      // Three words, then the connection drops before any finish.
      const cutting = await startScriptedUpstream((res) => res.write(openAIChunk({ role: 'assistant', content: 'one' }) + openAIChunk({ content: ' two' }) + openAIChunk({ content: ' three' }), () => setTimeout(() => res.socket?.destroy(), 20)));
      cleanups.push(() => cutting.close());
      const { url } = await gateway([{ id: 'cutting', url: cutting.url, model: 'm' }], { resilience: resilience(true) });
      const read = await readSse(await streamOpenAI(url, 'exactly three', 3), 'openai');
      expect(read.ending).toBe('complete');
      expect(read.finishReason).toBe('length');
      expect(read.text).toBe('one two three');
      expect(openAIUsage(read.raw)).toBe(3);
      expect(cutting.arrivals()).toBe(1);
    });

    it('a resume continues from the text without its trailing whitespace (Anthropic refuses such a prefill), and the join keeps one space', async () => {
      // The first endpoint breaks after "Hello " (a chunk ending in a space); the resume says " world".
      const { url, resuming } = await breakThenResume(['Hello', ' '], [' world', '.']);
      const read = await readSse(await streamOpenAI(url, 'greet', 20), 'openai');
      expect(read.ending).toBe('complete');
      expect(read.text).toBe('Hello world.');
      expect((resuming.bodies[0] as { messages: { role: string; content: string }[] }).messages.at(-1)).toEqual({ role: 'assistant', content: 'Hello' });
    });

    it('a stop sequence that spans the join of a resumed answer ends it there, and none of the sequence reaches the client', async () => {
      // The first endpoint breaks after "alpha always"; the resume goes on " but more".
      const { url, resuming } = await breakThenResume(['alpha', ' always'], [' but', ' more']);
      const response = await fetch(`${url}/v1/messages`, {
        method: 'POST',
        headers: { 'x-api-key': apiKey, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
        body: JSON.stringify({ model: publicModel, max_tokens: 20, stream: true, stop_sequences: ['always but'], messages: [{ role: 'user', content: 'go' }] }),
      });
      const read = await readSse(response, 'anthropic');
      expect(read.ending).toBe('complete');
      expect(read.text).toBe('alpha ');
      expect(read.raw).toContain('"stop_reason":"stop_sequence","stop_sequence":"always but"');
      expect(resuming.arrivals()).toBe(1);
    });

    it('a cut stream is resumed even with retries: 0 (a resume is not a retry)', async () => {
      const cutting = await emulator('m-cut', { faults: { cutAfterTokens: 4 } });
      const whole = await emulator('m-whole');
      const { url } = await gateway(
        [
          { id: 'cutting', url: cutting.url, model: 'm-cut', cost: 0 },
          { id: 'whole', url: whole.url, model: 'm-whole', cost: 1 },
        ],
        { policy: '[cost]', resilience: '{ retries: 0, backoffMs: 5, maxBackoffMs: 50, ttftTimeoutMs: 2000, deadlineMs: 10000, circuitBreaker: { failureThreshold: 1000 } }' },
      );
      const read = await readSse(await streamOpenAI(url, 'resume once', 20), 'openai');
      expect(read.ending).toBe('complete');
      expect(openAIUsage(read.raw)).toBe(20);
    });

    it('a deadline that passes while a resume waits is a timeout (504), not "could not be resumed"', async () => {
      const cutting = await emulator('m-cut', { faults: { cutAfterTokens: 3 } });
      const hung = await emulator('m-hung', { faults: { hangMs: -1 } });
      const { url } = await gateway(
        [
          { id: 'cutting', url: cutting.url, model: 'm-cut', cost: 0 },
          { id: 'hung', url: hung.url, model: 'm-hung', cost: 1 },
        ],
        { policy: '[cost]', resilience: '{ retries: 2, backoffMs: 5, maxBackoffMs: 50, ttftTimeoutMs: 500, deadlineMs: 600, tokenIdleTimeoutMs: 500, circuitBreaker: { failureThreshold: 1000 } }' },
      );
      await expect(openai(url).chat.completions.create({ model: publicModel, messages: [{ role: 'user', content: 'cut then wait' }], max_tokens: 20 })).rejects.toMatchObject({ status: 504 });
    });

    it('with resumeStreams off, end with an explicit error event (never [DONE] or message_stop), and the OpenAI SDK raises while iterating', async () => {
      const { url, continued } = await cutFleet(false);

      const oaRaw = await readSse(await streamOpenAI(url, 'cut me please', 30), 'openai');
      expect(oaRaw.ending).toBe('error-event');
      expect(lastFrame(oaRaw.raw)).toMatch(/^data: \{"error":\{/);
      expect(oaRaw.raw).not.toContain('[DONE]');
      expect(oaRaw.finishReason).toBeUndefined();

      const anRaw = await readSse(await streamAnthropic(url, 'cut me too', 30), 'anthropic');
      expect(anRaw.ending).toBe('error-event');
      expect(lastFrame(anRaw.raw)).toMatch(/^event: error\ndata: \{"type":"error"/);
      expect(anRaw.raw).not.toContain('message_stop');

      const iterate = async (): Promise<string> => {
        let text = '';
        for await (const chunk of await openai(url).chat.completions.create({ model: publicModel, messages: [{ role: 'user', content: 'sdk cut' }], max_tokens: 30, stream: true })) {
          text += chunk.choices[0]?.delta.content ?? '';
        }
        return text;
      };
      await expect(iterate()).rejects.toThrow(/cut after 5 tokens/);
      await expect(anthropic(url).messages.stream({ model: publicModel, max_tokens: 30, messages: [{ role: 'user', content: 'sdk cut' }] }).finalMessage()).rejects.toThrow(/cut after 5 tokens/);

      // No continuation was attempted anywhere.
      expect(continued.arrivals).toHaveLength(0);
      const metrics = await scrape(url);
      expect(metricValue(metrics, 'switchyard_stream_resumes_total', { outcome: 'error-event' })).toBe(4);
      expect(metricValue(metrics, 'switchyard_stream_resumes_total', { outcome: 'resumed' }) ?? 0).toBe(0);
      // Tokens that were delivered are counted, though no answer finished: 4 answers cut after 5.
      expect(metricValue(metrics, 'switchyard_tokens_total', { route: publicModel, endpoint: 'cutting', direction: 'output' })).toBe(20);
    });
  });

  // Regression, fixed (src/gateway/gateway-server.ts, serveChat() lines 306-311 and pump() lines 414-417): the total deadline
  // and a client disconnect abort the same controller, so when the deadline expires mid-stream pump takes it for
  // "client went away" and destroys the socket: the client gets a dropped connection (fetch: "terminated"),
  // not an explicit error event, although it is still there to read one.
  it('3b. a stream that outlives the total deadline ends with an explicit error event, not a dropped connection', async () => {
    const replica = await emulator('m-long', { speed: 2, outputTokens: 4000 });
    const { url } = await gateway([{ id: 'long', url: replica.url, model: 'm-long' }], {
      resilience: '{ retries: 0, backoffMs: 5, maxBackoffMs: 50, ttftTimeoutMs: 300, deadlineMs: 500 }',
    });
    const openAIStream = await readSse(await streamOpenAI(url, 'a long story please', 3000), 'openai');
    const anthropicStream = await readSse(await streamAnthropic(url, 'a long story please', 3000), 'anthropic');
    expect(await waitFor(() => replica.stats().running === 0, 1000)).toBe(true);
    // Tokens were flowing when the deadline struck.
    expect(openAIStream.text.length).toBeGreaterThan(0);
    expect(anthropicStream.text.length).toBeGreaterThan(0);
    // actual: 'reset' for both (the body breaks off after some tokens, with no error frame)
    expect(openAIStream.ending).toBe('error-event');
    expect(anthropicStream.ending).toBe('error-event');
  });

  it("3c. a non-stream answer the deadline cuts is a 504 the SDKs do not retry: each retry would generate it again and be cut the same way", async () => {
    const replica = await emulator('m-long', { speed: 2, outputTokens: 4000 });
    const front = await proxy(replica.url);
    const { url } = await gateway([{ id: 'long', url: front.url, model: 'm-long' }], {
      // A TTFT timeout with room for a loaded machine: timed out before its first token, the request
      // would be a retryable 504 of another kind.
      resilience: '{ retries: 0, backoffMs: 5, maxBackoffMs: 50, ttftTimeoutMs: 1500, deadlineMs: 2500 }',
    });
    const sdk = new OpenAI({ apiKey, baseURL: `${url}/v1`, maxRetries: 2, timeout: 15_000 });
    await expect(sdk.chat.completions.create({ model: publicModel, messages: [{ role: 'user', content: 'a long story please' }], max_tokens: 3000 })).rejects.toMatchObject({ status: 504, message: expect.stringContaining('ask for a lower max_tokens, ask the operator to raise resilience.deadlineMs, or ask with stream: true to keep what is generated before the deadline (which does not lengthen it)') });
    expect(front.arrivals).toHaveLength(1);
    // An Anthropic caller is told the same, in the header both SDKs read.
    const response = await fetch(`${url}/v1/messages`, { method: 'POST', headers: { 'x-api-key': apiKey, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' }, body: JSON.stringify({ model: publicModel, max_tokens: 3000, messages: [{ role: 'user', content: 'a long story please' }] }) });
    expect(response.status).toBe(504);
    expect(response.headers.get('x-should-retry')).toBe('false');
  });

  it('3d. but a 504 the deadline gives while a resume waits is one a retry may cure, and a stream is not told to stream', async () => {
    let arrivals = 0;
    const stalling = await startScriptedUpstream((res) => {
      arrivals += 1;
      res.write(openAIChunk({ role: 'assistant', content: '' }));
      if (arrivals === 1) res.write(openAIChunk({ content: 'one ' })); // then stalls
      // The second (the resume) waits past the deadline for its first token.
    });
    cleanups.push(() => stalling.close());
    const { url } = await gateway([{ id: 'stalling', url: stalling.url, model: 'm-stall' }], { resilience: '{ retries: 1, backoffMs: 5, maxBackoffMs: 20, ttftTimeoutMs: 900, tokenIdleTimeoutMs: 300, deadlineMs: 1000 }' });
    const response = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${apiKey}` }, body: JSON.stringify({ model: publicModel, max_tokens: 20, messages: [{ role: 'user', content: 'short please' }] }) });
    expect(response.status).toBe(504);
    expect(response.headers.get('x-should-retry')).toBeNull();
    expect(await response.text()).toContain('while the answer was being resumed');

    const ticking = await startScriptedUpstream((res) => {
      res.write(openAIChunk({ role: 'assistant', content: '' }));
      const timer = setInterval(() => res.write(openAIChunk({ content: 'tok ' })), 50);
      res.on('close', () => clearInterval(timer));
    });
    cleanups.push(() => ticking.close());
    const streamed = await gateway([{ id: 'ticking', url: ticking.url, model: 'm-tick' }], { resilience: '{ retries: 0, ttftTimeoutMs: 400, tokenIdleTimeoutMs: 300, deadlineMs: 600 }' });
    const read = await readSse(await streamOpenAI(streamed.url, 'go', 1000), 'openai');
    expect(read.ending).toBe('error-event');
    expect(read.raw).toContain('deadline passed');
    expect(read.raw).not.toContain('stream: true');
  });

  it('3e. a resume goes back to endpoints it tried that failed it less, though their circuits opened meanwhile, not again and again to the one that keeps cutting it', async () => {
    const [x, y] = [await emulator('m-x', { faults: { refuse: true } }), await emulator('m-y', { faults: { refuse: true } })];
    // z answers after a second (the speed divides the delay), then cuts every stream after 5 tokens.
    const z = await emulator('m-z', { faults: { addedLatencyMs: 200_000, cutAfterTokens: 5 } });
    const started = createGateway({
      config: gatewayConfig(`
version: 1
endpoints:
  - { id: x, url: "${x.url}", dialect: openai, model: m-x, provider: px, region: r1, jurisdiction: us, contextWindow: 131072, marginalCostPerMillionTokens: 0, capacity: 8 }
  - { id: y, url: "${y.url}", dialect: openai, model: m-y, provider: py, region: r1, jurisdiction: us, contextWindow: 131072, marginalCostPerMillionTokens: 0.5, capacity: 8 }
  - { id: z, url: "${z.url}", dialect: openai, model: m-z, provider: pz, region: r1, jurisdiction: us, contextWindow: 131072, marginalCostPerMillionTokens: 1, capacity: 8 }
routes:
  - { model: ${publicModel}, endpoints: [x, y, z], policy: [cost] }
  - { model: side, endpoints: [x, y], policy: [cost] }
tenants:
  - { id: t1, apiKeySha256: ${hashApiKey(apiKey)}, jurisdictions: [us], requestsPerMinute: 1000000, tokensPerMinute: 1000000000 }
resilience: { retries: 2, backoffMs: 5, maxBackoffMs: 20, ttftTimeoutMs: 5000, tokenIdleTimeoutMs: 5000, deadlineMs: 30000, circuitBreaker: { failureThreshold: 3, windowMs: 60000, openMs: 60000 } }
`),
      logger: false,
    });
    const url = await started.listen(0, '127.0.0.1');
    cleanups.push(() => started.close());
    // R tries x and y (refused), then z, which is slow to answer.
    const request = streamOpenAI(url, 'a long answer please', 200).then((response) => readSse(response, 'openai'));
    await delay(200);
    // Other requests open x's and y's circuits; then both recover.
    for (let index = 0; index < 2; index += 1) await openai(url).chat.completions.create({ model: 'side', messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 }).catch(() => undefined);
    expect(metricValue(await scrape(url), 'switchyard_circuit_state', { endpoint: 'x' })).toBe(2);
    x.setFaults({ refuse: false });
    y.setFaults({ refuse: false });
    const read = await request;
    expect(read.ending).toBe('complete');
  });

  it.each([
    ['answering 500', { errorRate: 1, errorStatus: 500 }],
    ['refusing connections', { refuse: true }],
    ['hanging before the first token', { hangMs: -1 }],
  ])('4a. more broken endpoints ranked ahead than retries allow (%s): every one is failed over until the healthy one answers', async (fault, faults) => {
    const broken = [await emulator('m-b1', { faults }), await emulator('m-b2', { faults }), await emulator('m-b3', { faults })];
    const fronts = [await proxy(broken[0]?.url ?? ''), await proxy(broken[1]?.url ?? ''), await proxy(broken[2]?.url ?? '')];
    const healthy = await proxy((await emulator('m-ok')).url);
    const { url } = await gateway(
      [...fronts.map((front, index) => ({ id: `b${index + 1}`, url: front.url, model: `m-b${index + 1}`, cost: 0 })), { id: 'ok', url: healthy.url, model: 'm-ok', cost: 1 }],
      { policy: '[cost]', resilience: '{ retries: 0, backoffMs: 5, maxBackoffMs: 50, ttftTimeoutMs: 300, deadlineMs: 10000, circuitBreaker: { failureThreshold: 1000 } }' },
    );
    const completion = await openai(url).chat.completions.create({ model: publicModel, messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 });
    expect(completion.choices[0]?.message.content?.length ?? 0).toBeGreaterThan(0);
    // A connection dropped before any answer is sent once more on a fresh one (a pooled connection the
    // upstream closed as it was reused looks the same), within the same attempt.
    const perEndpoint = fault === 'refusing connections' ? 2 : 1;
    expect(fronts.map((front) => front.arrivals.length)).toEqual([perEndpoint, perEndpoint, perEndpoint]);
    expect(healthy.arrivals).toHaveLength(1);
  });

  it('4c. an endpoint that asked for Retry-After with its 429 is ranked last by the next requests while it lasts (a 429 opens no circuit)', async () => {
    const { url, first, second } = await faultedThenGood({ id: 'limited', faults: { errorRate: 1, errorStatus: 429 } });
    for (let index = 0; index < 3; index += 1) {
      const completion = await openai(url).chat.completions.create({ model: publicModel, messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 });
      expect(completion.choices[0]?.message.content?.length ?? 0).toBeGreaterThan(0);
    }
    expect(first.arrivals).toHaveLength(1);
    expect(second.arrivals).toHaveLength(3);
  });

  it('4c. a Retry-After sent with a 500 asks nothing: the endpoint is not ranked last for it (only 429, 503 and 529 ask for later)', async () => {
    const erring = await startScriptedUpstream((res) => res.end(JSON.stringify({ error: { message: 'boom' } })), { status: 500, contentType: 'application/json', headers: { 'retry-after': '60' } });
    cleanups.push(() => erring.close());
    const good = await proxy((await emulator('m-good')).url);
    const { url } = await gateway(
      [
        { id: 'erring', url: erring.url, model: 'm-erring', cost: 0 },
        { id: 'good', url: good.url, model: 'm-good', cost: 1 },
      ],
      { policy: '[cost]' },
    );
    for (let index = 0; index < 2; index += 1) await openai(url).chat.completions.create({ model: publicModel, messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 });
    expect([erring.arrivals(), good.arrivals.length]).toEqual([2, 2]);
  });

  it('4. an endpoint answering 503 to everything is failed over', async () => {
    const { url, first, second } = await faultedThenGood({ id: 'failing', faults: { errorRate: 1, errorStatus: 503 } });
    const oa = openai(url);
    const an = anthropic(url);

    const completion = await oa.chat.completions.create({ model: publicModel, messages: [{ role: 'user', content: 'hi' }], max_tokens: 10 });
    expect(completion.choices[0]?.message.content?.length ?? 0).toBeGreaterThan(0);
    const message = await an.messages.create({ model: publicModel, max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] });
    expect(message.content[0]?.type).toBe('text');
    const streamed = await readSse(await streamOpenAI(url, 'hi', 10), 'openai');
    expect(streamed.ending).toBe('complete');
    // The first went to the failing endpoint (cheapest), then to the good one; its 503 asked for
    // `Retry-After: 1`, so the next two went to the good one first.
    expect(first.arrivals).toHaveLength(1);
    expect(second.arrivals).toHaveLength(3);
  });

  describe('4e. an upstream that refuses the request as the caller\'s fault (400, 413, 422) gets a second opinion', () => {
    it('another endpoint that takes it shows the refusal was the endpoint\'s: the caller is answered, and the refusing endpoint\'s circuit counts it', async () => {
      const { url, faulted: refusing, first, second } = await faultedThenGood({ id: 'refusing', faults: { errorRate: 1, errorStatus: 422 } }, { goodDialect: 'openai', circuitBreaker: '{ failureThreshold: 3, openMs: 60000 }' });
      for (const status of [422, 400, 413]) {
        refusing.setFaults({ errorStatus: status });
        const completion = await openai(url).chat.completions.create({ model: publicModel, messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 });
        expect(completion.choices[0]?.message.content?.length ?? 0).toBeGreaterThan(0);
      }
      expect([first.arrivals.length, second.arrivals.length]).toEqual([3, 3]);
      // Three refusals another endpoint did not share opened its circuit: the next request goes straight to the good one.
      expect(metricValue(await scrape(url), 'switchyard_circuit_state', { endpoint: 'refusing' })).toBe(2);
      const streamed = await readSse(await streamOpenAI(url, 'hi', 5), 'openai');
      expect(streamed.ending).toBe('complete');
      expect([first.arrivals.length, second.arrivals.length]).toEqual([3, 4]);
    });

    it('an endpoint of the other dialect, which may have been sent less, is no second opinion on the refusal: the caller is answered, no circuit counts it', async () => {
      // A thinking block with a bad signature: the Anthropic-dialect emulator refuses it; an
      // OpenAI-dialect endpoint is sent the turn without it, and answers.
      const { url, first, second } = await faultedThenGood({ id: 'refusing', faults: {} }, { goodDialect: 'openai', circuitBreaker: '{ failureThreshold: 2, openMs: 60000 }' }, 'anthropic');
      for (let request = 0; request < 3; request++) {
        const answer = await anthropic(url).messages.create({ model: publicModel, max_tokens: 5, messages: [{ role: 'user', content: 'q' }, { role: 'assistant', content: [{ type: 'thinking', thinking: 'edited', signature: 'AAAA' }, { type: 'text', text: 'Frankfurt.' }] }, { role: 'user', content: 'why?' }] });
        expect(answer.content[0]?.type).toBe('text');
      }
      expect([first.arrivals.length, second.arrivals.length]).toEqual([3, 3]);
      expect(metricValue(await scrape(url), 'switchyard_circuit_state', { endpoint: 'refusing' })).toBe(0);
    });

    it('nor is one of the same dialect written to another way (thinking blocks left out where thinking is off)', async () => {
      const checking = await emulator('m');
      const plain = await emulator('m');
      const first = await proxy(checking.url);
      const { url } = await gateway(
        [
          { id: 'checking', url: first.url, model: 'm', cost: 0, dialect: 'anthropic' },
          { id: 'plain', url: plain.url, model: 'm', cost: 1, dialect: 'anthropic', thinking: false },
        ],
        { policy: '[cost]', resilience: '{ retries: 2, backoffMs: 5, maxBackoffMs: 50, ttftTimeoutMs: 2000, deadlineMs: 10000, circuitBreaker: { failureThreshold: 2, openMs: 60000 } }' },
      );
      for (let request = 0; request < 3; request++) {
        const answer = await anthropic(url).messages.create({ model: publicModel, max_tokens: 5, messages: [{ role: 'user', content: 'q' }, { role: 'assistant', content: [{ type: 'thinking', thinking: 'edited', signature: 'AAAA' }, { type: 'text', text: 'Frankfurt.' }] }, { role: 'user', content: 'why?' }] });
        expect(answer.content[0]?.type).toBe('text');
      }
      expect(first.arrivals).toHaveLength(3);
      expect(metricValue(await scrape(url), 'switchyard_circuit_state', { endpoint: 'checking' })).toBe(0);
    });

    it('a second refusal is the caller\'s fault after all: its 4xx and words reach the caller after two attempts, and no circuit counts it', async () => {
      const body = (words: string): string => JSON.stringify({ error: { message: words, type: 'invalid_request_error', param: 'temperature' } });
      const [cheap, dear] = [
        await startScriptedUpstream((res) => res.end(body('temperature must be at most 1.5 here')), { status: 400, contentType: 'application/json' }),
        await startScriptedUpstream((res) => res.end(body('temperature must be at most 1.2 here')), { status: 400, contentType: 'application/json' }),
      ];
      cleanups.push(() => cheap.close(), () => dear.close());
      const { url } = await gateway(
        [
          { id: 'cheap', url: cheap.url, model: 'm', cost: 0 },
          { id: 'dear', url: dear.url, model: 'm', cost: 1 },
          { id: 'dearest', url: dear.url, model: 'm', cost: 2 },
        ],
        { policy: '[cost]', resilience: '{ retries: 2, backoffMs: 5, maxBackoffMs: 50, ttftTimeoutMs: 2000, deadlineMs: 10000, circuitBreaker: { failureThreshold: 1 } }' },
      );
      const response = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: publicModel, messages: [{ role: 'user', content: 'hi' }], max_tokens: 5, temperature: 1.9 }) });
      expect(response.status).toBe(400);
      // The first refusal's words: both are about the request, and the first is from the endpoint routing preferred.
      expect(await response.json()).toMatchObject({ error: { message: 'upstream cheap failed: temperature must be at most 1.5 here', param: 'temperature' } });
      expect([cheap.arrivals(), dear.arrivals()]).toEqual([1, 1]);
      const scraped = await scrape(url);
      for (const endpoint of ['cheap', 'dear']) expect(metricValue(scraped, 'switchyard_circuit_state', { endpoint })).toBe(0);
    });

    it("is asked of another pool where one is eligible: two replicas of one pool refusing alike are one opinion, and their circuits open (E55)", async () => {
      const refusal = JSON.stringify({ error: { message: 'injected fault', type: 'invalid_request_error' } });
      const broken = [await startScriptedUpstream((res) => res.end(refusal), { status: 400, contentType: 'application/json' }), await startScriptedUpstream((res) => res.end(refusal), { status: 400, contentType: 'application/json' })];
      const healthy = await startScriptedUpstream((res) => res.end(openAIChunk({ role: 'assistant', content: 'ok' }) + openAIChunk({}, 'stop') + 'data: [DONE]\n\n'));
      for (const upstream of [...broken, healthy]) cleanups.push(() => upstream.close());
      const { url } = await gateway(
        [
          { id: 'a0', url: broken[0]?.url ?? '', model: 'm', cost: 0, pool: 'committed' },
          { id: 'a1', url: broken[1]?.url ?? '', model: 'm', cost: 0, pool: 'committed' },
          { id: 'b0', url: healthy.url, model: 'm', cost: 1, pool: 'on-demand' },
        ],
        { policy: '[cost]', resilience: '{ retries: 2, backoffMs: 5, maxBackoffMs: 50, ttftTimeoutMs: 2000, deadlineMs: 10000, circuitBreaker: { failureThreshold: 2, openMs: 60000 } }' },
      );
      for (let request = 0; request < 5; request++) expect((await streamOpenAI(url, 'hi', 5)).status).toBe(200);
      // Each refusal, answered by the other pool, counted against its replica: both circuits open
      // after two each, and the fifth request goes straight to the healthy pool.
      expect([broken.map((upstream) => upstream.arrivals()).reduce((sum, count) => sum + count, 0), healthy.arrivals()]).toEqual([4, 5]);
      const scraped = await scrape(url);
      for (const endpoint of ['a0', 'a1']) expect(metricValue(scraped, 'switchyard_circuit_state', { endpoint })).toBe(2);
    });

    /** Upstreams answering `status` with a body naming `param`, after `delayMs`; each its own endpoint, by cost in this order. */
    async function answering(statuses: readonly number[], delayMs: number, resilience: string): Promise<{ url: string; upstreams: { arrivals(): number }[] }> {
      const upstreams = await Promise.all(
        statuses.map((status, index) =>
          status === 200
            ? startScriptedUpstream((res) => setTimeout(() => res.end(openAIChunk({ role: 'assistant', content: 'ok' }) + openAIChunk({}, 'stop') + 'data: [DONE]\n\n'), delayMs))
            : startScriptedUpstream((res) => setTimeout(() => res.end(JSON.stringify({ error: { message: `refused by ${String(index)}`, type: 'invalid_request_error', param: 'foo' } })), delayMs), { status, contentType: 'application/json' }),
        ),
      );
      for (const upstream of upstreams) cleanups.push(() => upstream.close());
      const { url } = await gateway(upstreams.map((upstream, index) => ({ id: `e${String(index)}`, url: upstream.url, model: 'm', cost: index })), { policy: '[cost]', resilience });
      return { url, upstreams };
    }

    it('a second opinion that fails for a reason of its own (503) leaves the caller the refusal, which says what to fix', async () => {
      const { url, upstreams } = await answering([400, 503], 0, '{ retries: 0, backoffMs: 5, maxBackoffMs: 50, ttftTimeoutMs: 2000, deadlineMs: 10000 }');
      const response = await streamOpenAI(url, 'hi', 5);
      expect(response.status).toBe(400);
      expect(await response.json()).toMatchObject({ error: { message: 'upstream e0 failed: refused by 0', param: 'foo' } });
      expect(upstreams.map((upstream) => upstream.arrivals())).toEqual([1, 1]);
    });

    it('with hedging, a refusing leg gets its second opinion from the other leg: counted against its circuit if that one answers, the caller\'s fault if it refuses too', async () => {
      const hedging = (threshold: number): string => `{ retries: 0, backoffMs: 5, maxBackoffMs: 50, ttftTimeoutMs: 2000, deadlineMs: 10000, hedgeAfterMs: 20, circuitBreaker: { failureThreshold: ${String(threshold)}, openMs: 60000 } }`;
      const answered = await answering([400, 200], 100, hedging(1));
      expect((await streamOpenAI(answered.url, 'hi', 5)).status).toBe(200);
      expect(metricValue(await scrape(answered.url), 'switchyard_circuit_state', { endpoint: 'e0' })).toBe(2);
      const refusedTwice = await answering([400, 400, 400, 400], 100, hedging(1000));
      const response = await streamOpenAI(refusedTwice.url, 'hi', 5);
      expect(response.status).toBe(400);
      await response.body?.cancel();
      expect(refusedTwice.upstreams.map((upstream) => upstream.arrivals())).toEqual([1, 1, 0, 0]);
    });

    it('a second opinion failing for a reason of its own gave none: the next fresh endpoint is asked, and none is gone back to', async () => {
      const { url, upstreams } = await answering([400, 503, 503], 0, '{ retries: 2, backoffMs: 5, maxBackoffMs: 50, ttftTimeoutMs: 2000, deadlineMs: 10000 }');
      const response = await streamOpenAI(url, 'hi', 5);
      expect(response.status).toBe(400);
      await response.body?.cancel();
      expect(upstreams.map((upstream) => upstream.arrivals())).toEqual([1, 1, 1]);
      const served = await answering([422, 429, 200], 0, '{ retries: 2, backoffMs: 5, maxBackoffMs: 50, ttftTimeoutMs: 2000, deadlineMs: 10000 }');
      expect((await streamOpenAI(served.url, 'hi', 5)).status).toBe(200);
      expect(served.upstreams.map((upstream) => upstream.arrivals())).toEqual([1, 1, 1]);
    });

    it('with hedging, a refusal that comes after the other leg answered counts against the refusing endpoint too', async () => {
      // The cheap endpoint refuses only after 150 ms, well after the hedge's leg (sent at 20 ms) answered.
      const late = await startScriptedUpstream((res) => setTimeout(() => res.end(JSON.stringify({ error: { message: 'no' } })), 150), { status: 422, contentType: 'application/json' });
      const good = await startScriptedUpstream((res) => res.end(openAIChunk({ role: 'assistant', content: 'ok' }) + openAIChunk({}, 'stop') + 'data: [DONE]\n\n'));
      cleanups.push(() => late.close(), () => good.close());
      const { url } = await gateway(
        [
          { id: 'late', url: late.url, model: 'm', cost: 0 },
          { id: 'good', url: good.url, model: 'm', cost: 1 },
        ],
        { policy: '[cost]', resilience: '{ retries: 2, backoffMs: 5, maxBackoffMs: 50, ttftTimeoutMs: 2000, deadlineMs: 10000, hedgeAfterMs: 20, circuitBreaker: { failureThreshold: 2, openMs: 60000 } }' },
      );
      for (let n = 0; n < 2; n += 1) expect((await streamOpenAI(url, 'hi', 5)).status).toBe(200);
      await new Promise((resolve) => setTimeout(resolve, 300));
      // Two late refusals opened its circuit: the next request goes to the good endpoint alone.
      expect(metricValue(await scrape(url), 'switchyard_circuit_state', { endpoint: 'late' })).toBe(2);
      expect((await streamOpenAI(url, 'hi', 5)).status).toBe(200);
      expect([late.arrivals(), good.arrivals()]).toEqual([2, 3]);
    });

    it('a long-context endpoint that refuses gets its second opinion from an ordinary window, in the room that one leaves', async () => {
      const refusing = await emulator('m-long', { faults: { errorRate: 1, errorStatus: 422 } });
      const [smallFront, longFront] = [await proxy((await emulator('m-small')).url), await proxy(refusing.url)];
      const { url } = await gateway(
        [
          { id: 'small', url: smallFront.url, model: 'm-small', contextWindow: 8192, cost: 0 },
          { id: 'long', url: longFront.url, model: 'm-long', contextWindow: 131_072, cost: 1, longContext: true },
        ],
        { policy: '[cost]', resilience: '{ retries: 2, backoffMs: 5, maxBackoffMs: 50, ttftTimeoutMs: 2000, deadlineMs: 10000, circuitBreaker: { failureThreshold: 1, openMs: 60000 } }' },
      );
      // About 6,500 tokens: the ordinary window leaves under half the default budget (enoughRoom).
      const prompt = 'word '.repeat(5200);
      const answer = await openai(url).chat.completions.create({ model: publicModel, messages: [{ role: 'user', content: prompt }] });
      expect(answer.choices[0]?.message.content?.length ?? 0).toBeGreaterThan(0);
      expect([smallFront.arrivals.length, longFront.arrivals.length]).toEqual([1, 1]);
      expect((JSON.parse(smallFront.arrivals[0]?.body ?? '{}') as { max_tokens?: number }).max_tokens).toBe(8192 - estimateTokens(prompt));
      expect(metricValue(await scrape(url), 'switchyard_circuit_state', { endpoint: 'long' })).toBe(2);
    });

    it('a long-context endpoint held back by its circuit is not panic-routed to while an ordinary window can answer in its room', async () => {
      const hung = await emulator('m-long', { faults: { hangMs: -1 } });
      const [smallFront, longFront] = [await proxy((await emulator('m-small')).url), await proxy(hung.url)];
      const { url } = await gateway(
        [
          { id: 'small', url: smallFront.url, model: 'm-small', contextWindow: 8192, cost: 0 },
          { id: 'long', url: longFront.url, model: 'm-long', contextWindow: 131_072, cost: 1, longContext: true },
        ],
        { policy: '[cost]', resilience: '{ retries: 2, backoffMs: 5, maxBackoffMs: 50, ttftTimeoutMs: 300, deadlineMs: 10000, circuitBreaker: { failureThreshold: 1, openMs: 60000 } }' },
      );
      // About 6,500 tokens: the ordinary window leaves under half the default budget (enoughRoom).
      const prompt = 'word '.repeat(5200);
      for (let n = 0; n < 3; n += 1) {
        const answer = await openai(url).chat.completions.create({ model: publicModel, messages: [{ role: 'user', content: `${prompt}${String(n)}` }] });
        expect(answer.choices[0]?.message.content?.length ?? 0).toBeGreaterThan(0);
      }
      // Only the first waited out the hung endpoint's TTFT timeout; its circuit then held the others back.
      expect([smallFront.arrivals.length, longFront.arrivals.length]).toEqual([3, 1]);
    });

    it('with no other eligible endpoint the refusal reaches the caller at once', async () => {
      const refusing = await emulator('m-refusing', { faults: { errorRate: 1, errorStatus: 422 } });
      const front = await proxy(refusing.url);
      const { url } = await gateway([{ id: 'refusing', url: front.url, model: 'm-refusing' }]);
      await expect(openai(url).chat.completions.create({ model: publicModel, messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 })).rejects.toMatchObject({ status: 422 });
      expect(front.arrivals).toHaveLength(1);
    });
  });

  describe('4b. upstream statuses that are the endpoint\'s fault, not the caller\'s', () => {
    it('an upstream 401, 402 or 451 (the gateway\'s key, account or the endpoint\'s own policy) fails over, and counts against that endpoint\'s circuit', async () => {
      const { url, faulted: misconfigured, first, second } = await faultedThenGood(
        { id: 'misconfigured', faults: { errorRate: 1, errorStatus: 401 } },
        { goodDialect: 'openai', circuitBreaker: '{ failureThreshold: 2, openMs: 60000 }' },
      );
      for (const status of [401, 402, 451]) {
        misconfigured.setFaults({ errorStatus: status });
        const completion = await openai(url).chat.completions.create({ model: publicModel, messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 });
        expect(completion.choices[0]?.message.content?.length ?? 0).toBeGreaterThan(0);
      }
      // Two failures opened the circuit: the third request skipped the endpoint.
      expect(first.arrivals).toHaveLength(2);
      expect(second.arrivals).toHaveLength(3);
      expect(metricValue(await scrape(url), 'switchyard_circuit_state', { endpoint: 'misconfigured' })).toBe(2);
    });

    it('when the only endpoint rejects the gateway\'s key, the caller gets 502, never a 401 about its own key, and the endpoint is not asked again', async () => {
      const misconfigured = await emulator('m-misconfigured', { faults: { errorRate: 1, errorStatus: 401 } });
      const front = await proxy(misconfigured.url);
      const { url } = await gateway([{ id: 'misconfigured', url: front.url, model: 'm-misconfigured' }]);
      await expect(openai(url).chat.completions.create({ model: publicModel, messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 })).rejects.toMatchObject({ status: 502 });
      await expect(anthropic(url).messages.create({ model: publicModel, max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] })).rejects.toMatchObject({ status: 502 });
      expect(front.arrivals).toHaveLength(2);
      // No client retry can fix the gateway's configuration: the SDKs are told so, and with their
      // default retries still ask once.
      const withRetries = new OpenAI({ apiKey, baseURL: `${url}/v1`, maxRetries: 2, timeout: 15_000 });
      const failure: unknown = await withRetries.chat.completions.create({ model: publicModel, messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 }).catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(OpenAI.APIError);
      expect((failure as InstanceType<typeof OpenAI.APIError>).status).toBe(502);
      expect((failure as InstanceType<typeof OpenAI.APIError>).headers?.get('x-should-retry')).toBe('false');
      expect(front.arrivals).toHaveLength(3);
    });

    it('an upstream\'s own error text reaches the caller only when it is about the caller\'s request (400, 413, 422)', async () => {
      const secret = 'Incorrect API key provided: sk-gw-****7f3a for organization org-gateway-internal';
      const body = JSON.stringify({ error: { message: secret, type: 'invalid_request_error' } });
      const answer = (status: number): Promise<{ url: string }> =>
        startScriptedUpstream((res) => res.end(body), { status, contentType: 'application/json' }).then((upstream) => {
          cleanups.push(() => upstream.close());
          return gateway([{ id: `s${String(status)}`, url: upstream.url, model: 'm' }], { resilience: '{ retries: 0, backoffMs: 5, maxBackoffMs: 50, ttftTimeoutMs: 2000, deadlineMs: 10000 }' });
        });
      for (const status of [401, 403, 500, 503]) {
        const response = await streamOpenAI((await answer(status)).url, 'hi', 5);
        const text = await response.text();
        expect(response.status).toBeGreaterThanOrEqual(500);
        expect(text).not.toMatch(/sk-gw|org-gateway-internal/);
        // A refusal of the gateway itself says so, and who can fix it (E58).
        const hint = status < 500 ? "; that endpoint refused the gateway itself (its key, account, model name or URL for it), which retrying will not change until the gateway's operator fixes it" : '';
        expect(((JSON.parse(text) as { error: { message: string } }).error.message)).toBe(`upstream s${String(status)} failed: status ${String(status)}${hint}`);
      }
      // About the request itself: the upstream's words are what the caller needs to fix it.
      const badRequest = await streamOpenAI((await answer(400)).url, 'hi', 5);
      expect(badRequest.status).toBe(400);
      expect(await badRequest.text()).toContain('Incorrect API key provided');
    });

    it('an upstream error event mid-stream that cannot be resumed ends the stream in the gateway\'s words, not the upstream\'s', async () => {
      const leaky = await startScriptedUpstream((res) => res.end(openAIChunk({ role: 'assistant', content: 'one' }) + `data: ${JSON.stringify({ error: { message: 'shard 7 of cluster tpu-us-internal-3 crashed' } })}\n\n`));
      cleanups.push(() => leaky.close());
      const { url } = await gateway([{ id: 'leaky', url: leaky.url, model: 'm' }], { resilience: '{ retries: 0, resumeStreams: false, backoffMs: 5, maxBackoffMs: 50, ttftTimeoutMs: 2000, deadlineMs: 10000 }' });
      const read = await readSse(await streamOpenAI(url, 'hi', 50), 'openai');
      expect(read.ending).toBe('error-event');
      expect(read.raw).toContain('could not be resumed: the upstream stream broke');
      expect(read.raw).not.toContain('tpu-us-internal');
    });

    it('an unreachable endpoint\'s network detail stays in the logs: the client is not told internal addresses', async () => {
      // What a caller is told of one endpoint's failure: a 502, in the gateway's words.
      const toldOf = async (id: string, upstreamUrl: string): Promise<string> => {
        const { url } = await gateway([{ id, url: upstreamUrl, model: `m-${id}` }], { resilience: '{ retries: 0, backoffMs: 5, maxBackoffMs: 50, ttftTimeoutMs: 2000, deadlineMs: 10000 }' });
        const response = await streamOpenAI(url, 'hi', 5);
        expect(response.status).toBe(502);
        return ((await response.json()) as { error: { message: string } }).error.message;
      };
      /** A TCP server that is no HTTP server: `onConnection` does what it will with each socket. */
      const rawUpstream = async (onConnection: (socket: Socket) => void): Promise<string> => {
        const server = createNetServer(onConnection);
        await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
        cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
        return `http://127.0.0.1:${String((server.address() as AddressInfo).port)}`;
      };
      expect(await toldOf('gone', 'http://127.0.0.1:9')).toBe('upstream gone failed: could not connect');
      // A connection made and then lost before any answer is told as such (after its one resend).
      let arrivals = 0;
      expect(await toldOf('dropping', await rawUpstream((socket) => socket.once('data', () => ((arrivals += 1), socket.resetAndDestroy()))))).toBe('upstream dropping failed: the connection was lost before any answer');
      expect(arrivals).toBe(2);
      // An answer the HTTP client cannot read (headers past its limit) is not a failure to connect.
      const oversized = await rawUpstream((socket) => {
        // The gateway resets the connection once the headers overflow.
        socket.on('error', () => undefined);
        socket.once('data', () => socket.end(`HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nx-filler: ${'f'.repeat(70_000)}\r\n\r\n`));
      });
      expect(await toldOf('oversized', oversized)).toBe('upstream oversized failed: its answer could not be read as HTTP');
      // An answer that is not HTTP at all (undici's parser gives it no code), and one undici will not
      // read (a 100 Continue it did not ask for): answers, so the request was read and is not sent
      // again as a stale connection's is (E45: told "could not connect", and resent).
      let notHttpArrivals = 0;
      const notHttp = await rawUpstream((socket) => socket.once('data', () => ((notHttpArrivals += 1), socket.end('HTTZ/9 abc\r\n\r\n'))));
      expect(await toldOf('not-http', notHttp)).toBe('upstream not-http failed: its answer could not be read as HTTP');
      expect(notHttpArrivals).toBe(1);
      let continueArrivals = 0;
      const unaskedContinue = await rawUpstream((socket) => {
        socket.on('error', () => undefined);
        socket.once('data', () => ((continueArrivals += 1), socket.write('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\r\n')));
      });
      expect(await toldOf('continue', unaskedContinue)).toBe('upstream continue failed: its answer could not be read as HTTP');
      expect(continueArrivals).toBe(1);
      // A whole (JSON) answer whose body is cut short had its head: no lost connection.
      const cutShort = await rawUpstream((socket) => socket.once('data', () => socket.end('HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 200\r\n\r\n{"id":')));
      expect(await toldOf('cut-short', cutShort)).toBe('upstream cut-short failed: its answer broke off');
    });

    it('529 (overloaded) and 408 are retried on another endpoint', async () => {
      const { url, faulted: overloaded, first, second } = await faultedThenGood({ id: 'overloaded', faults: { errorRate: 1, errorStatus: 529 } });
      // 408 first: the emulator's 529 asks for Retry-After, which would rank the endpoint last.
      overloaded.setFaults({ errorStatus: 408 });
      const completion = await openai(url).chat.completions.create({ model: publicModel, messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 });
      expect(completion.choices[0]?.message.content?.length ?? 0).toBeGreaterThan(0);
      overloaded.setFaults({ errorStatus: 529 });
      const message = await anthropic(url).messages.create({ model: publicModel, max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] });
      expect(message.content[0]?.type).toBe('text');
      expect(first.arrivals).toHaveLength(2);
      expect(second.arrivals).toHaveLength(2);
    });

    it('an upstream 429 that cannot be retried away reaches the client with the upstream\'s Retry-After, and does not open the circuit', async () => {
      const limited = await emulator('m-limited', { faults: { errorRate: 1, errorStatus: 429 } });
      const { url } = await gateway([{ id: 'limited', url: limited.url, model: 'm-limited' }], {
        resilience: '{ retries: 0, backoffMs: 5, maxBackoffMs: 50, ttftTimeoutMs: 2000, deadlineMs: 10000, circuitBreaker: { failureThreshold: 1 } }',
      });
      for (let index = 0; index < 2; index += 1) {
        const response = await streamOpenAI(url, 'hi', 5);
        expect(response.status).toBe(429);
        expect(response.headers.get('retry-after')).toBe('1');
        await response.body?.cancel();
      }
      // failureThreshold 1: one counted failure would have opened it and turned the second answer into a 503.
      expect(metricValue(await scrape(url), 'switchyard_circuit_state', { endpoint: 'limited' })).toBe(0);
    });
  });

  /** The route's only endpoint fails every request; a first request (502) opens its circuit for 30 s. */
  async function ejectedEndpoint(panicRouting: boolean): Promise<{ url: string; flaky: RunningEmulator }> {
    const flaky = await emulator('m-flaky', { faults: { errorRate: 1, errorStatus: 500 } });
    const { url } = await gateway([{ id: 'flaky', url: flaky.url, model: 'm-flaky' }], {
      resilience: `{ retries: 0, backoffMs: 5, maxBackoffMs: 50, ttftTimeoutMs: 2000, deadlineMs: 10000, panicRouting: ${String(panicRouting)}, circuitBreaker: { failureThreshold: 1, openMs: 30000 } }`,
    });
    const first = await streamOpenAI(url, 'hi', 5);
    expect(first.status).toBe(502);
    await first.body?.cancel();
    expect(metricValue(await scrape(url), 'switchyard_circuit_state', { endpoint: 'flaky' })).toBe(2);
    return { url, flaky };
  }

  it('4c. with panic routing (the default), a request whose every eligible endpoint is ejected is tried anyway: one healed since answers at once', async () => {
    const { url, flaky } = await ejectedEndpoint(true);
    flaky.setFaults({ errorRate: 0 });
    // Without panic routing this would be a 503 for the next 30 s.
    const healed = await readSse(await streamOpenAI(url, 'hi', 5), 'openai');
    expect(healed.ending).toBe('complete');
    expect(metricValue(await scrape(url), 'switchyard_panic_routes_total', { route: publicModel })).toBe(1);
  });

  it('4c. panic routing finds a recovered endpoint that is not the cheapest, and its first success closes its circuit', async () => {
    // Four endpoints, all ejected; the one that recovers is the dearest, so a by-cost panic order would never reach it.
    const replicas = await Promise.all(['m-0', 'm-1', 'm-2', 'm-3'].map((name) => emulator(name, { faults: { errorRate: 1, errorStatus: 500 } })));
    const specs = replicas.map((replica, index) => ({ id: `e${String(index)}`, url: replica.url, model: `m-${String(index)}`, cost: index === 3 ? 5 : 0 }));
    const started = createGateway({
      config: config(specs, { policy: '[cost]', resilience: '{ retries: 0, backoffMs: 5, maxBackoffMs: 50, ttftTimeoutMs: 2000, deadlineMs: 10000, circuitBreaker: { failureThreshold: 1, openMs: 60000 } }' }),
      logger: false,
      random: seededRandom(11),
    });
    const url = await started.listen(0, '127.0.0.1');
    cleanups.push(() => started.close());
    for (let index = 0; index < 8; index += 1) await (await streamOpenAI(url, 'hi', 5)).text();
    const circuits = async (): Promise<number[]> => {
      const text = await scrape(url);
      return specs.map((spec) => metricValue(text, 'switchyard_circuit_state', { endpoint: spec.id }) ?? -1);
    };
    expect(await circuits()).toEqual([2, 2, 2, 2]);
    replicas[3]?.setFaults({ errorRate: 0 });
    const statuses: number[] = [];
    for (let index = 0; index < 20 && !statuses.includes(200); index += 1) {
      const response = await streamOpenAI(url, 'hi', 5);
      statuses.push(response.status);
      await response.text();
    }
    expect(statuses).toContain(200);
    // The success closed the recovered endpoint's circuit: what follows is routed normally, with no panic.
    expect(await circuits()).toEqual([2, 2, 2, 0]);
    const panics = metricValue(await scrape(url), 'switchyard_panic_routes_total', { route: publicModel });
    for (let index = 0; index < 5; index += 1) expect((await readSse(await streamOpenAI(url, 'hi', 5), 'openai')).ending).toBe('complete');
    expect(metricValue(await scrape(url), 'switchyard_panic_routes_total', { route: publicModel })).toBe(panics);
  });

  it('4c. with panic routing off, when every eligible endpoint\'s circuit is open, the 503 says with Retry-After when one will take a probe again', async () => {
    const { url } = await ejectedEndpoint(false);
    const ejected = await streamOpenAI(url, 'hi', 5);
    expect(ejected.status).toBe(503);
    expect(((await ejected.json()) as { error: { message: string } }).error.message).toMatch(/circuit open/);
    const retryAfter = Number(ejected.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(29);
    expect(retryAfter).toBeLessThanOrEqual(30);
    // An Anthropic caller gets what the Anthropic API answers when overloaded: 529 overloaded_error.
    const overloaded: unknown = await anthropic(url).messages.create({ model: publicModel, max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] }, { maxRetries: 0 }).catch((error: unknown) => error);
    expect(overloaded).toMatchObject({ status: 529, error: { type: 'error', error: { type: 'overloaded_error' } } });
    expect(Number((overloaded as { headers?: Headers }).headers?.get('retry-after'))).toBeGreaterThanOrEqual(29);
  });

  it('4c. the Retry-After of an all-ejected 503 is when one of this request\'s own endpoints takes a request again, not another jurisdiction\'s', async () => {
    const us = await emulator('m-us', { faults: { errorRate: 1, errorStatus: 500 } });
    const eu = await emulator('m-eu', { faults: { errorRate: 1, errorStatus: 500 } });
    let clock = 1_000_000;
    const started = createGateway({
      config: gatewayConfig(`
version: 1
endpoints:
  - { id: us-1, url: "${us.url}", dialect: openai, model: m-us, provider: p1, region: r1, jurisdiction: us, contextWindow: 131072, marginalCostPerMillionTokens: 0, capacity: 8 }
  - { id: eu-1, url: "${eu.url}", dialect: openai, model: m-eu, provider: p2, region: r2, jurisdiction: eu, contextWindow: 131072, marginalCostPerMillionTokens: 0, capacity: 8 }
routes:
  - { model: ${publicModel}, endpoints: [us-1, eu-1] }
tenants:
  - { id: t1, apiKeySha256: ${hashApiKey(apiKey)}, jurisdictions: [us, eu], requestsPerMinute: 1000000, tokensPerMinute: 1000000000 }
resilience: { retries: 0, backoffMs: 5, maxBackoffMs: 50, ttftTimeoutMs: 2000, deadlineMs: 10000, panicRouting: false, circuitBreaker: { failureThreshold: 1, openMs: 30000 } }
`),
      logger: false,
      now: () => clock,
    });
    const url = await started.listen(0, '127.0.0.1');
    cleanups.push(() => started.close());
    const ask = (jurisdiction: string): Promise<Response> =>
      fetch(`${url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json', 'x-switchyard-jurisdiction': jurisdiction },
        body: JSON.stringify({ model: publicModel, messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 }),
      });
    expect((await ask('us')).status).toBe(502); // us-1's circuit opens now
    clock += 12_000;
    expect((await ask('eu')).status).toBe(502); // eu-1's opens 12 s later
    const refused = await ask('eu');
    expect(refused.status).toBe(503);
    // eu-1 takes a probe in 30 s; us-1 (18 s) is not this request's to wait for.
    expect(refused.headers.get('retry-after')).toBe('30');
    clock += 20_000;
    const later = await ask('eu');
    expect(later.status).toBe(503);
    expect(later.headers.get('retry-after')).toBe('10');
  });

  describe('4d. when every endpoint has been tried, a retry or resume goes back to the one likeliest to answer', () => {
    async function twoEndpoints(failingFaults: Parameters<RunningEmulator['setFaults']>[0], flakyFaults: Parameters<RunningEmulator['setFaults']>[0], retries: number): Promise<{ url: string; cheap: CountingProxy; flaky: CountingProxy }> {
      const failing = await emulator('m-failing', { faults: failingFaults });
      const recovering = await emulator('m-flaky', { faults: flakyFaults });
      const cheap = await proxy(failing.url);
      const flaky = await proxy(recovering.url);
      // The flaky endpoint fails its first request only.
      flaky.onStatus = () => recovering.setFaults({ errorRate: 0, cutAfterTokens: null });
      const { url } = await gateway(
        [
          { id: 'failing', url: cheap.url, model: 'm-failing', cost: 0 },
          { id: 'flaky', url: flaky.url, model: 'm-flaky', cost: 5 },
        ],
        { policy: '[cost]', resilience: `{ retries: ${retries}, backoffMs: 5, maxBackoffMs: 50, ttftTimeoutMs: 2000, deadlineMs: 10000, circuitBreaker: { failureThreshold: 1000 } }` },
      );
      return { url, cheap, flaky };
    }

    it('a stream resumed after the cheap endpoint rejected the gateway\'s key goes to the other one, never back to the rejecting one', async () => {
      const { url, cheap, flaky } = await twoEndpoints({ errorRate: 1, errorStatus: 401 }, { cutAfterTokens: 4 }, 2);
      const read = await readSse(await streamOpenAI(url, 'resume me', 20), 'openai');
      expect(read.ending).toBe('complete');
      expect(cheap.arrivals).toHaveLength(1);
      expect(flaky.arrivals).toHaveLength(2);
    });

    it('a retry after both failed goes to the one that failed this request least, not always the cheapest', async () => {
      const { url, cheap, flaky } = await twoEndpoints({ errorRate: 1, errorStatus: 500 }, { errorRate: 1, errorStatus: 500 }, 3);
      const completion = await openai(url).chat.completions.create({ model: publicModel, messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 });
      expect(completion.choices[0]?.message.content?.length ?? 0).toBeGreaterThan(0);
      // failing, flaky, failing (a tie, broken by cost), then flaky, which has failed least.
      expect(cheap.arrivals).toHaveLength(2);
      expect(flaky.arrivals).toHaveLength(2);
    });
  });

  describe('5. Retry-After is honoured when the rate-limited endpoint is the only one', () => {
    async function rateLimitedOnce(maxBackoffMs: number): Promise<{ gap: number; total: number }> {
      const limited = await emulator('m-limited', { faults: { errorRate: 1, errorStatus: 429 } });
      const front = await proxy(limited.url);
      // The emulator asks for `Retry-After: 1`; it recovers as soon as it has said so once.
      front.onStatus = (status) => {
        if (status === 429) limited.setFaults({ errorRate: 0 });
      };
      const { url } = await gateway([{ id: 'limited', url: front.url, model: 'm-limited' }], {
        resilience: `{ retries: 2, backoffMs: 10, maxBackoffMs: ${maxBackoffMs}, ttftTimeoutMs: 2000, deadlineMs: 10000, circuitBreaker: { failureThreshold: 1000 } }`,
      });
      const started = performance.now();
      const completion = await openai(url).chat.completions.create({ model: publicModel, messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 });
      const total = performance.now() - started;
      expect(completion.choices[0]?.message.content?.length ?? 0).toBeGreaterThan(0);
      expect(front.arrivals).toHaveLength(2);
      const [a, b] = front.arrivals;
      return { gap: (b?.at ?? 0) - (a?.at ?? 0), total };
    }

    it('waits the Retry-After (1 s) when it is under maxBackoffMs, then retries and succeeds', async () => {
      const { gap, total } = await rateLimitedOnce(3000);
      expect(gap).toBeGreaterThanOrEqual(950);
      expect(gap).toBeLessThan(1600);
      expect(total).toBeLessThan(2000);
    });

    it('does not go back sooner when Retry-After asks for longer than maxBackoffMs: the caller gets the 429 and its Retry-After at once', async () => {
      const limited = await emulator('m-limited', { faults: { errorRate: 1, errorStatus: 429 } });
      const front = await proxy(limited.url);
      const { url } = await gateway([{ id: 'limited', url: front.url, model: 'm-limited' }], {
        resilience: '{ retries: 2, backoffMs: 10, maxBackoffMs: 300, ttftTimeoutMs: 2000, deadlineMs: 10000, circuitBreaker: { failureThreshold: 1000 } }',
      });
      const started = performance.now();
      const response = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: publicModel, messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 }) });
      expect(response.status).toBe(429);
      expect(response.headers.get('retry-after')).toBe('1');
      await response.body?.cancel();
      expect(performance.now() - started).toBeLessThan(800);
      expect(front.arrivals).toHaveLength(1);
    });
  });

  it('5c. going back to an endpoint counts the failures of the endpoints this request can use, not of one it cannot', async () => {
    const failing = await emulator('m-fail', { faults: { errorRate: 1, errorStatus: 500 } });
    const limited = await emulator('m-limited', { faults: { errorRate: 1, errorStatus: 429 } });
    const long = await emulator('m-long');
    const [failingFront, limitedFront, longFront] = [await proxy(failing.url), await proxy(limited.url), await proxy(long.url)];
    const { url } = await gateway(
      [
        { id: 'failing', url: failingFront.url, model: 'm-fail', cost: 0 },
        { id: 'limited', url: limitedFront.url, model: 'm-limited', cost: 1 },
        { id: 'long', url: longFront.url, model: 'm-long', cost: 2, contextWindow: 1_000_000, longContext: true },
      ],
      { policy: '[cost]', resilience: '{ retries: 1, backoffMs: 5, maxBackoffMs: 1500, ttftTimeoutMs: 2000, deadlineMs: 10000, circuitBreaker: { failureThreshold: 1000 } }' },
    );
    const response = await fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: publicModel, messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 }),
    });
    // failing (500), limited (429), then (one retry, after its Retry-After of 1 s) back to limited,
    // which failed this request less: the caller gets its 429 and Retry-After, not a 502 from going
    // back to the endpoint that failed harder.
    expect(response.status).toBe(429);
    expect(response.headers.get('retry-after')).toBe('1');
    await response.body?.cancel();
    expect([failingFront.arrivals.length, limitedFront.arrivals.length, longFront.arrivals.length]).toEqual([1, 2, 0]);
  });

  it('5e. a request that fails at an endpoint naming no wait, after one passed over for its long Retry-After, answers with that 429 and its Retry-After', async () => {
    const failing = await emulator('m-fail', { faults: { errorRate: 1, errorStatus: 500 } });
    const limited = await emulator('m-limited', { faults: { errorRate: 1, errorStatus: 429 } });
    const [failingFront, limitedFront] = [await proxy(failing.url), await proxy(limited.url)];
    const { url } = await gateway(
      [
        { id: 'failing', url: failingFront.url, model: 'm-fail', cost: 0 },
        { id: 'limited', url: limitedFront.url, model: 'm-limited', cost: 1 },
      ],
      { policy: '[cost]', resilience: '{ retries: 2, backoffMs: 5, maxBackoffMs: 50, ttftTimeoutMs: 2000, deadlineMs: 10000, circuitBreaker: { failureThreshold: 1000 } }' },
    );
    const response = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: publicModel, messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 }) });
    // failing (500), limited (429, Retry-After 1 s), then back to failing only (limited asked for longer than the gateway waits).
    expect([failingFront.arrivals.length, limitedFront.arrivals.length]).toEqual([3, 1]);
    expect(response.status).toBe(429);
    expect(response.headers.get('retry-after')).toBe('1');
    await response.body?.cancel();
  });

  it('5d. going back passes over an endpoint whose Retry-After is longer than maxBackoffMs, for one that failed more but takes requests', async () => {
    // A resume: flaky breaks its stream once; limited, which failed less (a 429 counts half), asks for 1 s.
    const limited = await emulator('m-limited', { faults: { errorRate: 1, errorStatus: 429 } });
    const flaky = await emulator('m-flaky', { faults: { cutAfterTokens: 3 } });
    const [limitedFront, flakyFront] = [await proxy(limited.url), await proxy(flaky.url)];
    flakyFront.onStatus = () => flaky.setFaults({ cutAfterTokens: null });
    const { url } = await gateway(
      [
        { id: 'limited', url: limitedFront.url, model: 'm-limited', cost: 0 },
        { id: 'flaky', url: flakyFront.url, model: 'm-flaky', cost: 1 },
      ],
      { policy: '[cost]', resilience: '{ retries: 2, backoffMs: 5, maxBackoffMs: 50, ttftTimeoutMs: 2000, deadlineMs: 10000, circuitBreaker: { failureThreshold: 1000 } }' },
    );
    const read = await readSse(await streamOpenAI(url, 'cut me once', 20), 'openai');
    expect(read.ending).toBe('complete');
    expect(openAIUsage(read.raw)).toBe(20);
    expect([limitedFront.arrivals.length, flakyFront.arrivals.length]).toEqual([1, 2]);
  });

  it('5b. an endpoint\'s Retry-After is remembered when another endpoint fails in between', async () => {
    const limited = await emulator('m-limited', { faults: { errorRate: 1, errorStatus: 429 } });
    const hung = await emulator('m-hung', { faults: { hangMs: -1 } });
    const front = await proxy(limited.url);
    // Asks for `Retry-After: 1` once, then recovers.
    front.onStatus = (status) => {
      if (status === 429) limited.setFaults({ errorRate: 0 });
    };
    const { url } = await gateway(
      [
        { id: 'limited', url: front.url, model: 'm-limited', cost: 0 },
        { id: 'hung', url: hung.url, model: 'm-hung', cost: 1 },
      ],
      { policy: '[cost]', resilience: '{ retries: 2, backoffMs: 5, maxBackoffMs: 3000, ttftTimeoutMs: 200, deadlineMs: 10000, circuitBreaker: { failureThreshold: 1000 } }' },
    );
    const completion = await openai(url).chat.completions.create({ model: publicModel, messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 });
    expect(completion.choices[0]?.message.content?.length ?? 0).toBeGreaterThan(0);
    // 429 from limited, a TTFT timeout on hung (200 ms), then limited again, no sooner than it asked.
    expect(front.arrivals).toHaveLength(2);
    const [a, b] = front.arrivals;
    expect((b?.at ?? 0) - (a?.at ?? 0)).toBeGreaterThanOrEqual(950);
  });

  /**
   * A slow endpoint (1 s before its first byte: addedLatencyMs is divided by the speed, 200) listed
   * before a fast one, cheaper, each behind a counting proxy, with hedging after `hedgeAfterMs`. A
   * high failure threshold keeps the slow one from being ejected.
   */
  async function slowThenFast(policy: string, hedgeAfterMs: number): Promise<{ url: string; slow: RunningEmulator; slowFront: CountingProxy; fastFront: CountingProxy }> {
    const slow = await emulator('m-slow', { faults: { addedLatencyMs: 200_000 } });
    const fast = await emulator('m-fast');
    const slowFront = await proxy(slow.url);
    const fastFront = await proxy(fast.url);
    const { url } = await gateway(
      [
        { id: 'slow', url: slowFront.url, model: 'm-slow', cost: 0 },
        { id: 'fast', url: fastFront.url, model: 'm-fast', cost: 1 },
      ],
      { policy, resilience: `{ retries: 2, backoffMs: 5, maxBackoffMs: 50, ttftTimeoutMs: 5000, deadlineMs: 10000, hedgeAfterMs: ${hedgeAfterMs}, circuitBreaker: { failureThreshold: 1000 } }` },
    );
    return { url, slow, slowFront, fastFront };
  }

  it("6e. a hedge's losing leg that reaches its first token counts what its endpoint read and wrote", async () => {
    const { url, slow } = await slowThenFast('[cost]', 50);
    const answer = await openai(url).chat.completions.create({ model: publicModel, messages: [{ role: 'user', content: 'hedge and count' }], max_tokens: 10 });
    expect(answer.choices[0]?.finish_reason).toBe('length');
    // The slow leg reaches its first token about a second in, and is let go there.
    await expect.poll(async () => metricValue(await scrape(url), 'switchyard_tokens_total', { endpoint: 'slow', direction: 'output' }), { timeout: 5_000 }).toBeGreaterThanOrEqual(1);
    const metrics = await scrape(url);
    expect(metricValue(metrics, 'switchyard_tokens_total', { endpoint: 'slow', direction: 'input' })).toBe(metricValue(await scrape(slow.url), 'vllm:prompt_tokens_total'));
    // The winner's as before: the answer's usage.
    expect(metricValue(metrics, 'switchyard_tokens_total', { endpoint: 'fast', direction: 'output' })).toBe(answer.usage?.completion_tokens);
  });

  it('6c. when both legs of a hedge fail, each failure counts: the leg that refused the gateway\'s key is not gone back to', async () => {
    // The primary fails with a 500 after 1 s (latency divided by the speed, 200); the hedge's leg, after 100 ms, with a 401 at once.
    const failing = await emulator('m-failing', { faults: { errorRate: 1, errorStatus: 500, addedLatencyMs: 200_000 } });
    const refusing = await emulator('m-refusing', { faults: { errorRate: 1, errorStatus: 401 } });
    const [failingFront, refusingFront] = [await proxy(failing.url), await proxy(refusing.url)];
    const { url } = await gateway(
      [
        { id: 'failing', url: failingFront.url, model: 'm-failing', cost: 0 },
        { id: 'refusing', url: refusingFront.url, model: 'm-refusing', cost: 1 },
      ],
      { policy: '[cost]', resilience: '{ retries: 1, backoffMs: 5, maxBackoffMs: 50, ttftTimeoutMs: 5000, deadlineMs: 10000, hedgeAfterMs: 100, circuitBreaker: { failureThreshold: 1000 } }' },
    );
    const response = await streamOpenAI(url, 'hedge both', 5);
    expect(response.status).toBe(502);
    await response.body?.cancel();
    // The one retry went back to the endpoint that failed with a 500, never to the one that refused the key.
    expect([failingFront.arrivals.length, refusingFront.arrivals.length]).toEqual([2, 1]);
    // Every attempt is counted on its endpoint, the losing leg of the hedge included.
    const metrics = await scrape(url);
    expect([metricValue(metrics, 'switchyard_upstream_attempts_total', { endpoint: 'failing' }), metricValue(metrics, 'switchyard_upstream_attempts_total', { endpoint: 'refusing' })]).toEqual([2, 1]);
  });

  it('6b. hedging under the latency policy: the primary that lost a hedge is known to be slow, and the next requests go where it is fast', async () => {
    const { url, slowFront, fastFront } = await slowThenFast('[latency]', 100);
    for (let n = 0; n < 4; n += 1) await openai(url).chat.completions.create({ model: publicModel, messages: [{ role: 'user', content: `hedge ${n}` }], max_tokens: 5 });
    // Only the first request tried the slow endpoint: it lost its hedge after 100 ms and is ranked by that.
    expect(slowFront.arrivals).toHaveLength(1);
    expect(fastFront.arrivals).toHaveLength(4);
    expect(metricValue(await scrape(url), 'switchyard_hedges_total', { route: publicModel, outcome: 'hedge' })).toBe(1);
  });

  it('6. hedging: with one slow endpoint, requests finish near the fast endpoint latency, and hedges are counted', async () => {
    // By cost the slow endpoint stays first in line: every request is a hedge.
    const { url, slow, slowFront, fastFront } = await slowThenFast('[cost]', 50);
    const oa = openai(url);
    const an = anthropic(url);
    const durations: number[] = [];
    for (let n = 0; n < 6; n += 1) {
      const started = performance.now();
      if (n % 3 === 0) await oa.chat.completions.create({ model: publicModel, messages: [{ role: 'user', content: `hedge ${n}` }], max_tokens: 10 });
      else if (n % 3 === 1) await an.messages.stream({ model: publicModel, max_tokens: 10, messages: [{ role: 'user', content: `hedge ${n}` }] }).finalMessage();
      else expect((await readSse(await streamOpenAI(url, `hedge ${n}`, 10), 'openai')).ending).toBe('complete');
      durations.push(performance.now() - started);
    }
    for (const ms of durations) expect(ms).toBeLessThan(500);
    // Each request went to the slow endpoint first, then hedged to the fast one.
    expect(slowFront.arrivals).toHaveLength(6);
    expect(fastFront.arrivals).toHaveLength(6);
    const metrics = await scrape(url);
    expect(metricValue(metrics, 'switchyard_hedges_total', { route: publicModel, outcome: 'hedge' })).toBe(6);
    expect(metricValue(metrics, 'switchyard_hedges_total', { outcome: 'primary' }) ?? 0).toBe(0);
    // The cancelled primaries are attempts too: the counts match what each endpoint received.
    expect(metricValue(metrics, 'switchyard_upstream_attempts_total', { endpoint: 'slow' })).toBe(6);
    expect(metricValue(metrics, 'switchyard_upstream_attempts_total', { endpoint: 'fast' })).toBe(6);
    // The TTFT recorded is the callers': each waited the 50 ms before the hedge started, at least.
    expect(metricValue(metrics, 'switchyard_ttft_seconds_count', { route: publicModel })).toBe(6);
    expect(metricValue(metrics, 'switchyard_ttft_seconds_sum', { route: publicModel }) ?? 0).toBeGreaterThanOrEqual(6 * 0.05);
    // The losing (slow) attempts were cancelled at their first token (1 s), not left to run on.
    expect(await waitFor(() => slow.stats().running === 0 && slow.stats().waiting === 0, 3000)).toBe(true);
  });

  it('6d. hedging does not hide a hung endpoint from its circuit: the losing leg runs to its TTFT timeout, which counts', async () => {
    const hung = await emulator('m-hung', { faults: { hangMs: -1 } });
    const [hungFront, goodFront] = [await proxy(hung.url), await proxy((await emulator('m-good')).url)];
    const { url } = await gateway(
      [
        { id: 'hung', url: hungFront.url, model: 'm-hung', cost: 0 },
        { id: 'good', url: goodFront.url, model: 'm-good', cost: 1 },
      ],
      { policy: '[cost]', resilience: '{ retries: 2, backoffMs: 5, maxBackoffMs: 50, ttftTimeoutMs: 300, deadlineMs: 10000, hedgeAfterMs: 50, circuitBreaker: { failureThreshold: 3, openMs: 60000 } }' },
    );
    for (let n = 0; n < 3; n += 1) {
      const completion = await openai(url).chat.completions.create({ model: publicModel, messages: [{ role: 'user', content: `hedge ${n}` }], max_tokens: 5 });
      expect(completion.choices[0]?.message.content?.length ?? 0).toBeGreaterThan(0);
    }
    // Each hung leg timed out 300 ms after it began, after its request was answered; the third opened the circuit.
    let circuit: number | undefined;
    for (const until = Date.now() + 3000; Date.now() < until && circuit !== 2; await new Promise((resolve) => setTimeout(resolve, 20))) circuit = metricValue(await scrape(url), 'switchyard_circuit_state', { endpoint: 'hung' });
    expect(circuit).toBe(2);
    expect(await waitFor(() => hung.stats().running === 0 && hung.stats().waiting === 0, 2000)).toBe(true);
    await openai(url).chat.completions.create({ model: publicModel, messages: [{ role: 'user', content: 'after' }], max_tokens: 5 });
    expect([hungFront.arrivals.length, goodFront.arrivals.length]).toEqual([3, 4]);
  });

  it('6d. a losing leg still waiting for its first token does not hold up the gateway\'s close', async () => {
    const hung = await emulator('m-hung', { faults: { hangMs: -1 } });
    const good = await emulator('m-good');
    const started = createGateway({
      config: config(
        [
          { id: 'hung', url: hung.url, model: 'm-hung', cost: 0 },
          { id: 'good', url: good.url, model: 'm-good', cost: 1 },
        ],
        { policy: '[cost]', resilience: '{ retries: 2, backoffMs: 5, maxBackoffMs: 50, ttftTimeoutMs: 60000, deadlineMs: 120000, hedgeAfterMs: 50 }' },
      ),
      logger: false,
    });
    const url = await started.listen(0, '127.0.0.1');
    await openai(url).chat.completions.create({ model: publicModel, messages: [{ role: 'user', content: 'hedged' }], max_tokens: 5 });
    expect(hung.stats().running + hung.stats().waiting).toBe(1);
    let closed = false;
    void started.close().then(() => {
      closed = true;
    });
    // Not the 60 s TTFT timeout of the hung leg: it is cut with the upstream connections.
    expect(await waitFor(() => closed, 5000)).toBe(true);
    expect(await waitFor(() => hung.stats().running + hung.stats().waiting === 0, 2000)).toBe(true);
  });

  it('6b. a hedge that lost only by being slower is where a stream the winner breaks is resumed', async () => {
    // The cheap endpoint answers first (0.2 s) and cuts after 3 tokens; the other is healthy but slower (0.4 s).
    const cutting = await emulator('m-cut', { faults: { addedLatencyMs: 40_000, cutAfterTokens: 3 } });
    const slower = await emulator('m-slower', { faults: { addedLatencyMs: 80_000 } });
    const cuttingFront = await proxy(cutting.url);
    const slowerFront = await proxy(slower.url);
    const { url } = await gateway(
      [
        { id: 'cutting', url: cuttingFront.url, model: 'm-cut', cost: 0 },
        { id: 'slower', url: slowerFront.url, model: 'm-slower', cost: 1 },
      ],
      { policy: '[cost]', resilience: '{ retries: 2, backoffMs: 5, maxBackoffMs: 50, ttftTimeoutMs: 5000, deadlineMs: 10000, hedgeAfterMs: 100, resumeStreams: true, circuitBreaker: { failureThreshold: 1000 } }' },
    );
    const read = await readSse(await streamOpenAI(url, 'hedge then cut', 20), 'openai');
    expect(read.ending).toBe('complete');
    expect(openAIUsage(read.raw)).toBe(20);
    // The first request to the slower endpoint was the cancelled hedge, the second the resume.
    expect(cuttingFront.arrivals).toHaveLength(1);
    expect(slowerFront.arrivals).toHaveLength(2);
    expect(metricValue(await scrape(url), 'switchyard_stream_resumes_total', { route: publicModel, outcome: 'resumed' })).toBe(1);
  });

  describe('7. a client that disconnects cancels its upstream request', () => {
    async function single(): Promise<{ url: string; replica: RunningEmulator }> {
      // Slow and long: an answer takes seconds, so only a cancellation frees the slot quickly.
      const replica = await emulator('m-long', { speed: 2, outputTokens: 4000 });
      const { url } = await gateway([{ id: 'long', url: replica.url, model: 'm-long' }]);
      return { url, replica };
    }

    it.each(['openai', 'anthropic'] as const)('mid-stream (%s dialect)', async (dialect) => {
      const { url, replica } = await single();
      const abort = new AbortController();
      const response = dialect === 'openai' ? await streamOpenAI(url, 'a long story please', 3000, abort.signal) : await streamAnthropic(url, 'a long story please', 3000, abort.signal);
      expect(response.status).toBe(200);
      const reader = response.body?.getReader();
      if (reader === undefined) throw new Error('no body');
      let seen = '';
      while (!seen.includes('text') && !seen.includes('content')) {
        const chunk = await reader.read();
        if (chunk.done) throw new Error('the stream ended before the client could walk away');
        seen += new TextDecoder().decode(chunk.value);
      }
      expect(replica.stats().running).toBe(1);
      abort.abort();
      await reader.cancel().catch(() => undefined);
      expect(await waitFor(() => replica.stats().running === 0, 1000)).toBe(true);
    });

    // Regression, fixed (src/gateway/gateway-server.ts, pump(), lines 414-417): when the client goes away mid-stream, pump
    // returns without any circuit event. If that stream was the half-open probe, its probe slot is never
    // released ('probe-cancel'), so the endpoint stays half-open with a probe "in flight" for ever: no request is
    // routed to it again (503 "1 half-open probe in flight") although it is healthy.
    /**
     * One long-answering endpoint whose circuit one failure opened, recovered by now and half-open:
     * the next request is its probe, a long stream, read up to its first tokens.
     */
    async function probingRecoveredEndpoint(extraResilience = ''): Promise<{ url: string; replica: RunningEmulator; ask: () => Promise<Response>; abort: AbortController; reader: ReadableStreamDefaultReader<Uint8Array> }> {
      const replica = await emulator('m-long', { speed: 2, outputTokens: 4000, faults: { errorRate: 1, errorStatus: 500 } });
      const { url } = await gateway([{ id: 'long', url: replica.url, model: 'm-long' }], {
        resilience: `{ retries: 0, ${extraResilience}backoffMs: 5, maxBackoffMs: 50, ttftTimeoutMs: 2000, deadlineMs: 10000, circuitBreaker: { failureThreshold: 1, openMs: 200, halfOpenProbes: 1 } }`,
      });
      const ask = (): Promise<Response> =>
        fetch(`${url}/v1/chat/completions`, {
          method: 'POST',
          headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
          body: JSON.stringify({ model: publicModel, messages: [{ role: 'user', content: 'short' }], max_tokens: 5 }),
        });
      // One failure opens the circuit; the replica then recovers.
      expect((await ask()).status).toBe(502);
      replica.setFaults({ errorRate: 0 });
      await delay(250);
      const abort = new AbortController();
      const probe = await streamOpenAI(url, 'a long story please', 3000, abort.signal);
      const reader = probe.body?.getReader();
      if (reader === undefined) throw new Error('no body');
      await reader.read();
      return { url, replica, ask, abort, reader };
    }

    it('a client that walks away from a half-open probe stream does not wedge the circuit', async () => {
      // The probe is a stream the client abandons after its first tokens.
      const { replica, ask, abort, reader } = await probingRecoveredEndpoint();
      abort.abort();
      await reader.cancel().catch(() => undefined);
      expect(await waitFor(() => replica.stats().running === 0, 1000)).toBe(true);
      // Well past openMs: the healthy replica must be probed (and serve) again.
      await delay(300);
      const after = await ask();
      expect(await after.text()).not.toMatch(/half-open probe in flight/);
      expect(after.status).toBe(200);
    });

    it('a recovered endpoint takes requests again once its probe has a first token, not when its long answer ends', async () => {
      // The probe's long stream is still running while the next request arrives.
      const { replica, ask, abort, reader } = await probingRecoveredEndpoint('panicRouting: false, ');
      try {
        const during = await ask();
        expect(await during.text()).not.toMatch(/half-open probe in flight/);
        expect(during.status).toBe(200);
        expect(replica.stats().running).toBeGreaterThanOrEqual(1); // the probe's answer goes on
      } finally {
        abort.abort();
        await reader.cancel().catch(() => undefined);
      }
    });

    it('while waiting for a non-stream answer', async () => {
      const { url, replica } = await single();
      const abort = new AbortController();
      const pending = fetch(`${url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: publicModel, messages: [{ role: 'user', content: 'a long story please' }], max_tokens: 3000 }),
        signal: abort.signal,
      }).catch((error: unknown) => error);
      expect(await waitFor(() => replica.stats().running === 1, 2000)).toBe(true);
      abort.abort();
      await pending;
      expect(await waitFor(() => replica.stats().running === 0, 1000)).toBe(true);
    });
  });
});

describe('a stream that crawls (E56)', () => {
  /** An upstream that sends `tokens` tokens `c1 c2 ...`, each after the next of `gapsMs` (cycled), then stops. */
  async function dripping(gapsMs: readonly number[], tokens: number): Promise<ScriptedUpstream> {
    const upstream = await startScriptedUpstream((res) => {
      res.write(openAIChunk({ role: 'assistant', content: '' }));
      let sent = 0;
      let timer: NodeJS.Timeout | undefined;
      const next = (): void => {
        timer = setTimeout(() => {
          sent += 1;
          res.write(openAIChunk({ content: `c${String(sent)} ` }));
          if (sent < tokens) next();
          else res.end(`${openAIChunk({}, 'stop')}data: [DONE]\n\n`);
        }, gapsMs[sent % gapsMs.length]);
      };
      next();
      res.on('close', () => clearTimeout(timer));
    });
    cleanups.push(() => upstream.close());
    return upstream;
  }
  const resilience = (deadlineMs: number): string => `{ retries: 2, backoffMs: 5, maxBackoffMs: 50, ttftTimeoutMs: 2000, tokenIdleTimeoutMs: 200, deadlineMs: ${String(deadlineMs)} }`;

  it('is cut after eight gaps in a row each over half the stall timeout, at a pace that would miss the deadline, and resumed elsewhere', async () => {
    // A token every 180 ms under a 200 ms stall timeout: never silent long enough to be a stall; 40
    // tokens at that pace take 7 s, past the 4 s deadline.
    const crawling = await dripping([180], 1000);
    const healthy = await emulator('m');
    const { url } = await gateway(
      [
        { id: 'crawling', url: crawling.url, model: 'm', cost: 0 },
        { id: 'healthy', url: healthy.url, model: 'm', cost: 1 },
      ],
      { policy: '[cost]', resilience: resilience(4000) },
    );
    const started = Date.now();
    const streamed = await readSse(await streamOpenAI(url, 'hi', 40), 'openai');
    expect(streamed.ending).toBe('complete');
    // The first token, then eight more each 180 ms after the last: cut after the ninth, resumed.
    expect(streamed.text.startsWith('c1 c2 c3 c4 c5 c6 c7 c8 c9')).toBe(true);
    expect(streamed.text.includes('c10')).toBe(false);
    expect(Date.now() - started).toBeLessThan(4000);
    const scraped = await scrape(url);
    expect(metricValue(scraped, 'switchyard_stream_resumes_total', { route: publicModel, outcome: 'resumed' })).toBe(1);
    // Counted against the crawling endpoint, as a stall is.
    expect(metricValue(scraped, 'switchyard_upstream_errors_total', { endpoint: 'crawling', status: 'stream' })).toBe(1);
  });

  it('is not a stream with slow gaps that a quicker one breaks, however long it takes', async () => {
    const uneven = await dripping([130, 130, 130, 130, 130, 130, 130, 10], 24);
    const { url } = await gateway([{ id: 'uneven', url: uneven.url, model: 'm', cost: 0 }], { policy: '[cost]', resilience: resilience(10000) });
    const streamed = await readSse(await streamOpenAI(url, 'hi', 40), 'openai');
    expect(streamed.ending).toBe('complete');
    expect(streamed.text.trim().split(' ')).toHaveLength(24);
    expect(metricValue(await scrape(url), 'switchyard_stream_resumes_total', { route: publicModel, outcome: 'resumed' }) ?? 0).toBe(0);
  });

  it('is left to finish when its pace meets the deadline, or when no resume could take it over (R72)', async () => {
    // Twelve tokens at 180 ms: 2.2 s, inside the 4 s deadline. Plain text asking for no more than
    // that, and JSON (which cannot be continued) asking for more: both finish where they are.
    // And plain text asking for no budget at all: as much again as has come is expected (R73).
    for (const shape of [{ max_tokens: 12 }, { max_tokens: 40, response_format: { type: 'json_object' } }, {}]) {
      const slow = await dripping([180], 12);
      const { url } = await gateway([{ id: 'slow', url: slow.url, model: 'm', cost: 0 }], { policy: '[cost]', resilience: resilience(4000) });
      const response = await fetch(`${url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: publicModel, messages: [{ role: 'user', content: 'answer in JSON' }], stream: true, ...shape }),
      });
      const streamed = await readSse(response, 'openai');
      expect(streamed.ending).toBe('complete');
      expect(streamed.text.trim().split(' ')).toHaveLength(12);
      expect(slow.arrivals()).toBe(1);
    }
  });

  it('says why it was cut when no resume could take it over', async () => {
    const crawling = await dripping([180], 1000);
    const broken = await startScriptedUpstream((res) => res.end(JSON.stringify({ error: { message: 'down', type: 'server_error' } })), { status: 500, contentType: 'application/json' });
    cleanups.push(() => broken.close());
    const { url } = await gateway(
      [
        { id: 'crawling', url: crawling.url, model: 'm', cost: 0 },
        { id: 'broken', url: broken.url, model: 'm', cost: 1 },
      ],
      { policy: '[cost]', resilience: '{ retries: 0, backoffMs: 5, maxBackoffMs: 50, ttftTimeoutMs: 2000, tokenIdleTimeoutMs: 200, deadlineMs: 6000 }' },
    );
    const streamed = await readSse(await streamOpenAI(url, 'hi', 40), 'openai');
    expect(streamed.ending).toBe('error-event');
    expect(streamed.raw).toContain('could not be resumed: tokens came more than 100 ms apart, 8 times in a row; then ');
  });

  it('is not cut on the event that makes it one no resume could take over: a tool call begun (R73)', async () => {
    const calling = await startScriptedUpstream((res) => {
      res.write(openAIChunk({ role: 'assistant', content: '' }));
      let sent = 0;
      const timer = setInterval(() => {
        sent += 1;
        if (sent <= 8) {
          res.write(openAIChunk({ content: `c${String(sent)} ` }));
          return;
        }
        if (sent === 9) {
          res.write(openAIChunk({ tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: 'lookup', arguments: '{}' } }] }));
          return;
        }
        clearInterval(timer);
        res.end(`${openAIChunk({}, 'tool_calls')}data: [DONE]\n\n`);
      }, 180);
      res.on('close', () => clearInterval(timer));
    });
    cleanups.push(() => calling.close());
    const healthy = await emulator('m');
    const { url } = await gateway(
      [
        { id: 'calling', url: calling.url, model: 'm', cost: 0 },
        { id: 'healthy', url: healthy.url, model: 'm', cost: 1 },
      ],
      { policy: '[cost]', resilience: resilience(4000) },
    );
    const response = await fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: publicModel, messages: [{ role: 'user', content: 'look it up' }], max_tokens: 40, stream: true, tools: [{ type: 'function', function: { name: 'lookup', parameters: { type: 'object', properties: {} } } }] }),
    });
    const streamed = await readSse(response, 'openai');
    expect(streamed.ending).toBe('complete');
    expect(streamed.raw).toContain('"finish_reason":"tool_calls"');
    expect(calling.arrivals()).toBe(1);
  });
});
