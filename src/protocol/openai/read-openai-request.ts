import { saysSomething, type ChatRequest, type Parsed, type SamplingControls } from '../chat.js';
import { invalidRequest } from '../request-problem.js';
import { maxJsonDepth, tooDeepProblem } from '../json-depth.js';
import { toolUseIssue } from '../tool-use.js';
import { canonicalMessage } from './openai-messages.js';
import { openaiGatewayRequestSchema, openaiRequestSchema, serverLengthSchema, type OpenaiRequest } from './openai-request-schema.js';
import { responseFormatOf, strictSchemaProblem } from './openai-response-format.js';
import { toolChoiceOf, toolDefinitionOf } from './openai-tool-calls.js';

/**
 * vLLM's add_generation_prompt against continue_final_message, as vLLM pairs them: false only with a
 * prefill (alone it would continue the caller's text, which no upstream is sent), true never with one.
 */
function generationPromptConflict(addGenerationPrompt: unknown, continueFinalMessage: unknown): string | undefined {
  if (addGenerationPrompt === false && continueFinalMessage !== true) {
    return 'add_generation_prompt: false (a model-server extension) would be ignored: to continue a trailing assistant message (a prefill), send continue_final_message: true as well; otherwise leave add_generation_prompt out';
  }
  if (addGenerationPrompt === true && continueFinalMessage === true) {
    return 'add_generation_prompt and continue_final_message are both true: one opens a new assistant turn, the other continues the last one; leave add_generation_prompt out (or false) to continue';
  }
  return undefined;
}

/** The sampling controls a request set, if any. */
function samplingOf(r: OpenaiRequest): { sampling?: SamplingControls } {
  const sampling: { -readonly [K in keyof SamplingControls]: SamplingControls[K] } = {};
  if (r.seed !== undefined && r.seed !== null) sampling.seed = r.seed;
  if (r.frequency_penalty !== undefined && r.frequency_penalty !== null) sampling.frequencyPenalty = r.frequency_penalty;
  if (r.presence_penalty !== undefined && r.presence_penalty !== null) sampling.presencePenalty = r.presence_penalty;
  if (r.logit_bias !== undefined && r.logit_bias !== null) sampling.logitBias = r.logit_bias;
  return Object.keys(sampling).length === 0 ? {} : { sampling };
}

/** The caller's end-user id, if it sent one: `safety_identifier`, else the older `user`. */
function endUserOf(r: OpenaiRequest): { endUser?: string } {
  const id = r.safety_identifier ?? r.user;
  return id === undefined || id === null || id === '' ? {} : { endUser: id };
}

/** An OpenAI Chat Completions request as a canonical one; refused as OpenAI (or, asServer, vLLM) refuses it, or for what the gateway cannot carry. */
export function readOpenaiRequest(body: unknown, options: { readonly asServer?: boolean } = {}): Parsed<ChatRequest> {
  // A model server takes a few levels more: a gateway's encoding moves a caller's tool arguments and
  // schemas deeper (OpenAI arguments text becomes Anthropic's input object, in a content block).
  const tooDeep = tooDeepProblem(body, options.asServer === true ? maxJsonDepth + 16 : maxJsonDepth);
  if (tooDeep !== undefined) return tooDeep;
  // A model server (vLLM, and the emulator as it) serves or ignores those fields.
  const parsed = (options.asServer === true ? openaiRequestSchema : openaiGatewayRequestSchema).safeParse(body);
  if (!parsed.success) return invalidRequest(parsed.error);
  const r = parsed.data;
  const length = options.asServer === true ? serverLengthSchema.safeParse(body) : undefined;
  if (length !== undefined && !length.success) return invalidRequest(length.error);
  const ignoreEos = length?.data.ignore_eos === true;
  const minTokens = length?.data.min_tokens ?? 0;
  const maxTokens = r.max_completion_tokens ?? r.max_tokens ?? undefined;
  // As vLLM refuses it.
  if (maxTokens !== undefined && minTokens > maxTokens) return { ok: false, problem: { status: 400, kind: 'invalid_request', param: 'min_tokens', message: `min_tokens must be less than or equal to max_tokens=${String(maxTokens)}, got ${String(minTokens)}` } };
  const stop = r.stop === undefined || r.stop === null ? [] : typeof r.stop === 'string' ? [r.stop] : r.stop;
  // As vLLM refuses them: an empty stop string and a top_p of 0. The gateway takes both, as
  // OpenAI does (see below and encodeOpenaiRequest), so that the emulator, as a server, catches them.
  if (options.asServer === true && stop.includes('')) return { ok: false, problem: { status: 400, kind: 'invalid_request', param: 'stop', message: 'stop cannot contain an empty string' } };
  if (options.asServer === true && r.top_p === 0) return { ok: false, problem: { status: 400, kind: 'invalid_request', param: 'top_p', message: 'top_p must be in (0, 1], got 0' } };
  // Two budgets that differ: which one the caller meant is a guess (OpenAI refuses the pair, vLLM
  // takes max_completion_tokens). The same number twice is no conflict.
  if (options.asServer !== true && r.max_tokens != null && r.max_completion_tokens != null && r.max_tokens !== r.max_completion_tokens) {
    return { ok: false, problem: { status: 400, kind: 'invalid_request', param: 'max_tokens', message: 'max_tokens and max_completion_tokens are both set, to different numbers: send one of them (max_completion_tokens is the current name)' } };
  }
  if (options.asServer !== true) {
    const generationPromptProblem = generationPromptConflict(r.add_generation_prompt, r.continue_final_message);
    if (generationPromptProblem !== undefined) return { ok: false, problem: { status: 400, kind: 'invalid_request', param: 'add_generation_prompt', message: generationPromptProblem } };
  }
  // As OpenAI and vLLM refuse it: stream options on an answer that is not streamed ask for nothing.
  if (r.stream !== true && r.stream_options !== undefined && r.stream_options !== null) {
    return { ok: false, problem: { status: 400, kind: 'invalid_request', param: 'stream_options', message: 'stream_options: only allowed when stream is true; send "stream": true, or leave stream_options out' } };
  }
  // Each canonical message with its index in the caller's list, to name it in a problem.
  const all = r.messages.map((message, index) => ({ message: canonicalMessage(message), index }));
  // An empty system message is no system prompt, whichever dialect the upstream speaks.
  const kept = all.filter(({ message }) => message.role !== 'system' || message.content !== '');
  const numbered = kept.length > 0 ? kept : all;
  const messages = numbered.map(({ message }) => message);
  const tools = (r.tools ?? []).map(toolDefinitionOf);
  const toolChoice = toolChoiceOf(r.tool_choice);
  const issue = toolUseIssue(messages, tools, toolChoice, false);
  if (issue !== undefined) {
    const param = issue.field !== 'messages' ? issue.field : issue.message === undefined ? 'messages' : `messages.${numbered[issue.message]?.index ?? issue.message}`;
    return { ok: false, problem: { status: 400, kind: 'invalid_request', param, message: `${param}: ${issue.text}` } };
  }
  const responseFormat = responseFormatOf(r.response_format);
  // OpenAI's strict mode refuses other schemas; refused here for every upstream alike, in its words.
  if (options.asServer !== true) {
    // Anthropic refuses a conversation that says nothing, which OpenAI answers: refused for every upstream alike.
    if (!messages.some(saysSomething)) return { ok: false, problem: { status: 400, kind: 'invalid_request', param: 'messages', message: 'messages: every message is empty: the model would be asked nothing (send some text, or a system prompt)' } };
    const strictProblem = strictSchemaProblem(responseFormat, tools);
    if (strictProblem !== undefined) return { ok: false, problem: { status: 400, kind: 'invalid_request', param: strictProblem.param, message: `${strictProblem.param}: strict schemas must close every object (additionalProperties: false) and list all its properties in required (write an optional one as nullable)` } };
  }
  // OpenAI's own rule, kept for every upstream: JSON mode without asking for JSON can make a model write whitespace to the end of its budget.
  if (responseFormat?.type === 'json_object' && !messages.some((message) => /json/i.test(message.content))) {
    return { ok: false, problem: { status: 400, kind: 'invalid_request', param: 'messages', message: "messages: with response_format of type 'json_object', some message must ask for JSON (contain the word 'JSON'), or the model may write whitespace until its budget runs out" } };
  }
  return {
    ok: true,
    value: {
      model: r.model,
      messages,
      maxTokens,
      temperature: r.temperature ?? undefined,
      topP: r.top_p ?? undefined,
      ...(r.top_k === undefined || r.top_k === null || r.top_k <= 0 ? {} : { topK: r.top_k }),
      // An empty stop string stops nothing: dropped, so no upstream sees one (vLLM refuses it).
      stop: stop.filter((sequence) => sequence !== ''),
      stream: r.stream === true,
      includeUsage: r.stream_options?.include_usage === true,
      finalAssistant: r.continue_final_message === true ? 'continue' : 'answer',
      ...samplingOf(r),
      ...(ignoreEos || minTokens > 0 ? { serverLength: { ignoreEos, minTokens } } : {}),
      ...endUserOf(r),
      // Without tools, a tool choice of 'auto' or 'none' and parallel_tool_calls ask for nothing
      // (the others were refused above); left out, as OpenAI refuses them without tools.
      ...(tools.length === 0 ? {} : { tools, ...(toolChoice === undefined ? {} : { toolChoice }), ...(r.parallel_tool_calls === undefined || r.parallel_tool_calls === null ? {} : { parallelToolCalls: r.parallel_tool_calls }) }),
      ...(responseFormat === undefined ? {} : { responseFormat }),
      ...(r.reasoning_effort === undefined || r.reasoning_effort === null ? {} : { effort: r.reasoning_effort }),
    },
  };
}
