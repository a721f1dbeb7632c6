import { connect, type Socket } from 'node:net';
import { Worker } from 'node:worker_threads';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { createGateway } from '../../src/gateway/gateway-server.js';
import { MemoryRateLimitStore, tenantLimitState, type BucketLevel, type BucketRule, type BucketTake, type RateLimitStore } from '../../src/gateway/token-bucket.js';
import { DeferredRateLimitStore } from './helpers/deferred-rate-limit-store.js';
import { closedAfterEach, delay, metricValue, openAIChunk, scrape, singleEndpointConfig, startScriptedUpstream, startTestEmulator, waitFor } from './helpers/fleet.js';

// Tenant limits kept in a store that answers later, as one shared by several gateway processes
// across a network does: the limits hold across the gateways, a refund reaches the store, and a
// store out of reach admits nothing (a 503 the caller may retry) while the gateway keeps serving.

const apiKey = 'sk-shared-limits';
const { cleanups } = closedAfterEach();

async function gateways(count: number, rateLimits: RateLimitStore, limits: { readonly requestsPerMinute?: number; readonly tokensPerMinute?: number }): Promise<string[]> {
  const replica = await startTestEmulator({ servedModelName: 'm' });
  cleanups.push(() => replica.close());
  const urls: string[] = [];
  for (let index = 0; index < count; index += 1) {
    const gateway = createGateway({ config: singleEndpointConfig(replica.url, apiKey, '', 'openai', limits), logger: false, rateLimits });
    cleanups.push(() => gateway.close());
    urls.push(await gateway.listen(0, '127.0.0.1'));
  }
  return urls;
}

/** One gateway over the store, its log lines kept. */
async function loggedGateway(rateLimits: RateLimitStore): Promise<{ readonly url: string; readonly lines: string[] }> {
  const lines: string[] = [];
  const replica = await startTestEmulator({ servedModelName: 'm' });
  cleanups.push(() => replica.close());
  const gateway = createGateway({ config: singleEndpointConfig(replica.url, apiKey), logger: pino({ base: null }, { write: (line: string) => lines.push(line) }), rateLimits });
  cleanups.push(() => gateway.close());
  return { url: await gateway.listen(0, '127.0.0.1'), lines };
}

const chat = (url: string, maxTokens = 8): Promise<Response> =>
  fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', max_tokens: maxTokens, messages: [{ role: 'user', content: 'hi' }] }) });

describe('tenant limits in a store that answers later', () => {
  it('one limit across two gateways sharing the store: the fourth request of three a minute is refused, on either', async () => {
    const store = new DeferredRateLimitStore();
    const [first = '', second = ''] = await gateways(2, store, { requestsPerMinute: 3 });
    const statuses: number[] = [];
    // The bucket refills from the first take, which comes after this.
    const started = Date.now();
    for (const url of [first, second, first, second]) {
      const response = await chat(url);
      await response.arrayBuffer();
      statuses.push(response.status);
    }
    expect(statuses).toEqual([200, 200, 200, 429]);
    const refused = await chat(first);
    expect(refused.status).toBe(429);
    // One request back 20 s after the first at 3 a minute, less the time these took (over a second on
    // a busy machine); the headers say so as a memory store's would.
    const elapsed = Date.now() - started;
    const retryAfterMs = Number(refused.headers.get('retry-after-ms'));
    expect(retryAfterMs).toBeGreaterThanOrEqual(20_000 - elapsed - 1);
    expect(retryAfterMs).toBeLessThanOrEqual(20_000);
    expect(refused.headers.get('x-ratelimit-remaining-requests')).toBe('0');
    expect(store.calls).toBeGreaterThanOrEqual(5);
  });

  it('an answer that used less than its estimate is refunded in the store: the next such request fits', async () => {
    const store = new DeferredRateLimitStore();
    const [url = ''] = await gateways(1, store, { tokensPerMinute: 6000 });
    // 5,000 tokens estimated (the budget), a few used: without the refund the second would wait.
    for (let index = 0; index < 2; index += 1) {
      const response = await chat(url, 5000);
      expect(response.status).toBe(200);
      const answer = (await response.json()) as { usage: { total_tokens: number } };
      expect(answer.usage.total_tokens).toBeLessThan(1000);
      // The refund reaches the store after the answer: wait for it, as a later request would.
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  });

  it('a settlement the store fails is logged, and the answer and the gateway are unharmed', async () => {
    const store = new DeferredRateLimitStore();
    const { url, lines } = await loggedGateway(store);
    store.failingSettlements = true;
    const served = await chat(url, 5000);
    expect(served.status).toBe(200);
    await served.arrayBuffer();
    await expect.poll(() => lines.map((line) => (JSON.parse(line) as { msg: string }).msg)).toContain('rate-limit store failed to settle a charge');
    store.failingSettlements = false;
    expect((await chat(url)).status).toBe(200);
  });

  it('a store out of reach admits nothing: a 503 saying why, retried once it answers again', async () => {
    const store = new DeferredRateLimitStore();
    const { url, lines } = await loggedGateway(store);
    store.failing = true;
    const refused = await chat(url);
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(((await refused.json()) as { error: { message: string } }).error.message).toBe("the gateway could not check the tenant's rate limits (its limit store did not answer); retry the request");
    // Logged, without the store's connection string (its password) that the error quoted.
    expect(lines.some((line) => line.includes('"msg":"rate-limit store failed"'))).toBe(true);
    expect(lines.join('\n')).not.toContain('hunter2');
    store.failing = false;
    const served = await chat(url);
    expect(served.status).toBe(200);
    await served.arrayBuffer();
  });
});

/** A store that answers at once but may throw, as a local one (SQLite, say) can. */
class ThrowingStore extends MemoryRateLimitStore {
  throwOnTake = false;
  throwOnAdjust = false;
  /** Throws on reads alone (takes of nothing), as the limit headers after a settlement make. */
  throwOnRead = false;

  override take(takes: readonly BucketTake[], now: number): ReturnType<MemoryRateLimitStore['take']> {
    if (this.throwOnTake || (this.throwOnRead && takes.every((take) => take.cost === 0))) throw new Error('SQLITE_BUSY while opening file:limits.db?password=hunter2secret');
    return super.take(takes, now);
  }

  override adjust(bucket: BucketRule, amount: number, now: number): number {
    if (this.throwOnAdjust) throw new Error('AUTH hunter2secret refused');
    return super.adjust(bucket, amount, now);
  }
}

describe('a request waiting on the store', () => {
  // A limit that refills slowly (1,000 tokens a second): a refund the gateway failed to make shows as
  // a bucket short of full when read (R56: at 100 million a minute it refilled in 3 ms, and the
  // 'given back' checks passed with no refund).
  const tenant = { id: 't', requestsPerMinute: 1000, tokensPerMinute: 60_000 };

  /** A gateway over an upstream that counts what reaches it, its store holding answers back; its log lines kept. */
  async function held(): Promise<{ readonly url: string; readonly store: DeferredRateLimitStore; readonly release: () => void; readonly arrivals: () => number; readonly gateway: ReturnType<typeof createGateway>; readonly upstreamUrl: string; readonly lines: string[] }> {
    const upstream = await startScriptedUpstream((res) => res.end(openAIChunk({ role: 'assistant', content: 'hi' }, 'stop') + 'data: [DONE]\n\n'));
    cleanups.push(() => upstream.close());
    const store = new DeferredRateLimitStore();
    const lines: string[] = [];
    const gateway = createGateway({ config: singleEndpointConfig(upstream.url, apiKey, '', 'openai', tenant), logger: pino({ base: null }, { write: (line: string) => lines.push(line) }), rateLimits: store });
    cleanups.push(() => gateway.close());
    const url = await gateway.listen(0, '127.0.0.1');
    const release = store.hold();
    cleanups.push(() => Promise.resolve(release()));
    return { url, store, release, arrivals: upstream.arrivals, gateway, upstreamUrl: upstream.url, lines };
  }

  /** A request whose client leaves once the store has been asked, then the store's answers let go. */
  async function leaveDuringAdmission(url: string, store: DeferredRateLimitStore, release: () => void): Promise<void> {
    const leaving = new AbortController();
    const request = fetch(`${url}/v1/chat/completions`, { method: 'POST', signal: leaving.signal, headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', max_tokens: 5000, messages: [{ role: 'user', content: 'hi' }] }) }).catch(() => undefined);
    expect(await waitFor(() => store.calls >= 1, 5000)).toBe(true);
    leaving.abort();
    await request;
    await delay(50);
    release();
  }

  it('a client that leaves: nothing goes upstream, and the tokens its admission took are given back', async () => {
    const { url, store, release, arrivals } = await held();
    await leaveDuringAdmission(url, store, release);
    await delay(50);
    expect(arrivals()).toBe(0);
    expect((await tenantLimitState(store.inner, tenant, Date.now())).tokens.remaining).toBe(tenant.tokensPerMinute);
  });

  it('a client that leaves while a store that then fails its refund holds the admission: the failure is logged', async () => {
    const { url, store, release, arrivals, lines } = await held();
    store.failingSettlements = true;
    await leaveDuringAdmission(url, store, release);
    await expect.poll(() => lines.map((line) => (JSON.parse(line) as { msg: string }).msg)).toContain('rate-limit store failed to settle a charge');
    expect(arrivals()).toBe(0);
    expect(lines.join('\n')).not.toContain('hunter2');
  });

  it('a key a reload takes away meanwhile: a 401, nothing upstream, the tokens given back', async () => {
    const { url, store, release, arrivals, gateway, upstreamUrl } = await held();
    const request = chat(url, 5000);
    expect(await waitFor(() => store.calls >= 1, 5000)).toBe(true);
    expect(gateway.reload({ ok: true, value: singleEndpointConfig(upstreamUrl, 'sk-another-key', '', 'openai', tenant) })).toMatchObject({ apply: true });
    release();
    const refused = await request;
    expect(refused.status).toBe(401);
    await delay(50);
    expect(arrivals()).toBe(0);
    expect((await tenantLimitState(store.inner, tenant, Date.now())).tokens.remaining).toBe(tenant.tokensPerMinute);
  });

  it('a shutdown meanwhile: a 503 saying so, not a cut connection', async () => {
    const { url, store, gateway } = await held();
    const request = chat(url);
    expect(await waitFor(() => store.calls >= 1, 5000)).toBe(true);
    const closing = gateway.close({ graceMs: 0 });
    const refused = await request;
    expect(refused.status).toBe(503);
    expect(((await refused.json()) as { error: { message: string } }).error.message).toBe('the gateway is shutting down; retry the request');
    await closing;
  });

  it('a store that does not answer: a 503 after a second, not a request held for ever', async () => {
    const { url } = await held();
    const started = performance.now();
    const refused = await chat(url);
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(performance.now() - started).toBeGreaterThanOrEqual(990);
  });

  it('a store that throws at once: a 503 at admission, and at settlement nothing lost but the refund', async () => {
    const store = new ThrowingStore();
    const { url, lines } = await loggedGateway(store);
    store.throwOnTake = true;
    const refused = await chat(url);
    expect(refused.status).toBe(503);
    store.throwOnTake = false;
    store.throwOnAdjust = true;
    const served = await chat(url, 5000);
    expect(served.status).toBe(200);
    const answer = (await served.json()) as { choices: { message: { content: string } }[]; usage: { total_tokens: number } };
    expect(answer.choices[0]?.message.content.length).toBeGreaterThan(0);
    // The charge stays as admitted (the 5,000-token budget and the prompt), and the metric says so, not the usage.
    const charged = metricValue(await scrape(url), 'switchyard_tenant_tokens_total', { tenant: 't' }) ?? 0;
    expect(charged).toBeGreaterThan(5000);
    expect(charged).not.toBe(answer.usage.total_tokens);
    const messages = lines.map((line) => (JSON.parse(line) as { msg: string }).msg);
    expect(messages).toContain('rate-limit store failed');
    expect(messages).toContain('rate-limit store failed to settle a charge');
    // The store's text is not logged at all: it quoted a password in two forms no pattern would know.
    expect(lines.join('\n')).not.toContain('hunter2');
  });

  it("a store that throws reading the limits after a settlement: the answer is served, the failure logged (its text not)", async () => {
    const store = new ThrowingStore();
    const { url, lines } = await loggedGateway(store);
    store.throwOnRead = true;
    const served = await chat(url, 5000);
    expect(served.status).toBe(200);
    // The headers admission wrote stand.
    expect(served.headers.get('x-ratelimit-limit-requests')).toBe('1000');
    await served.arrayBuffer();
    expect(lines.map((line) => (JSON.parse(line) as { msg: string }).msg)).toContain('rate-limit store failed to settle a charge');
    expect(lines.join('\n')).not.toContain('hunter2');
  });

  it('a store that answered in time while the gateway was held up (a large body parsed) is not taken for one that did not answer', async () => {
    // The store answers across a socket from another thread, at once; the gateway's thread is
    // held for 1.2 s right after asking, past the 1 s bound: the answer waits unread meanwhile.
    // Resets at cleanup (the client's socket destroyed with an echo in flight) are heard on both ends:
    // unheard, the worker's became an unhandled error that failed a CI run (2026-11-30).
    const echo = new Worker("const { createServer } = require('node:net'); const { parentPort } = require('node:worker_threads'); const server = createServer((socket) => { socket.on('error', () => undefined); socket.on('data', (data) => socket.write(data)); }); server.listen(0, '127.0.0.1', () => parentPort.postMessage(server.address().port));", { eval: true });
    cleanups.push(async () => void (await echo.terminate()));
    const port = await new Promise<number>((resolve) => echo.once('message', resolve));
    // Heard once it serves (a failure to start still fails the test, not hangs it: R28).
    echo.on('error', () => undefined);
    const socket = connect(port, '127.0.0.1');
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    socket.on('error', () => undefined);
    cleanups.push(() => Promise.resolve(void socket.destroy()));
    const store = new SocketStore(socket);
    const { url } = await loggedGateway(store);
    const fine = await chat(url);
    expect(fine.status).toBe(200);
    await fine.arrayBuffer();
    store.holdAfterNextTake = 1200;
    const held = await chat(url);
    expect(held.status).toBe(200);
    await held.arrayBuffer();
  });
});

/** A store across a socket (each operation answered by an echo), as Redis would be; it can hold the gateway's thread just after a take. */
class SocketStore implements RateLimitStore {
  readonly inner = new MemoryRateLimitStore();
  holdAfterNextTake = 0;
  private readonly pending: (() => void)[] = [];

  constructor(private readonly socket: Socket) {
    socket.on('data', (data: Buffer) => {
      for (let index = 0; index < data.length; index += 1) this.pending.shift()?.();
    });
  }

  take(takes: readonly BucketTake[], now: number): Promise<readonly BucketLevel[]> {
    const answer = this.send(this.inner.take(takes, now));
    if (this.holdAfterNextTake > 0) {
      const ms = this.holdAfterNextTake;
      this.holdAfterNextTake = 0;
      setImmediate(() => {
        const end = Date.now() + ms;
        while (Date.now() < end) {
          // held: nothing else runs on this thread meanwhile
        }
      });
    }
    return answer;
  }

  adjust(bucket: BucketRule, amount: number, now: number): Promise<number> {
    return this.send(this.inner.adjust(bucket, amount, now));
  }

  private send<T>(value: T): Promise<T> {
    return new Promise((resolve) => {
      this.pending.push(() => resolve(value));
      this.socket.write('x');
    });
  }
}

