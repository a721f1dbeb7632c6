import type { IncomingMessage, ServerResponse } from 'node:http';
import type { KeptAliveStream, ResponseHeaders } from './answer-sink.js';
import type { Cancellation } from './cancellation.js';
import type { ResilienceConfig, RouteConfig } from './gateway-config.js';
import type { GatewayCore } from './gateway-core.js';
import type { RequestContext } from './request-context.js';
import type { StoreCalls } from './store-calls.js';
import type { Authenticated } from './tenant-auth.js';
import type { TenantDirectory } from './tenant-directory.js';
import type { RateLimitStore } from './token-bucket.js';

/** What a failed request is counted and logged under, filled in as serving learns it. */
export interface FailureLabels {
  route: string;
  tenant: string | undefined;
  /**
   * Upstream attempts made, once the request was routed: a failed request's log line says them. A
   * number written as serving ends, not a closure over the serving scope: with the closure, requests'
   * objects survived more young-generation collections, whose time went up about 2.5 times.
   */
  attempts?: number;
  /** Which of its tenant's keys the request came with, when the tenant has several (see Authenticated.key). */
  key: string | undefined;
}

/** What a served request reports to metrics and logs; text only when logging.logPrompts is on. */
export interface ServedOutcome {
  readonly status: number;
  readonly endpoint: string;
  readonly route: string;
  readonly tenant: string;
  readonly attempts: number;
  /** The answer's usage as told to the caller (an answer's, not a token count's). */
  readonly inputTokens?: number;
  readonly outputTokens?: number;
  readonly prompt?: string;
  readonly completion?: string;
}

/** A request as the HTTP shell hands it to its handler: its exchange, and what it is known by. */
export interface ServedCall {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly requestId: string;
  /** Response headers gathered for the one write of the response's head. */
  readonly headers: ResponseHeaders;
  readonly labels: FailureLabels;
  /** When its head arrived: its deadline counts from then. */
  readonly arrivedAt: number;
}

/**
 * What the request handlers (a chat answer, a token count) take from the HTTP shell around them:
 * the core, the tenants as reloads leave them, the rate-limit store, and the shell's own part in a
 * request (its body read within the gateway's budgets, its place in a shutdown).
 */
export interface ServingShell {
  readonly core: GatewayCore;
  readonly tenants: TenantDirectory;
  readonly limits: RateLimitStore;
  readonly store: StoreCalls;
  /** One for every request: a silent stand-in made per request was three objects per open stream. */
  readonly log: RequestContext['log'];
  /** Unique opaque tokens for response ids. */
  readonly generateId: () => string;
  /** Streams the keep-alive sweep sends their dialect's ping when they go quiet. */
  readonly keptAlive: Set<KeptAliveStream>;
  readonly routes: ReadonlyMap<string, RouteConfig>;
  /** Each route's resilience, merged once rather than per request. */
  readonly resilienceByRoute: ReadonlyMap<RouteConfig, ResilienceConfig>;
  /** Whether a shutdown is ending the requests in flight (its grace period over). */
  shuttingDown(): boolean;
  /**
   * Runs `serve` for a request that reaches upstreams: refused while the gateway drains, its deadline
   * (made first, so a shutdown reaches a request still sending its body) tracked for the shutdown,
   * its tenant authenticated.
   */
  tracked<T>(req: IncomingMessage, labels: FailureLabels, serve: (authenticated: Authenticated, deadline: Cancellation) => Promise<T>): Promise<T>;
  /** A request's body; a shutdown's cancellation (`deadline`) ends the wait for the rest of it, with a 503. */
  readBody(req: IncomingMessage, res: ServerResponse, deadline: Cancellation): Promise<unknown>;
}
