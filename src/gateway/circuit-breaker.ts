import type { CircuitBreakerConfig } from './gateway-config.js';

/**
 * A per-endpoint circuit breaker as a pure state machine over plain data, so the
 * gateway and the simulator share it and tests drive it with numbers for time.
 *
 *   closed    --failureThreshold failures within windowMs, or in a row-->  open
 *   open      --its open time elapsed (seen at the next event or view)-->  half-open
 *   half-open --a probe succeeds-->  closed (failure history cleared)
 *   half-open --a probe fails-->  open for twice as long as last time
 *
 * A circuit stays open openMs, doubled for each probe in a row that failed, up to maxOpenFactor
 * times openMs: a probe to a hung endpoint holds its caller a whole TTFT timeout, so with a fixed
 * open time one client's requests one after another, each longer than openMs, each found the
 * circuit half-open and each paid that timeout (E55, checked by hand under `up`: 65 s for every
 * request after the circuits opened). A probe that succeeds, then an answer that ends whole,
 * start it again from openMs (see 'relapse').
 *
 * In closed state a success does not clear earlier failures: a sliding window,
 * not a run of consecutive failures, so an endpoint failing half of its requests
 * still opens. A run of failureThreshold failures with no first token or success
 * between them opens it too, however far apart: a hung endpoint fails each request one TTFT
 * timeout after it was sent, so one client's requests one after another fail a
 * timeout apart, too seldom for any window (E55: under 33 s timeouts every such
 * request waited 33 s, for ever). In half-open state any outcome given counts as the probe's verdict:
 * the gateway gives none for an attempt sent before the circuit opened (see
 * EndpointPool.sentBeforeOpening). 'probe-cancel' releases a probe slot that ended
 * without a verdict (the client went away), so a cancelled probe cannot wedge the
 * circuit.
 * 'recovered' is the success of a request sent to the endpoint while its circuit was
 * open (panic routing): the endpoint works again, so the circuit closes, open or not.
 * 'relapse' is the break of the answer whose first token closed the circuit (a probe's, or a
 * panic-routed one's) with no success since: the probe failed after all, so the circuit opens
 * again at once rather than counting one failure of the threshold (an endpoint that breaks every
 * stream would otherwise read closed most of the time, and take a threshold of streams each time),
 * and for as long as one more failed probe would open it (the closed state keeps the count, as
 * `probation`, until an answer ends whole; other requests' failures read it only for as long as
 * the circuit was last open): an endpoint that breaks every stream after its first token took one
 * broken stream every openMs, for ever (R74, E60).
 * 'first-token' is an ordinary attempt's first token: the endpoint answers, which ends a run of
 * failures; only a whole answer ('success') ends a probation.
 */
export type CircuitStatus = 'closed' | 'open' | 'half-open';

export type CircuitState =
  | {
      readonly status: 'closed';
      /** Times of recent failures, oldest first, at most failureThreshold - 1 of them. */
      readonly failures: readonly number[];
      /** Failures since the last first token or success, however long ago. */
      readonly streak: number;
      /**
       * The failed probes in a row before the first token that closed the circuit (see 'relapse'),
       * until an answer ends whole; a threshold opening reads it only before `until` (as long as
       * the circuit was last open).
       */
      readonly probation?: { readonly failedProbes: number; readonly until: number };
    }
  | {
      readonly status: 'open';
      readonly openedAt: number;
      /** Probes in a row that failed before this opening: it lasts openMs times two to that power (see openForMs). */
      readonly failedProbes: number;
    }
  | { readonly status: 'half-open'; readonly probesInFlight: number; readonly failedProbes: number };

export type CircuitEvent = 'success' | 'first-token' | 'failure' | 'probe-start' | 'probe-cancel' | 'recovered' | 'relapse';

export const initialCircuitState: CircuitState = { status: 'closed', failures: [], streak: 0 };

/** The longest a circuit stays open, in openMs: 32 (5 min 20 s at the default 10 s), about where Envoy's outlier detection stops (5 min). */
export const maxOpenFactor = 32;

/** How long a circuit opened after `failedProbes` failed probes in a row stays open. */
export function openForMs(failedProbes: number, config: CircuitBreakerConfig): number {
  return config.openMs * Math.min(maxOpenFactor, 2 ** failedProbes);
}

/** The state after `event` at time `now` (ms). Returns the same object when nothing changes. */
export function nextCircuitState(state: CircuitState, event: CircuitEvent, now: number, config: CircuitBreakerConfig): CircuitState {
  const current = advanceCircuit(state, now, config);
  switch (current.status) {
    case 'closed':
      // A relapse is the closing answer's own break, however late (a stream cut a minute in): the
      // probation's lapse is for other requests' failures, or such streams never escalated (R77).
      if (event === 'relapse') return { status: 'open', openedAt: now, failedProbes: (current.probation?.failedProbes ?? 0) + 1 };
      if (event === 'failure') return recordFailure(current, now, config);
      if (event === 'success' && (current.streak > 0 || current.probation !== undefined)) return { status: 'closed', failures: current.failures, streak: 0 };
      return event === 'first-token' && current.streak > 0 ? { ...current, streak: 0 } : current;
    case 'open':
      // Outcomes of requests started before the circuit opened change nothing; a request
      // sent while it was open (panic routing) that succeeded shows the endpoint works.
      return event === 'recovered' ? closedOnProbation(current.failedProbes, now, config) : current;
    case 'half-open':
      return halfOpenAfter(current, event, now, config);
  }
}

/** Applies the passage of time alone: an open circuit whose open time (openForMs) has elapsed becomes half-open. */
export function advanceCircuit(state: CircuitState, now: number, config: CircuitBreakerConfig): CircuitState {
  if (state.status === 'open' && now - state.openedAt >= openForMs(state.failedProbes, config)) return { status: 'half-open', probesInFlight: 0, failedProbes: state.failedProbes };
  return state;
}

/** What the router needs to know at time `now` (see EndpointView in route-request.ts). */
export function circuitView(state: CircuitState, now: number, config: CircuitBreakerConfig): { readonly circuit: CircuitStatus; readonly halfOpenInFlight: number } {
  const current = advanceCircuit(state, now, config);
  return { circuit: current.status, halfOpenInFlight: current.status === 'half-open' ? current.probesInFlight : 0 };
}

/**
 * Milliseconds until this circuit admits a request again: 0 when closed or half-open
 * (a taken probe slot frees when its probe ends, which has no schedule), the rest of
 * its open time when open.
 */
export function msUntilHalfOpen(state: CircuitState, now: number, config: CircuitBreakerConfig): number {
  return state.status === 'open' ? Math.max(0, state.openedAt + openForMs(state.failedProbes, config) - now) : 0;
}

function recordFailure(previous: Extract<CircuitState, { status: 'closed' }>, now: number, config: CircuitBreakerConfig): CircuitState {
  const recent = [...previous.failures.filter((at) => now - at < config.windowMs), now];
  const streak = previous.streak + 1;
  // On probation (no answer whole since a probe closed it), it opens for as long as it last did.
  if (recent.length >= config.failureThreshold || streak >= config.failureThreshold) return { status: 'open', openedAt: now, failedProbes: probationAt(previous, now) };
  // Only the newest threshold-1 failures can ever count towards opening.
  const failures = recent.slice(-(config.failureThreshold - 1));
  return previous.probation === undefined ? { status: 'closed', failures, streak } : { status: 'closed', failures, streak, probation: previous.probation };
}

/** Closed by a probe's (or a panic-routed attempt's) first token, after `failedProbes` failed probes: on probation as long as it was last open. */
function closedOnProbation(failedProbes: number, now: number, config: CircuitBreakerConfig): CircuitState {
  return failedProbes === 0 ? initialCircuitState : { status: 'closed', failures: [], streak: 0, probation: { failedProbes, until: now + openForMs(failedProbes, config) } };
}

/** The failed probes a closed circuit is on probation for at `now`: 0 when none, or when it has lapsed. */
function probationAt(state: Extract<CircuitState, { status: 'closed' }>, now: number): number {
  return state.probation !== undefined && now < state.probation.until ? state.probation.failedProbes : 0;
}

function halfOpenAfter(current: Extract<CircuitState, { status: 'half-open' }>, event: CircuitEvent, now: number, config: CircuitBreakerConfig): CircuitState {
  const { probesInFlight, failedProbes } = current;
  switch (event) {
    case 'success':
    case 'recovered':
      return closedOnProbation(failedProbes, now, config);
    case 'first-token':
      // Not a probe's: an attempt sent before the circuit opened decides nothing.
      return current;
    case 'failure':
    case 'relapse':
      return { status: 'open', openedAt: now, failedProbes: failedProbes + 1 };
    case 'probe-start':
      return { status: 'half-open', probesInFlight: probesInFlight + 1, failedProbes };
    case 'probe-cancel':
      return probesInFlight > 0 ? { status: 'half-open', probesInFlight: probesInFlight - 1, failedProbes } : current;
  }
}
