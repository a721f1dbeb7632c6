import type { EncodeOptions } from '../protocol/dialect.js';
import { circuitView, initialCircuitState, msUntilHalfOpen, nextCircuitState, type CircuitEvent, type CircuitState, type CircuitStatus } from './circuit-breaker.js';
import type { CircuitBreakerConfig, EndpointConfig, GatewayConfig, RouteConfig } from './gateway-config.js';
import type { EndpointGaugeReading } from './gateway-metrics.js';
import type { EndpointView } from './route-request.js';
import type { UpstreamTarget } from './upstream-client.js';
import { upstreamKey } from './upstream-key.js';

/** One endpoint's live state in the gateway. */
export interface EndpointRuntime {
  readonly config: EndpointConfig;
  readonly target: UpstreamTarget;
  outstanding: number;
  /** Upstream attempts started, hedge legs and attempts cancelled before an answer included. */
  attempts: number;
  ewmaTtftMs: number | undefined;
  /** When the TTFT average last took a sample (epoch ms). */
  ewmaTtftAt: number;
  /** How long the average is trusted without a sample: ttftMemoryMs, longer after TTFT timeouts (see recordTtftTimeout). */
  ewmaTtftMemoryMs: number;
  /** When that span was last set, by a first token or a doubling (epoch ms). */
  ewmaTtftMemorySince: number;
  circuit: CircuitState;
  /** Epoch ms before which the endpoint asked (Retry-After) not to be asked again. */
  retryAfterUntil: number;
  /** `attempts` when that Retry-After came: only an answer to a later attempt shows it is over. */
  retryAfterAtAttempt: number;
  /** `attempts` when the circuit last opened: attempts up to it were sent before (see sentBeforeOpening). */
  openedAtAttempt: number;
  /** The attempt whose first token last closed the circuit (a probe, or panic-routed), until another answers whole or the circuit opens again; 0 for none (see 'relapse'). */
  closedByAttempt: number;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** How long an endpoint's TTFT average is trusted without a new sample. */
export const ttftMemoryMs = 30_000;

/** The longest it is trusted after TTFT timeouts in a row (see recordTtftTimeout). */
export const longestTtftMemoryMs = 600_000;

const ttftSmoothing = 0.2;

/** The endpoint's TTFT average, or undefined once it has had no sample for its memory's span. */
function rememberedTtft(endpoint: EndpointRuntime, now: number): number | undefined {
  return endpoint.ewmaTtftMs !== undefined && now - endpoint.ewmaTtftAt <= endpoint.ewmaTtftMemoryMs ? endpoint.ewmaTtftMs : undefined;
}

function sampleTtft(endpoint: EndpointRuntime, ms: number, now: number): void {
  // An average with no sample for its span is forgotten, not only hidden: the first sample after
  // starts it afresh, so a recovered endpoint is judged by what it does now.
  const remembered = rememberedTtft(endpoint, now);
  endpoint.ewmaTtftMs = remembered === undefined ? ms : remembered + ttftSmoothing * (ms - remembered);
  endpoint.ewmaTtftAt = now;
}

/** Takes a measured time to first token into the endpoint's average, trusted for ttftMemoryMs again. */
export function recordTtft(endpoint: EndpointRuntime, ms: number, now: number): void {
  sampleTtft(endpoint, ms, now);
  endpoint.ewmaTtftMemoryMs = ttftMemoryMs;
  // A timeout of an attempt sent before this first token doubles nothing (see recordTtftTimeout).
  endpoint.ewmaTtftMemorySince = now;
}

/** What an attempt sent at `at` was to the endpoint's TTFT average: a measurement of a forgotten (or absent) one, or not. */
export interface TtftSending {
  readonly at: number;
  readonly measuring: boolean;
}

export function ttftSending(endpoint: EndpointRuntime, at: number): TtftSending {
  return { at, measuring: rememberedTtft(endpoint, at) === undefined };
}

/**
 * Takes a time the endpoint has gone without a first token (a TTFT timeout, a hedge it lost):
 * its TTFT is at least that, so the average only ever rises from it.
 */
export function recordTtftAtLeast(endpoint: EndpointRuntime, ms: number, now: number): void {
  const remembered = rememberedTtft(endpoint, now);
  if (remembered !== undefined && ms <= remembered) return;
  sampleTtft(endpoint, ms, now);
}

/**
 * Takes a TTFT timeout as a lower bound. One that ends the re-measurement of a forgotten average
 * (as the attempt found it when `sent`: a hedge that won meanwhile samples the average, and must not
 * hide what the timeout shows) doubles how long the bound is trusted, up to longestTtftMemoryMs: the
 * latency policy tries an endpoint without an average first, so a hung endpoint otherwise cost one
 * caller a whole TTFT timeout every ttftMemoryMs, for ever, too seldom to open its circuit. Its
 * first token trusts a new average for ttftMemoryMs again. A timeout of an attempt sent before the
 * span was last set (a first token since, or another timeout's doubling: attempts sent together)
 * doubles nothing.
 */
export function recordTtftTimeout(endpoint: EndpointRuntime, ms: number, now: number, sent: TtftSending): void {
  recordTtftAtLeast(endpoint, ms, now);
  if (!sent.measuring || endpoint.ewmaTtftMemorySince > sent.at) return;
  endpoint.ewmaTtftMemoryMs = Math.min(longestTtftMemoryMs, endpoint.ewmaTtftMemoryMs * 2);
  endpoint.ewmaTtftMemorySince = now;
}

/**
 * The gateway's endpoints and their live state (load, TTFT, circuit, Retry-After),
 * and the views of them the pure router reads.
 */
export class EndpointPool {
  readonly #byId: ReadonlyMap<string, EndpointRuntime>;
  /**
   * One view object per endpoint of each route, refreshed in place before each routing
   * decision: the router is synchronous and keeps nothing, and copying every config field
   * per request showed in profiles.
   */
  readonly #routeViews: ReadonlyMap<RouteConfig, readonly { readonly runtime: EndpointRuntime; readonly view: Mutable<EndpointView> }[]>;
  readonly #breaker: CircuitBreakerConfig;

  constructor(
    config: GatewayConfig,
    env: Readonly<Record<string, string | undefined>>,
    private readonly now: () => number,
  ) {
    this.#byId = new Map(
      config.endpoints.map((endpoint) => [
        endpoint.id,
        {
          config: endpoint,
          target: {
            id: endpoint.id,
            url: endpoint.url,
            dialect: endpoint.dialect,
            apiKey: endpoint.apiKeyEnv === undefined ? undefined : upstreamKey(env[endpoint.apiKeyEnv]).key,
            ...encodingOf(endpoint),
            ...(endpoint.headers === undefined ? {} : { headers: endpoint.headers }),
          },
          outstanding: 0,
          attempts: 0,
          ewmaTtftMs: undefined,
          ewmaTtftAt: 0,
          ewmaTtftMemoryMs: ttftMemoryMs,
          ewmaTtftMemorySince: 0,
          circuit: initialCircuitState,
          retryAfterUntil: 0,
          retryAfterAtAttempt: 0,
          openedAtAttempt: 0,
          closedByAttempt: 0,
        },
      ]),
    );
    this.#routeViews = new Map(
      config.routes.map((route) => [
        route,
        route.endpoints.flatMap((id) => {
          const runtime = this.#byId.get(id);
          return runtime === undefined ? [] : [{ runtime, view: { ...runtime.config, outstanding: 0, ewmaTtftMs: undefined, circuit: 'closed' as const, halfOpenInFlight: 0, backedOff: false, backedOffUntil: 0 } }];
        }),
      ]),
    );
    this.#breaker = config.resilience.circuitBreaker;
  }

  get(id: string): EndpointRuntime | undefined {
    return this.#byId.get(id);
  }

  /** The route's endpoints, in route order. */
  runtimesOf(route: RouteConfig): EndpointRuntime[] {
    return (this.#routeViews.get(route) ?? []).map(({ runtime }) => runtime);
  }

  /** The route's endpoints as the router sees them now. */
  views(route: RouteConfig): EndpointView[] {
    const at = this.now();
    const fresh: EndpointView[] = [];
    for (const { runtime, view } of this.#routeViews.get(route) ?? []) {
      const circuit = circuitView(runtime.circuit, at, this.#breaker);
      view.outstanding = runtime.outstanding;
      // A TTFT average with no sample for its span is forgotten: the latency policy then tries
      // the endpoint again (see route-request.ts), so one that was slow can win its traffic back.
      view.ewmaTtftMs = rememberedTtft(runtime, at);
      view.circuit = circuit.circuit;
      view.halfOpenInFlight = circuit.halfOpenInFlight;
      view.backedOff = runtime.retryAfterUntil > at;
      view.backedOffUntil = runtime.retryAfterUntil;
      fresh.push(view);
    }
    return fresh;
  }

  /** The endpoint's circuit as the router sees it now. */
  circuitOf(endpoint: EndpointRuntime): CircuitStatus {
    return circuitView(endpoint.circuit, this.now(), this.#breaker).circuit;
  }

  /**
   * Whether the endpoint's circuit takes a request now outside panic routing: closed, or half-open
   * with a probe slot free (as the router judges it). For an attempt chosen before a wait.
   */
  circuitAdmits(endpoint: EndpointRuntime): boolean {
    const { circuit, halfOpenInFlight } = circuitView(endpoint.circuit, this.now(), this.#breaker);
    return circuit === 'closed' || (circuit === 'half-open' && halfOpenInFlight < this.#breaker.halfOpenProbes);
  }

  setCircuit(endpoint: EndpointRuntime, event: CircuitEvent): void {
    const before = endpoint.circuit;
    endpoint.circuit = nextCircuitState(before, event, this.now(), this.#breaker);
    if (endpoint.circuit.status === 'open' && endpoint.circuit !== before) {
      endpoint.openedAtAttempt = endpoint.attempts;
      // The answer that closed it, if still running, was sent before this opening: its end judges
      // nothing now, not even a later half-open it is no probe of (R77).
      endpoint.closedByAttempt = 0;
    }
  }

  /**
   * An attempt's first token, outside a probe: the endpoint answers, which ends a run of failures
   * (a closed circuit's streak). Not left to the answer's end: a stream its client stops, a hedge
   * leg that lost, a stream still running are answers too, and between failures they must keep a
   * healthy endpoint from being opened by the streak (R74). Costs nothing when there is no run.
   */
  answering(endpoint: EndpointRuntime): void {
    if (endpoint.circuit.status === 'closed' && endpoint.circuit.streak > 0) this.setCircuit(endpoint, 'first-token');
  }

  /**
   * Whether attempt `number` was sent before the endpoint's circuit last opened: its outcome says
   * nothing of the endpoint since, whatever the circuit's state now. Only a probe decides a
   * half-open circuit: a long stream begun before the opening that ended well during half-open
   * closed it with no probe sent, and the requests after went back to a broken endpoint. Nor does
   * one count once a probe has closed it again: time-outs of attempts sent before the opening that
   * came in after counted towards the window and the run, and could reopen a recovered endpoint (R74).
   */
  sentBeforeOpening(endpoint: EndpointRuntime, number: number): boolean {
    return number <= endpoint.openedAtAttempt;
  }

  /**
   * Milliseconds until one of these endpoints may take a probe: at least a second (a half-open circuit
   * whose probe is in flight has no schedule, and a caller told less would be back at once).
   */
  msUntilProbe(ids: readonly string[]): number {
    const at = this.now();
    let soonest = Number.POSITIVE_INFINITY;
    for (const id of ids) {
      const runtime = this.#byId.get(id);
      if (runtime !== undefined) soonest = Math.min(soonest, msUntilHalfOpen(runtime.circuit, at, this.#breaker));
    }
    return Number.isFinite(soonest) ? Math.max(1000, soonest) : 1000;
  }

  /** Gauge readings at scrape time: an open circuit shows as half-open once its open time has passed. */
  *readings(): Iterable<EndpointGaugeReading> {
    const at = this.now();
    for (const endpoint of this.#byId.values()) {
      const status = circuitView(endpoint.circuit, at, this.#breaker).circuit;
      yield { endpoint: endpoint.config.id, inFlight: endpoint.outstanding, attempts: endpoint.attempts, circuit: status === 'closed' ? 0 : status === 'half-open' ? 1 : 2 };
    }
  }
}

/** How an endpoint wants its requests written, when not as its dialect writes them by default. */
function encodingOf(endpoint: EndpointConfig): { encoding?: EncodeOptions } {
  const encoding: { -readonly [K in keyof EncodeOptions]: EncodeOptions[K] } = {};
  if (endpoint.maxTokensField !== undefined) encoding.maxTokensField = endpoint.maxTokensField;
  if (!endpoint.thinking) encoding.withoutThinking = true;
  return Object.keys(encoding).length === 0 ? {} : { encoding };
}
