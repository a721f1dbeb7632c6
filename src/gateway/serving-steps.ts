import type { ServerResponse } from 'node:http';
import { quoteIdentifier } from '../protocol/request-problem.js';
import { retryAfterHeaders } from '../protocol/retry-after-headers.js';
import type { Cancellation } from './cancellation.js';
import { ClientError } from './client-error.js';
import type { ResilienceConfig, RouteConfig, TenantConfig } from './gateway-config.js';
import { judgeAfterReads } from './judge-after-reads.js';
import type { FailureLabels, ServingShell } from './serving-shell.js';
import type { Authenticated } from './tenant-auth.js';
import type { TenantLimitDecision } from './token-bucket.js';

// The steps a chat answer and a token count both take, between the HTTP shell and the upstreams.

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
  return shell.resilienceByRoute.get(route) ?? shell.core.config.resilience;
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
