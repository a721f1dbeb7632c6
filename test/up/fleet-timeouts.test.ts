import { describe, expect, it } from 'vitest';
import { fleetTimeouts } from '../../src/up/fleet-timeouts.js';

const base = { ttftTimeoutMs: 10_000, tokenIdleTimeoutMs: 10_000, deadlineMs: 120_000 };
const quick = { windowFirstTokenMs: 2_000, windowPrefillMs: 1_900, tpotMs: 50 };
const slow = { windowFirstTokenMs: 17_000, windowPrefillMs: 16_000, tpotMs: 100 };

describe('fleetTimeouts', () => {
  it("keeps the gateway's own where the replicas' prefills fit in them, and sets nothing per route", () => {
    expect(fleetTimeouts(base, [{ model: 'chat', replicas: [quick, quick], outputTokens: 500 }], 86_400_000, 30_000)).toEqual({ gateway: base, routes: new Map(), circuitWindowMs: 30_000 });
  });

  it("raises a route's TTFT timeout to a window-long prefill behind another on its slowest replica, half again to spare, and its deadline by twice the planned answer", () => {
    const timeouts = fleetTimeouts(base, [{ model: 'long', replicas: [quick, slow], outputTokens: 1_000 }, { model: 'chat', replicas: [quick], outputTokens: 500 }], 86_400_000, 30_000);
    // 1.5 x (16,000 + 17,000); then that plus 2 x 1,000 tokens x 100 ms.
    expect(timeouts.routes.get('long')).toEqual({ ttftTimeoutMs: 49_500, deadlineMs: 249_500 });
    expect(timeouts.routes.has('chat')).toBe(false);
    // A stream waits behind one prefill step of any replica: 1.5 x 16,000.
    expect(timeouts.gateway).toEqual({ ...base, tokenIdleTimeoutMs: 24_000 });
    // The circuit breaker's window: twice the longest TTFT timeout, above the 30 s given (E55).
    expect(timeouts.circuitWindowMs).toBe(99_000);
  });

  it('a deadline raised for the answer alone, and every figure held to the ceiling', () => {
    expect(fleetTimeouts(base, [{ model: 'essay', replicas: [quick], outputTokens: 2_000 }], 86_400_000, 30_000).routes.get('essay')).toEqual({ ttftTimeoutMs: 10_000, deadlineMs: 210_000 });
    const glacial = { windowFirstTokenMs: 50_000_000, windowPrefillMs: 50_000_000, tpotMs: 1_000 };
    const capped = fleetTimeouts(base, [{ model: 'long', replicas: [glacial], outputTokens: 1_000 }], 86_400_000, 30_000);
    expect(capped.routes.get('long')).toEqual({ ttftTimeoutMs: 86_400_000, deadlineMs: 86_400_000 });
    // The gap between tokens at most half the ceiling, so that every deadline can be twice it.
    expect(capped.gateway).toEqual({ ttftTimeoutMs: 10_000, tokenIdleTimeoutMs: 43_200_000, deadlineMs: 86_400_000 });
    expect(capped.circuitWindowMs).toBe(86_400_000);
  });

  it('every deadline is at least twice the gap between tokens, which the slowest replica sets for the whole gateway (the config requires the gap below each deadline)', () => {
    const huge = { windowFirstTokenMs: 420_000, windowPrefillMs: 400_000, tpotMs: 100 };
    const timeouts = fleetTimeouts(base, [{ model: 'huge', replicas: [huge], outputTokens: 500 }, { model: 'chat', replicas: [quick], outputTokens: 500 }], 86_400_000, 30_000);
    expect(timeouts.gateway).toEqual({ ttftTimeoutMs: 10_000, tokenIdleTimeoutMs: 600_000, deadlineMs: 1_200_000 });
    // 1.5 x 820,000, then that plus 2 x 500 x 100 ms.
    expect(timeouts.routes.get('huge')).toEqual({ ttftTimeoutMs: 1_230_000, deadlineMs: 1_330_000 });
    // The quick route needs nothing of its own: the gateway's raised deadline is its.
    expect(timeouts.routes.has('chat')).toBe(false);
    for (const own of timeouts.routes.values()) expect(own.deadlineMs).toBeGreaterThan(timeouts.gateway.tokenIdleTimeoutMs);
  });
});
