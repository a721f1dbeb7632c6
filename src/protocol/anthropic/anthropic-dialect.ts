import { type ChatRequest, type ChatResult, type ErrorKind, type Parsed, type RateLimitName, type RateLimitState, type RateLimitWindow, type ThinkingBlock, type ToolCall } from '../chat.js';
import type { Dialect } from '../dialect.js';
import { malformedAnswer, unfinishedAnswer } from '../request-problem.js';
import { sseFrame } from '../sse.js';
import { madeUpCallId, takenBackId } from '../tool-call-id.js';
import { formatAnthropicError } from './anthropic-error.js';
import { finishFromAnthropic, anthropicFinishWithCalls, stopFields } from './anthropic-finish-reason.js';
import { anthropicRequestSchema } from './anthropic-request-schema.js';
import { anthropicResultSchema } from './anthropic-result-schema.js';
import { createAnthropicStreamReader } from './anthropic-stream-reader.js';
import { createAnthropicStreamWriter } from './anthropic-stream-writer.js';
import { anthropicTokenCounting } from './anthropic-token-counting.js';
import { anthropicInputFields, anthropicOutputFields, readWholeAnthropicUsage } from './anthropic-usage.js';
import { toolUseOf } from './anthropic-turns.js';
import { encodeAnthropicRequest } from './encode-anthropic-request.js';
import { readAnthropicRequest } from './read-anthropic-request.js';
import { dialectTraits } from '../dialect-traits.js';

/** One limit as Anthropic's headers: the reset is the RFC 3339 time it is full again, to the second (rounded up). */
function anthropicLimit(name: RateLimitName, window: RateLimitWindow, now: number): Record<string, string> {
  const headers: Record<string, string> = {
    [`anthropic-ratelimit-${name}-limit`]: String(window.limit),
    [`anthropic-ratelimit-${name}-remaining`]: String(window.remaining),
  };
  if (Number.isFinite(window.resetMs)) headers[`anthropic-ratelimit-${name}-reset`] = new Date(Math.ceil((now + window.resetMs) / 1000) * 1000).toISOString().replace('.000Z', 'Z');
  return headers;
}

export const anthropicDialect: Dialect = {
  name: 'anthropic',
  chatPath: '/v1/messages',
  toolArgumentsAsObject: true,
  mayHoldToolArguments: true,
  requestIdHeader: 'request-id',
  versionHeader: 'anthropic-version',
  // Where the SDK puts a request's user_profile_id (a beta): billing to a user's profile, which
  // Switchyard does not do (its upstream accounts are the operator's).
  refusedHeaders: { 'anthropic-user-profile-id': "billing to a user profile (user_profile_id, a beta of the Messages API) is not supported by Switchyard, which bills no user profile: leave user_profile_id out" },
  showsReasoning: false,
  streamStartStatesUsage: true,
  upstream: dialectTraits.anthropic,
  keepAliveFrame: sseFrame(JSON.stringify({ type: 'ping' }), 'ping'),

  parseRequest(body: unknown, options: { readonly asServer?: boolean } = {}): Parsed<ChatRequest> {
    return readAnthropicRequest(body, anthropicRequestSchema, options);
  },

  responseId(token: string): string {
    return `msg_${token}`;
  },

  encodeRequest: encodeAnthropicRequest,

  authHeaders(apiKey: string | undefined): Record<string, string> {
    return { 'anthropic-version': '2023-06-01', ...(apiKey === undefined ? {} : { 'x-api-key': apiKey }) };
  },

  formatResult(result: ChatResult): unknown {
    const input = anthropicInputFields(result.usage.inputTokens, result.usage.cache);
    return {
      id: result.id,
      type: 'message',
      role: 'assistant',
      model: result.model,
      // An empty answer (a stop sequence at once) has no content block, as Anthropic sends it.
      content: [...(result.thinking ?? []), ...(result.text === '' ? [] : [{ type: 'text', text: result.text }]), ...(result.toolCalls ?? []).map(toolUseOf)],
      ...stopFields(result),
      // The cache counts are the upstream's (0 when it did not say), present as Anthropic always sends them.
      usage: { ...input, ...anthropicOutputFields(result.usage) },
    };
  },

  parseResult(body: unknown): Parsed<ChatResult> {
    const parsed = anthropicResultSchema.safeParse(body);
    if (!parsed.success) return malformedAnswer(parsed.error, 'message');
    // No stop reason is no end: a whole message without one may be cut short, as a stream's message_stop without one is (E59).
    if (parsed.data.stop_reason === null) return { ok: false, problem: { status: 502, kind: 'api_error', message: unfinishedAnswer('stop_reason') } };
    // An id the gateway would not take back is made one it takes, as for an OpenAI-dialect upstream (E50).
    const toolCalls = parsed.data.content.flatMap((block): ToolCall[] => (block.type === 'tool_use' && typeof block.id === 'string' && typeof block.name === 'string' ? [{ id: block.id, name: block.name, arguments: JSON.stringify(block.input) }] : [])).map((call, index) => ({ ...call, id: takenBackId(call.id) ?? madeUpCallId(parsed.data.id, index) }));
    const thinking = parsed.data.content.flatMap((block): ThinkingBlock[] => {
      if (block.type === 'thinking' && typeof block.thinking === 'string' && typeof block.signature === 'string') return [{ type: 'thinking', thinking: block.thinking, signature: block.signature }];
      return block.type === 'redacted_thinking' && typeof block.data === 'string' ? [{ type: 'redacted_thinking', data: block.data }] : [];
    });
    return {
      ok: true,
      value: {
        id: parsed.data.id,
        model: parsed.data.model,
        text: parsed.data.content.map((block) => (block.type === 'text' ? (block.text ?? '') : '')).join(''),
        // tool_use without a tool_use block is an answer that ended: an agent loop would wait for calls that do not exist.
        finishReason: anthropicFinishWithCalls(finishFromAnthropic(parsed.data.stop_reason), toolCalls.length > 0),
        ...(parsed.data.stop_reason === 'stop_sequence' && typeof parsed.data.stop_sequence === 'string' ? { stopSequence: parsed.data.stop_sequence } : {}),
        ...(toolCalls.length === 0 ? {} : { toolCalls }),
        ...(thinking.length === 0 ? {} : { thinking }),
        usage: readWholeAnthropicUsage(parsed.data.usage),
      },
    };
  },

  createStreamWriter: createAnthropicStreamWriter,

  createStreamReader: createAnthropicStreamReader,

  formatModelList(ids: readonly string[], query: URLSearchParams): Parsed<unknown> {
    const limitText = query.get('limit') ?? '20';
    const limit = /^\d+$/.test(limitText) ? Number(limitText) : Number.NaN;
    if (!(limit >= 1 && limit <= 1000)) return { ok: false, problem: { status: 400, kind: 'invalid_request', message: `limit: must be a whole number from 1 to 1000, got '${limitText.slice(0, 32)}'`, param: 'limit' } };
    // Cursors are model ids: after_id pages forward, before_id backward; an unknown id is an empty page.
    const after = query.get('after_id');
    const before = query.get('before_id');
    // Which way to page would be a guess.
    if (after !== null && before !== null) return { ok: false, problem: { status: 400, kind: 'invalid_request', message: 'after_id and before_id are both set: send one of them (after_id pages forward, before_id backward)', param: 'before_id' } };
    const position = (id: string): number => ids.indexOf(id);
    let page: readonly string[];
    let hasMore: boolean;
    if (before !== null) {
      const end = position(before);
      const start = Math.max(0, end - limit);
      page = end < 0 ? [] : ids.slice(start, end);
      hasMore = end > 0 && start > 0;
    } else {
      const start = after === null ? 0 : position(after) < 0 ? ids.length : position(after) + 1;
      page = ids.slice(start, start + limit);
      hasMore = start + limit < ids.length;
    }
    return { ok: true, value: { data: page.map((id) => this.formatModel(id)), has_more: hasMore, first_id: page[0] ?? null, last_id: page.at(-1) ?? null } };
  },

  formatModel(id: string): unknown {
    return { type: 'model', id, display_name: id, created_at: '1970-01-01T00:00:00Z' };
  },

  errorStatus(kind: ErrorKind, status: number): number {
    // Anthropic answers overload with 529 overloaded_error, and its clients (Claude Code's fallback
    // model among them) act on that status; other APIs and load balancers know 503.
    return kind === 'overloaded' && status === 503 ? 529 : status;
  },

  formatError: formatAnthropicError,

  rateLimitHeaders(state: RateLimitState, now: number): Record<string, string> {
    return { ...anthropicLimit('requests', state.requests, now), ...anthropicLimit('tokens', state.tokens, now) };
  },

  tokenCounting: anthropicTokenCounting,
};
