import type { ServerResponse } from 'node:http';
import type { ChatRequest } from '../protocol/chat.js';
import { closingInstructions, estimatePromptTokens, hasVisibleText, lastSpokenTurn, minThinkingBudget, promptText } from '../protocol/chat.js';
import type { Dialect } from '../protocol/dialect.js';
import { pumpAnswer, withoutPrefillWhitespace } from './answer-pump.js';
import { createJsonSink, createStreamSink } from './answer-sink.js';
import type { Cancellation } from './cancellation.js';
import { ClientError, problemError } from './client-error.js';
import { firstAnswer, routeFailureError } from './first-answer.js';
import type { ResilienceConfig, RouteConfig, TenantConfig } from './gateway-config.js';
import { fitToTokenLimit } from './fit-to-token-limit.js';
import { headerJurisdictionsOf, refuseJurisdictionTrailer } from './jurisdiction-header.js';
import { routedPromptTokens, type RequestContext } from './request-context.js';
import { headerValue } from './request-head.js';
import { prefixKeyOf, routeRequest } from './route-request.js';
import { routedTraits } from './routed-traits.js';
import { admittedTenant, overLimit, refuseIfArrivedLate, resilienceOf, routeOf, watchClient } from './serving-steps.js';
import type { ServedCall, ServedOutcome, ServingShell } from './serving-shell.js';
import type { StoreWait } from './store-calls.js';
import type { Authenticated } from './tenant-auth.js';
import { isPromiseLike } from './awaitable.js';
import { checkTenantLimits, settleTokenUsage, tenantLimitState } from './token-bucket.js';

/** A chat request as the HTTP shell hands it over, with its caller's dialect. */
export interface ChatCall extends ServedCall {
  readonly inbound: Dialect;
}

/** A chat request past its tenant's limits: what answering it takes. */
interface AdmittedChat {
  readonly tenant: TenantConfig;
  readonly route: RouteConfig;
  readonly resilience: ResilienceConfig;
  /** The request as sent upstream: its max_tokens lowered to what the tenant's limit leaves. */
  readonly request: ChatRequest;
  /** What routes it on every attempt, read once. */
  readonly traits: ReturnType<typeof routedTraits>;
  readonly promptTokens: number;
  readonly outputTokens: number;
  /** What admission charged the tenant: prompt and output tokens, estimated. */
  readonly estimated: number;
}

/** A chat request, from its body to its answer's end: admitted against its tenant's limits, then answered. */
export function serveChat(shell: ServingShell, call: ChatCall): Promise<ServedOutcome> {
  return shell.tracked(call.req, call.labels, async (authenticated, deadline) => {
    const admitted = await admitChat(shell, call, authenticated, deadline);
    return answerChat(shell, call, authenticated, deadline, admitted);
  });
}

async function readChatRequest(shell: ServingShell, { inbound, req, res }: ChatCall, deadline: Cancellation): Promise<ChatRequest> {
  const body = await shell.readBody(req, res, deadline);
  refuseJurisdictionTrailer(req);
  // A key at a time, not Object.entries: no list made for every request (OpenAI's has none).
  for (const name in inbound.refusedHeaders) {
    // Sent twice, Node joins the values with ', ': empty ones are still nothing asked.
    if ((headerValue(req.headers[name]) ?? '').split(',').some((part) => part.trim() !== '')) throw new ClientError(400, 'invalid_request', `${name}: ${inbound.refusedHeaders[name] ?? ''}`, { param: name, isRetryable: false });
  }
  const parsed = inbound.parseRequest(body);
  if (!parsed.ok) throw problemError(parsed.problem);
  return parsed.value;
}

/**
 * Reads, checks and admits a chat request: its body, tenant, route and window, then its tenant's
 * limits. Its own function, so that the request as the caller sent it (before its max_tokens was
 * fitted) and the admission's closures stay out of the frame that lives as long as the answer streams.
 */
async function admitChat(shell: ServingShell, call: ChatCall, authenticated: Authenticated, deadline: Cancellation): Promise<AdmittedChat> {
  const { core, store, limits } = shell;
  const { inbound, req, res, requestId, headers, labels, arrivedAt } = call;
  const asked = await readChatRequest(shell, call, deadline);
  const tenant = admittedTenant(shell, authenticated, labels);
  const route = routeOf(shell, asked.model, labels);
  const resilience = resilienceOf(shell, route);
  refuseIfArrivedLate(shell, arrivedAt, resilience);
  const serving: StoreWait = { requestId, deadline, res, recheck: () => admittedTenant(shell, authenticated, labels) };

  // Read once: routeInput runs on every attempt, retry, hedge and resume.
  const traits = routedTraits(asked, tenant, headerJurisdictionsOf(req));
  const promptTokens = estimatePromptTokens(asked);
  const fitted = fitToTokenLimit(asked, promptTokens, tenant.tokensPerMinute);
  const outputTokens = fitted.outputTokens;
  /**
   * A request too long for every window it may use, told so before any limit's refusal: clients
   * act on it (they compact). Checked with the output the caller asked for, or none when it asked
   * for none (a default it never chose must not make a short prompt "too long").
   */
  const contextRefusal = (maxOutputTokens = asked.maxTokens ?? 1): ClientError | undefined => {
    const fits = routeRequest({ ...traits, promptTokens, maxOutputTokens }, core.endpoints.views(route), core.policy, core.random);
    return !fits.ok && fits.code === 'context' ? routeFailureError(core, fits, tenant.id) : undefined;
  };
  if (!fitted.ok) {
    const tooLong = contextRefusal();
    if (tooLong !== undefined) throw tooLong;
    const at = core.now();
    const state = store.ask(() => tenantLimitState(limits, tenant, at), serving);
    Object.assign(headers, inbound.rateLimitHeaders(isPromiseLike(state) ? await state : state, at));
    core.metrics.rateLimited.inc({ tenant: tenant.id, limit: 'tokens' });
    throw new ClientError(429, 'rate_limit', `tenant ${tenant.id}'s whole limit of ${String(tenant.tokensPerMinute)} tokens per minute leaves about ${String(outputTokens)} tokens for the answer after the prompt, too few for extended thinking (at least ${String(minThinkingBudget)}): shorten the prompt, or send the request without thinking`, { isRetryable: false, limit: 'tokens' });
  }
  const request = fitted.request;
  // A max_tokens lowered to the tenant's limit that still fits no window: refused in the caller's
  // own figures, not in those of the lowered budget, which it never sent.
  if (request.maxTokens !== undefined && request.maxTokens !== asked.maxTokens) {
    const tooLong = contextRefusal(request.maxTokens) === undefined ? undefined : contextRefusal();
    if (tooLong !== undefined) throw tooLong;
  }
  const estimated = promptTokens + outputTokens;
  const admittedAt = core.now();
  const admission = store.ask(() => checkTenantLimits(limits, tenant, estimated, admittedAt), serving, store.refund(tenant, estimated, requestId));
  const decision = isPromiseLike(admission) ? await admission : admission;
  Object.assign(headers, inbound.rateLimitHeaders(decision.state, admittedAt));
  if (!decision.allowed) {
    if (decision.tooLarge) {
      const tooLong = contextRefusal();
      if (tooLong !== undefined) throw tooLong;
      core.metrics.rateLimited.inc({ tenant: tenant.id, limit: decision.limit });
      // No wait helps, so neither the SDKs (which retry a 429) nor the caller should retry it as it is.
      const why =
        promptTokens >= tenant.tokensPerMinute
          ? `the prompt alone is about ${String(promptTokens)} tokens, which leaves no room for an answer in tenant ${tenant.id}'s whole limit of ${String(tenant.tokensPerMinute)} tokens per minute: shorten the prompt`
          : `the request needs about ${String(estimated)} tokens (prompt about ${String(promptTokens)} plus the default ${String(outputTokens)} output), more than tenant ${tenant.id}'s whole limit of ${String(tenant.tokensPerMinute)} tokens per minute: send max_tokens (the limit leaves about ${String(tenant.tokensPerMinute - promptTokens)} tokens for the answer; a larger max_tokens is lowered to that)`;
      throw new ClientError(429, 'rate_limit', why, { isRetryable: false, limit: 'tokens' });
    }
    throw overLimit(shell, tenant, decision, estimated);
  }
  return { tenant, route, resilience, request, traits, promptTokens, outputTokens, estimated };
}

/** Answers an admitted chat request: its first answer found, pumped to the caller, its tokens settled. */
async function answerChat(shell: ServingShell, call: ChatCall, authenticated: Authenticated, deadline: Cancellation, admitted: AdmittedChat): Promise<ServedOutcome> {
  const { core } = shell;
  const { inbound, req, res, requestId, headers, labels, arrivedAt } = call;
  const { tenant, route, resilience, request, traits, promptTokens, outputTokens, estimated } = admitted;
  const prefixKey = prefixKeyOf(request.messages);
  // How the request ends as each dialect's upstream receives it: OpenAI-dialect upstreams get the
  // turns as they are; Anthropic's encoder moves system messages out and leaves out turns without
  // text, so a turn of either kind after an assistant turn leaves that turn last there (a prefill).
  const last = request.messages.at(-1);
  const trailingAssistant = last?.role === 'assistant' && hasVisibleText(last.content) ? request.finalAssistant : undefined;
  // (But system messages that close the conversation after it reach Anthropic as a user turn: closingInstructions.)
  const joinedTrailingAssistant = trailingAssistant === undefined && lastSpokenTurn(request.messages)?.role === 'assistant' && closingInstructions(request) === undefined ? request.finalAssistant : undefined;
  /** The client left while an attempt waited for its first token: an upstream was reading its prompt. */
  let promptRead = false;
  // One cancellation stops upstream work on either event.
  // From the request's arrival, as deadlineAt counts (R29: armed for the whole deadline once the
  // body was in, a slow upload stretched it, and retries judged by deadlineAt were given up early).
  const client = watchClient(res, deadline, Math.max(0, arrivedAt + resilience.deadlineMs - core.now()), () => {
    // An upstream was reading the prompt (its prefill) for it: charged below.
    promptRead = context.waiting > 0;
  });
  const clientGone = client.gone;
  const context: RequestContext = {
    requestId,
    via: headerValue(req.headers.via),
    tenant,
    route,
    resilience,
    deadlineAt: arrivedAt + resilience.deadlineMs,
    promptTokens,
    resumed: undefined,
    roomBudget: undefined,
    promptFloor: undefined,
    attempts: 0,
    waiting: 0,
    clientGone,
    shuttingDown: () => shell.shuttingDown() && !clientGone(),
    // Made on a first failure: most requests never have one.
    failures: undefined,
    banned: undefined,
    log: shell.log,
    routeInput: (tried) => ({
      ...traits,
      // Every attempt goes only where the tenant may send it now (see TenantDirectory.jurisdictionsNow).
      tenantJurisdictions: shell.tenants.jurisdictionsNow(tenant, authenticated),
      promptTokens: routedPromptTokens(context),
      maxOutputTokens: context.resumed?.outputTokens ?? context.roomBudget ?? outputTokens,
      prefixKey,
      excludeEndpoints: tried,
      ...(request.tools !== undefined && (request.toolChoice === undefined || request.toolChoice.type === 'auto') ? { needsAutoToolChoice: true } : {}),
      // A resumed answer is a continuation: it goes only where prefills are taken.
      ...(context.resumed !== undefined ? { trailingAssistant: 'continue' as const } : { ...(trailingAssistant === undefined ? {} : { trailingAssistant }), ...(joinedTrailingAssistant === undefined ? {} : { joinedTrailingAssistant }) }),
    }),
  };

  const tried = new Set<string>();
  // Charged what was served: nothing for a request refused or failed before its first token
  // (but see promptRead).
  let usedTokens = 0;
  /** The request's own deadline ended it (not the client, nor a shutdown). */
  const deadlinePassed = (): boolean => deadline.cancelled && !clientGone() && !context.shuttingDown();
  let settled = false;
  /** Settles the tenant's token charge once; a response not yet begun then shows the limits after it. */
  const settle = (used: number): void => {
    if (settled) return;
    settled = true;
    settleCharge(shell, call, tenant, estimated, used);
  };
  try {
    const answer = await firstAnswer(core, context, withoutPrefillWhitespace(request), tried, deadline);
    if (answer.kind === 'failed') throw new ClientError(502, 'api_error', answer.message);
    // The caller's time to first token: failed attempts, backoff and a lost hedge included.
    core.metrics.ttft.observe({ route: route.model, endpoint: answer.endpoint.config.id }, (core.now() - arrivedAt) / 1e3);
    // Ids are the caller's dialect's, whichever upstream answered.
    const target = { inbound, request, res, headers, id: inbound.responseId(shell.generateId()), createdSeconds: Math.floor(core.now() / 1000) };
    // A complete answer that fails delivers nothing: settled at nothing before its error is written.
    // A deadline's failure is charged what was generated for it (`used`), settled before it is written.
    const sink = request.stream ? createStreamSink(target, shell.keptAlive) : createJsonSink(target, (used) => settle(deadlinePassed() ? (used ?? 0) : 0), (usage) => settle(usage.inputTokens + usage.outputTokens));
    const outcome = await pumpAnswer(core, context, sink, request, answer, tried, deadline);
    // A stream cut short delivered its tokens; a complete answer the gateway failed (a break,
    // shutdown) delivered none. One whose client left, or whose deadline passed, is charged what
    // was generated for it: otherwise leaving just before the end, or asking for more than the
    // deadline allows, would be a way around the limit.
    usedTokens = request.stream || outcome.status === 200 || outcome.status === 499 || deadlinePassed() ? outcome.inputTokens + outcome.outputTokens : 0;
    return { status: outcome.status, endpoint: outcome.endpoint, route: route.model, tenant: tenant.id, attempts: context.attempts, inputTokens: outcome.inputTokens, outputTokens: outcome.outputTokens, ...texts(shell, request, outcome.text) };
  } finally {
    labels.attempts = context.attempts;
    client.stop();
    // Ended but not all sent: the client is not reading (see releaseAtDeadline).
    if (res.writableEnded && !res.writableFinished && !res.destroyed) releaseAtDeadline(res, deadline, client.stopDeadline, context.shuttingDown);
    else client.stopDeadline();
    // The client left before the first token while an upstream read its prompt: charged that, or
    // many such would bypass the limit. (A deadline before the first token is the endpoints' fault.)
    if (usedTokens === 0 && promptRead) usedTokens = promptTokens;
    // A request refused or failed before its answer began was refunded: its error response shows
    // the limits after the refund, not the admission charge.
    settle(usedTokens);
  }
}

/**
 * Settles a tenant's token charge for a request: `used` against the `estimated` admission took,
 * against the tenant's limits as they are now (a reload may have raised them since admission). A
 * response not yet begun then shows the limits after it.
 */
function settleCharge(shell: ServingShell, { inbound, res, requestId, headers }: ChatCall, tenant: TenantConfig, estimated: number, used: number): void {
  const { core, store, limits } = shell;
  const settledAt = core.now();
  // What the tenant was charged: what it used, or what admission took when the store failed to settle.
  const charged = (tokens: number): void => {
    if (tokens > 0) core.metrics.tenantTokens.inc({ tenant: tenant.id }, tokens);
  };
  const unsettled = (error: unknown): void => {
    charged(estimated);
    store.failedLater(requestId, error);
  };
  const current = shell.tenants.limitsOf(tenant);
  // A store's failure here costs the answer nothing: the charge stays as admitted, and is logged.
  let settling: ReturnType<typeof settleTokenUsage>;
  try {
    settling = settleTokenUsage(limits, current, estimated, used, settledAt);
  } catch (error) {
    unsettled(error);
    return;
  }
  // A store that answers later (a shared one): the response shows the limits as admission left them.
  if (isPromiseLike(settling)) {
    Promise.resolve(settling).then(() => charged(used), unsettled);
    return;
  }
  charged(used);
  if (res.headersSent) return;
  store.quietly(requestId, () => tenantLimitState(limits, current, settledAt), (state) => Object.assign(headers, inbound.rateLimitHeaders(state, settledAt)));
}

// Prompt and completion text reach the logs only when the operator turned it on explicitly.
function texts(shell: ServingShell, request: ChatRequest, completion: string): { prompt?: string; completion?: string } {
  return shell.core.config.logging.logPrompts ? { prompt: promptText(request), completion } : {};
}

/**
 * A client that has not yet taken the end of its answer (it stopped reading) keeps its connection
 * until the request's deadline at most: node finishes a response, and only then starts the
 * keep-alive timer, once everything was sent, which for such a client is never. Sent in time, the
 * response finishes and the connection is left alone (a later request on it is not this one's).
 */
function releaseAtDeadline(res: ServerResponse, deadline: Cancellation, stopDeadline: () => void, shuttingDown: () => boolean): void {
  const stopWatching = (): void => {
    res.off('finish', sent);
    res.off('close', sent);
  };
  const sent = (): void => {
    stopDeadline();
    stopWatching();
    stopWaiting();
  };
  res.on('finish', sent);
  res.on('close', sent);
  // Runs at once when the deadline already fired, as a shutdown's cancellation does.
  const stopWaiting = deadline.onCancel(() => {
    stopDeadline();
    // A shutdown gives every answer a last moment to be taken, its error event included; it closes
    // the connections itself after that.
    if (shuttingDown()) return;
    stopWatching();
    if (!res.writableFinished) res.destroy();
  });
}
