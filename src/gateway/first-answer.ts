import { defaultMaxOutputTokens, type ChatRequest } from '../protocol/chat.js';
import type { Cancellation } from './cancellation.js';
import { ClientError } from './client-error.js';
import { recordTtftAtLeast, type EndpointRuntime } from './endpoint-pool.js';
import type { GatewayCore } from './gateway-core.js';
import { routedPromptTokens, type RequestContext } from './request-context.js';
import { answerForUpstreamFailure, backoffMs, connectFailureStatus, failureToTell, isRequestFault, isRetryableStatus, isWorthRevisiting, relayedWait } from './retry-policy.js';
import { retryAfterHeaders } from '../protocol/retry-after-headers.js';
import { effectiveJurisdictions, routeRequest, type RouteDecision, type RouteInput } from './route-request.js';
import { releaseAttempt, startAttempt, type Attempt, type FailedAttempt, type StreamAttempt } from './upstream-attempt.js';
import type { UpstreamFailure } from './upstream-client.js';
import { judgeAfterReads } from './judge-after-reads.js';
import { otherDeploymentLeft, sameDeploymentAs, sameShape, secondOpinionRoute } from './second-opinion.js';

/** The room for its answer in an ordinary window that keeps a request without max_tokens from a reserved long-context one: half the default budget. */
const enoughRoom = defaultMaxOutputTokens / 2;

/**
 * Tries endpoints until one answers: failover to a fresh eligible endpoint is
 * immediate and always allowed, so no request fails while an eligible endpoint it
 * has not tried remains; going back to one already tried is what `retries` bounds,
 * and waits a jittered backoff (honouring Retry-After). Every attempt, retry and
 * hedge is re-routed, so eligibility (jurisdiction first) is re-checked each time;
 * the deadline bounds the whole. Throws a ClientError when no attempt can answer.
 * `goingBack`: how many more times the request may go back to an endpoint it tried; by default
 * `retries`, and shared by the calls that resume one answer, so that their sum is bounded too.
 */
export async function firstAnswer(core: GatewayCore, context: RequestContext, request: ChatRequest, tried: Set<string>, cancellation: Cancellation, goingBack?: GoingBack): Promise<Attempt> {
  const { endpoints, metrics, policy, random } = core;
  // `outputTokens`: route as if the answer's budget were that (the room it may be cut to), the context unchanged.
  const route: Route = (exclude, outputTokens) => {
    const input = context.routeInput(exclude);
    return routeRequest(outputTokens === undefined ? input : { ...input, maxOutputTokens: outputTokens }, endpoints.views(context.route), policy, random);
  };
  let last: Attempt | undefined;
  const budget = goingBack ?? { left: context.resilience.retries };
  /** Revisits in this call: the backoff grows with them. */
  let revisits = 0;
  /** The first refusal of the request as the caller's fault (400, 413, 422), while another endpoint is asked. */
  let refused: FailedAttempt | undefined;
  const noteRefusal = (failed: FailedAttempt): void => {
    refused ??= failed;
  };
  /** The latest failure a wait may cure (a 5xx, a 429, a timeout): answered rather than a smaller window's context-length refusal. */
  let transient: FailedAttempt | undefined;
  /** The failures that themselves asked for a wait (a 429, 503 or 529 whose Retry-After parsed), a hedge's failed leg included, in order. */
  const waits: FailedAttempt[] = [];
  const noteWait = (failed: FailedAttempt): void => {
    if (failed.retryAfterAt !== undefined) waits.push(failed);
  };
  /** The largest window that refused the prompt as too long: a wait helps only in a larger one. */
  let refusingWindow = 0;
  const noteContextRefusal = (failed: FailedAttempt): void => {
    refusingWindow = Math.max(refusingWindow, failed.endpoint.config.contextWindow);
    raiseFloor(context, tried, failed);
  };
  const noteTransient = (failed: FailedAttempt): void => {
    if (isRetryableStatus(failed.status)) transient = failed;
  };
  /** Whether the last attempt was withdrawn by a reload (no failure: the next one is no retry or failover). */
  let withdrawn = false;
  /** Attempts this call has sent: the ones after the first are retries (a resume's first is not). */
  let sent = 0;
  // Ends: each pass tries a fresh endpoint (finitely many) or revisits one (at most `retries`).
  for (;;) {
    if (cancellation.cancelled) throw stoppedError(context, last?.endpoint.config.id);
    let decision = route(tried);
    // A continuation with no fresh window that has room to finish it whole (none has, or those that
    // have are tried or held back): it goes on in the fresh window with the most room, cut to that
    // room; failing that (a context refusal), anywhere it can go on at all.
    const continuationStuck = decision.ok ? decision.panic : decision.code === 'context' || decision.code === 'unavailable';
    if (continuationStuck && context.resumed !== undefined && context.resumed.outputTokens > 1) {
      const largestWindow = largestOpenWindow(core, context, route, tried);
      const wanted = context.resumed.outputTokens;
      if (largestWindow !== undefined) {
        context.resumed = { ...context.resumed, outputTokens: Math.max(1, Math.min(largestWindow - routedPromptTokens(context), wanted - 1)) };
        decision = route(tried);
      }
      if (!decision.ok && decision.code === 'context') {
        context.resumed = { ...context.resumed, outputTokens: 1 };
        decision = route(tried);
      }
    }
    // A request without max_tokens that only a reserved long-context window holds with room for the
    // default budget, while an ordinary window holds its prompt with room for half of it: the reserved
    // window is for prompts that need it (E48: a one-word prompt went there, ordinary windows being
    // 4,000 tokens). It goes to the ordinary window with the most room, answered up to that window's
    // end, as vLLM answers a request without a budget. With less room than that in every ordinary
    // window, the reserved one's room serves the answer better, and it goes there as before.
    if (decision.ok && !decision.panic && context.resumed === undefined && request.maxTokens === undefined && context.roomBudget === undefined && context.promptFloor === undefined && decision.ranked.every((endpoint) => endpoint.longContext)) {
      const ordinary = route(tried, enoughRoom);
      if (ordinary.ok && !ordinary.panic && ordinary.ranked.every((endpoint) => !endpoint.longContext)) {
        context.roomBudget = Math.max(...ordinary.ranked.map((endpoint) => endpoint.contextWindow)) - routedPromptTokens(context);
        decision = route(tried);
      }
    }
    // A request without max_tokens whose prompt leaves no window room for the default: it goes where
    // the largest window leaves the most room, answered up to that window's end. Not once an upstream
    // refused its prompt as too long (promptFloor): the room left is then a guess a window of the
    // same size would refuse too.
    if (!decision.ok && decision.code === 'context' && context.resumed === undefined && request.maxTokens === undefined && context.roomBudget === undefined && context.promptFloor === undefined && decision.largestWindow > routedPromptTokens(context)) {
      context.roomBudget = decision.largestWindow - routedPromptTokens(context);
      decision = route(tried);
    }
    // Such a request whose windows with room for the default have all been tried, or are held back by
    // their circuits: rather than go back to one, or send it to one by panic routing (a hung one
    // would cost it a TTFT timeout), it goes on to an ordinary window, answered up to its end.
    // The same when the window a room budget was taken from has been tried or is held back: the
    // budget shrinks to the room of the largest window left.
    const noRoomyWindowLeft = decision.ok ? decision.panic : decision.code === 'unavailable';
    if (noRoomyWindowLeft && context.resumed === undefined && request.maxTokens === undefined && context.promptFloor === undefined) {
      const largestWindow = largestOpenWindow(core, context, route, tried);
      const room = largestWindow === undefined ? undefined : largestWindow - routedPromptTokens(context);
      // A request sent to an ordinary window for its room (enoughRoom, above) whose ordinary windows
      // with that room are spent goes back to the whole budget, where a reserved window has it, rather
      // than on to less room than that (R40).
      const whole = context.roomBudget !== undefined && context.roomBudget >= enoughRoom && room !== undefined && room < enoughRoom ? route(tried, defaultMaxOutputTokens) : undefined;
      if (whole?.ok === true && !whole.panic) {
        context.roomBudget = undefined;
        decision = whole;
      } else if (room !== undefined && (context.roomBudget === undefined || room < context.roomBudget)) {
        context.roomBudget = room;
        decision = route(tried);
      }
    }
    // Such a request whose windows at the room budget are all spent: back to the whole budget, where
    // a roomy window held back by its circuit (a reserved long-context one) may still take it by
    // panic routing, rather than go back to a spent one or be refused.
    if (!decision.ok && decision.code === 'unavailable' && context.roomBudget !== undefined && context.resumed === undefined && request.maxTokens === undefined) {
      const whole = route(tried, defaultMaxOutputTokens);
      if (whole.ok) {
        context.roomBudget = undefined;
        decision = whole;
      }
    }
    // A refusal waiting for its second opinion: asked where it can be one (see secondOpinionRoute).
    if (refused !== undefined && decision.ok) decision = secondOpinionRoute(route, tried, refused.endpoint, endpoints.runtimesOf(context.route), (endpoint) => endpoints.circuitOf(endpoint)) ?? decision;
    let revisiting = false;
    // Every eligible endpoint tried: go back to one, after a transient failure or to resume a
    // stream. Never to one that rejected the gateway's configuration; first to those that failed
    // this request least, and among them to one not asking to be left alone (Retry-After).
    // Not while a refusal waits for its second opinion: that goes to fresh endpoints only.
    const mayRevisit = refused === undefined && (last === undefined ? tried.size > 0 : last.kind === 'failed');
    if (!decision.ok && decision.code === 'unavailable' && mayRevisit) {
      if (budget.left <= 0) break;
      budget.left -= 1;
      revisits += 1;
      // The endpoints this request may go back to: eligible for it, not banned.
      const banned = context.banned ?? new Set<string>();
      const open = route(banned);
      if (open.ok) {
        const openIds = open.ranked.map((ranked) => ranked.id);
        // Those it tried that a circuit has ejected since (for others' failures too) are candidates
        // as well, by panic routing when it is on: going back again to the one that keeps failing
        // this request helps less than one that failed it less. Circuits break ties.
        const ejected = open.panic ? undefined : route(new Set([...banned, ...openIds]));
        const ejectedTried = ejected?.ok === true && ejected.panic ? ejected.ranked.map((ranked) => ranked.id).filter((id) => (context.failures?.get(id) ?? 0) > 0) : [];
        decision = route(revisitExclusions(core, context, [...openIds, ...ejectedTried]));
        if (!decision.ok && decision.code === 'unavailable') decision = open;
      } else decision = open;
      revisiting = true;
    }
    if (!decision.ok) {
      // A smaller window refused the prompt as too long and the larger ones are held back by their
      // circuits: a wait cures that, which the refusal ("shorten the prompt") would not say.
      // (A failure a wait cures in a window no larger than the refusing one cures nothing here.)
      if (refused === undefined && last?.kind === 'failed' && last.code === 'context_length_exceeded' && (transient === undefined || transient.endpoint.config.contextWindow <= last.endpoint.config.contextWindow) && decision.code === 'unavailable' && decision.ejected.length > 0) throw routeFailureError(core, decision, context.tenant.id);
      if (last !== undefined) break;
      throw routeFailureError(core, decision, context.tenant.id);
    }
    const primary = endpoints.get(decision.ranked[0]?.id ?? '');
    if (primary === undefined) break;
    // Also on a resume's first pass, which may go back at once: its endpoints were tried by the calls before it.
    if (revisiting) {
      const chosen: Chosen = { endpoint: primary, panic: decision.panic, retryAfterUntil: primary.retryAfterUntil };
      // The endpoint's own Retry-After, remembered: other failures may have come in between.
      const asked = Math.max(0, primary.retryAfterUntil - core.now());
      // Every one left asked to be left alone for longer than the gateway waits (maxBackoffMs; see
      // revisitExclusions): none is gone back to sooner, and the caller gets the last failure now.
      if (asked > context.resilience.maxBackoffMs) break;
      const wait = backoffMs(revisits, context.resilience, random, asked);
      // A wait the deadline would cut helps no one: the caller gets the last failure now, with its
      // Retry-After, which clients honour, rather than a timeout once the deadline has passed.
      if (core.now() + wait >= context.deadlineAt) break;
      await sleep(wait, cancellation);
      // The deadline or the client's leaving ends the sleep early: no attempt, and none counted.
      if (cancellation.cancelled) throw stoppedError(context, last?.endpoint.config.id);
      // Asked for a longer wait meanwhile (another request's 429): that is waited once more, within
      // maxBackoffMs and the deadline, not again (R30: waited again and again under steady 429s,
      // a request was held to its deadline and never went back).
      const longer = chosen.endpoint.retryAfterUntil > chosen.retryAfterUntil ? chosen.endpoint.retryAfterUntil - core.now() : 0;
      if (longer > 0) {
        if (longer > context.resilience.maxBackoffMs || core.now() + longer >= context.deadlineAt) break;
        await sleep(longer, cancellation);
        if (cancellation.cancelled) throw stoppedError(context, last?.endpoint.config.id);
      }
      // Routed before the wait: a reload may have taken its jurisdiction away since, or others'
      // failures opened its circuit. Routed afresh, the revisit not made given back (routing now
      // sees the same: it is not chosen again for the same reason, but by panic routing).
      if (!stillTakes(core, context, chosen, tried)) {
        budget.left += 1;
        revisits -= 1;
        continue;
      }
    }
    if (decision.panic) metrics.panicRoutes.inc({ route: context.route.model });
    if (sent > 0 && !withdrawn) {
      metrics.retries.inc({ route: context.route.model });
      if (!revisiting) metrics.failovers.inc({ route: context.route.model });
    }
    withdrawn = false;
    sent += 1;
    tried.add(primary.config.id);
    // No hedge on a revisit: its second leg would go back to another tried endpoint, past `retries`.
    const secondEndpoint = context.resilience.hedgeAfterMs > 0 && !revisiting ? endpoints.get(decision.ranked[1]?.id ?? '') : undefined;
    const second: Chosen | undefined = secondEndpoint === undefined ? undefined : { endpoint: secondEndpoint, panic: decision.panic, retryAfterUntil: secondEndpoint.retryAfterUntil };
    // A hedged pass may end on a withdrawn leg after its other leg failed (recorded in hedged): then it was a failure.
    const failuresBefore = second === undefined ? 0 : failureTotal(context);
    // A hedge routed afresh when its second no longer takes it goes to the best other (the primary is
    // tried); the closure is made on hedged passes only, as every request comes through here.
    const result = second === undefined ? await attemptOn(core, context, primary, request, cancellation) : await hedged(core, context, primary, second, () => firstChosen(route(tried), core), request, tried, cancellation, { noteRefusal, noteWait, noteTransient, noteContextRefusal });
    if (result.kind !== 'failed') {
      // Another endpoint took what one refused as the caller's fault: the refusal was the endpoint's.
      // Not for an attempt sent before the endpoint's circuit opened: only a probe decides a half-open one.
      if (refused !== undefined && sameShape(refused.endpoint, result.endpoint) && !endpoints.sentBeforeOpening(refused.endpoint, refused.number)) endpoints.setCircuit(refused.endpoint, 'failure');
      return result;
    }
    // 499 is this request's own cancellation: the deadline (a timeout for a waiting client) or the client leaving.
    if (result.status === 499) throw stoppedError(context, result.endpoint.config.id);
    // Withdrawn by a reload before its resend: routed again under the jurisdictions as they are now,
    // no failure of the endpoint's or the request's (with nowhere left, the caller gets that refusal).
    if (result.withdrawn === true) {
      withdrawn = second === undefined || failureTotal(context) === failuresBefore;
      tried.delete(result.endpoint.config.id);
      context.log.info({ requestId: context.requestId, endpoint: result.endpoint.config.id }, 'resend withdrawn: the tenant may no longer use this endpoint');
      continue;
    }
    last = result;
    recordFailure(core, context, result);
    noteWait(result);
    // The upstream counts the prompt longer than the estimate did: a larger window may still take
    // it. No opinion on the request: a second opinion is still due.
    if (result.code === 'context_length_exceeded') {
      noteContextRefusal(result);
      continue;
    }
    if (isRetryableStatus(result.status)) {
      transient = result;
      // A second opinion that failed for a reason of its own gave none: the next fresh endpoint is
      // asked (never one gone back to); with none left, the caller gets the refusal (below).
      continue;
    }
    // A second opinion that refused too: the request is at fault, and the caller gets the refusal.
    // But not one from the refusing endpoint's own deployment (a hedge's leg, routed to its sibling)
    // while another deployment's endpoint is eligible: that is still asked (R71).
    if (refused !== undefined) {
      if (sameDeploymentAs(result.endpoint, refused.endpoint) && otherDeploymentLeft(route, tried, refused.endpoint, endpoints.runtimesOf(context.route))) continue;
      break;
    }
    // A refusal of the caller's request (400, 413, 422) gets one second opinion: the gateway checked
    // the request already, and an endpoint that refuses what others take (a field it does not know,
    // a fault) must not fail every request routed to it first. Two refusals are the caller's fault.
    // With no other endpoint to ask, the next pass finds none and the refusal is answered.
    if (isRequestFault(result.status)) {
      refused = result;
      continue;
    }
    break;
  }
  // The caller gets the first refusal, which tells it what to fix: a second opinion that failed for
  // reasons of its own (a 5xx, a 429, a timeout) says nothing about the request.
  if (refused !== undefined) last = refused;
  else {
    // A smaller window's context-length refusal after a larger one failed for a reason a wait cures:
    // the larger one's failure is the answer, retryable, not "shorten the prompt".
    if (last?.kind === 'failed' && last.code === 'context_length_exceeded' && transient !== undefined && transient.endpoint.config.contextWindow > last.endpoint.config.contextWindow) last = transient;
    // A failure that names no wait that parsed (a 500, no connection), the last or the one above, after
    // a failure that asked for a wait in a window larger than any that refused the prompt (where
    // waiting cures something): the caller gets the latest such, a 429 or 503 with its Retry-After,
    // if that wait is still running. (One over says capacity is back: an older, longer wait is not.)
    if (last?.kind === 'failed') last = failureToTell(last, waits.findLast((wait) => wait.endpoint.config.contextWindow > refusingWindow), core.now());
  }
  if (last === undefined || last.kind !== 'failed') throw new ClientError(503, 'overloaded', 'no eligible endpoint was left to try: each was tried, as far as the retries allow');
  // Several tried: the caller is told so, or a whole jurisdiction's outage reads as one endpoint's (E62).
  throw upstreamFailureError(core, last, last.endpoint.config.id, 'failed', refused === undefined && tried.size > 1 ? ` (the last of ${String(tried.size)} endpoints tried for this request, in ${String(context.attempts)} attempts)` : '');
}

/**
 * The caller's answer when an upstream's failure is the last word (`action`: what the upstream
 * failed at, "failed" or "failed to count tokens"): its status as answerForUpstreamFailure maps it,
 * with its Retry-After; a failure of the gateway's own (a request it could not write) is a 500.
 * `triedNote`: what the message adds of the other endpoints tried (not to an upstream's words about
 * the caller's request, which say what to fix).
 */
export function upstreamFailureError(core: Pick<GatewayCore, 'now' | 'config'>, failure: UpstreamFailure, endpointId: string, action: string, triedNote = ''): ClientError {
  // Not the upstream's failure: the caller is not told one failed. Out of open files, the gateway
  // is overloaded, for a moment as a rule: a retry shortly may be served.
  if (failure.outOfFiles === true) return new ClientError(503, 'overloaded', 'the gateway has reached its open-file limit and could not connect to an upstream: retry shortly', { headers: retryAfterHeaders(1000), endpoint: endpointId, logMessage: `upstream ${endpointId}: ${failure.message} (the gateway's open-file limit, ulimit -n, is reached: raise it, or cap connections at a load balancer in front)` });
  if (failure.gatewayFault === true) return new ClientError(500, 'api_error', 'internal gateway error: the request could not be written for its upstream', { endpoint: endpointId, logMessage: `upstream ${endpointId}: ${failure.message}` });
  const answer = answerForUpstreamFailure(failure.status);
  // What is left of the wait this failure asked for (the gateway's backoff and other attempts may
  // have taken some): its own, never another request's, recorded as it came.
  const headers: Record<string, string> = answer.passRetryAfter ? relayedWait(failure.retryAfterAt === undefined ? undefined : failure.retryAfterAt - core.now()) : {};
  // Upstream words reach the caller only about the caller's own request (400, 413, 422): otherwise they
  // may quote the gateway's upstream key, account or organisation. A connect error names internal
  // addresses. Both are in the log.
  const detail = failure.status === connectFailureStatus ? (failure.connectionLost === true ? 'the connection was lost before any answer' : failure.unreadableAnswer === true ? 'its answer could not be read as HTTP' : 'could not connect') : failure.fromUpstream && !answer.relayMessage ? `status ${failure.status}` : failure.message;
  // The field and code named by an upstream about the caller's own request: clients switch on
  // them (context_length_exceeded: shorten the prompt).
  const named = answer.relayMessage ? { ...(failure.param === undefined ? {} : { param: failure.param }), ...(failure.code === undefined ? {} : { code: failure.code }), ...(failure.contextLimit === undefined ? {} : { contextLimit: failure.contextLimit }) } : {};
  // A configuration fault (401, 403, 404, ...): what the caller can do about it is to tell someone (E58).
  const hint = !answer.isRetryable && !answer.relayMessage ? "; that endpoint refused the gateway itself (its key, account, model name or URL for it), which retrying will not change until the gateway's operator fixes it" : '';
  return new ClientError(answer.status, answer.kind, `upstream ${endpointId} ${action}: ${detail}${hint}${answer.relayMessage ? '' : triedNote}`, { headers, isRetryable: answer.isRetryable, endpoint: endpointId, logMessage: `upstream ${endpointId} ${action}: ${loggedReason(core, failure)}`, ...named });
}

/** How many more times a request may go back to an endpoint it already tried (see firstAnswer). */
export interface GoingBack {
  left: number;
}

/**
 * An upstream counted the prompt longer than the estimate did: the refusing endpoint is banned for
 * the request (recordFailure), and by this floor every window no larger than its own.
 */
function raiseFloor(context: RequestContext, tried: ReadonlySet<string>, refusal: FailedAttempt): void {
  const routedBudget = context.routeInput(tried).maxOutputTokens;
  context.promptFloor = Math.max(context.promptFloor ?? 0, refusal.endpoint.config.contextWindow - routedBudget + 1);
}

type Route = (exclude: ReadonlySet<string>, outputTokens?: number) => RouteDecision;

/**
 * The largest window among the endpoints not yet tried nor held back that hold the prompt (or the
 * continuation) and a token of answer, or undefined if none does: routing with a budget of 1 finds them.
 */
function largestOpenWindow(core: GatewayCore, context: RequestContext, route: Route, tried: ReadonlySet<string>): number | undefined {
  const fitting = route(tried, 1);
  if (!fitting.ok || fitting.panic) return undefined;
  const windows = fitting.ranked.flatMap((ranked) => core.endpoints.get(ranked.id)?.config.contextWindow ?? []);
  const largest = Math.max(...windows);
  return largest > routedPromptTokens(context) ? largest : undefined;
}

/**
 * A failed attempt's reason as logged. An upstream's own words (an error body or event) may quote
 * the request, prompt and all: logged only with logging.logPrompts, as prompts are; otherwise its
 * status and its own error code or type when that is a plain name.
 */
function loggedReason(core: Pick<GatewayCore, 'config'>, failed: UpstreamFailure): string {
  if (!failed.fromUpstream || core.config.logging.logPrompts) return failed.detail === undefined ? failed.message : `${failed.message}: ${failed.detail}`;
  return `status ${failed.status}${failed.label === undefined ? '' : ` (${failed.label})`}; the upstream's words are logged only with logging.logPrompts`;
}

/** The request's failed attempts so far (see noteFailure). */
function failureTotal(context: RequestContext): number {
  let total = 0;
  if (context.failures !== undefined) for (const count of context.failures.values()) total += count;
  return total;
}

/**
 * Counts a failed attempt of this request against an endpoint: a fault 1, backpressure (429,
 * which also leaves a Retry-After) a half; a status not worth revisiting bans it for the request.
 */
export function noteFailure(context: RequestContext, endpointId: string, status: number | 'stream'): void {
  const failures = (context.failures ??= new Map());
  failures.set(endpointId, (failures.get(endpointId) ?? 0) + (status === 429 ? 0.5 : 1));
  if (status !== 'stream' && !isWorthRevisiting(status)) (context.banned ??= new Set()).add(endpointId);
}

/**
 * Whether an endpoint routed to a while ago (before a backoff, a hedge's delay, a resend on a fresh
 * connection) may still take the request: a config reload may have narrowed its tenant's
 * jurisdictions since (routeInput reads them as they are now). Jurisdiction only: the circuit,
 * which others' failures may change meanwhile, is checked by stillTakes.
 */
function stillAllowed(context: RequestContext, endpoint: EndpointRuntime, tried: ReadonlySet<string>): boolean {
  return allowsJurisdictionOf(context.routeInput(tried), endpoint);
}

/** An endpoint as it was when routing chose it for an attempt sent after a wait (a backoff, a hedge's delay). */
interface Chosen {
  readonly endpoint: EndpointRuntime;
  /** Chosen by panic routing: its circuit was not asked to take requests. */
  readonly panic: boolean;
  /** Its Retry-After's end then (epoch ms; 0 for none). */
  readonly retryAfterUntil: number;
}

/**
 * Whether an endpoint chosen before a wait still takes the attempt: its jurisdiction still allowed
 * (a reload), and its circuit still taking requests unless panic routing chose it (others' failures
 * may have opened it, or taken its one half-open probe slot: sent anyway, its first token closed an
 * open circuit with no probe, R29).
 */
function stillTakes(core: GatewayCore, context: RequestContext, chosen: Chosen, tried: ReadonlySet<string>): boolean {
  return stillAllowed(context, chosen.endpoint, tried) && (chosen.panic || core.endpoints.circuitAdmits(chosen.endpoint));
}

/** The first endpoint a routing decision ranks, as chosen now; none when routing found none. */
function firstChosen(decision: RouteDecision, core: GatewayCore): Chosen | undefined {
  const endpoint = decision.ok ? core.endpoints.get(decision.ranked[0]?.id ?? '') : undefined;
  return endpoint === undefined || !decision.ok ? undefined : { endpoint, panic: decision.panic, retryAfterUntil: endpoint.retryAfterUntil };
}

/** Whether the endpoint asked for a wait since it was chosen that is still running. */
function askedToWaitSince(core: GatewayCore, chosen: Chosen): boolean {
  return chosen.endpoint.retryAfterUntil > chosen.retryAfterUntil && chosen.endpoint.retryAfterUntil > core.now();
}

/** Whether a routing input's jurisdictions, as they are now, hold the endpoint's. */
export function allowsJurisdictionOf(input: RouteInput, endpoint: EndpointRuntime): boolean {
  const jurisdiction = endpoint.config.jurisdiction.toLowerCase();
  for (const allowed of effectiveJurisdictions(input)) if (allowed.toLowerCase() === jurisdiction) return true;
  return false;
}

/** A failed attempt, counted against its endpoint for this request and logged. */
function recordFailure(core: GatewayCore, context: RequestContext, failed: FailedAttempt): void {
  noteFailure(context, failed.endpoint.config.id, failed.status);
  logFailedAttempt(core, context, failed.endpoint.config.id, failed);
}

/**
 * A failed attempt's log line (an answer's or a token count's), with the upstream's request id when
 * it gave one; `routine` for a failure that is no endpoint's fault by design (a server without the
 * token counting API, passed over).
 */
export function logFailedAttempt(core: Pick<GatewayCore, 'config'>, request: Pick<RequestContext, 'log' | 'requestId'>, endpointId: string, failed: UpstreamFailure & { readonly sentRequestId: string | undefined }, routine = false): void {
  // The caller's own mistake, refused by the upstream, is routine: no endpoint is at fault.
  request.log[routine || isRequestFault(failed.status) ? 'info' : 'warn']({ requestId: request.requestId, endpoint: endpointId, ...(failed.sentRequestId === undefined ? {} : { sentRequestId: failed.sentRequestId }), status: failed.status, ...(failed.upstreamRequestId === undefined ? {} : { upstreamRequestId: failed.upstreamRequestId }), reason: loggedReason(core, failed) }, 'upstream attempt failed');
}

/** Starts a second attempt when the first has no first token after hedgeAfterMs; the first to start wins. */
async function hedged(core: GatewayCore, context: RequestContext, primary: EndpointRuntime, chosenSecond: Chosen, reroute: () => Chosen | undefined, request: ChatRequest, tried: Set<string>, cancellation: Cancellation, notes: { readonly noteRefusal: (failed: FailedAttempt) => void; readonly noteWait: (failed: FailedAttempt) => void; readonly noteTransient: (failed: FailedAttempt) => void; readonly noteContextRefusal: (failed: FailedAttempt) => void }): Promise<Attempt> {
  const { noteRefusal, noteWait, noteTransient, noteContextRefusal } = notes;
  const { metrics } = core;
  const legs = [cancellation.child().cancellation, cancellation.child().cancellation] as const;
  const started = core.now();
  const first = attemptOn(core, context, primary, request, legs[0]);
  let stopTimer: (() => void) | undefined;
  // A first token that came while the gateway was held up does not call for a hedge (see judgeAfterReads).
  const delayed = new Promise<'hedge'>((resolve) => {
    stopTimer = judgeAfterReads(() => resolve('hedge'), context.resilience.hedgeAfterMs);
  });
  const early = await Promise.race([first, delayed]);
  stopTimer?.();
  if (early !== 'hedge') return early;
  // Chosen hedgeAfterMs ago: a reload may have taken its jurisdiction away since, others' failures
  // opened its circuit (or took its probe slot), or it asked for a wait. Then the hedge goes to the
  // best other endpoint now, if one takes it (by panic routing only if the second was so chosen:
  // a slow primary is no reason to send to ejected endpoints), and is not inside a wait it asked
  // for; else there is no hedge.
  const kept = stillTakes(core, context, chosenSecond, tried) && !askedToWaitSince(core, chosenSecond);
  const chosen = kept ? chosenSecond : reroute();
  if (chosen === undefined || (!kept && ((chosen.panic && !chosenSecond.panic) || chosen.endpoint.retryAfterUntil > core.now()))) return first;
  const second = chosen.endpoint;
  tried.add(second.config.id);
  const backup = attemptOn(core, context, second, request, legs[1]);
  const winner = await Promise.race([first.then((a) => ({ a, i: 0 })), backup.then((a) => ({ a, i: 1 }))]);
  const loser = winner.i === 0 ? backup : first;
  if (winner.a.kind === 'failed') {
    // The first to finish failed: the other one is still our best chance. Its failure counts as any
    // other's (a 401 bans its endpoint for this request); the caller records the other's outcome.
    // Its wait, if it asked for one, may be the caller's answer when the other leg fails for no
    // reason a wait cures; a failure a wait cures outranks a smaller window's context refusal.
    if (winner.a.status !== 499 && winner.a.withdrawn !== true) {
      recordFailure(core, context, winner.a);
      noteWait(winner.a);
      noteTransient(winner.a);
    }
    // The other leg is the refusal's second opinion (see firstAnswer); a context-length refusal is
    // about the window's size, not the request: it raises the floor, as in firstAnswer.
    if (winner.a.code === 'context_length_exceeded') noteContextRefusal(winner.a);
    else if (isRequestFault(winner.a.status)) noteRefusal(winner.a);
    const other = await loser;
    // Legs cut because the client left or the gateway shut down did not fail (a deadline that passed
    // is the upstreams' being too slow, and a leg that failed first a failure).
    const cancelled = winner.a.status === 499 && other.kind === 'failed' && other.status === 499 && (context.clientGone() || context.shuttingDown());
    const outcome = other.kind !== 'failed' ? (winner.i === 0 ? 'hedge' : 'primary') : cancelled ? 'cancelled' : 'both-failed';
    metrics.hedges.inc({ route: context.route.model, outcome });
    return other;
  }
  metrics.hedges.inc({ route: context.route.model, outcome: winner.i === 0 ? 'primary' : 'hedge' });
  // A primary that lost had no first token all this time: the latency policy learns it is slow.
  if (winner.i === 1) recordTtftAtLeast(primary, core.now() - started, core.now());
  // The loser did not fail, it was only slower: it stays a candidate for resuming this answer.
  tried.delete((winner.i === 0 ? second : primary).config.id);
  // The loser runs on to its first token, where it is cancelled (its load and probe slot given
  // back), or to its TTFT timeout, which counts against its circuit as any other. Cancelled now, a
  // hung endpoint ranked first would never fail an attempt: every request would pay the hedge delay
  // and its circuit would never open. The request's own cancellation still reaches it.
  void loser.then((late) => {
    if (late.kind === 'stream') {
      releaseAttempt(core, late, 'cancel');
      countLosingLeg(core, context, late);
      return;
    }
    // Logged and counted for the request as any failed attempt (its own cancellation, or a resend a
    // reload withdrew, is no failure): a later resume then knows the endpoint failed it. The line may
    // come after the request's own.
    if (late.status !== 499 && late.withdrawn !== true) recordFailure(core, context, late);
    // It refused what the winner is answering: the refusal was the endpoint's (see firstAnswer).
    if (isRequestFault(late.status) && late.code !== 'context_length_exceeded' && sameShape(late.endpoint, winner.a.endpoint) && !core.endpoints.sentBeforeOpening(late.endpoint, late.number)) core.endpoints.setCircuit(late.endpoint, 'failure');
  });
  return winner.a;
}

/**
 * A routing refusal in the caller's terms. Nothing the caller can retry fixes a
 * jurisdiction refusal, so both SDKs are told not to (they retry 503 by default).
 */
export function routeFailureError(core: Pick<GatewayCore, 'metrics' | 'endpoints'>, decision: Extract<RouteDecision, { ok: false }>, tenantId: string): ClientError {
  switch (decision.code) {
    case 'jurisdiction':
      core.metrics.jurisdictionRejections.inc({ tenant: tenantId });
      // Not 'overloaded': that type tells an Anthropic caller to back off and retry, and no retry helps.
      return new ClientError(decision.status, 'api_error', decision.message, { isRetryable: false });
    case 'context':
      return new ClientError(decision.status, 'invalid_request', decision.message, { param: 'messages', code: 'context_length_exceeded', contextLimit: { promptTokens: decision.promptTokens, outputTokens: decision.outputTokens, window: decision.largestWindow } });
    case 'prefill':
      return new ClientError(decision.status, 'invalid_request', decision.message, { param: 'messages' });
    case 'auto_tool_choice':
      return new ClientError(decision.status, 'invalid_request', decision.message, { param: 'tool_choice' });
    case 'structured_output':
      return new ClientError(decision.status, 'invalid_request', decision.message, { param: decision.param ?? 'response_format' });
    case 'images':
    case 'pdfs':
      return new ClientError(decision.status, 'invalid_request', decision.message, { param: 'messages' });
    case 'thinking':
      return new ClientError(decision.status, 'invalid_request', decision.message, { param: 'thinking' });
    case 'token_counting':
      return new ClientError(decision.status, 'not_found', decision.message);
    case 'no_route':
      return new ClientError(decision.status, 'not_found', decision.message, { code: 'model_not_found' });
    case 'unavailable':
      // Every eligible endpoint is ejected: say when the first one will take a probe again.
      return new ClientError(decision.status, 'overloaded', decision.message, { headers: retryAfterHeaders(core.endpoints.msUntilProbe(decision.ejected)) });
  }
}

/**
 * What a revisit leaves out: banned endpoints, those inside a Retry-After longer than the gateway
 * waits (maxBackoffMs: going back sooner would defy it), those that failed this request more than
 * others, and rate-limited ones when others remain. Among the fewest failures an endpoint whose
 * circuit is closed is ranked first by routing itself; one ejected is reached only when all kept
 * are (panic). All left out when every one asked for a longer wait.
 */
function revisitExclusions(core: GatewayCore, context: RequestContext, eligible: readonly string[]): Set<string> {
  const at = core.now();
  const excluded = new Set(context.banned);
  // Counted over the endpoints this request can use: one it cannot (another jurisdiction, too small
  // a window, reserved for long contexts) has no failures and would otherwise exclude all the rest.
  const usable = eligible.flatMap((id) => core.endpoints.get(id) ?? []);
  // With none left, none is kept below: every usable one is excluded.
  const open = usable.filter((runtime) => runtime.retryAfterUntil - at <= context.resilience.maxBackoffMs);
  const failuresOf = (runtime: EndpointRuntime): number => context.failures?.get(runtime.config.id) ?? 0;
  const fewest = Math.min(...open.map(failuresOf));
  const least = open.filter((runtime) => failuresOf(runtime) === fewest);
  let ready = least.filter((runtime) => runtime.retryAfterUntil <= at);
  // None of them takes requests now, and the wait for the soonest (at most maxBackoffMs) would outlast
  // the request's deadline: one that failed it more but takes requests now is better than none.
  if (ready.length === 0 && at + Math.min(context.resilience.maxBackoffMs, Math.min(...least.map((runtime) => runtime.retryAfterUntil)) - at) >= context.deadlineAt) {
    const readyAny = open.filter((runtime) => runtime.retryAfterUntil <= at);
    const fewestReady = Math.min(...readyAny.map(failuresOf));
    ready = readyAny.filter((runtime) => failuresOf(runtime) === fewestReady);
  }
  const keep = new Set((ready.length > 0 ? ready : least).map((runtime) => runtime.config.id));
  for (const runtime of usable) if (!keep.has(runtime.config.id)) excluded.add(runtime.config.id);
  return excluded;
}

/** Jurisdictions do not depend on the endpoints tried. */
const noneTried: ReadonlySet<string> = new Set();

/**
 * A hedge's losing leg that reached its first token: its upstream read the prompt and wrote what it
 * sent up to that token, which switchyard_tokens_total counts as what that endpoint used (its count,
 * else the gateway's estimate; a token a chunk). What it writes before it hears the cancel is not
 * read, and not counted.
 */
function countLosingLeg(core: GatewayCore, context: RequestContext, late: StreamAttempt): void {
  let input = 0;
  let output = 0;
  for (const event of late.head) {
    if (event.type === 'start') input = event.inputTokens;
    else if (event.type === 'finish') {
      input = event.usage.inputTokens || input;
      output = Math.max(output, event.usage.outputTokens);
    } else output += 1;
  }
  const window = late.endpoint.config.contextWindow;
  const labels = { route: context.route.model, endpoint: late.endpoint.config.id };
  core.metrics.tokens.inc({ ...labels, direction: 'input' }, input > 0 && input <= window ? input : routedPromptTokens(context));
  core.metrics.tokens.inc({ ...labels, direction: 'output' }, Math.min(output, window));
}

/** One upstream attempt of this request, counted, with its budget fitted to the endpoint. */
function attemptOn(core: GatewayCore, context: RequestContext, endpoint: EndpointRuntime, request: ChatRequest, cancellation: Cancellation): Promise<Attempt> {
  context.attempts += 1;
  context.waiting += 1;
  const mayResend = (): boolean => stillAllowed(context, endpoint, noneTried);
  return startAttempt(core, endpoint, fittedTo(endpoint, request, context), cancellation, context.resilience.ttftTimeoutMs, core.upstreamRequestId(context.requestId), mayResend, context.via).finally(() => {
    context.waiting -= 1;
  });
}

/**
 * The request with its output budget cut to the room the endpoint's window leaves: a continuation's
 * prompt holds the answer so far, so a request that fitted whole may not fit with it; a request that
 * gave no budget may have been routed where the default does not fit (roomBudget). Any other
 * attempt was routed only where it fits, and goes as it is.
 */
function fittedTo(endpoint: EndpointRuntime, request: ChatRequest, context: RequestContext): ChatRequest {
  if (context.resumed === undefined && context.roomBudget === undefined) return request;
  const room = endpoint.config.contextWindow - routedPromptTokens(context);
  return room < (request.maxTokens ?? defaultMaxOutputTokens) ? { ...request, maxTokens: Math.max(1, room) } : request;
}

/**
 * Why a request stopped waiting for a first token: the client left, the gateway is shutting down, or
 * the deadline passed. `endpoint`: the one it was waiting on or, in a backoff, the one that failed it last.
 */
function stoppedError(context: RequestContext, endpoint: string | undefined): ClientError {
  const at = endpoint === undefined ? {} : { endpoint };
  if (context.clientGone()) return new ClientError(499, 'api_error', 'the client went away before the first token', at);
  if (context.shuttingDown()) return new ClientError(503, 'overloaded', 'the gateway shut down before the first token; retry the request', at);
  return new ClientError(504, 'timeout', `no endpoint answered within the ${context.resilience.deadlineMs} ms deadline`, at);
}

function sleep(ms: number, cancellation: Cancellation): Promise<void> {
  return new Promise((resolve) => {
    if (ms <= 0 || cancellation.cancelled) return resolve();
    const stop = cancellation.onCancel(() => {
      clearTimeout(timer);
      resolve();
    });
    const timer = setTimeout(() => {
      stop();
      resolve();
    }, ms);
  });
}
