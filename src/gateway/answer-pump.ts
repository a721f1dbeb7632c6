import { defaultMaxOutputTokens, estimatePromptTokens, estimateTokens, isCutShort, type ChatEvent, type ChatMessage, type ChatRequest, type PromptCache, type Usage } from '../protocol/chat.js';
import { dialects } from '../protocol/dialects.js';
import type { AnswerSink } from './answer-sink.js';
import { ClientError } from './client-error.js';
import { DeliveredAnswer } from './delivered-answer.js';
import { isRequestFault } from './retry-policy.js';
import type { Cancellation } from './cancellation.js';
import type { EndpointRuntime } from './endpoint-pool.js';
import { firstAnswer, noteFailure, type GoingBack } from './first-answer.js';
import type { GatewayCore, StreamWatch } from './gateway-core.js';
import type { RequestContext } from './request-context.js';
import { maxJsonDepth } from '../protocol/json-depth.js';
import { hasObjectArguments } from '../protocol/tool-use.js';
import { releaseAttempt, type Attempt, type StreamAttempt } from './upstream-attempt.js';

/** Gaps between tokens, each over half the stall timeout, that make a stream crawl (see pumpAnswer). */
const crawlGaps = 8;

/** How an answer ended: its status, the endpoint that last served it, what it used, and its text. */
export interface AnswerOutcome {
  readonly status: number;
  readonly endpoint: string;
  readonly inputTokens: number;
  readonly outputTokens: number;
  readonly text: string;
}

/**
 * A request whose trailing assistant turn (a prefill to continue) ends in whitespace, as sent
 * upstream: without that whitespace, which Anthropic refuses at the end of a prefill. The answer
 * writes it again, and the answer's DeliveredAnswer drops that much from its start, as at a resume's join;
 * so the caller gets the same text whichever dialect the upstream speaks.
 */
export function withoutPrefillWhitespace(request: ChatRequest): ChatRequest {
  const whitespace = prefillWhitespace(request);
  if (whitespace === '') return request;
  const last = request.messages.at(-1) as ChatMessage;
  return { ...request, messages: [...request.messages.slice(0, -1), { role: 'assistant', content: last.content.slice(0, last.content.length - whitespace.length), ...keptOf(last) }] };
}

/** The whitespace a request's prefill ends with (see withoutPrefillWhitespace). */
function prefillWhitespace(request: ChatRequest): string {
  const last = request.messages.at(-1);
  if (last?.role !== 'assistant' || request.finalAssistant !== 'continue') return '';
  const kept = last.content.trimEnd();
  // A prefill of whitespace alone is sent as it is: there is nothing to continue from.
  return kept === '' ? '' : last.content.slice(kept.length);
}

/**
 * Carries an answer to the client. If the upstream breaks after tokens were
 * sent, the answer is resumed on another eligible endpoint by continuation
 * (the prompt plus the text already sent, as an assistant turn to continue,
 * with the remaining budget); if that is off or fails, a stream ends with an
 * explicit error event and a non-stream request with an error status. A
 * broken answer never ends looking complete.
 */
export async function pumpAnswer(
  core: GatewayCore,
  context: RequestContext,
  sink: AnswerSink,
  request: ChatRequest,
  first: StreamAttempt,
  tried: Set<string>,
  cancellation: Cancellation,
): Promise<AnswerOutcome> {
  const { config, metrics, now, watched } = core;
  const route = context.route.model;
  /** The request's own prompt floor: a continuation's refusals raise it for the continuation only. */
  const promptFloor = context.promptFloor;
  const countTokens = (endpoint: string, input: number, output: number): void => {
    metrics.tokens.inc({ route, endpoint, direction: 'input' }, input);
    metrics.tokens.inc({ route, endpoint, direction: 'output' }, output);
  };
  let current = first;
  /** An upstream's token count, or 0 (unknown) past the endpoint's context window: charged to the tenant, it must be possible. */
  const plausible = (count: number, endpoint: EndpointRuntime): number => (count <= endpoint.config.contextWindow ? count : 0);
  /** What reached the client; an answer started over gets a new one. */
  let delivered = new DeliveredAnswer(sink, request, prefillWhitespace(request));
  /** The output budget every attempt was sent within: the caller's, the room routing left, or the default. */
  const budget = (): number => request.maxTokens ?? context.roomBudget ?? defaultMaxOutputTokens;
  /**
   * An upstream's count of its output, or 0 (unknown) when it is past the budget it was sent (E45:
   * 5,000 for a budget of 100 was charged), but for reasoning shown: DeepSeek's reasoner counts its
   * streamed reasoning in the output while its max_tokens bounds only the answer after it (R36). The
   * reasoning let past is what the count names, up to twice the gateway's estimate of the reasoning
   * that came (and 16 tokens): a count naming reasoning never shown is held to the budget (R37).
   */
  const plausibleOutput = (usage: Usage, endpoint: EndpointRuntime): number => {
    const { reasoning, thought } = delivered;
    const shown = reasoning.length + thought.chars === 0 ? 0 : 2 * estimateTokens(reasoning.toString() + thought.toText()) + 16;
    const past = Math.min(usage.reasoningTokens ?? 0, usage.outputTokens, shown);
    // A continuation was sent what was left of the budget: its own count is held to that (R43).
    const sent = (onContinuation ? context.resumed?.outputTokens : undefined) ?? budget();
    return usage.outputTokens - past <= sent ? plausible(usage.outputTokens, endpoint) : 0;
  };
  /** Whether the answer was resumed on another attempt after a break. */
  let resumed = false;
  /**
   * Whether the current attempt continues the answer (a longer prompt: the caller's and the text
   * sent), as against the caller's prompt as it came (a first answer, one started over, or one
   * resumed after nothing but whitespace), whose count is the caller's prompt's.
   */
  let onContinuation = false;
  /** Going back to endpoints this answer already used, shared by all its resumes. */
  const resumesGoingBack: GoingBack = { left: Math.max(1, context.resilience.retries) };
  let started = false;
  /** The caller's prompt as an upstream counted it (0: none did yet), and that upstream's cache parts of it. */
  let inputTokens = 0;
  let inputCache: PromptCache | undefined;
  /** The cache parts the caller's own start carried (an Anthropic stream's message_start): its usage then always states parts. */
  let toldCache: PromptCache | undefined;
  /**
   * switchyard_tokens_total counts each attempt against its own endpoint (what each used, to set
   * against what it bills): the prompt the current attempt was sent (the gateway's estimate, or the
   * upstream's count from its start event), the delivered tokens when it began, and whether it was
   * counted yet (once it broke; the answer's end counts it otherwise).
   */
  let attemptPrompt = context.promptTokens;
  let attemptPromptCounted = 0;
  let attemptFrom = 0;
  let attemptCounted = false;
  const firstTokenAt = now();
  let lastTokenAt = firstTokenAt;
  /** What the idle sweep watches of one attempt. */
  const watchOf = (cancellation: StreamAttempt['cancellation'], since: number): StreamWatch => ({ lastActive: since, cancellation, stalled: false, quietByDesign: false, slowGaps: 0, slowSpanMs: 0, crawled: false });
  /**
   * A stream that crawls is cut as a stalled one is, and resumed elsewhere: one whose last
   * `crawlGaps` gaps between tokens each passed half the stall timeout, at a pace that would miss
   * the deadline (see crawlsPastDeadline). A replica that sends a token just inside the stall
   * timeout (E56: one every 1.8 s under a 2 s timeout) otherwise held every request routed to it
   * until the deadline failed it, its circuit closed, its peers idle. A gap in a silence by design
   * (a held tool call, hidden thinking) is not counted.
   */
  const crawlGapMs = config.resilience.tokenIdleTimeoutMs / 2;
  const tokenCame = (): void => {
    const at = now();
    if (!watch.quietByDesign) {
      const gap = at - watch.lastActive;
      const slow = gap > crawlGapMs;
      watch.slowGaps = slow ? watch.slowGaps + 1 : 0;
      watch.slowSpanMs = slow ? watch.slowSpanMs + gap : 0;
    }
    lastTokenAt = at;
    watch.lastActive = at;
  };
  /** After the token is delivered (it may be the one that makes the answer one no resume can take over, R73): the cut, where the rule asks for it. */
  const cutIfCrawling = (): void => {
    if (watch.slowGaps < crawlGaps || watch.stalled || !crawlsPastDeadline(watch.lastActive)) return;
    watch.stalled = true;
    watch.crawled = true;
    watched.delete(watch);
    watch.cancellation.cancel();
  };
  let watch = watchOf(first.cancellation, firstTokenAt);
  /**
   * Only a crawl that would miss the deadline is cut (the rest of the budget at the pace of the slow
   * gaps runs past it), and only where the answer can go on elsewhere: by continuation, or, nothing
   * having reached the client, whole. A slow answer that would finish in time, or one no resume
   * could take over (a JSON answer begun, a tool call, thinking), is left to finish (R72).
   */
  const crawlsPastDeadline = (at: number): boolean => {
    const paceMs = watch.slowSpanMs / Math.max(1, watch.slowGaps);
    // Of an answer whose length nothing bounds but the default budget, as much again as has come is
    // expected (R73: 4,096 tokens to come made every crawl miss the deadline). Chunks stand for
    // tokens, as the upstream sends them: one that packs several in each is taken to have more to come.
    const bounded = request.maxTokens !== undefined || context.roomBudget !== undefined;
    const toCome = bounded ? budget() - delivered.tokens : delivered.tokens;
    if (at + toCome * paceMs <= context.deadlineAt) return false;
    if (context.resilience.resumeStreams && unresumable() === undefined) return true;
    if (sink.committed) return false;
    // Nothing has reached the client and no continuation can take the answer over: it starts over
    // whole, which only an endpoint it has not tried can do in time (R73).
    return core.endpoints.runtimesOf(context.route).some((endpoint) => !tried.has(endpoint.config.id));
  };
  /**
   * Why the answer cannot be continued elsewhere after a break, when it cannot. A tool call cut
   * half-way cannot be continued (no API takes one as a prefill), nor can JSON an upstream holds to
   * a format (constrained decoding would start the JSON over after the text sent, and the whole
   * would not parse): a non-stream answer starts over, a stream ends with an error event. JSON of
   * which only whitespace was sent goes again as sent. Nor a refusal: a continuation would carry on
   * from the refusal's words as if they were an answer. Nor an answer with thinking on: Anthropic
   * takes no prefill then, and a thinking block cut before its signature could not go back (even
   * one that wrote text before any thinking). Adaptive thinking the model did not use is no
   * thinking: that answer goes on without it. An open model's reasoning the caller was shown
   * likewise: a continuation would begin a second one.
   */
  const unresumable = (): string | undefined => {
    if (delivered.calls.count > 0) return 'inside a tool call, which cannot be continued';
    if (request.responseFormat !== undefined && (delivered.sent.toString() + delivered.held).trim() !== '') return 'inside a structured (JSON) answer, which cannot be continued';
    if (delivered.refused) return 'inside a refusal, which is not continued';
    if (request.thinking?.type === 'enabled' || delivered.thought.started || (delivered.reasoning.length > 0 && sink.showsReasoning)) return 'in an answer with extended thinking, which cannot be continued';
    return undefined;
  };
  /** Why a stalled attempt was cut, in the caller's and the log's words. */
  const stallOf = (stalled: StreamWatch): string => (stalled.crawled ? `tokens came more than ${String(crawlGapMs)} ms apart, ${String(crawlGaps)} times in a row` : `no token for ${String(config.resilience.tokenIdleTimeoutMs)} ms`);
  const forward = (event: Exclude<ChatEvent, { type: 'finish' } | { type: 'error' }>): void => {
    if (event.type === 'start') {
      attemptPromptCounted = plausible(event.inputTokens, current.endpoint);
      // An attempt sent the caller's prompt as it came counts it; a continuation counts a longer one.
      if (!onContinuation && attemptPromptCounted > 0) {
        inputTokens = attemptPromptCounted;
        inputCache = event.cache;
      }
      // A resumed answer continues the first one: its own start is not the client's.
      if (started) return;
      started = true;
      toldCache = inputTokens > 0 && sink.startStatesUsage ? event.cache : undefined;
      // OpenAI-dialect upstreams count the prompt only at the end: an Anthropic client's
      // message_start then carries the estimate, and message_delta the upstream's count.
      if (inputTokens === 0) {
        sink.event({ type: 'start', id: event.id, model: event.model, inputTokens: context.promptTokens });
        return;
      }
    } else if (event.type === 'thinking' || event.type === 'thinking_signature' || event.type === 'redacted_thinking') {
      tokenCame();
      // A block's empty start: with display omitted (some models' default), nothing more comes until
      // its signature; with display summarized its text follows, and silence is a stall again.
      watch.quietByDesign = event.type === 'thinking' && event.text === '' && request.thinking?.display !== 'summarized';
      delivered.thinking(event);
      cutIfCrawling();
      return;
    } else if (event.type === 'reasoning') {
      tokenCame();
      watch.quietByDesign = false;
      delivered.reasoningPart(event);
      cutIfCrawling();
      return;
    } else if (event.type !== 'text') {
      tokenCame();
      // A call's end: it is whole, and silence from here on is a stall again. A call's start: quiet
      // is by design only where the upstream's API may hold its arguments back until they are whole.
      if (event.type === 'tool_call_end') watch.quietByDesign = false;
      else if (event.type === 'tool_call') watch.quietByDesign = dialects[current.endpoint.config.dialect].mayHoldToolArguments;
      delivered.tool(event);
      cutIfCrawling();
      return;
    } else {
      tokenCame();
      watch.quietByDesign = false;
      delivered.text(event);
      cutIfCrawling();
      return;
    }
    sink.event(event);
  };
  /**
   * An answer that ended without its finish: the prompt and the tokens delivered are what it used.
   * Tokens count against the endpoint that gave them; the outcome names the one that failed last
   * (`failedLast`), if another.
   */
  const endedEarly = (status: number, endpoint: EndpointRuntime, failedLast = endpoint.config.id): AnswerOutcome => {
    const used = { inputTokens: inputTokens || context.promptTokens, outputTokens: delivered.deliveredTokens() };
    countAttempt(endpoint, 0, delivered.deliveredTokens());
    return { status, endpoint: failedLast, ...used, text: delivered.sent.toString() };
  };
  /** Counts the current attempt against its endpoint, once: its prompt and what it gave of the answer's `output` tokens. */
  const countAttempt = (endpoint: EndpointRuntime, promptCounted: number, output: number): void => {
    if (attemptCounted) return;
    attemptCounted = true;
    countTokens(endpoint.config.id, promptCounted || attemptPromptCounted || attemptPrompt, Math.max(0, output - attemptFrom));
  };
  /** A new attempt carries the answer on (a resume, or the request started over). */
  const nextAttempt = (): void => {
    attemptPrompt = context.resumed?.promptTokens ?? context.promptTokens;
    attemptPromptCounted = 0;
    attemptFrom = delivered.deliveredTokens();
    attemptCounted = false;
  };
  /**
   * The request's own cancellation ended the answer: the client left (499), the gateway is shutting
   * down or the deadline passed (503 or 504, told to the client). `streaming`: an upstream was
   * generating when it came, not a resume waiting for its first token.
   */
  const stopped = (endpoint: EndpointRuntime, streaming: boolean): AnswerOutcome => {
    if (context.clientGone()) return endedEarly(499, endpoint);
    if (context.shuttingDown()) {
      sink.fail(new ClientError(503, 'overloaded', `the gateway shut down after ${tokens(delivered.tokens)}; retry the request`));
      return endedEarly(503, endpoint);
    }
    const passed = `the ${context.resilience.deadlineMs} ms deadline passed after ${tokens(delivered.tokens)}`;
    // The setting to raise: the route's own when it has one, which the gateway's does not override.
    const setting = context.route.resilience?.deadlineMs === undefined ? 'resilience.deadlineMs' : `the resilience.deadlineMs of route ${context.route.model}`;
    // Charged what was generated for it, as a deadline's failure is (a whole answer settles at its failure).
    if (!streaming) sink.fail(new ClientError(504, 'timeout', `${passed}, while the answer was being resumed elsewhere`), (inputTokens || context.promptTokens) + delivered.deliveredTokens());
    else if (request.stream) sink.fail(new ClientError(504, 'timeout', `${passed}: for a longer answer, ask the operator to raise ${setting}`));
    // A whole answer that takes longer than the deadline allows: a retry would generate it again and
    // be cut the same way, so the SDKs (which retry a 504) are told not to, and the caller what helps.
    else sink.fail(new ClientError(504, 'timeout', `${passed}: the answer takes longer than the deadline allows, and a retry would be cut the same way; ask for a lower max_tokens, ask the operator to raise ${setting}, or ask with stream: true to keep what is generated before the deadline (which does not lengthen it)`, { isRetryable: false }), (inputTokens || context.promptTokens) + delivered.deliveredTokens());
    return endedEarly(504, endpoint);
  };
  /**
   * Ends the answer with its finish. An upstream that reports no prompt count (an
   * OpenAI-dialect server ignoring include_usage) is reported and charged at the
   * gateway's estimate, never at 0. `ownCount`: the finish's output count is the gateway's own
   * (already bounded), not an upstream's to check for plausibility or raise to the pieces sent.
   */
  const complete = (finished: Extract<ChatEvent, { type: 'finish' }>, endpoint: EndpointRuntime, upstreamPrompt: number, ownCount = false): AnswerOutcome => {
    delivered.endHeld();
    // The upstream's count when it gave one (never below the pieces delivered), else the gateway's.
    const counted = ownCount ? finished.usage.outputTokens : plausibleOutput(finished.usage, endpoint);
    const upstreamCount = plausible(upstreamPrompt, endpoint);
    // The prompt cache's parts go with the upstream's count of the prompt they are part of, never
    // with an estimate: the finish's, or (a continued answer, or one the gateway ends itself) the
    // count of the caller's prompt. A caller whose start stated parts is told parts again (0 when
    // unknown), or it would keep the start's beside a count that is not theirs.
    const cache = (upstreamCount > 0 ? finished.usage.cache : inputTokens > 0 ? inputCache : undefined) ?? (toldCache === undefined ? undefined : { readTokens: 0, writeTokens: 0 });
    // A continuation's upstream counted only its own part: what was delivered before it is added (E50:
    // an upstream that packs several tokens a chunk made the pieces undercount it).
    const before = onContinuation ? attemptFrom : 0;
    const outputTokens = ownCount ? counted : counted > 0 ? Math.max(before + counted, delivered.tokens) : delivered.deliveredTokens();
    // The reasoning part goes with the upstream's own count of the whole answer: a resumed one's
    // finish counted only the continuation.
    const reasoningTokens = ownCount || resumed || counted === 0 ? undefined : finished.usage.reasoningTokens;
    const usage: Usage = { inputTokens: upstreamCount || inputTokens || context.promptTokens, outputTokens, ...(reasoningTokens === undefined ? {} : { reasoningTokens }), ...(cache === undefined ? {} : { cache }) };
    const text = delivered.sent.toString();
    const toolCalls = delivered.calls.toCalls();
    if (sink.needsObjectArguments && !isCutShort(finished.finishReason) && !toolCalls.every(hasObjectArguments)) {
      // An answer whose dialect writes arguments as an object (Anthropic's input), whole or streamed: a model's
      // malformed arguments are a failed answer, not one passed on as something else. (OpenAI's
      // API passes them on as text, and so does the gateway to OpenAI callers; an answer cut
      // short leaves its last call's arguments unfinished, which its finish says.)
      context.log.warn({ requestId: context.requestId, endpoint: endpoint.config.id }, 'upstream tool call arguments are not a JSON object, or nested too deeply');
      sink.fail(new ClientError(502, 'api_error', `the upstream answered with tool call arguments that are not a JSON object (or one nested more than ${String(maxJsonDepth)} levels deep); retry the request`));
      return endedEarly(502, endpoint);
    }
    // Only a sequence the caller asked for: a server may name its chat template's own stop string.
    const stopSequence = finished.stopSequence !== undefined && request.stop.includes(finished.stopSequence) ? finished.stopSequence : undefined;
    sink.finish({ type: 'finish', finishReason: finished.finishReason, ...(stopSequence === undefined ? {} : { stopSequence }), usage }, { text, toolCalls, refusal: delivered.refused, thinking: delivered.thought.toBlocks(), reasoning: delivered.reasoning.toString() });
    // The attempt's own prompt: a resumed answer's upstream counted the continuation.
    countAttempt(endpoint, plausible(finished.usage.inputTokens, endpoint) || (resumed ? 0 : usage.inputTokens), usage.outputTokens);
    // Over the tokens streamed: several may come in one chunk (so not the chunks), and a reasoning
    // model's count includes tokens never streamed (so not the count alone); a resumed answer's span
    // holds the break, and is no measure of either endpoint's pace.
    const streamedTokens = Math.min(usage.outputTokens, Math.max(delivered.tokens, estimateTokens(text)));
    if (!resumed && streamedTokens > 1 && delivered.tokens > 1) metrics.tpot.observe({ route, endpoint: endpoint.config.id }, (lastTokenAt - firstTokenAt) / 1e3 / (streamedTokens - 1));
    return { status: 200, endpoint: endpoint.config.id, ...usage, text };
  };
  /** The upstream's last break was its saying it was overloaded (Anthropic's overloaded_error event): told so if not resumed. */
  let overloaded = false;
  for (let resumes = 0; ; resumes += 1) {
    const endpoint = current.endpoint;
    let failure: string | undefined;
    /** Whether `failure` is the upstream's own words (an error event), which may quote the request. */
    let upstreamSaid = false;
    overloaded = false;
    let finished: Extract<ChatEvent, { type: 'finish' }> | undefined;
    // Watched by the idle sweep while it streams: one that goes quiet after its first token is
    // cut and resumed, instead of holding the client until the deadline.
    if (resumes > 0) watch = watchOf(current.cancellation, now());
    watched.add(watch);
    try {
      for (const event of current.head) {
        if (event.type === 'finish') finished = event;
        else if (event.type !== 'error') forward(event);
      }
      while (finished === undefined && delivered.guardStop === undefined && !delivered.overran) {
        const next = await current.rest.next();
        if (next.done === true) {
          failure = 'upstream stream ended without its final event';
          break;
        }
        const event = next.value;
        if (event.type === 'error') {
          failure = event.detail === undefined ? event.message : `${event.message}: ${event.detail}`;
          upstreamSaid = event.fromUpstream === true;
          overloaded = event.kind === 'overloaded';
          break;
        }
        if (event.type === 'finish') finished = event;
        else forward(event);
        if (sink.congested && finished === undefined && delivered.guardStop === undefined && !delivered.overran) {
          // The client reads slower than the upstream writes: stop reading the upstream (its queue
          // fills and pauses its socket) rather than hold the rest of the answer here. The wait is
          // the client's, not a stall of the upstream's, so the idle sweep does not see it.
          watched.delete(watch);
          await sink.drained(cancellation);
          if (cancellation.cancelled) break;
          watch.lastActive = now();
          watched.add(watch);
        }
      }
    } catch (error) {
      failure = error instanceof Error ? error.message : String(error);
    } finally {
      watched.delete(watch);
    }
    const guardStop = delivered.guardStop;
    if (guardStop !== undefined) {
      // The stop sequence spanned the join: this upstream wrote past it, unaware. End here.
      releaseAttempt(core, current, 'success');
      current.cancellation.cancel();
      return complete({ type: 'finish', finishReason: 'stop', stopSequence: guardStop, usage: { inputTokens: 0, outputTokens: 0 } }, endpoint, 0);
    }
    if (delivered.overran && finished === undefined) {
      // The upstream wrote far past the budget it was sent: end the answer as cut at its budget.
      context.log.warn({ requestId: context.requestId, endpoint: endpoint.config.id, chars: delivered.chars, sentTokens: delivered.tokens }, 'upstream answer ran past its max_tokens budget: cut');
      releaseAttempt(core, current, 'success');
      current.cancellation.cancel();
      // Charged what the text holds by the gateway's estimate (its chunks say little here), but never
      // past the budget asked for: what the upstream wrote beyond it is the endpoint's fault.
      return complete({ type: 'finish', finishReason: 'length', usage: { inputTokens: 0, outputTokens: Math.min(budget(), Math.max(estimateTokens(delivered.written()), delivered.deliveredTokens())) } }, endpoint, 0, true);
    }
    if (watch.stalled && finished === undefined) failure = stallOf(watch);
    if (finished !== undefined) {
      releaseAttempt(core, current, 'success');
      // A continuation's upstream counted a longer prompt (the caller's and the text sent): the
      // caller's prompt is what an attempt sent it as it came counted, or the gateway's estimate.
      return complete(finished, endpoint, onContinuation ? 0 : finished.usage.inputTokens);
    }
    if (cancellation.cancelled) {
      releaseAttempt(core, current, 'cancel');
      return stopped(endpoint, true);
    }
    releaseAttempt(core, current, 'failure');
    countAttempt(endpoint, 0, delivered.deliveredTokens());
    noteFailure(context, endpoint.config.id, 'stream');
    metrics.upstreamErrors.inc({ endpoint: endpoint.config.id, status: 'stream' });
    const reason = upstreamSaid && !config.logging.logPrompts ? "the upstream sent an error event; its words are logged only with logging.logPrompts" : failure;
    context.log.warn({ requestId: context.requestId, endpoint: endpoint.config.id, ...(current.sentRequestId === undefined ? {} : { sentRequestId: current.sentRequestId }), reason, sentTokens: delivered.tokens }, 'upstream stream broke');
    // The whole answer keeps the budget it was sent with: the caller's, else the room a window left
    // (context.roomBudget), else the default.
    const budgetLeft = budget() - delivered.tokens;
    // Every token the client asked for was delivered: the answer is whole, cut or not.
    // (No upstream count: complete charges what was delivered.)
    if (budgetLeft <= 0) return complete({ type: 'finish', finishReason: 'length', usage: { inputTokens: 0, outputTokens: 0 } }, endpoint, 0);
    let next: Attempt | undefined;
    /** How the last resume or restart failed at an upstream, when one did: what the caller is told then. */
    let lastFailure: ClientError | undefined;
    /**
     * Why routing found no endpoint for the last resume or restart, when it did not (no endpoint
     * failed) for a reason of the caller's situation: a reload took the tenant's jurisdictions away,
     * every circuit is open, every endpoint was tried. Said after the cut.
     */
    let lastRefusal: ClientError | undefined;
    const failedAtUpstream = (error: unknown, continuing: boolean): void => {
      if (!(error instanceof ClientError)) return;
      // A routing refusal (no endpoint failed): the caller's request was fine. One of the
      // continuation's own shape (a 4xx: no endpoint takes a prefill, the text sent made it too
      // long) would give advice about a request the caller never sent (R69).
      if (error.endpoint === undefined) {
        if (error.status >= 500) lastRefusal = error;
        return;
      }
      if (!isRequestFault(error.status)) lastFailure = error;
      // Upstreams refused the continuation itself (the caller's request was answered until the break):
      // said, as the gateway's failure to resume (E26: "the upstream stream broke" hid a 400).
      else if (continuing) lastFailure = new ClientError(502, 'api_error', `the continuation was refused (${String(error.status)}): ${error.message}`, { endpoint: error.endpoint });
    };
    if (context.resilience.resumeStreams && unresumable() === undefined) {
      // Held text (a possible stop sequence's start) was generated too: the continuation goes on from it.
      const generated = delivered.sent.toString() + delivered.held;
      const received = generated.trimEnd();
      // Nothing but whitespace sent: the request goes again as first sent, its answer's start dropped as far as that.
      delivered.resumeAfter(received === '' ? prefillWhitespace(request) + generated : generated.slice(received.length));
      const continuation: ChatRequest = received === '' ? withoutPrefillWhitespace(request) : { ...withoutThinking(request), messages: continued(request, received), maxTokens: budgetLeft, finalAssistant: 'continue', resumedFrom: request.finalAssistant };
      // The text sent, now in the prompt, estimated by the rule upstreams like the emulator count
      // with, and never as fewer tokens than were generated.
      context.resumed = received === '' ? undefined : { promptTokens: Math.max(estimatePromptTokens(continuation), context.promptTokens + delivered.tokens), outputTokens: budgetLeft };
      // A fresh endpoint is always tried, as for a first answer; going back to one this answer used
      // is what `retries` bounds, over all of the answer's resumes together, and a resume is not a
      // retry of the request: once even with 0.
      try {
        next = await firstAnswer(core, context, continuation, tried, cancellation, resumesGoingBack);
      } catch (error) {
        failedAtUpstream(error, received !== '');
        next = undefined;
      }
    }
    if ((next === undefined || next.kind !== 'stream') && !sink.committed && !cancellation.cancelled) {
      // Nothing has reached the client (a non-stream answer): rather than fail, the request starts
      // over, whole, on an endpoint this answer has not used, one that takes no continuations
      // included, else going back to one as `retries` allows (the budget its resumes share): sent
      // again whole, the request is as safe to repeat there as a first answer's retry.
      // Also with resumeStreams off: this is the request sent again, not a continuation.
      context.resumed = undefined;
      context.promptFloor = promptFloor;
      try {
        next = await firstAnswer(core, context, withoutPrefillWhitespace(request), tried, cancellation, context.resilience.retries > 0 ? resumesGoingBack : { left: 0 });
      } catch (error) {
        failedAtUpstream(error, false);
        next = undefined;
      }
      if (next?.kind === 'stream') {
        delivered = new DeliveredAnswer(sink, request, prefillWhitespace(request));
        // The caller's prompt, sent as it came: its count is this attempt's, as a first answer's is
        // (the earlier count and its parts, one endpoint's, stay until this one counts).
        onContinuation = false;
        metrics.resumes.inc({ route, outcome: 'restarted' });
        current = next;
        resumed = true;
        nextAttempt();
        continue;
      }
    }
    // The deadline (or the client leaving) ended the resume: say so, not "could not be resumed".
    if (next === undefined && cancellation.cancelled) return stopped(endpoint, false);
    if (next === undefined || next.kind !== 'stream') {
      // An error event ends a stream; a whole answer fails with a status instead.
      metrics.resumes.inc({ route, outcome: sink.committed ? 'error-event' : 'failed' });
      // The cause in the gateway's words only: an upstream's error event may quote its account or internals (logged above).
      // Why no resume was tried, where that is the answer's kind rather than the upstreams'.
      const why = unresumable();
      const how = watch.stalled ? stallOf(watch) : overloaded ? 'the upstream was overloaded' : 'the upstream stream broke';
      const cause = why === undefined ? how : `${how}${watch.stalled || overloaded ? ',' : ''} ${why}`;
      const cut = `the answer was cut after ${tokens(delivered.tokens)} and could not be resumed: ${cause}`;
      // When the resumes failed at upstreams, the last one's failure is the answer, as for a first
      // answer's attempts: its status (429, 503, 504...), Retry-After and endpoint.
      if (lastFailure !== undefined) {
        sink.fail(new ClientError(lastFailure.status, lastFailure.kind, `${cut}; then ${lastFailure.message}`, { headers: lastFailure.headers, isRetryable: lastFailure.isRetryable }));
        return endedEarly(lastFailure.status, endpoint, lastFailure.endpoint);
      }
      // Overload is told as such (a 503, Anthropic's overloaded_error), which clients wait on and retry.
      const status = overloaded && !watch.stalled ? 503 : 502;
      // No upstream failed a resume: routing found none to try, and why is said (E54: a reload that
      // took the tenant's jurisdictions away read as the upstream's break alone), with its hints: no
      // retry helps a jurisdiction taken away; open circuits say when one will probe again.
      const refusal = lastRefusal === undefined ? {} : { headers: lastRefusal.headers, isRetryable: lastRefusal.isRetryable };
      sink.fail(new ClientError(status, status === 503 ? 'overloaded' : 'api_error', lastRefusal === undefined ? cut : `${cut}; then ${lastRefusal.message}`, refusal));
      return endedEarly(status, endpoint);
    }
    metrics.resumes.inc({ route, outcome: 'resumed' });
    current = next;
    resumed = true;
    // Nothing but whitespace sent: the request went again as it came, and its count is the
    // caller's prompt's, as a restarted answer's is. Else it counts a longer prompt.
    onContinuation = context.resumed !== undefined;
    nextAttempt();
  }
}

/** A count of tokens in words: '1 token', '2 tokens'. */
function tokens(count: number): string {
  return count === 1 ? '1 token' : `${String(count)} tokens`;
}

/**
 * The conversation with the text already sent as the assistant turn to continue: appended
 * to the caller's own trailing assistant turn when that was a prefill, as a turn of its own
 * when it was a finished turn (an OpenAI caller's).
 */
function continued(request: ChatRequest, sent: string): ChatMessage[] {
  const messages = request.messages;
  const last = messages.at(-1);
  if (last?.role === 'assistant' && request.finalAssistant === 'continue') return [...messages.slice(0, -1), { role: 'assistant', content: last.content + sent, ...keptOf(last) }];
  return [...messages, { role: 'assistant', content: sent }];
}

/** A prefill's prompt-cache breakpoint and speaker's name, kept when the gateway rewrites the prefill. */
function keptOf(message: ChatMessage): Pick<ChatMessage, 'cache' | 'name'> {
  return { ...(message.cache === undefined ? {} : { cache: message.cache }), ...(message.name === undefined ? {} : { name: message.name }) };
}

/** The request without its thinking request (for the continuation of an adaptive answer that did not think). */
function withoutThinking(request: ChatRequest): ChatRequest {
  if (request.thinking === undefined) return request;
  const { thinking: _thinking, ...rest } = request;
  return rest;
}
