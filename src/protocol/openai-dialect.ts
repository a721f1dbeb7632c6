import { createHash } from 'node:crypto';
import { z } from 'zod';
import {
  defaultMaxOutputTokens,
  isCutShort,
  maxStopSequenceChars,
  saysSomething,
  tokenCount,
  upstreamErrorDetail,
  type ChatEvent,
  type ChatMessage,
  type ChatRequest,
  type ChatResult,
  type ContentPart,
  type ContextLimit,
  type DocumentSource,
  type ErrorKind,
  type ErrorReport,
  type FinishReason,
  type ImageSource,
  type Parsed,
  type RateLimitState,
  type ResponseFormat,
  type SamplingControls,
  type ToolCall,
  type ToolChoice,
  type ToolDefinition,
} from './chat.js';
import type { Dialect, EncodeOptions, StreamReader, StreamWriter } from './dialect.js';
import { goDuration } from './go-duration.js';
import { invalidRequest, isQuotableName, malformedAnswer, noTools, otherApiField, readBlocks, unsupportedContent } from './request-problem.js';
import { readContentDelta } from './openai-content-delta.js';
import { answerSchema } from './answer-schema.js';
import { openaiStrictProblem } from './json-schema-limits.js';
import { readPdf } from './document-source.js';
import { imageUrlOf, readImageUrl } from './image-source.js';
import { maxJsonDepth, tooDeepProblem } from './json-depth.js';
import { sseFrame } from './sse.js';
import { argumentsProblem, toolCallIdPattern, toolNamePattern, toolUseIssue } from './tool-use.js';

const stopSequence = z.string().max(maxStopSequenceChars, `a stop sequence is at most ${maxStopSequenceChars} characters`);
const textPart = z.object({ type: z.literal('text'), text: z.string() });
/** An image in a user message: a URL the upstream fetches, or the image itself as a data URL. */
const imagePart = z.looseObject({
  type: z.literal('image_url'),
  image_url: z.looseObject(
    {
      // Read once, into its source: a data URL may be megabytes.
      url: z.string().transform((url, context): ImageSource => {
        const reading = readImageUrl(url);
        if (reading.ok) return reading.source;
        context.addIssue({ code: 'custom', message: reading.problem });
        return z.NEVER;
      }),
      detail: z.enum(['auto', 'low', 'high']).nullish(),
    },
    { error: 'is required: {"url": "..."}, the image' },
  ),
});
/** A file in a user message: a PDF, as a data URL (file_data); files uploaded to OpenAI (file_id) live there. */
const filePart = z.looseObject({
  type: z.literal('file'),
  file: z.looseObject(
    {
      file_data: z
        .string({ error: 'is required: the file as a data URL (data:application/pdf;base64,...); files uploaded to OpenAI (file_id) are not supported by this gateway' })
        .transform((url, context): DocumentSource => {
          const match = /^data:([^;,]*)(?:;[^,]*)?;base64,/i.exec(url);
          const reading = match === null ? { ok: false as const, problem: 'a file is a base64 data URL of a PDF (data:application/pdf;base64,...)' } : readPdf(match[1] ?? '', url.slice(match[0].length));
          if (reading.ok) return reading.source;
          context.addIssue({ code: 'custom', message: reading.problem });
          return z.NEVER;
        }),
      filename: z.string().nullish(),
    },
    { error: 'is required: {"file_data": "data:application/pdf;base64,...", "filename": "..."}' },
  ),
});
/** An earlier answer's refusal as a part of an assistant message, as OpenAI's API takes it: that turn's text. */
const refusalPart = z.object({ type: z.literal('refusal'), refusal: z.string() });
const contentPart = z.discriminatedUnion('type', [textPart, imagePart, filePart, refusalPart]);
type ContentPartInput = z.infer<typeof contentPart>;
const partsProblem = unsupportedContent('part', 'content', ['text', 'image_url', 'file', 'refusal']);
const content = z
  .union([z.string(), z.array(z.unknown())], { error: partsProblem })
  // As OpenAI refuses it; an empty string passes, as OpenAI lets it.
  .refine((value) => typeof value === 'string' || value.length > 0, 'an empty array of content parts: give at least one text part, or a string')
  // Parts are read one by one: a part of another type is named, a bad text or image part is refused at its own field.
  .transform((value, context) => readBlocks(value, context, ['text', 'image_url', 'file', 'refusal'], contentPart, partsProblem));

/**
 * vLLM's and SGLang's request extensions that change what the answer is (its format, its length,
 * its template, its sampling): the gateway does not carry them to the upstream, so a caller that
 * sends one is refused rather than served something else. Their neutral values pass, as clients
 * send defaults.
 */
function notCarried<T extends z.ZodType>(neutral: T, what: string, advice = 'remove the field'): z.ZodOptional<z.ZodNullable<z.ZodCustom<z.infer<T>>>> {
  return z.custom<z.infer<T>>((value) => neutral.safeParse(value).success, { error: `not forwarded by this gateway: ${what} (a model-server extension) would be ignored; ${advice}` }).nullish();
}
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

/** A model server's own structured-output field: the gateway carries OpenAI's instead. */
function serverStructuredOutput(): ReturnType<typeof notCarried> {
  return notCarried(z.undefined(), 'structured output in its own form', 'send response_format ({"type": "json_schema", ...}) instead, which every upstream gets');
}
const off = z.literal(false);
const empty = z.union([z.looseObject({}).refine((value) => Object.keys(value).length === 0), z.tuple([])]);
const streamOptions = z.looseObject({ include_usage: z.boolean().optional() });
const serverExtensions = {
  // vLLM's usage on every chunk: the gateway writes usage once, in the last chunk, as OpenAI does.
  stream_options: streamOptions
    .extend({ continuous_usage_stats: z.literal(false, { error: 'not forwarded by this gateway: usage on every chunk (a model-server extension) would be ignored; usage comes in the last chunk with include_usage' }).nullish() })
    .nullish(),
  guided_json: serverStructuredOutput(),
  guided_regex: serverStructuredOutput(),
  guided_choice: serverStructuredOutput(),
  guided_grammar: serverStructuredOutput(),
  structural_tag: serverStructuredOutput(),
  structured_outputs: serverStructuredOutput(),
  json_schema: serverStructuredOutput(),
  regex: serverStructuredOutput(),
  ebnf: serverStructuredOutput(),
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
  guided_whitespace_pattern: serverStructuredOutput(),
  lora_path: notCarried(z.undefined(), 'a LoRA adapter'),
  no_stop_trim: notCarried(off, 'keeping the stop string'),
  return_hidden_states: notCarried(off, 'hidden states'),
  vllm_xargs: notCarried(empty, 'extra sampling arguments'),
  separate_reasoning: notCarried(z.literal(true), 'reasoning written into the answer'),
  // vLLM's: false continues the caller's text rather than answering it, which the gateway carries only
  // as a prefill (with continue_final_message: true); checked against it in parseRequest.
  add_generation_prompt: z.boolean().nullish(),
};

/** Fields of Anthropic's Messages API and OpenAI's Responses API that callers send here by mistake. */
const otherApiFields = {
  system: otherApiField('system is a field of the Anthropic Messages API (POST /v1/messages): here, send the system prompt as the first message, with role "system"'),
  stop_sequences: otherApiField('stop_sequences is a field of the Anthropic Messages API (POST /v1/messages): here, send stop'),
  // OpenAI-compatible APIs that read it (Anthropic's compatibility layer, GLM, Ark) take {type: 'disabled'}, which asks for none.
  thinking: z.looseObject({ type: z.literal('disabled', { error: 'extended thinking is asked for with the Anthropic Messages API (POST /v1/messages), and Chat Completions shows none: here thinking can only be {"type": "disabled"}' }) }).nullish(),
  instructions: otherApiField('instructions is a field of the OpenAI Responses API, which this gateway does not serve: send the instructions as the first message, with role "system"'),
  // Where inference may run: dropped, the request could be served outside the jurisdiction asked for.
  inference_geo: otherApiField('inference_geo is a field of the Anthropic Messages API (POST /v1/messages): here, send the x-switchyard-jurisdiction header to narrow where the request may run'),
  output_config: otherApiField('output_config is a field of the Anthropic Messages API (POST /v1/messages): here, send response_format, {"type": "json_schema", "json_schema": {"name": "...", "schema": {...}}}'),
  output_format: otherApiField('output_format is a field of the Anthropic Messages API (POST /v1/messages): here, send response_format, {"type": "json_schema", "json_schema": {"name": "...", "schema": {...}}}'),
  text: otherApiField('text is a field of the OpenAI Responses API, which this gateway does not serve: send response_format for the format of the answer'),
  max_output_tokens: otherApiField('max_output_tokens is a field of the OpenAI Responses API, which this gateway does not serve: send max_completion_tokens (or max_tokens)'),
};

/** Why a tool or tool call of another type than 'function' is refused, naming the type when it is a plain name. */
function onlyFunctions(what: 'tools' | 'tool calls' | 'tool choices'): (issue: { readonly input?: unknown }) => string {
  return ({ input }) => {
    if (input === undefined) return `is required: 'function'`;
    const named = typeof input === 'string' && isQuotableName(input) ? `'${input}' ${what} are` : `${what} of that type are`;
    return `${named} not supported by this gateway: only 'function' ${what}`;
  };
}

const toolName = z.string().regex(toolNamePattern, "a tool name is 1 to 64 letters, digits, '_' or '-'");

/** A tool the caller offers: a function, described by a JSON Schema of its arguments. */
const toolDefinition = z.looseObject({
  type: z.literal('function', { error: onlyFunctions('tools') }),
  function: z.looseObject({
    name: toolName,
    description: z.string().nullish(),
    parameters: z
      .record(z.string(), z.unknown(), { error: 'parameters must be a JSON Schema object' })
      // As OpenAI and Anthropic refuse it: a call's arguments are an object.
      .refine((schema) => schema.type === undefined || schema.type === 'object', { error: "a function's arguments are an object: parameters.type must be 'object'", path: ['type'] })
      .nullish(),
    // Carried to the upstream, and routed only to endpoints that constrain output (structuredOutputs).
    strict: z.boolean().nullish(),
  }),
});

/** The form of the answer: text, any JSON object (JSON mode), or JSON matching a schema (structured output). */
const responseFormatSchema = z.discriminatedUnion(
  'type',
  [
    z.looseObject({ type: z.literal('text') }),
    z.looseObject({ type: z.literal('json_object') }),
    z.looseObject({
      type: z.literal('json_schema'),
      json_schema: z.looseObject({
        name: z.string().regex(/^[a-zA-Z0-9_-]{1,64}$/, "a response format's name is 1 to 64 letters, digits, '_' or '-'"),
        description: z.string().nullish(),
        schema: answerSchema,
        strict: z.boolean().nullish(),
      }),
    }),
  ],
  { error: "response_format.type must be 'text', 'json_object' or 'json_schema'" },
);

/** A tool choice the gateway cannot carry, in words that say what it can. */
function toolChoiceProblem({ input }: { readonly input?: unknown }): string {
  const forms = `tool_choice must be 'none', 'auto', 'required' or {"type": "function", "function": {"name": "..."}}`;
  if (typeof input !== 'object' || input === null || Array.isArray(input)) return forms;
  const type = (input as { readonly type?: unknown }).type;
  if (type === 'function') return `${forms}: a function tool choice names the tool in function.name`;
  if (type === 'allowed_tools') return 'allowed_tools tool choices are not supported by this gateway yet: send only the allowed tools, with tool_choice \'auto\' or \'required\'';
  return type === undefined ? forms : `${forms}: ${onlyFunctions('tool choices')({ input: type })}`;
}

const toolChoiceSchema = z.union([z.enum(['none', 'auto', 'required']), z.looseObject({ type: z.literal('function'), function: z.looseObject({ name: z.string() }) })], { error: toolChoiceProblem });

/** An earlier answer's call of a tool, sent back with the conversation. */
const messageToolCall = z.looseObject({
  id: z.string().regex(toolCallIdPattern, "a tool call id is 1 to 256 letters, digits, '_' or '-'"),
  // Left out by some clients; OpenAI's only other kind (custom tools) is refused with its tools.
  type: z.literal('function', { error: onlyFunctions('tool calls') }).optional(),
  function: z.looseObject({ name: toolName, arguments: z.string().check((context) => {
      const problem = argumentsProblem(context.value);
      if (problem !== undefined) context.issues.push({ code: 'custom', input: context.value, message: problem });
    }) }),
});

function roleProblem({ input }: { readonly input?: unknown }): string {
  if (input === 'function') return "function messages are legacy function calling, which this gateway does not support: send tool messages (role 'tool', with tool_call_id) instead";
  return "role must be 'system', 'developer', 'user', 'assistant' or 'tool'";
}

const messageSchema = z
  .looseObject({
    role: z.enum(['system', 'developer', 'user', 'assistant', 'tool'], { error: roleProblem }),
    // Checked before content, which tool calls may leave null.
    tool_calls: z.array(messageToolCall).nullish(),
    // An earlier answer's legacy function call or audio, refused rather than dropped: without them
    // the turn reads as something else.
    function_call: z.null({ error: 'function calls in messages are legacy function calling, which this gateway does not support: send tool_calls instead' }).optional(),
    audio: z.null({ error: 'audio in messages is not supported by Switchyard' }).optional(),
    content: content.nullish(),
    // An earlier answer's refusal, as the gateway writes it (content null): what the model said.
    refusal: z.string().nullish(),
    // As OpenAI checks it (an empty one is taken as none).
    name: z
      .string()
      .refine((name) => name === '' || toolNamePattern.test(name), "a participant's name is 1 to 64 letters, digits, '_' or '-' (OpenAI's rule): write 'Alice_Smith', not 'Alice Smith'")
      .nullish(),
    // Read only on a tool message (below): other roles have no use for it.
    tool_call_id: z.unknown().optional(),
  })
  .superRefine((message, context) => {
    const calls = message.tool_calls ?? [];
    if (calls.length > 0 && message.role !== 'assistant') context.addIssue({ code: 'custom', path: ['tool_calls'], message: 'only assistant messages carry tool calls' });
    // As OpenAI refuses them: an image or a file is something the user shows the model.
    const shown = Array.isArray(message.content) && message.role !== 'user' ? message.content.findIndex((part) => part.type === 'image_url' || part.type === 'file') : -1;
    if (shown >= 0) context.addIssue({ code: 'custom', path: ['content', shown], message: 'image and file parts are allowed only in user messages' });
    const refused = Array.isArray(message.content) && message.role !== 'assistant' ? message.content.findIndex((part) => part.type === 'refusal') : -1;
    if (refused >= 0) context.addIssue({ code: 'custom', path: ['content', refused], message: "refusal parts are allowed only in assistant messages (an earlier answer's refusal)" });
    // Any string, as the gateway writes a refusal even when its text is empty.
    const refusal = typeof message.refusal === 'string' ? message.refusal : undefined;
    const noContent = message.content === undefined || message.content === null;
    if (refusal !== undefined && refusal !== '' && message.role !== 'assistant') context.addIssue({ code: 'custom', path: ['refusal'], message: 'only assistant messages carry a refusal' });
    // Which of the two the model said would be a guess.
    else if (refusal !== undefined && refusal !== '' && !(noContent || message.content === '')) context.addIssue({ code: 'custom', path: ['refusal'], message: 'an assistant message carries content or a refusal, not both' });
    // Content may be left out (or null) only by an assistant turn that calls tools or refused, as OpenAI allows.
    else if (noContent && (message.role !== 'assistant' || (calls.length === 0 && refusal === undefined))) {
      const problem = unsupportedContent('part')({ input: message.content });
      context.addIssue({ code: 'custom', path: ['content'], message: message.role === 'assistant' ? `${problem} (it may be null only with tool_calls or a refusal)` : problem });
    }
    if (message.role === 'tool') {
      const id = message.tool_call_id;
      if (id === undefined || id === null) context.addIssue({ code: 'custom', path: ['tool_call_id'], message: 'is required: a tool message is the result of the tool call with that id' });
      else if (typeof id !== 'string' || !toolCallIdPattern.test(id)) context.addIssue({ code: 'custom', path: ['tool_call_id'], message: "a tool call id is 1 to 256 letters, digits, '_' or '-'" });
    }
  });

/** What the gateway accepts from OpenAI Chat Completions clients; unknown fields pass (SDKs send many). */
const requestSchema = z.looseObject({
  model: z.string().min(1),
  messages: z.array(messageSchema).min(1),
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
  stream_options: streamOptions.nullish(),
  // vLLM's extension: continue a trailing assistant message (a prefill) rather than answer after it.
  continue_final_message: z.boolean().nullish(),
  user: z.string().max(256, 'user is at most 256 characters: an opaque id of your end user').nullish(),
  // OpenAI's successor to `user` for the same purpose; it wins when both are sent.
  safety_identifier: z.string().max(128, 'safety_identifier is at most 128 characters: an opaque id of your end user, such as a hash of their email').nullish(),
  web_search_options: z.null({ error: 'web search is not supported by this gateway' }).optional(),
  // A moderation policy may block an input or an answer: ignoring it would serve what it blocks.
  moderation: z.null({ error: 'moderated completions (moderation) are not supported by this gateway' }).optional(),
  n: z.literal(1, { error: 'n must be 1: the gateway returns one choice per request' }).nullish(),
  response_format: responseFormatSchema.nullish(),
  // Carried: it changes how long and how deep a reasoning model's answer is.
  reasoning_effort: z.enum(['none', 'minimal', 'low', 'medium', 'high', 'xhigh']).nullish(),
  // Refused rather than silently ignored: a caller relying on them would get something else.
  logprobs: z.literal(false, { error: 'logprobs are not supported by this gateway' }).nullish(),
  // 0 asks for none, as clients send by default.
  top_logprobs: z.union([z.null(), z.literal(0)], { error: 'top_logprobs are not supported by this gateway' }).optional(),
  modalities: z.array(z.literal('text', { error: "modalities: only 'text' output is supported by this gateway" })).nullish(),
  audio: z.null({ error: 'audio output is not supported by this gateway' }).optional(),
  // null or an empty list offers no tools, as leaving the field out does.
  tools: z.array(toolDefinition).nullish(),
  tool_choice: toolChoiceSchema.nullish(),
  parallel_tool_calls: z.boolean().nullish(),
  // OpenAI's legacy function calling: refused, pointing at its successor (null, [] and 'none' ask for nothing).
  functions: noTools('functions are legacy function calling, which this gateway does not support: send tools instead').nullish(),
  function_call: z.literal('none', { error: 'function_call is legacy function calling, which this gateway does not support: send tool_choice instead' }).nullish(),
});

/** As the gateway reads a request: what it cannot carry to an upstream is refused, not dropped. */
const gatewayRequestSchema = requestSchema.extend({ ...serverExtensions, ...otherApiFields });

/** A tool call in an upstream's complete answer; its id is made one the gateway takes back (takenBackId). */
const resultToolCall = z.looseObject({
  id: z.string().nullish(),
  function: z.looseObject({ name: z.string().min(1), arguments: z.unknown().optional() }),
});

/** An upstream's complete answer (built once: zod compiles each schema on first use). */
const resultSchema = z.looseObject({
  id: z.string(),
  model: z.string(),
  choices: z
    .array(
      z.looseObject({
        // refusal: the model declined a structured answer (OpenAI), in words instead of JSON.
        message: z.looseObject({ content: z.string().nullish(), refusal: z.string().nullish(), tool_calls: z.array(resultToolCall).nullish(), reasoning_content: z.unknown().optional(), reasoning: z.unknown().optional() }),
        finish_reason: z.string().nullable(),
        stop_reason: z.unknown().optional(),
        matched_stop: z.unknown().optional(),
      }),
    )
    .min(1),
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

const finishToOpenAI: Readonly<Record<FinishReason, string>> = { stop: 'stop', length: 'length', content_filter: 'content_filter', context_window: 'length', tool_calls: 'tool_calls' };

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

/** A finish_reason read from an upstream; 'function_call' is legacy function calling's name for tool_calls. */
function finishFromOpenAI(reason: string | null | undefined): FinishReason {
  if (reason === 'tool_calls' || reason === 'function_call') return 'tool_calls';
  return reason === 'length' || reason === 'content_filter' ? reason : 'stop';
}

/**
 * The finish of an answer as its calls say: vLLM ends one forced by a named or required tool
 * choice with 'stop', which an Anthropic caller would read as an answer with nothing left to do.
 * A stop sequence that ended it, or a cut (length, filter), is kept as it is. And a 'tool_calls'
 * that came with no calls is a 'stop': an agent loop would wait for calls that do not exist.
 */
function finishWithCalls(finish: FinishReason, calledTools: boolean, stopped: { stopSequence?: string }): FinishReason {
  if (finish === 'tool_calls' && !calledTools) return 'stop';
  return finish === 'stop' && calledTools && stopped.stopSequence === undefined ? 'tool_calls' : finish;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The longest tool call id OpenAI takes back in tool_calls[].id (it refuses longer ones). */
const maxCallIdChars = 40;

/**
 * An upstream's tool call id as one the gateway takes back from a caller, and OpenAI and Anthropic
 * take: other characters (Kimi's 'functions.get_weather:0') become '_', and one longer than OpenAI
 * takes keeps its start and ends with a hash of the whole id, so two long ids stay distinct.
 * Undefined for none: the caller makes one.
 */
function takenBackId(id: unknown): string | undefined {
  if (typeof id !== 'string' || id === '') return undefined;
  const sanitized = id.replace(/[^a-zA-Z0-9_-]/g, '_');
  if (sanitized.length <= maxCallIdChars) return sanitized;
  const hash = createHash('sha256').update(id).digest('hex').slice(0, 8);
  return `${sanitized.slice(0, maxCallIdChars - hash.length - 1)}_${hash}`;
}

/**
 * A caller's call id as sent to an upstream: OpenAI refuses one over 40 characters, which an
 * Anthropic caller may send (up to 256). A longer one is shortened as takenBackId does, the same way
 * in the call and in its result, so they still match; the upstream's answer never names it.
 */
function sentCallId(id: string): string {
  return id.length <= maxCallIdChars ? id : (takenBackId(id) ?? id);
}

/**
 * An id for a call an upstream gave none, at most 40 characters: unique in the answer (its index
 * ends it), and across answers by the tail of the answer's own id (where its random part is).
 */
function madeUpCallId(answerId: string, index: number): string {
  const suffix = `_${index}`;
  const room = Math.min(32, maxCallIdChars - 'call_'.length - suffix.length);
  const answer = room > 0 ? answerId.replace(/[^a-zA-Z0-9_-]/g, '_').slice(-room) : '';
  return answer === '' ? `call${suffix}` : `call_${answer}${suffix}`;
}

/** A call's arguments as text: servers that send them as an object (not OpenAI's wire form) get them written as JSON. */
function argumentsText(value: unknown): string {
  if (typeof value === 'string') return value;
  return isRecord(value) ? JSON.stringify(value) : '';
}

/** A call's arguments on the wire: OpenAI always writes a JSON object, '{}' for none (but '' in an answer cut short). */
function wireArguments(text: string, finish?: FinishReason): string {
  // A call an answer cut short may have cut must not look complete: its arguments are not made '{}'.
  return text === '' && (finish === undefined || !isCutShort(finish)) ? '{}' : text;
}

function wireToolCall(call: ToolCall, finish?: FinishReason): unknown {
  return { id: call.id, type: 'function', function: { name: call.name, arguments: wireArguments(call.arguments, finish) } };
}

function wireToolChoice(choice: ToolChoice): unknown {
  return choice.type === 'tool' ? { type: 'function', function: { name: choice.name } } : choice.type;
}

function toolChoiceOf(choice: z.infer<typeof toolChoiceSchema> | null | undefined): ToolChoice | undefined {
  if (choice === undefined || choice === null) return undefined;
  return typeof choice === 'string' ? { type: choice } : { type: 'tool', name: choice.function.name };
}

function toolDefinitionOf({ function: tool }: z.infer<typeof toolDefinition>): ToolDefinition {
  return {
    name: tool.name,
    ...(tool.description === undefined || tool.description === null ? {} : { description: tool.description }),
    // No parameters: a function of no arguments, as OpenAI reads it (closed, for strict mode).
    parameters: tool.parameters ?? (tool.strict === true ? { type: 'object', properties: {}, required: [], additionalProperties: false } : { type: 'object', properties: {} }),
    ...(tool.strict === true ? { strict: true } : {}),
  };
}

function responseFormatOf(format: z.infer<typeof responseFormatSchema> | null | undefined): ResponseFormat | undefined {
  if (format === undefined || format === null || format.type === 'text') return undefined;
  if (format.type === 'json_object') return { type: 'json_object' };
  const { name, description, schema, strict } = format.json_schema;
  return { type: 'json_schema', name, ...(description === undefined || description === null ? {} : { description }), schema, strict: strict === true };
}

/** The first strict schema (of the response format, then of each tool) that OpenAI's strict mode would refuse, by the path of its problem. */
function strictSchemaProblem(format: ResponseFormat | undefined, tools: readonly ToolDefinition[]): { readonly param: string } | undefined {
  if (format?.type === 'json_schema' && format.strict) {
    const problem = openaiStrictProblem(format.schema);
    if (problem !== undefined) return { param: `response_format.json_schema.schema.${problem}` };
  }
  for (const [index, tool] of tools.entries()) {
    const problem = tool.strict === true ? openaiStrictProblem(tool.parameters) : undefined;
    if (problem !== undefined) return { param: `tools.${String(index)}.function.parameters.${problem}` };
  }
  return undefined;
}

/**
 * Whether to ask for strict mode: only for a schema it takes. A strict request from an OpenAI
 * caller always has one (see strictSchemaProblem); one from an Anthropic caller, whose API closes
 * objects and leaves properties optional as it likes, may not, and is then sent without strict
 * (the upstream may still follow the schema: vLLM does) rather than refused by OpenAI.
 */
function strictFits(strict: boolean | undefined, schema: Readonly<Record<string, unknown>>): boolean {
  return strict === true && openaiStrictProblem(schema) === undefined;
}

function wireResponseFormat(format: ResponseFormat): unknown {
  if (format.type === 'json_object') return { type: 'json_object' };
  return { type: 'json_schema', json_schema: { name: format.name, ...(format.description === undefined ? {} : { description: format.description }), schema: format.schema, strict: strictFits(format.strict, format.schema) } };
}

function canonicalMessage(message: z.infer<typeof messageSchema>): ChatMessage {
  // A refusal is the turn's text (the schema allows one only where there is no content).
  const text = message.content === undefined || message.content === null || message.content === '' ? (message.refusal ?? '') : textOf(message.content);
  if (message.role === 'tool') return { role: 'tool', content: text, toolCallId: typeof message.tool_call_id === 'string' ? message.tool_call_id : '' };
  const named = typeof message.name === 'string' && message.name !== '' ? { name: message.name } : {};
  const calls = message.tool_calls ?? [];
  if (message.role === 'assistant' && calls.length > 0) {
    return { role: 'assistant', content: text, toolCalls: calls.map((call) => ({ id: call.id, name: call.function.name, arguments: call.function.arguments })), ...named };
  }
  const content = message.content;
  if (Array.isArray(content) && content.some((part) => part.type !== 'text' && part.type !== 'refusal')) return { role: 'user', content: text, parts: content.map(canonicalPart), ...named };
  return { role: message.role === 'developer' ? 'system' : message.role, content: text, ...named };
}

function canonicalPart(part: ContentPartInput): ContentPart {
  if (part.type === 'text') return { type: 'text', text: part.text };
  if (part.type === 'refusal') return { type: 'text', text: part.refusal };
  if (part.type === 'file') return { type: 'document', source: part.file.file_data, ...(part.file.filename === undefined || part.file.filename === null ? {} : { title: part.file.filename }) };
  return { type: 'image', source: part.image_url.url, ...(part.image_url.detail === undefined || part.image_url.detail === null ? {} : { detail: part.image_url.detail }) };
}

/** A canonical part as OpenAI parts: one each, but a PDF with a context (two: the context's text first). */
function wireParts(part: ContentPart): unknown[] {
  if (part.type === 'text') return [{ type: 'text', text: part.text }];
  if (part.type === 'image') return [{ type: 'image_url', image_url: { url: imageUrlOf(part.source), ...(part.detail === undefined ? {} : { detail: part.detail }) } }];
  // A text document is text here (its title, its context and its text, a blank line apart); a PDF a
  // file part, after its context as text (what the caller wants the model to know of it: not dropped).
  if (part.source.type === 'text') return [{ type: 'text', text: [part.title, part.context, part.source.text].filter((text) => text !== undefined).join('\n\n') }];
  const file = { type: 'file', file: { filename: part.title ?? 'document.pdf', file_data: `data:application/pdf;base64,${part.source.data}` } };
  return part.context === undefined ? [file] : [{ type: 'text', text: part.context }, file];
}

/**
 * The messages with each run of system messages that carries a prompt-cache breakpoint joined into
 * one: an Anthropic system prompt split at its breakpoints (see ChatMessage.cache) reaches
 * OpenAI-dialect upstreams as the one system message it was, since some chat templates refuse a
 * second. Other messages, and system messages without breakpoints, are left as sent.
 */
function joinedCachedSystem(messages: readonly ChatMessage[]): readonly ChatMessage[] {
  if (!messages.some((message) => message.role === 'system' && message.cache !== undefined)) return messages;
  const joined: ChatMessage[] = [];
  for (let index = 0; index < messages.length; ) {
    const message = messages[index] as ChatMessage;
    let end = index + 1;
    while (message.role === 'system' && messages[end]?.role === 'system') end += 1;
    const run = messages.slice(index, end);
    if (run.length > 1 && run.some((part) => part.cache !== undefined)) joined.push({ role: 'system', content: run.map((part) => part.content).filter((text) => text.trim() !== '').join('\n') });
    else joined.push(...run);
    index = end;
  }
  return joined;
}

/**
 * Canonical messages in OpenAI's form. A tool message holds text only there: the images and
 * documents tool results returned (an Anthropic caller's screenshot, a PDF it read) follow the
 * results, each group labelled with the call that returned it, at the start of the user message
 * after them, or in a user message of their own (roles keep alternating, which some chat templates
 * require).
 */
function wireMessages(messages: readonly ChatMessage[]): unknown[] {
  const wired: unknown[] = [];
  let shown: unknown[] = [];
  for (const [index, message] of messages.entries()) {
    if (shown.length > 0 && message.role === 'user') {
      const own = message.parts === undefined ? (message.content === '' ? [] : [{ type: 'text', text: message.content }]) : message.parts.flatMap(wireParts);
      wired.push({ ...(wireMessage(message) as object), content: [...shown, ...own] });
      shown = [];
      continue;
    }
    wired.push(wireMessage(message));
    if (message.role !== 'tool') continue;
    const media = (message.parts ?? []).filter((part) => part.type !== 'text');
    if (media.length > 0) shown.push({ type: 'text', text: `Returned by tool call ${sentCallId(message.toolCallId ?? '')}:` }, ...media.flatMap(wireParts));
    const next = messages[index + 1]?.role;
    if (shown.length > 0 && next !== 'tool' && next !== 'user') {
      wired.push({ role: 'user', content: shown });
      shown = [];
    }
  }
  return wired;
}

/** A canonical message in OpenAI's form: a tool result, an assistant turn's calls (content null when it said nothing else). */
function wireMessage(message: ChatMessage): unknown {
  if (message.role === 'tool') {
    // OpenAI has no is_error flag: a failed tool's result says so in its text, or an OpenAI-dialect
    // upstream would read it (an empty one above all) as the tool's success.
    const content = message.isError === true ? (message.content === '' ? 'Error' : `Error: ${message.content}`) : message.content;
    return { role: 'tool', tool_call_id: sentCallId(message.toolCallId ?? ''), content };
  }
  const named = message.name === undefined ? {} : { name: message.name };
  if (message.toolCalls !== undefined && message.toolCalls.length > 0) {
    return { role: message.role, content: message.content === '' ? null : message.content, tool_calls: message.toolCalls.map((call) => wireToolCall({ ...call, id: sentCallId(call.id) })), ...named };
  }
  return { role: message.role, content: message.parts === undefined ? message.content : message.parts.flatMap(wireParts), ...named };
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
  return typeof value === 'string' ? value : value.flatMap((part) => (part.type === 'text' ? [part.text] : part.type === 'refusal' ? [part.refusal] : [])).join('\n');
}

/** A tool call of an upstream stream, as far as its chunks have told it. */
interface StreamedCall {
  /** Canonical: 0, 1, 2 in the order calls began. */
  readonly index: number;
  /** The upstream's id (taken back, see takenBackId), once it sent one. */
  upstreamId: string | undefined;
  name: string | undefined;
  announced: boolean;
  /** Arguments that arrived before the call could be announced. */
  heldArguments: string;
}

/** The tool calls of an OpenAI-dialect stream, read into canonical events; a method's text is why the stream is malformed. */
interface ToolCallReader {
  read(entries: readonly unknown[], events: ChatEvent[], answerId: string): string | undefined;
  /** Announces every call not yet announced: at the finish, nothing more of them will come. */
  finish(events: ChatEvent[], answerId: string): string | undefined;
  called(): boolean;
}

/**
 * Calls are numbered 0, 1, 2 in the order their wire index first appears (a missing index is 0,
 * as servers that send one call omit it). Another id with a name at a known index begins another
 * call (servers that send each call whole at index 0). A call is announced (tool_call) once its
 * name and id are both known, or at its first arguments (with the name alone), or when the next
 * call or the finish begins: a server may send the id before the name, and announcing earlier
 * would make an id up for a call whose own id was a chunk away. Arguments that came before are
 * held and follow the announcement. An id the upstream never sent is made up (madeUpCallId); a
 * call whose name never came is a malformed stream, since no caller could run it.
 */
function createToolCallReader(): ToolCallReader {
  const calls: StreamedCall[] = [];
  const atWireIndex = new Map<number, StreamedCall>();
  const announce = (call: StreamedCall, events: ChatEvent[], answerId: string): string | undefined => {
    if (call.name === undefined) return 'upstream sent a tool call without a name';
    call.announced = true;
    events.push({ type: 'tool_call', index: call.index, id: call.upstreamId ?? madeUpCallId(answerId, call.index), name: call.name });
    if (call.heldArguments !== '') events.push({ type: 'tool_arguments', index: call.index, text: call.heldArguments });
    call.heldArguments = '';
    return undefined;
  };
  const announceAll = (events: ChatEvent[], answerId: string): string | undefined => {
    for (const call of calls) {
      const problem = call.announced ? undefined : announce(call, events, answerId);
      if (problem !== undefined) return problem;
    }
    return undefined;
  };
  return {
    read(entries, events, answerId) {
      for (const entry of entries) {
        if (!isRecord(entry)) return 'upstream sent a malformed tool call';
        const wireIndex = typeof entry.index === 'number' && Number.isSafeInteger(entry.index) ? entry.index : 0;
        const id = takenBackId(entry.id);
        const fields = isRecord(entry.function) ? entry.function : {};
        const name = typeof fields.name === 'string' && fields.name !== '' ? fields.name : undefined;
        const text = argumentsText(fields.arguments);
        let call = atWireIndex.get(wireIndex);
        if (call === undefined || (id !== undefined && name !== undefined && call.upstreamId !== undefined && call.upstreamId !== id)) {
          // The calls before are complete: announced now, so canonical calls begin in order.
          const problem = announceAll(events, answerId);
          if (problem !== undefined) return problem;
          call = { index: calls.length, upstreamId: undefined, name: undefined, announced: false, heldArguments: '' };
          calls.push(call);
          atWireIndex.set(wireIndex, call);
        }
        if (call.announced) {
          // OpenAI streams one call at a time. Arguments for a call after the next one began cannot
          // be carried (an Anthropic caller's block for it is closed, and would look complete).
          if (text !== '' && call.index !== calls.length - 1) return 'upstream interleaved the arguments of two tool calls';
          if (text !== '') events.push({ type: 'tool_arguments', index: call.index, text });
          continue;
        }
        call.upstreamId ??= id;
        call.name ??= name;
        call.heldArguments += text;
        if (call.name !== undefined && (call.upstreamId !== undefined || call.heldArguments !== '')) announce(call, events, answerId);
      }
      return undefined;
    },
    finish: announceAll,
    called: () => calls.length > 0,
  };
}

/** OpenAI's refusal of a request too long for the window, in its own words. */
function openaiContextWords({ promptTokens, outputTokens, window }: ContextLimit): string {
  if (promptTokens > window || outputTokens === 0) return `This model's maximum context length is ${String(window)} tokens. However, your messages resulted in ${String(promptTokens)} tokens. Please reduce the length of the messages.`;
  return `This model's maximum context length is ${String(window)} tokens. However, you requested ${String(promptTokens + outputTokens)} tokens (${String(promptTokens)} in the messages, ${String(outputTokens)} in the completion). Please reduce the length of the messages or completion.`;
}

/**
 * An open model's reasoning in a message or delta: vLLM's `reasoning_content` (DeepSeek's API too),
 * or `reasoning` (vLLM since 0.10, OpenRouter); undefined when none, or empty.
 */
function reasoningOf(part: { readonly reasoning_content?: unknown; readonly reasoning?: unknown } | undefined): string | undefined {
  const text = part?.reasoning_content ?? part?.reasoning;
  return typeof text === 'string' && text !== '' ? text : undefined;
}

export const openaiDialect: Dialect = {
  name: 'openai',
  chatPath: '/v1/chat/completions',
  toolArgumentsAsObject: false,
  mayHoldToolArguments: false,
  requestIdHeader: 'x-request-id',
  showsReasoning: true,
  upstream: { systemPromptApart: false, trailingAssistantIsPrefill: false, signedThinking: false, jsonMode: true, pdfsByDefault: false, budgetFieldVaries: true },

  parseRequest(body: unknown, options: { readonly asServer?: boolean } = {}): Parsed<ChatRequest> {
    // A model server takes a few levels more: a gateway's encoding moves a caller's tool arguments and
    // schemas deeper (OpenAI arguments text becomes Anthropic's input object, in a content block).
    const tooDeep = tooDeepProblem(body, options.asServer === true ? maxJsonDepth + 16 : maxJsonDepth);
    if (tooDeep !== undefined) return tooDeep;
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
        // Without tools, a tool choice of 'auto' or 'none' and parallel_tool_calls ask for nothing
        // (the others were refused above); left out, as OpenAI refuses them without tools.
        ...(tools.length === 0 ? {} : { tools, ...(toolChoice === undefined ? {} : { toolChoice }), ...(r.parallel_tool_calls === undefined || r.parallel_tool_calls === null ? {} : { parallelToolCalls: r.parallel_tool_calls }) }),
        ...(responseFormat === undefined ? {} : { responseFormat }),
        ...(r.reasoning_effort === undefined || r.reasoning_effort === null ? {} : { effort: r.reasoning_effort }),
      },
    };
  },

  responseId(token: string): string {
    return `chatcmpl-${token}`;
  },

  encodeRequest(request: ChatRequest, options: EncodeOptions = {}): unknown {
    return {
      model: request.model,
      messages: wireMessages(joinedCachedSystem(request.messages)),
      // Tool choice and parallel_tool_calls only with tools: OpenAI refuses them alone.
      ...(request.tools === undefined || request.tools.length === 0
        ? {}
        : {
            tools: request.tools.map((tool) => ({ type: 'function', function: { name: tool.name, ...(tool.description === undefined ? {} : { description: tool.description }), parameters: tool.parameters, ...(strictFits(tool.strict, tool.parameters) ? { strict: true } : {}) } })),
            ...(request.toolChoice === undefined ? {} : { tool_choice: wireToolChoice(request.toolChoice) }),
            ...(request.parallelToolCalls === undefined ? {} : { parallel_tool_calls: request.parallelToolCalls }),
          }),
      ...(request.responseFormat === undefined ? {} : { response_format: wireResponseFormat(request.responseFormat) }),
      // Low, medium and high: the levels every reasoning server takes (vLLM only those); the others
      // are sent as the nearest of them.
      ...(request.effort === undefined ? {} : { reasoning_effort: request.effort === 'none' || request.effort === 'minimal' ? 'low' : request.effort === 'xhigh' || request.effort === 'max' ? 'high' : request.effort }),
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
      usage: { prompt_tokens: result.usage.inputTokens, completion_tokens: result.usage.outputTokens, total_tokens: result.usage.inputTokens + result.usage.outputTokens },
    };
  },

  parseResult(body: unknown): Parsed<ChatResult> {
    const parsed = resultSchema.safeParse(body);
    if (!parsed.success) return malformedAnswer(parsed.error, 'chat completion');
    const choice = parsed.data.choices[0];
    const toolCalls = (choice?.message.tool_calls ?? []).map((call, index) => ({ id: takenBackId(call.id) ?? madeUpCallId(parsed.data.id, index), name: call.function.name, arguments: argumentsText(call.function.arguments) }));
    const stopped = stopSequenceOf(choice);
    // A refusal is told as Anthropic tells one: its words as the text, and a content_filter finish,
    // so that no caller reads an empty answer, or the refusal, as the JSON it asked for.
    const refusal = choice?.message.refusal ?? '';
    const reasoning = reasoningOf(choice?.message);
    return {
      ok: true,
      value: {
        id: parsed.data.id,
        model: parsed.data.model,
        text: `${choice?.message.content ?? ''}${refusal}`,
        finishReason: refusal === '' ? finishWithCalls(finishFromOpenAI(choice?.finish_reason), toolCalls.length > 0, stopped) : 'content_filter',
        ...(refusal === '' ? {} : { refusal: true }),
        ...stopped,
        ...(toolCalls.length === 0 ? {} : { toolCalls }),
        ...(reasoning === undefined ? {} : { reasoning }),
        usage: { inputTokens: tokenCount(parsed.data.usage?.prompt_tokens) ?? 0, outputTokens: tokenCount(parsed.data.usage?.completion_tokens) ?? 0 },
      },
    };
  },

  createStreamWriter({ includeUsage, created }): StreamWriter {
    let id = '';
    let model = '';
    // Calls begun whose arguments have not: OpenAI always sends a call some arguments, so each is
    // written '{}' once it is complete, when the next call begins (the OpenAI SDK's stream then
    // reports the call's arguments done) or at the finish.
    let unargued: number[] = [];
    // A refusal was written (in its own field): its content_filter finish is OpenAI's 'stop'.
    let refused = false;
    // With include_usage, OpenAI gives every chunk a usage field, null until the last one.
    const noUsage = includeUsage ? { usage: null } : {};
    const chunk = (choices: unknown[], extra: Record<string, unknown> = noUsage): string =>
      sseFrame(JSON.stringify({ id, object: 'chat.completion.chunk', created, model, choices, ...extra }));
    const delta = (content: Record<string, unknown>): string => chunk([{ index: 0, delta: content, logprobs: null, finish_reason: null }]);
    const noArguments = (): string => {
      const frames = unargued.map((index) => delta({ tool_calls: [{ index, function: { arguments: '{}' } }] }));
      unargued = [];
      return frames.join('');
    };
    // The role chunk waits for the first event a caller sees: OpenAI's says content "" when text
    // follows and null when the answer opens with a tool call (a client that opens a text part on
    // "" would otherwise show an empty one before the call).
    let roleDue = false;
    const frames = (event: ChatEvent): string => {
      switch (event.type) {
        case 'start':
          id = event.id;
          model = event.model;
          roleDue = true;
          return '';
        case 'text':
          if (event.refusal !== true) return delta({ content: event.text });
          refused = true;
          return delta({ refusal: event.text });
        case 'tool_call': {
          const before = noArguments();
          unargued.push(event.index);
          return before + delta({ tool_calls: [{ index: event.index, id: event.id, type: 'function', function: { name: event.name, arguments: '' } }] });
        }
        case 'tool_call_end':
          // OpenAI's chunks do not mark the end of a call.
          return '';
        case 'thinking':
        case 'thinking_signature':
        case 'redacted_thinking':
          // The Chat Completions API shows no thinking (its reasoning models keep theirs, too).
          return '';
        case 'reasoning':
          // As vLLM's reasoning parsers and DeepSeek's API stream it.
          return event.text === '' ? '' : delta({ reasoning_content: event.text });
        case 'tool_arguments':
          if (event.text === '') return '';
          unargued = unargued.filter((index) => index !== event.index);
          return delta({ tool_calls: [{ index: event.index, function: { arguments: event.text } }] });
        case 'finish': {
          const usage = { prompt_tokens: event.usage.inputTokens, completion_tokens: event.usage.outputTokens, total_tokens: event.usage.inputTokens + event.usage.outputTokens };
          // A call cut by the budget is left without arguments: '{}' would make it look complete.
          const last = isCutShort(event.finishReason) ? '' : noArguments();
          return (
            last +
            chunk([{ index: 0, delta: {}, logprobs: null, finish_reason: refused && event.finishReason === 'content_filter' ? 'stop' : finishToOpenAI[event.finishReason], ...matchedStop(event.stopSequence) }]) +
            (includeUsage ? chunk([], { usage }) : '') +
            'data: [DONE]\n\n'
          );
        }
        case 'error':
          // An error object and no [DONE]: OpenAI clients raise it, and the stream never looks complete.
          return sseFrame(JSON.stringify(openaiDialect.formatError(event)));
      }
    };
    return {
      write(event: ChatEvent): string {
        const written = frames(event);
        if (!roleDue || (written === '' && event.type !== 'finish' && event.type !== 'error')) return written;
        roleDue = false;
        return chunk([{ index: 0, delta: { role: 'assistant', content: event.type === 'tool_call' ? null : '' }, logprobs: null, finish_reason: null }]) + written;
      },
    };
  },

  createStreamReader(): StreamReader {
    let started = false;
    let answerId = '';
    let finish: FinishReason | undefined;
    let stopped: { stopSequence?: string } = {};
    let finished = false;
    // The model declined (a refusal in place of content): the finish is then content_filter (see parseResult).
    let refused = false;
    const toolCalls = createToolCallReader();
    const malformed = (events: ChatEvent[], message: string): { events: ChatEvent[]; done: boolean } => ({ events: [...events, { type: 'error', kind: 'api_error', message }], done: true });
    return {
      read(_event, data) {
        if (data === '[DONE]') {
          // An upstream that ignored include_usage still ended properly: finish with what is known.
          const events: ChatEvent[] = [];
          const problem = toolCalls.finish(events, answerId);
          if (problem !== undefined) return malformed(events, problem);
          if (finish !== undefined && !finished) events.push({ type: 'finish', finishReason: finish, ...stopped, usage: { inputTokens: 0, outputTokens: 0 } });
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
        if (!isRecord(json)) return malformed([], 'upstream sent a malformed stream chunk');
        const chunk = json as {
          id?: string;
          model?: string;
          error?: unknown;
          choices?: { delta?: { content?: string | null; refusal?: string | null; tool_calls?: unknown; reasoning_content?: unknown; reasoning?: unknown }; finish_reason?: string | null; stop_reason?: unknown; matched_stop?: unknown }[];
          usage?: { prompt_tokens?: unknown; completion_tokens?: unknown } | null;
        };
        // An error chunk in any shape a server sends (TGI's error is a string).
        if (chunk.error !== undefined) return { events: [{ type: 'error', kind: 'api_error', message: upstreamErrorDetail(chunk).message, fromUpstream: true }], done: true };
        const events: ChatEvent[] = [];
        if (!started) {
          started = true;
          answerId = chunk.id ?? '';
          events.push({ type: 'start', id: answerId, model: chunk.model ?? '', inputTokens: 0 });
        }
        const choice = chunk.choices?.[0];
        const reasoning = reasoningOf(choice?.delta);
        if (reasoning !== undefined) events.push({ type: 'reasoning', text: reasoning });
        const text = choice?.delta?.content;
        if (typeof text === 'string' && text !== '') events.push({ type: 'text', text });
        const refusal = choice?.delta?.refusal;
        if (typeof refusal === 'string' && refusal !== '') {
          refused = true;
          events.push({ type: 'text', text: refusal, refusal: true });
        }
        const calls = choice?.delta?.tool_calls;
        if (Array.isArray(calls)) {
          const problem = toolCalls.read(calls, events, answerId);
          if (problem !== undefined) return malformed(events, problem);
        }
        if (choice?.finish_reason) {
          // The calls are complete: each is announced before the finish.
          const problem = toolCalls.finish(events, answerId);
          if (problem !== undefined) return malformed(events, problem);
          stopped = refused ? {} : stopSequenceOf(choice);
          finish = refused ? 'content_filter' : finishWithCalls(finishFromOpenAI(choice.finish_reason), toolCalls.called(), stopped);
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

  formatError({ kind, message, param, code, limit, contextLimit }: ErrorReport): unknown {
    // OpenAI's own words first, which clients match.
    const said = contextLimit === undefined ? message : `${openaiContextWords(contextLimit)} (${message})`;
    return { error: { message: said, type: limit ?? kindToType[kind], param: param ?? null, code: code ?? kindToCode[kind] ?? null } };
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
