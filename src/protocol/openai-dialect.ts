import { z } from 'zod';
import { defaultMaxOutputTokens, maxStopSequenceChars, tokenCount, upstreamErrorDetail, type ChatEvent, type ChatMessage, type ChatRequest, type ChatResult, type ErrorKind, type ErrorReport, type FinishReason, type Parsed, type RateLimitState, type SamplingControls } from './chat.js';
import type { Dialect, EncodeOptions, StreamReader, StreamWriter } from './dialect.js';
import { goDuration } from './go-duration.js';
import { invalidRequest, noTools, otherApiField, unsupportedContent } from './request-problem.js';
import { readContentDelta } from './openai-content-delta.js';
import { sseFrame } from './sse.js';

const stopSequence = z.string().max(maxStopSequenceChars, `a stop sequence is at most ${maxStopSequenceChars} characters`);
const textPart = z.object({ type: z.literal('text'), text: z.string() });
const content = z
  .union([z.string(), z.array(textPart)], { error: unsupportedContent('part') })
  // As OpenAI refuses it; an empty string passes, as OpenAI lets it.
  .refine((value) => typeof value === 'string' || value.length > 0, 'an empty array of content parts: give at least one text part, or a string');

/**
 * vLLM's and SGLang's request extensions that change what the answer is (its format, its length,
 * its template, its sampling): the gateway does not carry them to the upstream, so a caller that
 * sends one is refused rather than served something else. Their neutral values pass, as clients
 * send defaults.
 */
function notCarried<T extends z.ZodType>(neutral: T, what: string): z.ZodOptional<z.ZodNullable<z.ZodCustom<z.infer<T>>>> {
  return z.custom<z.infer<T>>((value) => neutral.safeParse(value).success, { error: `not forwarded by this gateway: ${what} (a model-server extension) would be ignored; remove the field` }).nullish();
}
const off = z.literal(false);
const empty = z.union([z.looseObject({}).refine((value) => Object.keys(value).length === 0), z.tuple([])]);
const serverExtensions = {
  guided_json: notCarried(z.undefined(), 'structured output'),
  guided_regex: notCarried(z.undefined(), 'structured output'),
  guided_choice: notCarried(z.undefined(), 'structured output'),
  guided_grammar: notCarried(z.undefined(), 'structured output'),
  structural_tag: notCarried(z.undefined(), 'structured output'),
  structured_outputs: notCarried(z.undefined(), 'structured output'),
  json_schema: notCarried(z.undefined(), 'structured output'),
  regex: notCarried(z.undefined(), 'structured output'),
  ebnf: notCarried(z.undefined(), 'structured output'),
  chat_template: notCarried(z.undefined(), 'a chat template'),
  chat_template_kwargs: notCarried(empty, 'chat template parameters'),
  documents: notCarried(empty, 'documents for the chat template'),
  min_tokens: notCarried(z.literal(0), 'a minimum length'),
  ignore_eos: notCarried(off, 'ignoring the end of sequence'),
  stop_token_ids: notCarried(empty, 'stop token ids'),
  include_stop_str_in_output: notCarried(off, 'keeping the stop string'),
  bad_words: notCarried(empty, 'banned words'),
  allowed_token_ids: notCarried(z.undefined(), 'an allowed-token list'),
  echo: notCarried(off, 'echoing the prompt'),
  use_beam_search: notCarried(off, 'beam search'),
  best_of: notCarried(z.literal(1), 'best-of sampling'),
  length_penalty: notCarried(z.literal(1), 'a length penalty'),
  min_p: notCarried(z.literal(0), 'min-p sampling'),
  repetition_penalty: notCarried(z.literal(1), 'a repetition penalty'),
  add_special_tokens: notCarried(off, 'special tokens added to the prompt'),
  skip_special_tokens: notCarried(z.literal(true), 'special tokens in the output'),
  spaces_between_special_tokens: notCarried(z.literal(true), 'special-token spacing'),
  truncate_prompt_tokens: notCarried(z.undefined(), 'prompt truncation'),
  prompt_logprobs: notCarried(z.undefined(), 'prompt logprobs'),
  return_tokens_as_token_ids: notCarried(off, 'token ids in the output'),
  logits_processors: notCarried(empty, 'logits processors'),
  custom_logit_processor: notCarried(z.undefined(), 'a logit processor'),
  mm_processor_kwargs: notCarried(empty, 'multimodal processor parameters'),
  guided_whitespace_pattern: notCarried(z.undefined(), 'structured output'),
  lora_path: notCarried(z.undefined(), 'a LoRA adapter'),
  no_stop_trim: notCarried(off, 'keeping the stop string'),
  return_hidden_states: notCarried(off, 'hidden states'),
};

/** Fields of Anthropic's Messages API and OpenAI's Responses API that callers send here by mistake. */
const otherApiFields = {
  system: otherApiField('system is a field of the Anthropic Messages API (POST /v1/messages): here, send the system prompt as the first message, with role "system"'),
  stop_sequences: otherApiField('stop_sequences is a field of the Anthropic Messages API (POST /v1/messages): here, send stop'),
  // OpenAI-compatible APIs that read it (Anthropic's compatibility layer, GLM, Ark) take {type: 'disabled'}, which asks for none.
  thinking: z.looseObject({ type: z.literal('disabled', { error: 'extended thinking is not supported by this gateway yet: thinking can only be {"type": "disabled"}' }) }).nullish(),
  instructions: otherApiField('instructions is a field of the OpenAI Responses API, which this gateway does not serve: send the instructions as the first message, with role "system"'),
  // Where inference may run: dropped, the request could be served outside the jurisdiction asked for.
  inference_geo: otherApiField('inference_geo is a field of the Anthropic Messages API (POST /v1/messages): here, send the x-switchyard-jurisdiction header to narrow where the request may run'),
  max_output_tokens: otherApiField('max_output_tokens is a field of the OpenAI Responses API, which this gateway does not serve: send max_completion_tokens (or max_tokens)'),
};

/** What the gateway accepts from OpenAI Chat Completions clients; unknown fields pass (SDKs send many). */
const requestSchema = z.looseObject({
  model: z.string().min(1),
  messages: z
    .array(
      z.looseObject({
        role: z.enum(['system', 'developer', 'user', 'assistant'], { error: "role must be 'system', 'developer', 'user' or 'assistant': tool and function messages need tools, which Switchyard does not support yet" }),
        // An earlier answer's tool calls or audio, refused rather than dropped: without them the
        // turn reads as something else. Checked before content, which a tool call may leave null.
        tool_calls: noTools('tool calls in messages need tools, which Switchyard does not support yet').nullish(),
        function_call: z.null({ error: 'function calls in messages need tools, which Switchyard does not support yet' }).optional(),
        audio: z.null({ error: 'audio in messages is not supported by Switchyard' }).optional(),
        content,
      }),
    )
    .min(1),
  max_tokens: z.number().int().positive().nullish(),
  max_completion_tokens: z.number().int().positive().nullish(),
  temperature: z.number().min(0).max(2).nullish(),
  top_p: z.number().min(0).max(1).nullish(),
  // vLLM's extension, as Anthropic's: -1 (and 0, in newer vLLM) mean no limit.
  top_k: z.number().int().min(-1).nullish(),
  seed: z.number().int().nullish(),
  frequency_penalty: z.number().min(-2).max(2).nullish(),
  presence_penalty: z.number().min(-2).max(2).nullish(),
  logit_bias: z.record(z.string().regex(/^\d+$/, 'logit_bias keys are token ids'), z.number().min(-100).max(100)).nullish(),
  stop: z.union([stopSequence, z.array(stopSequence).max(4)], { error: `stop must be a string or an array of at most 4 strings, each at most ${maxStopSequenceChars} characters` }).nullish(),
  stream: z.boolean().nullish(),
  stream_options: z.looseObject({ include_usage: z.boolean().optional() }).nullish(),
  // vLLM's extension: continue a trailing assistant message (a prefill) rather than answer after it.
  continue_final_message: z.boolean().nullish(),
  user: z.string().max(256, 'user is at most 256 characters: an opaque id of your end user').nullish(),
  // OpenAI's successor to `user` for the same purpose; it wins when both are sent.
  safety_identifier: z.string().max(128, 'safety_identifier is at most 128 characters: an opaque id of your end user, such as a hash of their email').nullish(),
  web_search_options: z.null({ error: 'web search is not supported by this gateway' }).optional(),
  // A moderation policy may block an input or an answer: ignoring it would serve what it blocks.
  moderation: z.null({ error: 'moderated completions (moderation) are not supported by this gateway' }).optional(),
  n: z.literal(1, { error: 'n must be 1: the gateway returns one choice per request' }).nullish(),
  // Refused rather than silently ignored: a caller relying on them would get something else.
  response_format: z.looseObject({ type: z.literal('text', { error: "response_format.type must be 'text': JSON mode and structured outputs are not supported by this gateway yet" }) }).nullish(),
  logprobs: z.literal(false, { error: 'logprobs are not supported by this gateway' }).nullish(),
  // 0 asks for none, as clients send by default.
  top_logprobs: z.union([z.null(), z.literal(0)], { error: 'top_logprobs are not supported by this gateway' }).optional(),
  modalities: z.array(z.literal('text', { error: "modalities: only 'text' output is supported by this gateway" })).nullish(),
  audio: z.null({ error: 'audio output is not supported by this gateway' }).optional(),
  // null or an empty list asks for no tools, as leaving the field out does.
  tools: noTools('tools are not supported by this gateway yet').nullish(),
  tool_choice: z.literal('none', { error: "tools are not supported by this gateway yet: tool_choice can only be 'none'" }).nullish(),
  functions: noTools('functions (tools) are not supported by this gateway yet').nullish(),
  function_call: z.literal('none', { error: "function_call (tools) is not supported by this gateway yet: it can only be 'none'" }).nullish(),
});

/** As the gateway reads a request: what it cannot carry to an upstream is refused, not dropped. */
const gatewayRequestSchema = requestSchema.extend({ ...serverExtensions, ...otherApiFields });

/** An upstream's complete answer (built once: zod compiles each schema on first use). */
const resultSchema = z.looseObject({
  id: z.string(),
  model: z.string(),
  choices: z.array(z.looseObject({ message: z.looseObject({ content: z.string().nullable() }), finish_reason: z.string().nullable(), stop_reason: z.unknown().optional(), matched_stop: z.unknown().optional() })).min(1),
  usage: z.looseObject({ prompt_tokens: z.number(), completion_tokens: z.number() }).optional(),
});

// OpenAI's own pairs: a bad or missing key is an invalid_request_error (code invalid_api_key
// for a bad one), an unknown model or path an invalid_request_error (code model_not_found for
// a model). A tenant limit's refusal is typed by the limit's name instead (formatError); an
// upstream's 429, which names none, keeps rate_limit_exceeded.
const kindToType: Readonly<Record<ErrorKind, string>> = {
  invalid_request: 'invalid_request_error',
  too_large: 'invalid_request_error',
  authentication: 'invalid_request_error',
  permission: 'permission_error',
  not_found: 'invalid_request_error',
  rate_limit: 'rate_limit_exceeded',
  overloaded: 'server_error',
  api_error: 'server_error',
  timeout: 'timeout',
};

/** OpenAI's `error.code` for a kind when the error names no more specific one; null otherwise, as OpenAI sends. */
const kindToCode: Readonly<Partial<Record<ErrorKind, string>>> = { rate_limit: 'rate_limit_exceeded' };

/** A top_p that keeps one token, for a caller's 0 (see encodeRequest). */
const smallestTopP = 1e-9;

const finishToOpenAI: Readonly<Record<FinishReason, string>> = { stop: 'stop', length: 'length', content_filter: 'content_filter', context_window: 'length' };

/**
 * The stop sequence that ended an answer, as vLLM names it (`stop_reason`: the matched string; a
 * number is a stop token, null the end of sequence) and SGLang (`matched_stop`). OpenAI's own API
 * names none: its finish_reason "stop" cannot tell a stop sequence from a natural end.
 */
function stopSequenceOf(choice: { readonly finish_reason?: string | null; readonly stop_reason?: unknown; readonly matched_stop?: unknown } | undefined): { stopSequence?: string } {
  if (choice?.finish_reason !== 'stop') return {};
  const named = typeof choice.stop_reason === 'string' ? choice.stop_reason : typeof choice.matched_stop === 'string' ? choice.matched_stop : undefined;
  return named === undefined || named === '' ? {} : { stopSequence: named };
}

/** vLLM's field naming the stop sequence that ended an answer, written only when one did. */
function matchedStop(stopSequence: string | undefined): { stop_reason?: string } {
  return stopSequence === undefined ? {} : { stop_reason: stopSequence };
}

/** A finish_reason read from an upstream; tool and function calls are never requested (tools are refused). */
function finishFromOpenAI(reason: string | null | undefined): FinishReason {
  return reason === 'length' || reason === 'content_filter' ? reason : 'stop';
}

/** The sampling controls a request set, if any. */
function samplingOf(r: z.infer<typeof requestSchema>): { sampling?: SamplingControls } {
  const sampling: { -readonly [K in keyof SamplingControls]: SamplingControls[K] } = {};
  if (r.seed !== undefined && r.seed !== null) sampling.seed = r.seed;
  if (r.frequency_penalty !== undefined && r.frequency_penalty !== null) sampling.frequencyPenalty = r.frequency_penalty;
  if (r.presence_penalty !== undefined && r.presence_penalty !== null) sampling.presencePenalty = r.presence_penalty;
  if (r.logit_bias !== undefined && r.logit_bias !== null) sampling.logitBias = r.logit_bias;
  return Object.keys(sampling).length === 0 ? {} : { sampling };
}

/** The caller's end-user id, if it sent one: `safety_identifier`, else the older `user`. */
function endUserOf(r: z.infer<typeof requestSchema>): { endUser?: string } {
  const id = r.safety_identifier ?? r.user;
  return id === undefined || id === null || id === '' ? {} : { endUser: id };
}

function textOf(value: z.infer<typeof content>): string {
  // Parts are joined one per line, as vLLM's chat templates join them.
  return typeof value === 'string' ? value : value.map((part) => part.text).join('\n');
}

export const openaiDialect: Dialect = {
  name: 'openai',
  chatPath: '/v1/chat/completions',
  requestIdHeader: 'x-request-id',

  parseRequest(body: unknown, options: { readonly asServer?: boolean } = {}): Parsed<ChatRequest> {
    // A model server (vLLM, and the emulator as it) serves or ignores those fields.
    const parsed = (options.asServer === true ? requestSchema : gatewayRequestSchema).safeParse(body);
    if (!parsed.success) return invalidRequest(parsed.error);
    const r = parsed.data;
    const stop = r.stop === undefined || r.stop === null ? [] : typeof r.stop === 'string' ? [r.stop] : r.stop;
    // As vLLM refuses them: an empty stop string and a top_p of 0. The gateway takes both, as
    // OpenAI does (see below and encodeRequest), so that the emulator, as a server, catches them.
    if (options.asServer === true && stop.includes('')) return { ok: false, problem: { status: 400, kind: 'invalid_request', param: 'stop', message: 'stop cannot contain an empty string' } };
    if (options.asServer === true && r.top_p === 0) return { ok: false, problem: { status: 400, kind: 'invalid_request', param: 'top_p', message: 'top_p must be in (0, 1], got 0' } };
    // Two budgets that differ: which one the caller meant is a guess (OpenAI refuses the pair, vLLM
    // takes max_completion_tokens). The same number twice is no conflict.
    if (options.asServer !== true && r.max_tokens != null && r.max_completion_tokens != null && r.max_tokens !== r.max_completion_tokens) {
      return { ok: false, problem: { status: 400, kind: 'invalid_request', param: 'max_tokens', message: 'max_tokens and max_completion_tokens are both set, to different numbers: send one of them (max_completion_tokens is the current name)' } };
    }
    // As OpenAI and vLLM refuse it: stream options on an answer that is not streamed ask for nothing.
    if (r.stream !== true && r.stream_options !== undefined && r.stream_options !== null) {
      return { ok: false, problem: { status: 400, kind: 'invalid_request', param: 'stream_options', message: 'stream_options: only allowed when stream is true; send "stream": true, or leave stream_options out' } };
    }
    const all: ChatMessage[] = r.messages.map((m) => ({ role: m.role === 'developer' ? 'system' : m.role, content: textOf(m.content) }));
    // An empty system message is no system prompt, whichever dialect the upstream speaks.
    const kept = all.filter((m) => m.role !== 'system' || m.content !== '');
    const messages = kept.length > 0 ? kept : all;
    return {
      ok: true,
      value: {
        model: r.model,
        messages,
        maxTokens: r.max_completion_tokens ?? r.max_tokens ?? undefined,
        temperature: r.temperature ?? undefined,
        topP: r.top_p ?? undefined,
        ...(r.top_k === undefined || r.top_k === null || r.top_k <= 0 ? {} : { topK: r.top_k }),
        // An empty stop string stops nothing: dropped, so no upstream sees one (vLLM refuses it).
        stop: stop.filter((sequence) => sequence !== ''),
        stream: r.stream === true,
        includeUsage: r.stream_options?.include_usage === true,
        finalAssistant: r.continue_final_message === true ? 'continue' : 'answer',
        ...samplingOf(r),
        ...endUserOf(r),
      },
    };
  },

  responseId(token: string): string {
    return `chatcmpl-${token}`;
  },

  encodeRequest(request: ChatRequest, options: EncodeOptions = {}): unknown {
    return {
      model: request.model,
      messages: request.messages.map((m) => ({ role: m.role, content: m.content })),
      // Always a budget: the one the gateway routed and charged with. Without it an upstream may
      // answer to the end of its context, past what the tenant's token limit let in.
      [options.maxTokensField ?? 'max_tokens']: request.maxTokens ?? defaultMaxOutputTokens,
      ...(request.temperature === undefined ? {} : { temperature: request.temperature }),
      // 0 asks for the likeliest token alone, as the smallest positive top_p does: vLLM and SGLang
      // refuse 0 itself, which OpenAI accepts.
      ...(request.topP === undefined ? {} : { top_p: request.topP === 0 ? smallestTopP : request.topP }),
      // Not an OpenAI API field: sent only when asked, for the servers that read it (vLLM, SGLang, TGI).
      ...(request.topK === undefined ? {} : { top_k: request.topK }),
      ...(request.stop.length === 0 ? {} : { stop: request.stop }),
      ...(request.sampling?.seed === undefined ? {} : { seed: request.sampling.seed }),
      ...(request.sampling?.frequencyPenalty === undefined ? {} : { frequency_penalty: request.sampling.frequencyPenalty }),
      ...(request.sampling?.presencePenalty === undefined ? {} : { presence_penalty: request.sampling.presencePenalty }),
      ...(request.sampling?.logitBias === undefined ? {} : { logit_bias: request.sampling.logitBias }),
      ...(request.endUser === undefined ? {} : { user: request.endUser }),
      stream: request.stream,
      // Upstream usage is always asked for: the gateway counts tokens even when the client did not ask.
      ...(request.stream ? { stream_options: { include_usage: true } } : {}),
      // A trailing assistant turn to continue (a prefill, or a resumed answer), not one to answer
      // after: vLLM's chat-template parameters say so. Only then: other servers may refuse them.
      ...(request.finalAssistant === 'continue' && request.messages.at(-1)?.role === 'assistant' ? { continue_final_message: true, add_generation_prompt: false } : {}),
    };
  },

  authHeaders(apiKey: string | undefined): Record<string, string> {
    return apiKey === undefined ? {} : { authorization: `Bearer ${apiKey}` };
  },

  formatResult(result: ChatResult): unknown {
    return {
      id: result.id,
      object: 'chat.completion',
      created: Math.floor(Date.now() / 1000),
      model: result.model,
      choices: [{ index: 0, message: { role: 'assistant', content: result.text, refusal: null }, logprobs: null, finish_reason: finishToOpenAI[result.finishReason], ...matchedStop(result.stopSequence) }],
      usage: { prompt_tokens: result.usage.inputTokens, completion_tokens: result.usage.outputTokens, total_tokens: result.usage.inputTokens + result.usage.outputTokens },
    };
  },

  parseResult(body: unknown): Parsed<ChatResult> {
    const parsed = resultSchema.safeParse(body);
    if (!parsed.success) return { ok: false, problem: { status: 502, kind: 'api_error', message: 'upstream returned a malformed chat completion' } };
    const choice = parsed.data.choices[0];
    return {
      ok: true,
      value: {
        id: parsed.data.id,
        model: parsed.data.model,
        text: choice?.message.content ?? '',
        finishReason: finishFromOpenAI(choice?.finish_reason),
        ...stopSequenceOf(choice),
        usage: { inputTokens: tokenCount(parsed.data.usage?.prompt_tokens) ?? 0, outputTokens: tokenCount(parsed.data.usage?.completion_tokens) ?? 0 },
      },
    };
  },

  createStreamWriter({ includeUsage, created }): StreamWriter {
    let id = '';
    let model = '';
    // With include_usage, OpenAI gives every chunk a usage field, null until the last one.
    const noUsage = includeUsage ? { usage: null } : {};
    const chunk = (choices: unknown[], extra: Record<string, unknown> = noUsage): string =>
      sseFrame(JSON.stringify({ id, object: 'chat.completion.chunk', created, model, choices, ...extra }));
    return {
      write(event: ChatEvent): string {
        switch (event.type) {
          case 'start':
            id = event.id;
            model = event.model;
            return chunk([{ index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }]);
          case 'text':
            return chunk([{ index: 0, delta: { content: event.text }, logprobs: null, finish_reason: null }]);
          case 'finish': {
            const usage = { prompt_tokens: event.usage.inputTokens, completion_tokens: event.usage.outputTokens, total_tokens: event.usage.inputTokens + event.usage.outputTokens };
            return (
              chunk([{ index: 0, delta: {}, logprobs: null, finish_reason: finishToOpenAI[event.finishReason], ...matchedStop(event.stopSequence) }]) +
              (includeUsage ? chunk([], { usage }) : '') +
              'data: [DONE]\n\n'
            );
          }
          case 'error':
            // An error object and no [DONE]: OpenAI clients raise it, and the stream never looks complete.
            return sseFrame(JSON.stringify(openaiDialect.formatError(event)));
        }
      },
    };
  },

  createStreamReader(): StreamReader {
    let started = false;
    let finish: FinishReason | undefined;
    let stopped: { stopSequence?: string } = {};
    let finished = false;
    return {
      read(_event, data) {
        if (data === '[DONE]') {
          // An upstream that ignored include_usage still ended properly: finish with what is known.
          const events: ChatEvent[] = finish !== undefined && !finished ? [{ type: 'finish', finishReason: finish, ...stopped, usage: { inputTokens: 0, outputTokens: 0 } }] : [];
          return { events, done: true };
        }
        if (started) {
          const text = readContentDelta(data);
          if (text !== undefined) return { events: text === '' ? [] : [{ type: 'text', text }], done: false };
        }
        let json: unknown;
        try {
          json = JSON.parse(data);
        } catch {
          json = undefined;
        }
        // JSON that is not an object (`data: null`, a number) is as malformed as text that is not JSON.
        if (typeof json !== 'object' || json === null || Array.isArray(json)) return { events: [{ type: 'error', kind: 'api_error', message: 'upstream sent a malformed stream chunk' }], done: true };
        const chunk = json as { id?: string; model?: string; error?: unknown; choices?: { delta?: { content?: string | null }; finish_reason?: string | null; stop_reason?: unknown; matched_stop?: unknown }[]; usage?: { prompt_tokens?: unknown; completion_tokens?: unknown } | null };
        // An error chunk in any shape a server sends (TGI's error is a string).
        if (chunk.error !== undefined) return { events: [{ type: 'error', kind: 'api_error', message: upstreamErrorDetail(chunk).message, fromUpstream: true }], done: true };
        const events: ChatEvent[] = [];
        if (!started) {
          started = true;
          events.push({ type: 'start', id: chunk.id ?? '', model: chunk.model ?? '', inputTokens: 0 });
        }
        const choice = chunk.choices?.[0];
        const text = choice?.delta?.content;
        if (typeof text === 'string' && text !== '') events.push({ type: 'text', text });
        if (choice?.finish_reason) {
          finish = finishFromOpenAI(choice.finish_reason);
          stopped = stopSequenceOf(choice);
        }
        // Usage arrives in its own chunk after the finish reason (include_usage); finish is emitted with it.
        if (chunk.usage && finish !== undefined) {
          finished = true;
          events.push({ type: 'finish', finishReason: finish, ...stopped, usage: { inputTokens: tokenCount(chunk.usage.prompt_tokens) ?? 0, outputTokens: tokenCount(chunk.usage.completion_tokens) ?? 0 } });
        }
        return { events, done: false };
      },
      announcedFinish() {
        return finish !== undefined && !finished ? { type: 'finish', finishReason: finish, ...stopped, usage: { inputTokens: 0, outputTokens: 0 } } : undefined;
      },
    };
  },

  formatModelList(ids: readonly string[]): Parsed<unknown> {
    return { ok: true, value: { object: 'list', data: ids.map((id) => this.formatModel(id)) } };
  },

  formatModel(id: string): unknown {
    return { id, object: 'model', created: 0, owned_by: 'switchyard' };
  },

  errorStatus(_kind: ErrorKind, status: number): number {
    return status;
  },

  formatError({ kind, message, param, code, limit }: ErrorReport): unknown {
    return { error: { message, type: limit ?? kindToType[kind], param: param ?? null, code: code ?? kindToCode[kind] ?? null } };
  },

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
