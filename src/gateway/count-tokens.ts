import type { ChatRequest } from '../protocol/chat.js';
import { quoteIdentifier } from '../protocol/request-problem.js';
import { Cancellation } from './cancellation.js';
import { ClientError } from './client-error.js';
import { allowsJurisdictionOf, logFailedAttempt, routeFailureError, upstreamFailureError } from './first-answer.js';
import type { ResilienceConfig, RouteConfig } from './gateway-config.js';
import type { GatewayCore } from './gateway-core.js';
import type { RequestContext } from './request-context.js';
import { failureToTell, isRequestFault } from './retry-policy.js';
import { routeTokenCount, type RouteDecision, type RouteInput } from './route-request.js';
import { secondOpinionRoute } from './second-opinion.js';
import { rememberRetryAfter } from './upstream-attempt.js';
import type { UpstreamFailure } from './upstream-client.js';
import { judgeAfterReads } from './judge-after-reads.js';

/** One token count to serve: what routing needs, and the request's own bounds. */
export interface TokenCountJob {
  readonly requestId: string;
  /** The Via header the request came with, carried onto its upstream calls (see RequestContext.via). */
  readonly via: string | undefined;
  /** Where each failed attempt gets its line, as an answer's does. */
  readonly log: RequestContext['log'];
  readonly tenantId: string;
  readonly route: RouteConfig;
  readonly resilience: ResilienceConfig;
  /** The request as routing reads it, less the endpoints already asked. */
  readonly routeInput: (tried: ReadonlySet<string>) => RouteInput;
  /** Cancelled by the request's deadline, its client leaving (`clientGone`) or the gateway's shutdown (`shuttingDown`). */
  readonly deadline: Cancellation;
  readonly clientGone: () => boolean;
  readonly shuttingDown: () => boolean;
}

export interface TokenCount {
  readonly inputTokens: number;
  /** The endpoint that counted. */
  readonly endpoint: string;
  readonly attempts: number;
}

/**
 * Statuses of a server without the counting API (an Anthropic-compatible server may lack it; recent
 * vLLM has it), or without the model: passed over, not held against it.
 */
const noCountingStatuses: ReadonlySet<number> = new Set([404, 405, 501]);

/**
 * Asks counting endpoints in their routed order until one counts. Each endpoint is asked once
 * (a count is cheap to ask elsewhere, and its caller can ask again): one that fails (unreachable,
 * 5xx, 429, no answer within the TTFT timeout, no counting API, a window too small for the prompt)
 * is passed over. A refusal of the request itself (400, 413, 422) gets one second opinion, as an
 * answer's does (from another deployment where one can count: see secondOpinionRoute): an endpoint
 * that refuses what others take must not fail every count routed to it first; two refusals are the
 * caller's fault, and it gets the first. Every attempt is routed afresh, so
 * jurisdiction is checked for each. Counts neither open nor close circuits: a circuit judges
 * answers. Throws a ClientError when no endpoint counts.
 */
export async function countTokens(core: GatewayCore, job: TokenCountJob, request: ChatRequest, /** The endpoints asked, filled as they are: a caller may read how many. */ tried = new Set<string>()): Promise<TokenCount> {
  /** The last failure that was not a missing counting API. */
  let failed: (UpstreamFailure & { readonly endpoint: string }) | undefined;
  /** The first refusal of the request, while its second opinion is asked. */
  let refused: (UpstreamFailure & { readonly endpoint: string }) | undefined;
  /** The last failure that asked for a wait (a 429, 503 or 529 with a Retry-After). */
  let askedToWait: (UpstreamFailure & { readonly endpoint: string }) | undefined;
  let passedOver: string | undefined;
  for (;;) {
    if (job.deadline.cancelled) throw stopped(job, failed?.endpoint);
    const route = (exclude: ReadonlySet<string>): RouteDecision => routeTokenCount(job.routeInput(exclude), core.endpoints.views(job.route), core.policy, core.random);
    let decision = route(tried);
    // A refusal waiting for its second opinion: asked where it can be one, as an answer's is.
    const refusing = refused === undefined ? undefined : core.endpoints.get(refused.endpoint);
    if (refusing !== undefined && decision.ok) {
      const preferred = secondOpinionRoute(route, tried, refusing, core.endpoints.runtimesOf(job.route), (endpoint) => core.endpoints.circuitOf(endpoint));
      // Counts rank windows that hold the prompt first, not only: not one too small for it while routing's own choice holds it (R71).
      const promptTokens = job.routeInput(tried).promptTokens;
      const holds = (choice: RouteDecision | undefined): boolean => choice?.ok === true && (choice.ranked[0]?.contextWindow ?? 0) >= promptTokens;
      if (preferred !== undefined && (holds(preferred) || !holds(decision))) decision = preferred;
    }
    if (!decision.ok) {
      if (tried.size === 0) throw routeFailureError(core, decision, job.tenantId);
      break;
    }
    const endpoint = core.endpoints.get(decision.ranked[0]?.id ?? '');
    if (endpoint === undefined) break;
    tried.add(endpoint.config.id);
    endpoint.attempts += 1;
    // In flight, as an answer's attempt is: load-aware ranking sees it.
    endpoint.outstanding += 1;
    const { cancellation, detach } = job.deadline.child();
    let timedOut = false;
    // A count that came while the gateway was held up is not a late one (see judgeAfterReads).
    const stopTimer = judgeAfterReads(() => {
      timedOut = true;
      cancellation.cancel();
    }, job.resilience.ttftTimeoutMs);
    // A resend on a fresh connection goes only where the tenant's jurisdictions still allow (a reload may narrow them).
    const mayResend = (): boolean => allowsJurisdictionOf(job.routeInput(tried), endpoint);
    const sentRequestId = core.upstreamRequestId(job.requestId);
    const answer = await core.upstream.countTokens(endpoint.target, { ...request, model: endpoint.config.model }, cancellation, sentRequestId, mayResend, job.via).finally(() => {
      stopTimer();
      detach();
      endpoint.outstanding -= 1;
    });
    if (answer.kind === 'count') return { inputTokens: answer.inputTokens, endpoint: endpoint.config.id, attempts: tried.size };
    if (job.deadline.cancelled) throw stopped(job, endpoint.config.id);
    // Withdrawn by a reload before its resend (see UpstreamFailure.withdrawn): routed again, no failure of anyone's.
    if (answer.withdrawn === true) {
      tried.delete(endpoint.config.id);
      job.log.info({ requestId: job.requestId, endpoint: endpoint.config.id }, 'resend withdrawn: the tenant may no longer use this endpoint');
      continue;
    }
    const failure = timedOut ? { ...answer, status: 504, message: `no count within the TTFT timeout (${String(job.resilience.ttftTimeoutMs)} ms)`, fromUpstream: false } : answer;
    const noCountingApi = failure.fromUpstream && noCountingStatuses.has(failure.status);
    // The gateway's own failure (it could not write the request) is logged, not counted against the endpoint, as for answers.
    if (failure.gatewayFault !== true) core.metrics.upstreamErrors.inc({ endpoint: endpoint.config.id, status: String(failure.status) });
    logFailedAttempt(core, job, endpoint.config.id, { ...failure, sentRequestId }, noCountingApi);
    const retryAfterAt = rememberRetryAfter(endpoint, failure.status, failure.retryAfter, core.now());
    if (failure.gatewayFault === true) throw upstreamFailureError(core, failure, endpoint.config.id, 'failed to count tokens');
    if (noCountingApi) {
      // When none counts, the 404's log line names those tried: the operator can mark them tokenCounting: false.
      passedOver = endpoint.config.id;
      continue;
    }
    failed = { ...failure, endpoint: endpoint.config.id, ...(retryAfterAt === undefined ? {} : { retryAfterAt }) };
    if (retryAfterAt !== undefined) askedToWait = failed;
    // A window too small for the prompt is no verdict on the request: a larger one may count it.
    if (isRequestFault(failure.status) && failure.code !== 'context_length_exceeded') {
      if (refused !== undefined) break;
      refused = failed;
    }
  }
  // The first refusal tells the caller what to fix; a second opinion that failed for reasons of its own says nothing.
  if (refused !== undefined) failed = refused;
  // As for answers: a last failure that names no wait, after one whose wait still runs, gives way to it.
  else if (failed !== undefined) failed = failureToTell(failed, askedToWait, core.now());
  if (failed === undefined) {
    throw new ClientError(404, 'not_found', `token counting for model ${quoteIdentifier(job.route.model)} is not served here: its endpoints answered 404, 405 or 501 (no token counting API, or not the model); each answer's usage has its input tokens`, { ...(passedOver === undefined ? {} : { endpoint: passedOver }), logMessage: `no endpoint counted tokens: ${[...tried].join(', ')} answered 404, 405 or 501 (mark such an endpoint tokenCounting: false)` });
  }
  throw upstreamFailureError(core, failed, failed.endpoint, 'failed to count tokens');
}

/** The client left (499, which no one reads), the gateway shut down (503) or the deadline passed (504). */
function stopped(job: TokenCountJob, endpoint: string | undefined): ClientError {
  const at = endpoint === undefined ? {} : { endpoint };
  if (job.clientGone()) return new ClientError(499, 'api_error', 'the client went away before the count', at);
  if (job.shuttingDown()) return new ClientError(503, 'overloaded', 'the gateway shut down before the count; retry the request', at);
  return new ClientError(504, 'timeout', `no endpoint counted within the ${String(job.resilience.deadlineMs)} ms deadline`, at);
}
