import type { GatewayConfig } from './gateway-config.js';
import type { GatewayMetrics } from './gateway-metrics.js';
import type { Cancellation } from './cancellation.js';
import type { EndpointPool } from './endpoint-pool.js';
import type { RoutingPolicy } from './route-request.js';
import type { UpstreamClient } from './upstream-client.js';

/** An attempt past its first token, as the idle sweep sees it. */
export interface StreamWatch {
  /** When it last sent a token (or started). */
  lastActive: number;
  readonly cancellation: Cancellation;
  /** Set by the sweep when it cut the attempt for silence, or by the pump when it cut it for crawling. */
  stalled: boolean;
  /** Of the attempt's latest gaps between tokens, how many in a row were long (see answer-pump's crawl rule), and how long they took together. */
  slowGaps: number;
  slowSpanMs: number;
  /** Cut for crawling, not for silence: its tokens came too far apart too many times in a row. */
  crawled: boolean;
  /**
   * The answer is where its upstream may be silent by design: inside a tool call from an upstream
   * whose API may hold the call's arguments back until they are whole (Dialect.mayHoldToolArguments),
   * or inside a thinking block whose text is not shown (only its signature comes, at its end). The
   * sweep leaves it to the deadline, since silence there is no sign of a stall.
   */
  quietByDesign: boolean;
}

/**
 * What the serving modules (attempts, first answer, answer pump) share: the config,
 * the injected clock and randomness, metrics, the upstream client and the live
 * endpoint state. One per gateway; the HTTP server is a shell around it.
 */
export interface GatewayCore {
  readonly config: GatewayConfig;
  readonly now: () => number;
  readonly random: () => number;
  readonly metrics: GatewayMetrics;
  readonly upstream: UpstreamClient;
  readonly endpoints: EndpointPool;
  readonly policy: RoutingPolicy;
  /** Attempts past their first token, cut by the idle sweep when they go quiet. */
  readonly watched: Set<StreamWatch>;
  /** Whether the gateway is closing its upstream client (its shutdown's end): what that cuts is no endpoint's failure. */
  readonly closing: () => boolean;
  /**
   * The x-request-id an upstream attempt is sent: the request's id and a number no other attempt
   * of this gateway has (two requests may carry the same caller id, and vLLM refuses an id
   * already running).
   */
  upstreamRequestId(requestId: string): string;
}
