import { describe, expect, it } from 'vitest';
import { heldMs, judgeAfterOwnTime, judgeAfterReads } from '../../src/gateway/judge-after-reads.js';

const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Holds this thread for `ms`, as a long synchronous task (a large body parsed) would. */
function hold(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // busy
  }
}

describe("the gateway's own time", () => {
  it('counts the time the event loop was held', async () => {
    heldMs();
    await delay(30);
    const before = heldMs();
    hold(300);
    await delay(30);
    const counted = heldMs() - before;
    expect(counted).toBeGreaterThan(250);
    expect(counted).toBeLessThan(600);
  });

  it('a wait on an upstream goes on by the time the loop was held; a wall-time wait does not', async () => {
    const started = performance.now();
    let own: number | undefined;
    let wall: number | undefined;
    judgeAfterOwnTime(() => (own = performance.now() - started), 200);
    judgeAfterReads(() => (wall = performance.now() - started), 200);
    await delay(50);
    hold(400);
    await delay(400);
    // The wall-time wait was judged as soon as the hold let it (at about 450 ms); the other had
    // 200 ms of running time left to give, of which the hold took none.
    expect(wall).toBeGreaterThanOrEqual(400);
    expect(wall).toBeLessThan(520);
    expect(own).toBeGreaterThanOrEqual(560);
  });

  it('is cancelled by what it returns, before or after a hold', async () => {
    let called = 0;
    const stop = judgeAfterOwnTime(() => (called += 1), 100);
    await delay(20);
    hold(200);
    stop();
    await delay(200);
    expect(called).toBe(0);
  });
});
