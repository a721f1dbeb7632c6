// Which ends of attempts judge an endpoint's circuit, driven through startAttempt and
// releaseAttempt with a fake upstream and a real EndpointPool (R75's reproductions).
import { expect, it } from 'vitest';
import { Cancellation } from '../../src/gateway/cancellation.js';
import { EndpointPool } from '../../src/gateway/endpoint-pool.js';
import { releaseAttempt, startAttempt, type Attempt, type StreamAttempt } from '../../src/gateway/upstream-attempt.js';
import { singleEndpointConfig } from './helpers/fleet.js';

type Reply = { kind: 'stream' } | { kind: 'error'; status: number };

function harness(breaker: string) {
  let now = 1_000_000;
  const config = singleEndpointConfig('http://127.0.0.1:9', 'sk-verdicts', `{ circuitBreaker: ${breaker} }`);
  const pool = new EndpointPool(config, {}, () => now);
  const endpoint = pool.get('up');
  if (endpoint === undefined) throw new Error('config');
  const pending: ((r: Reply) => void)[] = [];
  const core = {
    now: () => now,
    endpoints: pool,
    closing: () => false,
    metrics: { upstreamErrors: { inc: () => undefined } },
    upstream: {
      send: () =>
        new Promise((resolve) => {
          pending.push((reply) => {
            if (reply.kind === 'error') return resolve({ kind: 'error', status: reply.status, message: 'x', fromUpstream: true, retryAfter: undefined });
            async function* events() {
              yield { type: 'text', text: 'hi' };
            }
            resolve({ kind: 'stream', events: events() });
          });
        }),
    },
  } as never;
  const parent = new Cancellation();
  const send = (): { reply: (r: Reply) => void; result: Promise<Attempt> } => {
    const result = startAttempt(core, endpoint, { model: 'm', messages: [{ role: 'user', content: 'hi' }] } as never, parent, 600_000);
    const reply = pending.at(-1);
    if (reply === undefined) throw new Error('no send');
    return { reply, result };
  };
  /** Sends an attempt that fails with a 500, `times` times one after another. */
  const fail = async (times: number): Promise<void> => {
    for (let i = 0; i < times; i += 1) {
      const failing = send();
      failing.reply({ kind: 'error', status: 500 });
      await failing.result;
    }
  };
  return { pool, endpoint, core, send, fail, advance: (ms: number) => (now += ms) };
}

it('a first token of an attempt sent while closed, with the circuit open since and its open time over, gives no verdict', async () => {
  const h = harness('{ failureThreshold: 2, windowMs: 60000, openMs: 1000 }');
  const old = h.send(); // sent closed: attempt 1
  const f1 = h.send();
  const f2 = h.send();
  f1.reply({ kind: 'error', status: 500 });
  await f1.result;
  f2.reply({ kind: 'error', status: 500 });
  await f2.result;
  expect(h.pool.circuitOf(h.endpoint)).toBe('open');
  h.advance(1500); // raw 'open', seen half-open
  old.reply({ kind: 'stream' });
  const a = (await old.result) as StreamAttempt;
  expect(a.kind).toBe('stream');
  expect(h.endpoint.circuit.status).toBe('open');
  expect(h.pool.circuitOf(h.endpoint)).toBe('half-open');
  releaseAttempt(h.core, a, 'success');
  expect(h.pool.circuitOf(h.endpoint)).toBe('half-open');
});

it('nor with a probe in flight: the probe decides', async () => {
  const h = harness('{ failureThreshold: 2, windowMs: 60000, openMs: 1000 }');
  const old = h.send();
  await h.fail(2);
  h.advance(1500);
  const probe = h.send();
  expect(h.endpoint.circuit).toMatchObject({ status: 'half-open', probesInFlight: 1 });
  old.reply({ kind: 'stream' });
  await old.result;
  expect(h.endpoint.circuit).toMatchObject({ status: 'half-open', probesInFlight: 1 });
  probe.reply({ kind: 'error', status: 500 });
  await probe.result;
  expect(h.endpoint.circuit.status).toBe('open');
});

it('a panic-routed attempt sent while open, the circuit reopened by a failed probe before its first token: it closes the circuit, and its break reopens it (a relapse)', async () => {
  const h = harness('{ failureThreshold: 2, windowMs: 60000, openMs: 1000 }');
  await h.fail(2);
  expect(h.pool.circuitOf(h.endpoint)).toBe('open');
  const ejected = h.send(); // panic-routed: sent while open
  h.advance(1500);
  const probe = h.send(); // probe in the half-open
  probe.reply({ kind: 'error', status: 500 });
  await probe.result; // open again, openedAtAttempt covers the ejected attempt
  expect(h.endpoint.circuit).toMatchObject({ status: 'open', failedProbes: 1 });
  ejected.reply({ kind: 'stream' });
  const a = (await ejected.result) as StreamAttempt;
  expect(h.pool.circuitOf(h.endpoint)).toBe('closed'); // 'recovered' closed it
  expect(h.endpoint.closedByAttempt).toBe(a.number);
  // Its answer breaks: the attempt that closed the circuit failed after all.
  releaseAttempt(h.core, a, 'failure');
  expect(h.endpoint.circuit.status).toBe('open');
});

it('two probes at once, one failing and reopening it, the other closing it at its first token after the doubled open time: its break reopens it (a relapse)', async () => {
  const h = harness('{ failureThreshold: 2, windowMs: 60000, openMs: 1000, halfOpenProbes: 2 }');
  await h.fail(2);
  h.advance(1500);
  const p1 = h.send();
  const p2 = h.send();
  p1.reply({ kind: 'error', status: 500 });
  await p1.result;
  expect(h.endpoint.circuit).toMatchObject({ status: 'open', failedProbes: 1 });
  h.advance(2500);
  p2.reply({ kind: 'stream' });
  const a = (await p2.result) as StreamAttempt;
  expect(h.pool.circuitOf(h.endpoint)).toBe('closed');
  releaseAttempt(h.core, a, 'failure');
  expect(h.endpoint.circuit.status).toBe('open');
});

it('a first token of an attempt sent before the last opening does not end the run of failures after a probe closed the circuit', async () => {
  const h = harness('{ failureThreshold: 2, windowMs: 1, openMs: 1000 }');
  const old = h.send();
  for (let i = 0; i < 2; i += 1) {
    const f = h.send();
    h.advance(10);
    f.reply({ kind: 'error', status: 500 });
    await f.result;
  }
  h.advance(1500);
  const probe = h.send();
  probe.reply({ kind: 'stream' });
  const p = (await probe.result) as StreamAttempt;
  releaseAttempt(h.core, p, 'success');
  const f = h.send();
  h.advance(10);
  f.reply({ kind: 'error', status: 500 });
  await f.result;
  expect(h.endpoint.circuit).toMatchObject({ status: 'closed', streak: 1 });
  old.reply({ kind: 'stream' });
  const o = (await old.result) as StreamAttempt;
  expect(h.pool.sentBeforeOpening(h.endpoint, o.number)).toBe(true);
  expect(h.endpoint.circuit).toMatchObject({ status: 'closed', streak: 1 });
});

it('a probe of an earlier half-open that ends with no verdict frees no slot of the current probe', async () => {
  const h = harness('{ failureThreshold: 2, windowMs: 60000, openMs: 1000, halfOpenProbes: 2 }');
  await h.fail(2);
  h.advance(1500);
  const p1 = h.send();
  const p2 = h.send();
  p1.reply({ kind: 'error', status: 500 });
  await p1.result; // open, failedProbes 1
  h.advance(2500);
  const p3 = h.send(); // the new half-open's probe
  expect(h.endpoint.circuit).toMatchObject({ status: 'half-open', probesInFlight: 1 });
  p2.reply({ kind: 'error', status: 429 }); // not the endpoint's fault: probe-cancel
  await p2.result;
  expect(h.endpoint.circuit).toMatchObject({ status: 'half-open', probesInFlight: 1 });
  void p3;
});

/** Opens the circuit (threshold 2), then fails `failedProbes` probes in a row, and waits out the last open time. */
async function openWithFailedProbes(h: ReturnType<typeof harness>, failedProbes: number): Promise<void> {
  await h.fail(2);
  for (let probe = 0; probe < failedProbes; probe += 1) {
    h.advance(1000 * 2 ** probe + 1);
    await h.fail(1);
  }
  expect(h.endpoint.circuit).toMatchObject({ status: 'open', failedProbes });
  h.advance(1000 * 2 ** failedProbes + 1);
}

it("a second probe's first token, the circuit closed already by the first's, does not end the probation: the first's break reopens it for one more doubling (R76)", async () => {
  const h = harness('{ failureThreshold: 2, windowMs: 60000, openMs: 1000, halfOpenProbes: 2 }');
  await openWithFailedProbes(h, 3);
  const first = h.send();
  const second = h.send();
  first.reply({ kind: 'stream' });
  const closing = (await first.result) as StreamAttempt;
  expect(h.endpoint.circuit).toMatchObject({ status: 'closed', probation: { failedProbes: 3 } });
  expect(h.endpoint.closedByAttempt).toBe(closing.number);
  second.reply({ kind: 'stream' });
  await second.result;
  expect(h.endpoint.circuit).toMatchObject({ status: 'closed', probation: { failedProbes: 3 } });
  releaseAttempt(h.core, closing, 'failure');
  expect(h.endpoint.circuit).toMatchObject({ status: 'open', failedProbes: 4 });
  expect(h.pool.msUntilProbe(['up'])).toBe(16_000);
});

it('a whole answer through releaseAttempt ends the probation; a stopped one does not', async () => {
  const h = harness('{ failureThreshold: 2, windowMs: 60000, openMs: 1000 }');
  await openWithFailedProbes(h, 2);
  const probe = h.send();
  probe.reply({ kind: 'stream' });
  const closing = (await probe.result) as StreamAttempt;
  const stopped = h.send();
  stopped.reply({ kind: 'stream' });
  releaseAttempt(h.core, (await stopped.result) as StreamAttempt, 'cancel');
  expect(h.endpoint.circuit).toMatchObject({ status: 'closed', probation: { failedProbes: 2 } });
  const whole = h.send();
  whole.reply({ kind: 'stream' });
  releaseAttempt(h.core, (await whole.result) as StreamAttempt, 'success');
  expect(h.endpoint.circuit).toEqual({ status: 'closed', failures: [], streak: 0 });
  // The probe's own break is then one failure, not a relapse.
  releaseAttempt(h.core, closing, 'failure');
  expect(h.endpoint.circuit).toMatchObject({ status: 'closed', streak: 1 });
});

it("the answer that closed the circuit judges nothing once the circuit has reopened by other failures: not the half-open after, which it is no probe of (R77)", async () => {
  const h = harness('{ failureThreshold: 2, windowMs: 60000, openMs: 1000 }');
  await openWithFailedProbes(h, 1);
  const probe = h.send();
  probe.reply({ kind: 'stream' });
  const closing = (await probe.result) as StreamAttempt;
  expect(h.endpoint.closedByAttempt).toBe(closing.number);
  // Two other requests fail: the threshold reopens it, as long as it was last open (probation 1: 2 s).
  await h.fail(2);
  expect(h.endpoint.circuit).toMatchObject({ status: 'open', failedProbes: 1 });
  h.advance(2001);
  expect(h.pool.circuitOf(h.endpoint)).toBe('half-open');
  // The old answer ends whole: the half-open circuit waits for its own probe.
  releaseAttempt(h.core, closing, 'success');
  expect(h.pool.circuitOf(h.endpoint)).toBe('half-open');
});
