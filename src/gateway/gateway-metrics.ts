import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/** The gateway's Prometheus metrics, on a registry of its own (several gateways can share a process). */
export interface GatewayMetrics {
  readonly registry: Registry;
  readonly requests: Counter<'route' | 'endpoint' | 'status' | 'dialect'>;
  readonly tokenCounts: Counter<'route' | 'endpoint' | 'status'>;
  readonly ttft: Histogram<'route' | 'endpoint'>;
  readonly tpot: Histogram<'route' | 'endpoint'>;
  readonly tokens: Counter<'route' | 'endpoint' | 'direction'>;
  readonly retries: Counter<'route'>;
  readonly failovers: Counter<'route'>;
  readonly panicRoutes: Counter<'route'>;
  readonly hedges: Counter<'route' | 'outcome'>;
  readonly resumes: Counter<'route' | 'outcome'>;
  readonly circuitState: Gauge<'endpoint'>;
  readonly jurisdictionRejections: Counter<'tenant'>;
  readonly rateLimited: Counter<'tenant' | 'limit'>;
  readonly tenantTokens: Counter<'tenant'>;
  readonly upstreamErrors: Counter<'endpoint' | 'status'>;
  readonly upstreamResends: Counter<'endpoint'>;
  readonly inFlight: Gauge<'endpoint'>;
  readonly attempts: Counter<'endpoint'>;
  readonly configReloads: Counter<'outcome'>;
}

// Up to the default deadline (120 s), so a slow tail is still resolved rather than all in +Inf.
const latencyBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];
const tokenIntervalBuckets = [0.001, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.2, 0.5, 1];

/** One endpoint's live state, read when metrics are scraped rather than written per request. */
export interface EndpointGaugeReading {
  readonly endpoint: string;
  readonly inFlight: number;
  /** Attempts started since the gateway started. */
  readonly attempts: number;
  /** 0 closed, 1 half-open, 2 open. */
  readonly circuit: number;
}

/**
 * `processMetrics`: also export the process's own (prom-client's defaults: resident memory, heap,
 * CPU, open files, event-loop lag, GC), for the one gateway a process runs; off by default, since
 * their event-loop monitor runs for the life of the process.
 */
export function createGatewayMetrics(readEndpoints: () => Iterable<EndpointGaugeReading> = () => [], options: { readonly processMetrics?: boolean } = {}): GatewayMetrics {
  const registry = new Registry();
  const registers = [registry];
  if (options.processMetrics === true) collectDefaultMetrics({ register: registry });
  return {
    registry,
    requests: new Counter({ name: 'switchyard_requests_total', help: 'Requests answered by public route (none when no route was reached: also refused requests on any path), final endpoint, status and inbound dialect', labelNames: ['route', 'endpoint', 'status', 'dialect'], registers }),
    tokenCounts: new Counter({ name: 'switchyard_token_count_requests_total', help: 'Token count requests (POST /v1/messages/count_tokens), served and refused, by public route, endpoint that counted and status; not in switchyard_requests_total', labelNames: ['route', 'endpoint', 'status'], registers }),
    ttft: new Histogram({ name: 'switchyard_ttft_seconds', help: 'Time to first token as the caller waits for it, from the request\'s arrival (failed attempts, backoff and hedges included); endpoint: the one that answered', labelNames: ['route', 'endpoint'], buckets: latencyBuckets, registers }),
    tpot: new Histogram({ name: 'switchyard_tpot_seconds', help: 'Mean time per output token after the first, per answer: the span from first to last token over the tokens streamed (the upstream\'s count, but no more than the chunks or the text\'s estimate, whichever is more); resumed answers are left out', labelNames: ['route', 'endpoint'], buckets: tokenIntervalBuckets, registers }),
    tokens: new Counter({ name: 'switchyard_tokens_total', help: 'Tokens by direction (input, output) as each endpoint used them, per attempt that reached its first token: its usage (a resume: the continuation prompt it was sent and its share of the answer), or for an attempt cut short the prompt estimate and the tokens it sent, whether or not they reached the caller (a whole answer that failed reaches none, and its tenant is not charged)', labelNames: ['route', 'endpoint', 'direction'], registers }),
    retries: new Counter({ name: 'switchyard_retries_total', help: 'Attempts beyond the first in each search for an answer (a request\'s first answer, or a resume\'s): failovers to another endpoint (also counted in switchyard_failovers_total) and revisits after a backoff; the resumes themselves and hedges are counted in their own metrics', labelNames: ['route'], registers }),
    failovers: new Counter({ name: 'switchyard_failovers_total', help: 'Attempts moved to a different endpoint after a failure', labelNames: ['route'], registers }),
    panicRoutes: new Counter({ name: 'switchyard_panic_routes_total', help: 'Attempts sent to circuit-ejected endpoints (resilience.panicRouting): because every endpoint the request could use was ejected, or a retry going back to one that failed the request less than those still closed', labelNames: ['route'], registers }),
    hedges: new Counter({ name: 'switchyard_hedges_total', help: 'Hedged attempts started, by outcome: primary or hedge (the attempt that won), both-failed (each failed, or the deadline passed), cancelled (the client left, or the gateway shut down, before either answered)', labelNames: ['route', 'outcome'], registers }),
    resumes: new Counter({ name: 'switchyard_stream_resumes_total', help: 'Broken answers resumed by continuation (resumed), started over whole when nothing had reached the client (restarted), or ended with an error: an error event for a stream (error-event), an error status for a whole answer (failed)', labelNames: ['route', 'outcome'], registers }),
    circuitState: new Gauge({
      name: 'switchyard_circuit_state',
      help: 'Circuit breaker per endpoint: 0 closed, 1 half-open, 2 open',
      labelNames: ['endpoint'],
      registers,
      collect() {
        for (const reading of readEndpoints()) this.set({ endpoint: reading.endpoint }, reading.circuit);
      },
    }),
    jurisdictionRejections: new Counter({ name: 'switchyard_jurisdiction_rejections_total', help: 'Requests refused because no endpoint was inside the allowed jurisdictions', labelNames: ['tenant'], registers }),
    // Each outcome shown from the start, at 0, so an alert on 'invalid' has a series to watch.
    configReloads: withOutcomes(new Counter({ name: 'switchyard_config_reloads_total', help: 'Reloads of the config file (SIGHUP), by outcome: applied (its tenants taken), restart-needed (it changed more than tenants: nothing taken), invalid (it has problems: nothing taken)', labelNames: ['outcome'], registers }), ['applied', 'restart-needed', 'invalid']),
    rateLimited: new Counter({ name: 'switchyard_rate_limited_total', help: 'Requests refused by tenant limits', labelNames: ['tenant', 'limit'], registers }),
    tenantTokens: new Counter({ name: 'switchyard_tenant_tokens_total', help: "Tokens charged to each tenant's tokens-per-minute limit once its request settled: the prompt and the answer as served (what its 429s are judged by; not a token count's, which is charged none)", labelNames: ['tenant'], registers }),
    upstreamErrors: new Counter({ name: 'switchyard_upstream_errors_total', help: 'Failed upstream attempts by status (0 = connection failure: none made, one lost, or an answer that is not HTTP; 504 = TTFT timeout, stream = broken after the first token); attempts the gateway cancelled itself are not counted', labelNames: ['endpoint', 'status'], registers }),
    upstreamResends: new Counter({ name: 'switchyard_upstream_resends_total', help: 'Requests sent once more on a fresh connection because their connection was lost at once, before any answer (as one the upstream dropped as it was reused is); not failures, and inside one attempt', labelNames: ['endpoint'], registers }),
    inFlight: new Gauge({
      name: 'switchyard_upstream_in_flight',
      help: 'Outstanding upstream requests per endpoint',
      labelNames: ['endpoint'],
      registers,
      collect() {
        for (const reading of readEndpoints()) this.set({ endpoint: reading.endpoint }, reading.inFlight);
      },
    }),
    attempts: new Counter({
      name: 'switchyard_upstream_attempts_total',
      help: 'Upstream attempts started per endpoint: first tries, retries, failovers, resumes and both legs of a hedge, including attempts cancelled before an answer, and token counts asked',
      labelNames: ['endpoint'],
      registers,
      // Kept as a count on the endpoint and read at scrape time, as the gauges are: nothing per request.
      collect() {
        this.reset();
        for (const reading of readEndpoints()) this.inc({ endpoint: reading.endpoint }, reading.attempts);
      },
    }),
  };
}

/**
 * Each tenant's series at 0, so that increase() and rate() see its first charge, rate limit and
 * jurisdiction refusal after a start or a reload (an alert on the first refusal would miss it).
 */
export function seedTenantSeries(metrics: Pick<GatewayMetrics, 'tenantTokens' | 'rateLimited' | 'jurisdictionRejections'>, tenants: readonly { readonly id: string }[]): void {
  for (const { id } of tenants) {
    metrics.tenantTokens.inc({ tenant: id }, 0);
    metrics.jurisdictionRejections.inc({ tenant: id }, 0);
    for (const limit of ['requests', 'tokens']) metrics.rateLimited.inc({ tenant: id, limit }, 0);
  }
}

/** A counter with a series, at 0, for each outcome it will count. */
function withOutcomes(counter: Counter<'outcome'>, outcomes: readonly string[]): Counter<'outcome'> {
  for (const outcome of outcomes) counter.inc({ outcome }, 0);
  return counter;
}
