import type { IncomingMessage, ServerResponse } from 'node:http';
import { quoteIdentifier } from '../protocol/request-problem.js';
import { retryAfterHeaders } from '../protocol/retry-after-headers.js';
import type { KeptAliveStream, ResponseHeaders } from './answer-sink.js';
import type { Cancellation } from './cancellation.js';
import { ClientError } from './client-error.js';
import type { ResilienceConfig, RouteConfig, TenantConfig } from './gateway-config.js';
import type { GatewayCore } from './gateway-core.js';
import { judgeAfterReads } from './judge-after-reads.js';
import type { RequestContext } from './request-context.js';
import type { StoreCalls } from './store-calls.js';
import type { Authenticated } from './tenant-auth.js';
import type { TenantDirectory } from './tenant-directory.js';
import type { RateLimitStore, TenantLimitDecision } from './token-bucket.js';

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
  readonly resilienceOf: ReadonlyMap<RouteConfig, ResilienceConfig>;
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

/** The tenant a request is admitted as, once its body is in (see TenantDirectory.admitted), into its labels. */
export function admittedTenant(shell: ServingShell, authenticated: Authenticated, labels: FailureLabels): TenantConfig {
  const now = shell.tenants.admitted(authenticated);
  labels.tenant = now.tenant.id;
  labels.key = now.key;
  return now.tenant;
}

/** The route of a public model name, or a 404. */
export function routeOf(shell: ServingShell, model: string, labels: FailureLabels): RouteConfig {
  const route = shell.routes.get(model);
  if (route === undefined) throw new ClientError(404, 'not_found', `model ${quoteIdentifier(model)} is not served here; GET /v1/models lists the models`, { code: 'model_not_found' });
  labels.route = route.model;
  return route;
}

/** A route's resilience settings. */
export function resilienceOf(shell: ServingShell, route: RouteConfig): ResilienceConfig {
  return shell.resilienceOf.get(route) ?? shell.core.config.resilience;
}

/** A tenant limit's refusal, with the wait until both limits let the request through. */
export function overLimit(shell: ServingShell, tenant: TenantConfig, admitted: Extract<TenantLimitDecision, { allowed: false }>, neededTokens = 0): ClientError {
  shell.core.metrics.rateLimited.inc({ tenant: tenant.id, limit: admitted.limit });
  const retry = retryAfterHeaders(admitted.retryAfterMs);
  const waitMs = Number(retry['retry-after-ms'] ?? Number.NaN);
  // The wait as the headers give it: under a second in milliseconds (retry-after-ms, which the SDKs read), else in whole seconds.
  const wait = waitMs < 1000 ? `${String(waitMs)} ms` : `${retry['retry-after'] ?? '?'} s`;
  // A request that needs the whole limit waits for a full bucket, which the headers' "remaining" does not show.
  const whole = admitted.limit === 'tokens' && neededTokens >= tenant.tokensPerMinute ? ` (this request needs all ${String(tenant.tokensPerMinute)} tokens of it at once: its max_tokens was lowered to what the limit leaves after the prompt; a smaller max_tokens waits less)` : '';
  return new ClientError(429, 'rate_limit', `tenant ${tenant.id} is over its ${admitted.limit}-per-minute limit${whole}; retry after ${wait}`, { headers: retry, limit: admitted.limit });
}

/**
 * A request whose upload took its whole deadline: refused before it is charged or sent anywhere
 * (R30: it was sent upstream, and the 504 then blamed the endpoints, or it was answered late).
 */
export function refuseIfArrivedLate(shell: ServingShell, arrivedAt: number, resilience: ResilienceConfig): void {
  const took = shell.core.now() - arrivedAt;
  if (took >= resilience.deadlineMs) throw new ClientError(408, 'timeout', `the request took ${String(took)} ms to arrive, its whole deadline of ${String(resilience.deadlineMs)} ms (counted from when its head arrived): send it faster`);
}

/** A request's watch on its client and deadline (see watchClient). */
export interface ClientWatch {
  /** Whether the client left before its answer was sent. */
  readonly gone: () => boolean;
  /** Stops the deadline's timer. */
  readonly stopDeadline: () => void;
  /** Stops watching the client. */
  stop(): void;
}

/**
 * Ends a request's upstream work (`deadline`) at its deadline, or when its client leaves first
 * (`onGone` runs then, before the cancellation); `gone` tells the two apart. `stop` once it is served.
 */
export function watchClient(res: ServerResponse, deadline: Cancellation, deadlineMs: number, onGone: () => void = () => undefined): ClientWatch {
  let gone = false;
  // An answer that came while the gateway was held up is not one past its deadline (see judgeAfterReads).
  const stopDeadline = judgeAfterReads(() => deadline.cancel(), deadlineMs);
  const onClose = (): void => {
    if (res.writableFinished) return;
    gone = true;
    onGone();
    deadline.cancel();
  };
  res.on('close', onClose);
  return { gone: () => gone, stopDeadline, stop: () => res.off('close', onClose) };
}
