import { z } from 'zod';
import { defaultMaxOutputTokens, hasVisibleText, maxStopSequenceChars, tokenCount, upstreamErrorDetail, type ChatEvent, type ChatMessage, type ChatRequest, type ChatResult, type ErrorKind, type ErrorReport, type FinishReason, type Parsed, type RateLimitName, type RateLimitState, type RateLimitWindow } from './chat.js';
import type { Dialect, StreamReader, StreamWriter } from './dialect.js';
import { invalidRequest, noTools, otherApiField, unsupportedContent } from './request-problem.js';
import { sseFrame } from './sse.js';

const textBlock = z.looseObject({ type: z.literal('text'), text: z.string() });
const content = z.union([z.string(), z.array(textBlock)], { error: unsupportedContent('block') });

/** What the gateway accepts from Anthropic Messages clients; unknown fields pass. */
const requestSchema = z.looseObject({
  model: z.string().min(1),
  max_tokens: z.number().int().positive(),
  // System messages among the turns are in the SDK's MessageParam (1.x): kept in place, like OpenAI's.
  messages: z
    .array(z.looseObject({ role: z.enum(['user', 'assistant', 'system']), content }))
    .min(1)
    .superRefine((messages, context) => {
      // Refused as the Messages API refuses it: the encoder would drop such a turn, and the turn
      // before it (a prefill, an earlier question) would become the one answered.
      messages.forEach((message, index) => {
        const finalAssistant = index === messages.length - 1 && message.role === 'assistant';
        if (!finalAssistant && !hasVisibleText(textOf(message.content))) {
          context.addIssue({ code: 'custom', path: [index, 'content'], message: 'all messages must have non-empty content except for the optional final assistant message' });
        }
      });
    }),
  system: z.union([z.string(), z.array(textBlock)], { error: unsupportedContent('block', 'system') }).optional(),
  temperature: z.number().min(0).max(1).optional(),
  top_p: z.number().min(0).max(1).optional(),
  top_k: z.number().int().min(0).optional(),
  // The same answer whichever upstream serves it: OpenAI-dialect upstreams take at most 4.
  stop_sequences: z.array(z.string().max(maxStopSequenceChars, `a stop sequence is at most ${maxStopSequenceChars} characters`)).max(4, 'at most 4 stop_sequences: answers may be served by OpenAI-compatible upstreams, which take 4').optional(),
  stream: z.boolean().optional(),
  // An empty list asks for no tools, as leaving the field out does.
  tools: noTools('tools are not supported by this gateway yet').optional(),
  tool_choice: z.looseObject({ type: z.literal('none', { error: "tools are not supported by this gateway yet: tool_choice can only be {\"type\": \"none\"}" }) }).optional(),
  mcp_servers: noTools('MCP servers (tools) are not supported by this gateway yet').optional(),
  output_config: z.looseObject({ format: z.undefined({ error: 'structured output (output_config.format) is not supported by this gateway yet' }).optional() }).optional(),
  metadata: z.looseObject({ user_id: z.string().max(256, 'metadata.user_id is at most 256 characters: an opaque id of your end user').nullish() }).nullish(),
  thinking: z.looseObject({ type: z.literal('disabled', { error: 'extended thinking is not supported by this gateway yet' }) }).optional(),
  // Data residency: honoured as a jurisdiction, never dropped (see ChatRequest.geography).
  inference_geo: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, "inference_geo is a jurisdiction name, such as 'us', or 'global' for any").nullish(),
  // OpenAI Chat Completions fields that callers send here by mistake: the Messages API refuses them
  // ("Extra inputs are not permitted"), and dropping them would change the answer.
  stop: otherApiField('stop is a field of the OpenAI Chat Completions API (POST /v1/chat/completions): here, send stop_sequences'),
  max_completion_tokens: otherApiField('max_completion_tokens is a field of the OpenAI Chat Completions API: here, send max_tokens'),
  response_format: otherApiField('response_format is a field of the OpenAI Chat Completions API, and structured output is not supported by this gateway yet'),
  n: otherApiField('n is a field of the OpenAI Chat Completions API: the Messages API returns one answer per request'),
  seed: otherApiField('seed is a field of the OpenAI Chat Completions API, not of the Messages API: remove it'),
  logprobs: otherApiField('logprobs is a field of the OpenAI Chat Completions API, and logprobs are not supported by this gateway'),
  top_logprobs: otherApiField('top_logprobs is a field of the OpenAI Chat Completions API, and logprobs are not supported by this gateway'),
  logit_bias: otherApiField('logit_bias is a field of the OpenAI Chat Completions API, not of the Messages API: remove it'),
  frequency_penalty: otherApiField('frequency_penalty is a field of the OpenAI Chat Completions API, not of the Messages API: remove it'),
  presence_penalty: otherApiField('presence_penalty is a field of the OpenAI Chat Completions API, not of the Messages API: remove it'),
  user: otherApiField('user is a field of the OpenAI Chat Completions API: here, send metadata.user_id'),
  functions: otherApiField('functions is a field of the OpenAI Chat Completions API, and tools are not supported by this gateway yet'),
  function_call: otherApiField('function_call is a field of the OpenAI Chat Completions API, and tools are not supported by this gateway yet'),
  modalities: otherApiField('modalities is a field of the OpenAI Chat Completions API, and only text output is supported'),
  audio: otherApiField('audio is a field of the OpenAI Chat Completions API, and only text output is supported'),
});

/** An upstream's complete answer (built once: zod compiles each schema on first use). */
const resultSchema = z  .looseObject({
    id: z.string(),
    model: z.string(),
    content: z.array(z.looseObject({ type: z.string(), text: z.string().optional() })),
    stop_reason: z.string().nullable(),
    stop_sequence: z.string().nullish(),
    usage: z.looseObject({ input_tokens: z.number(), output_tokens: z.number() }),
  });

const kindToType: Readonly<Record<ErrorKind, string>> = {
  invalid_request: 'invalid_request_error',
  too_large: 'request_too_large',
  authentication: 'authentication_error',
  permission: 'permission_error',
  not_found: 'not_found_error',
  rate_limit: 'rate_limit_error',
  overloaded: 'overloaded_error',
  api_error: 'api_error',
  timeout: 'timeout_error',
};

const stopReason: Readonly<Record<FinishReason, string>> = { stop: 'end_turn', length: 'max_tokens', content_filter: 'refusal', context_window: 'model_context_window_exceeded' };

/** A stop_reason read from an upstream; tool_use and pause_turn need tools, which are never requested. */
function finishFromAnthropic(reason: string | null | undefined): FinishReason {
  switch (reason) {
    case 'max_tokens':
      return 'length';
    case 'refusal':
      return 'content_filter';
    case 'model_context_window_exceeded':
      return 'context_window';
    default:
      return 'stop';
  }
}

/** `stop_reason` and `stop_sequence`: a matched stop sequence is named; OpenAI upstreams never say which. */
function stopFields(finish: { readonly finishReason: FinishReason; readonly stopSequence?: string }): { stop_reason: string; stop_sequence: string | null } {
  return finish.stopSequence === undefined ? { stop_reason: stopReason[finish.finishReason], stop_sequence: null } : { stop_reason: 'stop_sequence', stop_sequence: finish.stopSequence };
}

function geographyOf(value: string | null | undefined): { geography?: string } {
  const geography = value?.toLowerCase();
  return geography === undefined || geography === 'global' ? {} : { geography };
}

function textOf(value: z.infer<typeof content>): string {
  // Blocks are joined as the system prompts of an OpenAI request are: one per line.
  return typeof value === 'string' ? value : value.map((block) => block.text).join('\n');
}

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
  requestIdHeader: 'request-id',

  parseRequest(body: unknown): Parsed<ChatRequest> {
    const parsed = requestSchema.safeParse(body);
    if (!parsed.success) return invalidRequest(parsed.error);
    const r = parsed.data;
    const system = r.system === undefined ? '' : textOf(r.system);
    const messages: ChatMessage[] = [
      // An empty system prompt is no system prompt, whichever dialect the upstream speaks.
      ...(system === '' ? [] : [{ role: 'system' as const, content: system }]),
      ...r.messages.map((m) => ({ role: m.role, content: textOf(m.content) })),
    ];
    return {
      ok: true,
      value: {
        model: r.model,
        messages,
        maxTokens: r.max_tokens,
        temperature: r.temperature,
        topP: r.top_p,
        ...(r.top_k === undefined || r.top_k === 0 ? {} : { topK: r.top_k }),
        // An empty stop sequence stops nothing: dropped, so no upstream sees one (vLLM refuses it).
        stop: (r.stop_sequences ?? []).filter((sequence) => sequence !== ''),
        stream: r.stream === true,
        includeUsage: true,
        // Anthropic reads a trailing assistant message as a prefill: the answer continues it.
        finalAssistant: 'continue',
        ...(r.metadata?.user_id === undefined || r.metadata.user_id === null || r.metadata.user_id === '' ? {} : { endUser: r.metadata.user_id }),
        ...geographyOf(r.inference_geo),
      },
    };
  },

  responseId(token: string): string {
    return `msg_${token}`;
  },

  encodeRequest(request: ChatRequest): unknown {
    const system = request.messages.filter((m) => m.role === 'system').map((m) => m.content).join('\n');
    // Anthropic refuses a turn without visible text, which OpenAI and vLLM accept: such a turn says
    // nothing to the model, and Anthropic joins the turns of one role it may leave side by side.
    const said = request.messages.filter((m) => m.role !== 'system' && hasVisibleText(m.content));
    // Only turns without text: sent as they are (and refused), not turned into the system prompt alone.
    const turns = (said.length > 0 ? said : request.messages.filter((m) => m.role !== 'system')).map((m) => ({ role: m.role, content: m.content }));
    // Anthropic refuses a stop sequence of whitespace alone, which OpenAI accepts; the gateway's own
    // guard applies every stop sequence to the answer, so such a one is applied there only.
    const stops = request.stop.filter((stop) => stop.trim() !== '');
    // Anthropic needs at least one turn; an OpenAI request of system messages alone becomes one user turn.
    const alone = turns.length === 0;
    return {
      model: request.model,
      // Anthropic requires a budget: the same default the gateway routed and charged with.
      max_tokens: request.maxTokens ?? defaultMaxOutputTokens,
      ...(system === '' || alone ? {} : { system }),
      messages: alone ? [{ role: 'user', content: system }] : turns,
      ...(request.temperature === undefined ? {} : { temperature: Math.min(1, request.temperature) }),
      // Claude 4.5 and later refuse temperature and top_p together ("use only one"), which OpenAI
      // clients often send: temperature is kept, as Anthropic advises altering one of them only.
      ...(request.topP === undefined || request.temperature !== undefined ? {} : { top_p: request.topP }),
      ...(request.topK === undefined ? {} : { top_k: request.topK }),
      ...(stops.length === 0 ? {} : { stop_sequences: stops }),
      ...(request.endUser === undefined ? {} : { metadata: { user_id: request.endUser } }),
      stream: request.stream,
    };
  },

  authHeaders(apiKey: string | undefined): Record<string, string> {
    return { 'anthropic-version': '2023-06-01', ...(apiKey === undefined ? {} : { 'x-api-key': apiKey }) };
  },

  formatResult(result: ChatResult): unknown {
    return {
      id: result.id,
      type: 'message',
      role: 'assistant',
      model: result.model,
      // An empty answer (a stop sequence at once) has no content block, as Anthropic sends it.
      content: result.text === '' ? [] : [{ type: 'text', text: result.text }],
      ...stopFields(result),
      // The gateway caches no prompts: the cache counts are 0, present as Anthropic always sends them.
      usage: { input_tokens: result.usage.inputTokens, output_tokens: result.usage.outputTokens, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 },
    };
  },

  parseResult(body: unknown): Parsed<ChatResult> {
    const parsed = resultSchema.safeParse(body);
    if (!parsed.success) return { ok: false, problem: { status: 502, kind: 'api_error', message: 'upstream returned a malformed message' } };
    return {
      ok: true,
      value: {
        id: parsed.data.id,
        model: parsed.data.model,
        text: parsed.data.content.map((block) => block.text ?? '').join(''),
        finishReason: finishFromAnthropic(parsed.data.stop_reason),
        ...(parsed.data.stop_reason === 'stop_sequence' && typeof parsed.data.stop_sequence === 'string' ? { stopSequence: parsed.data.stop_sequence } : {}),
        usage: { inputTokens: tokenCount(parsed.data.usage.input_tokens) ?? 0, outputTokens: tokenCount(parsed.data.usage.output_tokens) ?? 0 },
      },
    };
  },

  createStreamWriter(): StreamWriter {
    // The text block opens at the first text: an empty answer (a stop sequence at once) has no
    // block, as Anthropic streams it. Accumulated, an empty block is one the API refuses if sent back.
    let blockOpen = false;
    return {
      write(event: ChatEvent): string {
        switch (event.type) {
          case 'start':
            return sseFrame(JSON.stringify({ type: 'message_start', message: { id: event.id, type: 'message', role: 'assistant', model: event.model, content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: event.inputTokens, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 0 } } }), 'message_start');
          case 'text': {
            if (event.text === '') return '';
            const delta = sseFrame(JSON.stringify({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: event.text } }), 'content_block_delta');
            if (blockOpen) return delta;
            blockOpen = true;
            return sseFrame(JSON.stringify({ type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }), 'content_block_start') + sseFrame(JSON.stringify({ type: 'ping' }), 'ping') + delta;
          }
          case 'finish':
            return (
              (blockOpen ? sseFrame(JSON.stringify({ type: 'content_block_stop', index: 0 }), 'content_block_stop') : '') +
              sseFrame(JSON.stringify({ type: 'message_delta', delta: stopFields(event), usage: { input_tokens: event.usage.inputTokens, output_tokens: event.usage.outputTokens } }), 'message_delta') +
              sseFrame(JSON.stringify({ type: 'message_stop' }), 'message_stop')
            );
          case 'error':
            // No message_stop after an error: the stream must not look complete.
            return sseFrame(JSON.stringify({ type: 'error', error: { type: kindToType[event.kind], message: event.message } }), 'error');
        }
      },
    };
  },

  createStreamReader(): StreamReader {
    let inputTokens = 0;
    let finish: FinishReason = 'stop';
    let stopSequence: string | undefined;
    let outputTokens = 0;
    let announced = false;
    let finished = false;
    return {
      read(event, data) {
        let json: { type?: string; message?: { id?: string; model?: string; usage?: { input_tokens?: unknown } }; delta?: { type?: string; text?: string; stop_reason?: string; stop_sequence?: string | null }; usage?: { input_tokens?: unknown; output_tokens?: unknown }; error?: { type?: string; message?: string } };
        try {
          json = JSON.parse(data) as typeof json;
        } catch {
          json = null as unknown as typeof json;
        }
        // JSON that is not an object (`data: null`, a number) is as malformed as text that is not JSON.
        if (typeof json !== 'object' || json === null || Array.isArray(json)) return { events: [{ type: 'error', kind: 'api_error', message: 'upstream sent a malformed stream event' }], done: true };
        switch (json.type ?? event) {
          case 'message_start':
            inputTokens = tokenCount(json.message?.usage?.input_tokens) ?? 0;
            return { events: [{ type: 'start', id: json.message?.id ?? '', model: json.message?.model ?? '', inputTokens }], done: false };
          case 'content_block_delta':
            return json.delta?.type === 'text_delta' && typeof json.delta.text === 'string' && json.delta.text !== '' ? { events: [{ type: 'text', text: json.delta.text }], done: false } : { events: [], done: false };
          case 'message_delta':
            announced ||= typeof json.delta?.stop_reason === 'string';
            if (typeof json.delta?.stop_reason === 'string') finish = finishFromAnthropic(json.delta.stop_reason);
            if (json.delta?.stop_reason === 'stop_sequence' && typeof json.delta.stop_sequence === 'string') stopSequence = json.delta.stop_sequence;
            outputTokens = tokenCount(json.usage?.output_tokens) ?? outputTokens;
            inputTokens = tokenCount(json.usage?.input_tokens) ?? inputTokens;
            return { events: [], done: false };
          case 'message_stop':
            finished = true;
            return { events: [{ type: 'finish', finishReason: finish, ...(stopSequence === undefined ? {} : { stopSequence }), usage: { inputTokens, outputTokens } }], done: true };
          case 'error':
            return { events: [{ type: 'error', kind: json.error?.type === 'overloaded_error' ? 'overloaded' : 'api_error', message: upstreamErrorDetail(json).message, fromUpstream: true }], done: true };
          default:
            return { events: [], done: false };
        }
      },
      announcedFinish() {
        return announced && !finished ? { type: 'finish', finishReason: finish, ...(stopSequence === undefined ? {} : { stopSequence }), usage: { inputTokens, outputTokens } } : undefined;
      },
    };
  },

  formatModelList(ids: readonly string[], query: URLSearchParams): Parsed<unknown> {
    const limitText = query.get('limit') ?? '20';
    const limit = /^\d+$/.test(limitText) ? Number(limitText) : Number.NaN;
    if (!(limit >= 1 && limit <= 1000)) return { ok: false, problem: { status: 400, kind: 'invalid_request', message: `limit: must be a whole number from 1 to 1000, got '${limitText.slice(0, 32)}'`, param: 'limit' } };
    // Cursors are model ids: after_id pages forward, before_id backward; an unknown id is an empty page.
    const after = query.get('after_id');
    const before = query.get('before_id');
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

  formatError({ kind, message, requestId }: ErrorReport): unknown {
    return { type: 'error', error: { type: kindToType[kind], message }, ...(requestId === undefined ? {} : { request_id: requestId }) };
  },

  rateLimitHeaders(state: RateLimitState, now: number): Record<string, string> {
    return { ...anthropicLimit('requests', state.requests, now), ...anthropicLimit('tokens', state.tokens, now) };
  },
};

