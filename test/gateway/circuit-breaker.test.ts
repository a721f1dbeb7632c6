import { describe, expect, it } from 'vitest';
import { advanceCircuit, circuitView, initialCircuitState, maxOpenFactor, msUntilHalfOpen, nextCircuitState, type CircuitEvent, type CircuitState } from '../../src/gateway/circuit-breaker.js';

const config = { failureThreshold: 3, windowMs: 1000, openMs: 5000, halfOpenProbes: 1 };

function run(events: readonly [CircuitEvent, number][], from: CircuitState = initialCircuitState): CircuitState {
  return events.reduce((state, [event, now]) => nextCircuitState(state, event, now, config), from);
}

/**
 * From a circuit just opened, seven probes each sent when it turns half-open and each failing by
 * `probeFails(due)`: how long it stayed open before each, and the circuit after the last. Checks it
 * is still open a millisecond before each is due.
 */
function failingProbes(probeFails: (due: number) => [CircuitEvent, number][]): { openFor: number[]; circuit: CircuitState } {
  let circuit: CircuitState = { status: 'open', openedAt: 0, failedProbes: 0 };
  const openFor: number[] = [];
  for (let probe = 0; probe < 7; probe += 1) {
    const openedAt = circuit.status === 'open' ? circuit.openedAt : Number.NaN;
    const due = openedAt + msUntilHalfOpen(circuit, openedAt, config);
    openFor.push(due - openedAt);
    expect(circuitView(circuit, due - 1, config).circuit).toBe('open');
    circuit = run(probeFails(due), circuit);
    expect(circuit.status).toBe('open');
  }
  return { openFor, circuit };
}

describe('circuit breaker', () => {
  it('opens after failureThreshold failures within windowMs', () => {
    expect(run([['failure', 0], ['failure', 100]]).status).toBe('closed');
    expect(run([['failure', 0], ['failure', 100], ['failure', 200]])).toEqual({ status: 'open', openedAt: 200, failedProbes: 0 });
  });

  it('failures outside the window do not count towards it', () => {
    expect(run([['failure', 0], ['failure', 100], ['success', 150], ['failure', 1100]])).toEqual({ status: 'closed', failures: [1100], streak: 1 });
    expect(run([['failure', 0], ['failure', 600], ['success', 700], ['failure', 1100], ['failure', 1200]]).status).toBe('open');
  });

  it('opens after failureThreshold failures in a row, however far apart: a hung endpoint failing one request after another', () => {
    // One client's requests to a hung endpoint, each failing a TTFT timeout (here 5 s) after it was sent.
    expect(run([['failure', 5000], ['failure', 10_000]])).toEqual({ status: 'closed', failures: [10_000], streak: 2 });
    expect(run([['failure', 5000], ['failure', 10_000], ['failure', 15_000]])).toEqual({ status: 'open', openedAt: 15_000, failedProbes: 0 });
    // A success between them ends the run: the window alone judges failures spread among answers.
    expect(run([['failure', 5000], ['failure', 10_000], ['success', 12_000], ['failure', 15_000], ['failure', 20_000]])).toEqual({ status: 'closed', failures: [20_000], streak: 2 });
    const afterSuccess = run([['failure', 5000], ['success', 6000]]);
    expect(afterSuccess).toEqual({ status: 'closed', failures: [5000], streak: 0 });
    // A success with no run to end changes nothing (the same object).
    expect(nextCircuitState(afterSuccess, 'success', 7000, config)).toBe(afterSuccess);
  });

  it('successes do not clear the window: an endpoint failing half its requests still opens', () => {
    expect(run([['failure', 0], ['success', 10], ['failure', 20], ['success', 30], ['failure', 40]]).status).toBe('open');
  });

  it("a relapse (the break of the answer that closed it) opens a closed circuit at once; open, it changes nothing; half-open, it opens", () => {
    expect(run([['relapse', 50]])).toEqual({ status: 'open', openedAt: 50, failedProbes: 1 });
    expect(run([['relapse', 6000]], { status: 'open', openedAt: 1000, failedProbes: 0 })).toEqual({ status: 'open', openedAt: 6000, failedProbes: 1 });
    expect(run([['relapse', 2000]], { status: 'open', openedAt: 1000, failedProbes: 0 })).toEqual({ status: 'open', openedAt: 1000, failedProbes: 0 });
    expect(run([['relapse', 10]], { status: 'half-open', probesInFlight: 1, failedProbes: 0 })).toEqual({ status: 'open', openedAt: 10, failedProbes: 1 });
  });

  it('keeps a bounded failure history', () => {
    // Two failures a window apart, then a success, a hundred times: never open, never more than threshold-1 kept.
    const events = Array.from({ length: 100 }, (_, index): [CircuitEvent, number][] => [['failure', index * 1200], ['failure', index * 1200 + 600], ['success', index * 1200 + 700]]).flat();
    const state = run(events);
    expect(state.status).toBe('closed');
    expect(state.status === 'closed' ? state.failures.length : -1).toBe(config.failureThreshold - 1);
  });

  it('open -> half-open after openMs, seen by a view or the next event', () => {
    const open: CircuitState = { status: 'open', openedAt: 1000, failedProbes: 0 };
    expect(circuitView(open, 5999, config)).toEqual({ circuit: 'open', halfOpenInFlight: 0 });
    expect(circuitView(open, 6000, config)).toEqual({ circuit: 'half-open', halfOpenInFlight: 0 });
    expect(advanceCircuit(open, 6000, config)).toEqual({ status: 'half-open', probesInFlight: 0, failedProbes: 0 });
    expect(nextCircuitState(open, 'probe-start', 6000, config)).toEqual({ status: 'half-open', probesInFlight: 1, failedProbes: 0 });
  });

  it('outcomes while open change nothing, but a request sent while open (panic routing) that succeeded closes it', () => {
    const open: CircuitState = { status: 'open', openedAt: 1000, failedProbes: 0 };
    expect(nextCircuitState(open, 'success', 2000, config)).toBe(open);
    expect(nextCircuitState(open, 'failure', 2000, config)).toBe(open);
    expect(nextCircuitState(open, 'recovered', 2000, config)).toEqual({ status: 'closed', failures: [], streak: 0 });
    expect(nextCircuitState({ status: 'half-open', probesInFlight: 1, failedProbes: 0 }, 'recovered', 7000, config)).toEqual({ status: 'closed', failures: [], streak: 0 });
    expect(nextCircuitState({ status: 'closed', failures: [10], streak: 1 }, 'recovered', 20, config)).toEqual({ status: 'closed', failures: [10], streak: 1 });
  });

  it('half-open -> closed on a successful probe, with a clean history', () => {
    const state = run([['probe-start', 6000], ['success', 6100]], { status: 'open', openedAt: 1000, failedProbes: 0 });
    expect(state).toEqual({ status: 'closed', failures: [], streak: 0 });
  });

  it('half-open -> open on a failed probe, for twice as long each time, up to maxOpenFactor times openMs; a probe that succeeds starts again', () => {
    const state = run([['probe-start', 6000], ['failure', 6100]], { status: 'open', openedAt: 1000, failedProbes: 0 });
    expect(state).toEqual({ status: 'open', openedAt: 6100, failedProbes: 1 });
    // Open 2 x openMs (10 s) now, not openMs.
    expect(circuitView(state, 16_099, config).circuit).toBe('open');
    expect(msUntilHalfOpen(state, 16_099, config)).toBe(1);
    expect(circuitView(state, 16_100, config).circuit).toBe('half-open');
    // Probes failing one after another: open 5, 10, 20, 40, 80, 160, then 160 s again (32 x openMs).
    const { openFor, circuit } = failingProbes((due) => [['probe-start', due], ['failure', due + 100]]);
    expect(openFor).toEqual([5000, 10_000, 20_000, 40_000, 80_000, 160_000, 160_000]);
    expect(maxOpenFactor * config.openMs).toBe(160_000);
    // A probe's first token closes it on probation: failures before any answer ends whole reopen it as long as last time.
    const due = (circuit.status === 'open' ? circuit.openedAt : Number.NaN) + 160_000;
    const closed = run([['probe-start', due], ['success', due + 10]], circuit);
    // Open 160 s last time (capped): on probation as long.
    expect(closed).toEqual({ status: 'closed', failures: [], streak: 0, probation: { failedProbes: 7, until: due + 10 + 160_000 } });
    const failedAgain = run([['failure', due + 20], ['failure', due + 30], ['failure', due + 40]], closed);
    expect(failedAgain).toEqual({ status: 'open', openedAt: due + 40, failedProbes: 7 });
    expect(msUntilHalfOpen(failedAgain, due + 40, config)).toBe(160_000);
    // An answer that ends whole ends the probation: the next opening lasts openMs again.
    const reopened = run([['success', due + 15], ['failure', due + 20], ['failure', due + 30], ['failure', due + 40]], closed);
    expect(reopened).toEqual({ status: 'open', openedAt: due + 40, failedProbes: 0 });
    expect(msUntilHalfOpen(reopened, due + 40, config)).toBe(config.openMs);
  });

  it("a relapse reopens it as long as one more failed probe would: an endpoint that breaks every stream after its first token is probed ever more rarely (E60)", () => {
    // Opened by failures, then each probe's first token closes it and its stream breaks.
    const { openFor } = failingProbes((due) => [['probe-start', due], ['success', due + 10], ['relapse', due + 500]]);
    expect(openFor).toEqual([5000, 10_000, 20_000, 40_000, 80_000, 160_000, 160_000]);
    // A first token of an ordinary attempt ends a run of failures, but not the probation; a whole answer ends both.
    const onProbation = run([['probe-start', 1], ['success', 2], ['failure', 3]], { status: 'open', openedAt: -30_000, failedProbes: 2 });
    expect(onProbation).toEqual({ status: 'closed', failures: [3], streak: 1, probation: { failedProbes: 2, until: 2 + 20_000 } });
    expect(nextCircuitState(onProbation, 'first-token', 4, config)).toEqual({ status: 'closed', failures: [3], streak: 0, probation: { failedProbes: 2, until: 2 + 20_000 } });
    expect(nextCircuitState(onProbation, 'success', 4, config)).toEqual({ status: 'closed', failures: [3], streak: 0 });
    // Other requests' failures read it only while the circuit has been closed less than it was last
    // open (20 s); the closing answer's own break, however late (a stream cut a minute in), always (R77).
    expect(nextCircuitState(onProbation, 'relapse', 20_001, config)).toEqual({ status: 'open', openedAt: 20_001, failedProbes: 3 });
    expect(nextCircuitState(onProbation, 'relapse', 80_000, config)).toEqual({ status: 'open', openedAt: 80_000, failedProbes: 3 });
    expect(run([['failure', 19_000], ['failure', 19_500]], onProbation)).toEqual({ status: 'open', openedAt: 19_500, failedProbes: 2 });
    expect(run([['failure', 21_000], ['failure', 21_500]], onProbation)).toEqual({ status: 'open', openedAt: 21_500, failedProbes: 0 });
    // Half-open, an ordinary attempt's first token decides nothing; open, nothing either.
    const halfOpen: CircuitState = { status: 'half-open', probesInFlight: 1, failedProbes: 2 };
    expect(nextCircuitState(halfOpen, 'first-token', 5, config)).toBe(halfOpen);
  });

  it('counts probes in flight, and a cancelled probe frees its slot', () => {
    const probing = run([['probe-start', 6000]], { status: 'open', openedAt: 1000, failedProbes: 0 });
    expect(circuitView(probing, 6001, config)).toEqual({ circuit: 'half-open', halfOpenInFlight: 1 });
    expect(nextCircuitState(probing, 'probe-cancel', 6002, config)).toEqual({ status: 'half-open', probesInFlight: 0, failedProbes: 0 });
    const idle: CircuitState = { status: 'half-open', probesInFlight: 0, failedProbes: 0 };
    expect(nextCircuitState(idle, 'probe-cancel', 6002, config)).toBe(idle);
  });

  it('a closed circuit ignores probe events', () => {
    expect(nextCircuitState(initialCircuitState, 'probe-start', 0, config)).toBe(initialCircuitState);
  });

  it('a threshold of one opens on the first failure', () => {
    expect(nextCircuitState(initialCircuitState, 'failure', 5, { ...config, failureThreshold: 1 })).toEqual({ status: 'open', openedAt: 5, failedProbes: 0 });
  });

  it('says how long until an open circuit takes a probe: the rest of openMs, 0 otherwise', () => {
    const open = run([['failure', 0], ['failure', 100], ['failure', 200]]);
    expect(msUntilHalfOpen(open, 200, config)).toBe(5000);
    expect(msUntilHalfOpen(open, 4000, config)).toBe(1200);
    expect(msUntilHalfOpen(open, 9000, config)).toBe(0);
    expect(msUntilHalfOpen(initialCircuitState, 0, config)).toBe(0);
    expect(msUntilHalfOpen({ status: 'half-open', probesInFlight: 1, failedProbes: 0 }, 0, config)).toBe(0);
  });
});
