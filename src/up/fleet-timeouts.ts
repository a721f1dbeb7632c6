/** How long a replica takes, in real milliseconds (at its emulator's speed), for the timeouts `up` sets. */
export interface ReplicaTiming {
  /** A prompt as long as the replica's context window, on the idle replica: to its first token. */
  readonly windowFirstTokenMs: number;
  /** The same prompt's prefill step: the replica time other sequences wait behind it. */
  readonly windowPrefillMs: number;
  /** A decode step at full batch (the profile's TPOT). */
  readonly tpotMs: number;
}

export interface RouteTiming {
  readonly model: string;
  /** Its endpoints' timings. */
  readonly replicas: readonly ReplicaTiming[];
  /** The service's planned answer length. */
  readonly outputTokens: number;
}

export interface GatewayTimeouts {
  readonly ttftTimeoutMs: number;
  readonly tokenIdleTimeoutMs: number;
  readonly deadlineMs: number;
}

export interface FleetTimeouts {
  /** The gateway's own: `base`, the gap between tokens raised where a prefill step needs it, and the deadline to twice that gap. */
  readonly gateway: GatewayTimeouts;
  /** Per route, where the gateway's own would cut answers the replicas give in their planned time. */
  readonly routes: ReadonlyMap<string, { readonly ttftTimeoutMs: number; readonly deadlineMs: number }>;
  /**
   * The circuit breaker's window: at least twice the longest TTFT timeout, so that it holds the
   * time-outs of requests sent to a hung replica within one timeout of each other and of their
   * retries, and fewer requests at once eject it (E55: with the 30 s default under 33 s TTFT
   * timeouts, eight clients against two hung replicas never ejected them, every request taking 65 s).
   */
  readonly circuitWindowMs: number;
}

/** Headroom over the times the performance model gives: a replica under load is slower than idle. */
const headroom = 1.5;

/**
 * The timeouts `up` gives its gateway, so that no answer its replicas give in the time the plan
 * allows is cut as a failure (the gateway's defaults, 10 s to a first token and between tokens,
 * would fail every request of a service whose window-long prompt takes longer to prefill):
 * - a route's TTFT timeout covers a window-long prompt's prefill behind one other such prefill on
 *   its slowest replica, with half again to spare;
 * - its deadline covers that, plus twice the service's planned answer at the full batch's TPOT;
 * - the gap between tokens (one for the whole gateway, so the slowest replica sets it) covers a
 *   decoding stream waiting behind one window-long prefill step on any replica, with half again to
 *   spare (where window-long prefills are shorter than the emulator's prefill budget, four decode
 *   steps, two or three may go before a decode step: far inside `base`); every deadline is at least twice it, as the gateway's config requires a stalled stream
 *   to be cut before its deadline (with time left to resume it).
 * Never below `base` (the gateway's own, stretched for slow emulators), never above `ceilingMs`;
 * the circuit breaker's window never below `baseCircuitWindowMs` (see FleetTimeouts.circuitWindowMs).
 */
export function fleetTimeouts(base: GatewayTimeouts, routes: readonly RouteTiming[], ceilingMs: number, baseCircuitWindowMs: number): FleetTimeouts {
  const within = (ms: number, floor: number): number => Math.min(ceilingMs, Math.max(floor, Math.ceil(ms)));
  const longestStep = Math.max(0, ...routes.flatMap((route) => route.replicas.map((replica) => replica.windowPrefillMs)));
  const tokenIdleTimeoutMs = Math.min(Math.floor(ceilingMs / 2), within(headroom * longestStep, base.tokenIdleTimeoutMs));
  const gateway = { ttftTimeoutMs: base.ttftTimeoutMs, tokenIdleTimeoutMs, deadlineMs: within(2 * tokenIdleTimeoutMs, base.deadlineMs) };
  const perRoute = new Map<string, { ttftTimeoutMs: number; deadlineMs: number }>();
  for (const route of routes) {
    const firstToken = Math.max(0, ...route.replicas.map((replica) => replica.windowPrefillMs + replica.windowFirstTokenMs));
    const ttftTimeoutMs = within(headroom * firstToken, gateway.ttftTimeoutMs);
    const answerMs = 2 * route.outputTokens * Math.max(0, ...route.replicas.map((replica) => replica.tpotMs));
    const deadlineMs = within(ttftTimeoutMs + answerMs, gateway.deadlineMs);
    if (ttftTimeoutMs > gateway.ttftTimeoutMs || deadlineMs > gateway.deadlineMs) perRoute.set(route.model, { ttftTimeoutMs, deadlineMs });
  }
  const longestTtft = Math.max(gateway.ttftTimeoutMs, ...[...perRoute.values()].map((own) => own.ttftTimeoutMs));
  return { gateway, routes: perRoute, circuitWindowMs: within(2 * longestTtft, baseCircuitWindowMs) };
}
