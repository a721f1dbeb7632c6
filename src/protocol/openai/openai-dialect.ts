import { type ChatResult, type ErrorKind, type Parsed, type RateLimitState } from '../chat.js';
import type { Dialect } from '../dialect.js';
import { goDuration } from '../go-duration.js';
import { malformedAnswer, unfinishedAnswer } from '../request-problem.js';
import { formatOpenaiError } from './openai-error.js';
import { brokenFinish, finishFromOpenAI, finishToOpenAI, openaiFinishWithCalls, matchedStop, stopSequenceOf } from './openai-finish-reason.js';
import { readContent } from './openai-content-parts.js';
import { reasoningOf } from './openai-reasoning.js';
import { openaiResultSchema } from './openai-result-schema.js';
import { createOpenaiStreamReader } from './openai-stream-reader.js';
import { createOpenaiStreamWriter } from './openai-stream-writer.js';
import { encodeOpenaiRequest } from './encode-openai-request.js';
import { readOpenaiRequest } from './read-openai-request.js';
import { madeUpCallId, takenBackId } from '../tool-call-id.js';
import { argumentsText, wireToolCall } from './openai-tool-calls.js';
import { openaiUsageFields, readOpenaiUsage } from './openai-usage.js';
import { dialectTraits } from '../dialect-traits.js';

export const openaiDialect: Dialect = {
  name: 'openai',
  chatPath: '/v1/chat/completions',
  toolArgumentsAsObject: false,
  mayHoldToolArguments: false,
  requestIdHeader: 'x-request-id',
  refusedHeaders: {},
  showsReasoning: true,
  streamStartStatesUsage: false,
  upstream: dialectTraits.openai,

  parseRequest: readOpenaiRequest,

  responseId(token: string): string {
    return `chatcmpl-${token}`;
  },

  encodeRequest: encodeOpenaiRequest,

  authHeaders(apiKey: string | undefined): Record<string, string> {
    return apiKey === undefined ? {} : { authorization: `Bearer ${apiKey}` };
  },

  formatResult(result: ChatResult, createdSeconds: number): unknown {
    const calls = result.toolCalls ?? [];
    // As OpenAI answers a turn that only called tools: content null, not ''. A refusal is in its own
    // field, content null, and the answer ends as OpenAI ends one, with 'stop'.
    const message =
      result.refusal === true
        ? { role: 'assistant', content: null, refusal: result.text }
        : calls.length === 0
          ? { role: 'assistant', content: result.text, refusal: null }
          : { role: 'assistant', content: result.text === '' ? null : result.text, refusal: null, tool_calls: calls.map((call) => wireToolCall(call, result.finishReason)) };
    const reasoned = result.reasoning === undefined ? message : { ...message, reasoning_content: result.reasoning };
    return {
      id: result.id,
      object: 'chat.completion',
      created: createdSeconds,
      model: result.model,
      choices: [{ index: 0, message: reasoned, logprobs: null, finish_reason: result.refusal === true && result.finishReason === 'content_filter' ? 'stop' : finishToOpenAI[result.finishReason], ...matchedStop(result.stopSequence) }],
      usage: openaiUsageFields(result.usage),
    };
  },

  parseResult(body: unknown): Parsed<ChatResult> {
    const parsed = openaiResultSchema.safeParse(body);
    if (!parsed.success) return malformedAnswer(parsed.error, 'chat completion');
    const choice = parsed.data.choices[0];
    const toolCalls = (choice?.message.tool_calls ?? []).map((call, index) => ({ id: takenBackId(call.id) ?? madeUpCallId(parsed.data.id, index), name: call.function.name, arguments: argumentsText(call.function.arguments) }));
    // No finish is no end: a whole answer without one may be cut short, as a stream's [DONE] without one is (E59).
    const broken = typeof choice?.finish_reason === 'string' ? brokenFinish(choice.finish_reason, toolCalls.length > 0) : unfinishedAnswer('finish_reason');
    if (broken !== undefined) return { ok: false, problem: { status: 502, kind: 'api_error', message: broken } };
    const stopped = stopSequenceOf(choice);
    // A refusal is told as Anthropic tells one: its words as the text, and a content_filter finish,
    // so that no caller reads an empty answer, or the refusal, as the JSON it asked for.
    const refusal = choice?.message.refusal ?? '';
    // A list of parts (Mistral's reasoning models) as text and reasoning; parts that are no text are no answer.
    const content = readContent(choice?.message.content);
    if (content === undefined) return { ok: false, problem: { status: 502, kind: 'api_error', message: 'upstream answered with content that is not text' } };
    const reasoned = `${reasoningOf(choice?.message) ?? ''}${content.reasoning}`;
    const reasoning = reasoned === '' ? undefined : reasoned;
    return {
      ok: true,
      value: {
        id: parsed.data.id,
        model: parsed.data.model,
        text: `${content.text}${refusal}`,
        finishReason: refusal === '' ? openaiFinishWithCalls(finishFromOpenAI(choice?.finish_reason), toolCalls.length > 0, stopped) : 'content_filter',
        ...(refusal === '' ? {} : { refusal: true }),
        ...stopped,
        ...(toolCalls.length === 0 ? {} : { toolCalls }),
        ...(reasoning === undefined ? {} : { reasoning }),
        usage: readOpenaiUsage(parsed.data.usage),
      },
    };
  },

  createStreamWriter: createOpenaiStreamWriter,

  createStreamReader: createOpenaiStreamReader,

  formatModelList(ids: readonly string[]): Parsed<unknown> {
    return { ok: true, value: { object: 'list', data: ids.map((id) => this.formatModel(id)) } };
  },

  formatModel(id: string): unknown {
    return { id, object: 'model', created: 0, owned_by: 'switchyard' };
  },

  errorStatus(_kind: ErrorKind, status: number): number {
    return status;
  },

  formatError: formatOpenaiError,

  rateLimitHeaders(state: RateLimitState): Record<string, string> {
    return {
      'x-ratelimit-limit-requests': String(state.requests.limit),
      'x-ratelimit-remaining-requests': String(state.requests.remaining),
      'x-ratelimit-reset-requests': goDuration(state.requests.resetMs),
      'x-ratelimit-limit-tokens': String(state.tokens.limit),
      'x-ratelimit-remaining-tokens': String(state.tokens.remaining),
      'x-ratelimit-reset-tokens': goDuration(state.tokens.resetMs),
    };
  },
};
