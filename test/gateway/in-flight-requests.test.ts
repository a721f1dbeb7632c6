import { EventEmitter } from 'node:events';
import type { ServerResponse } from 'node:http';
import { describe, expect, it } from 'vitest';
import { Cancellation } from '../../src/gateway/cancellation.js';
import { InFlightRequests } from '../../src/gateway/in-flight-requests.js';

/** A response as InFlightRequests sees it: an emitter of 'close' with a keep-alive flag. */
function response(): ServerResponse & EventEmitter {
  return Object.assign(new EventEmitter(), { shouldKeepAlive: true }) as unknown as ServerResponse & EventEmitter;
}

describe('InFlightRequests', () => {
  it('counts responses until they close, and a drain waits for the last one', async () => {
    const inFlight = new InFlightRequests(100);
    const first = response();
    const second = response();
    inFlight.track(first);
    inFlight.track(second);
    expect(inFlight.unsent).toBe(2);
    inFlight.drain();
    let idle = false;
    void inFlight.untilIdle(60_000).idle.then(() => (idle = true));
    first.emit('close');
    await Promise.resolve();
    expect([inFlight.unsent, idle]).toEqual([1, false]);
    // Tracked while draining: its connection closes after its answer.
    const late = response();
    inFlight.track(late);
    expect(late.shouldKeepAlive).toBe(false);
    second.emit('close');
    late.emit('close');
    await new Promise((resolve) => setImmediate(resolve));
    expect([inFlight.unsent, idle]).toEqual([0, true]);
  });

  it('a wait with nothing in flight ends at once; before the drain, a response closing does not end it', async () => {
    const inFlight = new InFlightRequests(100);
    let ended = false;
    void inFlight.untilIdle(60_000).idle.then(() => (ended = true));
    await Promise.resolve();
    expect(ended).toBe(true);
    const res = response();
    inFlight.track(res);
    const wait = inFlight.untilIdle(60_000);
    let waited = false;
    void wait.idle.then(() => (waited = true));
    res.emit('close');
    await new Promise((resolve) => setImmediate(resolve));
    expect([inFlight.unsent, waited]).toEqual([0, false]);
    wait.stop();
  });

  it('ends the wait after its time, or when stopped', async () => {
    const inFlight = new InFlightRequests(100);
    inFlight.track(response());
    inFlight.drain();
    const started = Date.now();
    await inFlight.untilIdle(20).idle;
    expect(Date.now() - started).toBeGreaterThanOrEqual(15);
    const wait = inFlight.untilIdle(60_000);
    wait.stop();
    await wait.idle;
    expect(inFlight.unsent).toBe(1);
  });

  it("holds body bytes against the budget until the response that took them closes", () => {
    const inFlight = new InFlightRequests(100);
    const first = response();
    const second = response();
    inFlight.track(first);
    inFlight.track(second);
    expect(inFlight.bodyBudgetFor(first)(60)).toBe(true);
    expect(inFlight.bodyBudgetFor(second)(50)).toBe(false);
    expect(inFlight.bodyBudgetFor(second)(40)).toBe(true);
    first.emit('close');
    expect(inFlight.bodyBudgetFor(second)(60)).toBe(true);
    expect(inFlight.bodyBudgetFor(second)(1)).toBe(false);
  });

  it('ending the grace period cancels every request that reaches upstreams', () => {
    const inFlight = new InFlightRequests(100);
    const requests = [new Cancellation(), new Cancellation()];
    for (const cancellation of requests) inFlight.running.add(cancellation);
    inFlight.endAll();
    expect([inFlight.shuttingDown, ...requests.map((cancellation) => cancellation.cancelled)]).toEqual([true, true, true]);
  });
});
