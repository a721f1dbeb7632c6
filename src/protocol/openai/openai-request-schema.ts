import { z } from 'zod';
import { maxGatewayStopSequences, maxStopSequenceChars, type DocumentSource, type ImageSource } from '../chat.js';
import { isQuotableName, noTools, otherApiField, readBlocks, unsupportedContent } from '../request-problem.js';
import { answerSchema } from '../answer-schema.js';
import { readPdf } from '../document-source.js';
import { readImageUrl } from '../image-source.js';
import { argumentsProblem, toolCallIdPattern, toolNamePattern, toolNameRule } from '../tool-use.js';

const stopSequence = z.string().max(maxStopSequenceChars, `a stop sequence is at most ${maxStopSequenceChars} characters`);

/** OpenAI's `stop`: one sequence or a list of them, of at most `most` when given. */
function stopField(most: number | undefined) {
  const list = most === undefined ? z.array(stopSequence) : z.array(stopSequence).max(most);
  return z.union([stopSequence, list], { error: `stop must be a string or an array of ${most === undefined ? '' : `at most ${String(most)} `}strings, each at most ${maxStopSequenceChars} characters` }).nullish();
}

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
        .string({ error: 'is required: the file as a data URL (data:application/pdf;base64,...); files uploaded to OpenAI (file_id) are not supported by Switchyard' })
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
  return z.custom<z.infer<T>>((value) => neutral.safeParse(value).success, { error: `not forwarded by Switchyard: ${what} (a model-server extension) would be ignored; ${advice}` }).nullish();
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
    .extend({ continuous_usage_stats: z.literal(false, { error: 'not forwarded by Switchyard: usage on every chunk (a model-server extension) would be ignored; usage comes in the last chunk with include_usage' }).nullish() })
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
  // as a prefill (with continue_final_message: true); checked against it in readOpenaiRequest.
  add_generation_prompt: z.boolean().nullish(),
};

/** Fields of Anthropic's Messages API and OpenAI's Responses API that callers send here by mistake. */
const otherApiFields = {
  system: otherApiField('system is a field of the Anthropic Messages API (POST /v1/messages): here, send the system prompt as the first message, with role "system"'),
  stop_sequences: otherApiField('stop_sequences is a field of the Anthropic Messages API (POST /v1/messages): here, send stop'),
  // OpenAI-compatible APIs that read it (Anthropic's compatibility layer, GLM, Ark) take {type: 'disabled'}, which asks for none.
  thinking: z.looseObject({ type: z.literal('disabled', { error: 'extended thinking is asked for with the Anthropic Messages API (POST /v1/messages), and Chat Completions shows none: here thinking can only be {"type": "disabled"}' }) }).nullish(),
  instructions: otherApiField('instructions is a field of the OpenAI Responses API, which Switchyard does not serve: send the instructions as the first message, with role "system"'),
  // Where inference may run: dropped, the request could be served outside the jurisdiction asked for.
  inference_geo: otherApiField('inference_geo is a field of the Anthropic Messages API (POST /v1/messages): here, send the x-switchyard-jurisdiction header to narrow where the request may run'),
  output_config: otherApiField('output_config is a field of the Anthropic Messages API (POST /v1/messages): here, send response_format, {"type": "json_schema", "json_schema": {"name": "...", "schema": {...}}}'),
  output_format: otherApiField('output_format is a field of the Anthropic Messages API (POST /v1/messages): here, send response_format, {"type": "json_schema", "json_schema": {"name": "...", "schema": {...}}}'),
  text: otherApiField('text is a field of the OpenAI Responses API, which Switchyard does not serve: send response_format for the format of the answer'),
  max_output_tokens: otherApiField('max_output_tokens is a field of the OpenAI Responses API, which Switchyard does not serve: send max_completion_tokens (or max_tokens)'),
  // An empty list asks for none, as on POST /v1/messages.
  mcp_servers: noTools('mcp_servers is a field of the Anthropic Messages API, and MCP servers (tools) are not supported by Switchyard yet').nullish(),
};

/** Why a tool or tool call of another type than 'function' is refused, naming the type when it is a plain name. */
function onlyFunctions(what: 'tools' | 'tool calls' | 'tool choices'): (issue: { readonly input?: unknown }) => string {
  return ({ input }) => {
    // A tool without a type is most often one in the Anthropic Messages form.
    if (input === undefined) return what === 'tools' ? `is required: 'function' (a tool here is {"type": "function", "function": {"name": ..., "parameters": {...}}}; {"name": ..., "input_schema": ...} is the Anthropic Messages form, for POST /v1/messages)` : `is required: 'function'`;
    // Anthropic's name for OpenAI's "required".
    if (what === 'tool choices' && input === 'any') return `'any' is the Anthropic Messages API's tool choice: here, send 'required'`;
    const named = typeof input === 'string' && isQuotableName(input) ? `'${input}' ${what} are` : `${what} of that type are`;
    return `${named} not supported by Switchyard: only 'function' ${what}`;
  };
}

const toolName = z.string().regex(toolNamePattern, `a tool name is ${toolNameRule}`);

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
    // A schema in JSON mode is how Fireworks, Together and Instructor's JSON_SCHEMA mode ask for one
    // (not OpenAI's own form): read as json_schema, never dropped for any JSON object.
    z.looseObject({ type: z.literal('json_object'), schema: answerSchema.nullish() }),
    z.looseObject({
      type: z.literal('json_schema'),
      json_schema: z.looseObject({
        name: z.string().regex(toolNamePattern, `a response format's name is ${toolNameRule}`),
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
  if (input === 'any') return `${forms}: 'any' is the Anthropic Messages API's tool choice: here, send 'required'`;
  if (typeof input !== 'object' || input === null || Array.isArray(input)) return forms;
  const type = (input as { readonly type?: unknown }).type;
  if (type === 'function') return `${forms}: a function tool choice names the tool in function.name`;
  if (type === 'auto' || type === 'none' || type === 'required') return `${forms}: '${type}' is sent as the string itself, not as an object`;
  if (type === 'tool') return `${forms}: {"type": "tool", "name": ...} is the Anthropic Messages API's form: here, send {"type": "function", "function": {"name": ...}}`;
  if (type === 'allowed_tools') return 'allowed_tools tool choices are not supported by Switchyard yet: send only the allowed tools, with tool_choice \'auto\' or \'required\'';
  return type === undefined ? forms : `${forms}: ${onlyFunctions('tool choices')({ input: type })}`;
}

const toolChoiceSchema = z.union([z.enum(['none', 'auto', 'required']), z.looseObject({ type: z.literal('function'), function: z.looseObject({ name: z.string() }) })], { error: toolChoiceProblem });

/** Which tool call ids a server takes back, and its words for the others. */
interface CallIdRule {
  readonly takes: (id: string) => boolean;
  readonly message: string;
}

/** The gateway's: what both APIs take (an id may go on to an Anthropic-dialect upstream). */
const gatewayCallIds: CallIdRule = { takes: (id) => toolCallIdPattern.test(id), message: "a tool call id is 1 to 256 letters, digits, '_' or '-'" };

/** A model server's (the emulator's), as vLLM's: any string, as Kimi's 'functions.get_weather:0' comes back to it. */
const serverCallIds: CallIdRule = { takes: () => true, message: 'a tool call id is a string' };

/** An earlier answer's call of a tool, sent back with the conversation. */
const messageToolCall = (ids: CallIdRule) => z.looseObject({
  id: z.string().refine(ids.takes, ids.message),
  // Left out by some clients; OpenAI's only other kind (custom tools) is refused with its tools.
  type: z.literal('function', { error: onlyFunctions('tool calls') }).optional(),
  function: z.looseObject({ name: toolName, arguments: z.string().check((context) => {
      const problem = argumentsProblem(context.value);
      if (problem !== undefined) context.issues.push({ code: 'custom', input: context.value, message: problem });
    }) }),
});

function roleProblem({ input }: { readonly input?: unknown }): string {
  if (input === 'function') return "function messages are legacy function calling, which Switchyard does not support: send tool messages (role 'tool', with tool_call_id) instead";
  return "role must be 'system', 'developer', 'user', 'assistant' or 'tool'";
}

const messageSchema = (ids: CallIdRule) => z
  .looseObject({
    role: z.enum(['system', 'developer', 'user', 'assistant', 'tool'], { error: roleProblem }),
    // Checked before content, which tool calls may leave null.
    tool_calls: z.array(messageToolCall(ids)).nullish(),
    // An earlier answer's legacy function call or audio, refused rather than dropped: without them
    // the turn reads as something else.
    function_call: z.null({ error: 'function calls in messages are legacy function calling, which Switchyard does not support: send tool_calls instead' }).optional(),
    audio: z.null({ error: "audio in messages is not supported by Switchyard: send the assistant's earlier answer as text in content" }).optional(),
    content: content.nullish(),
    // An earlier answer's refusal, as the gateway writes it (content null): what the model said.
    refusal: z.string().nullish(),
    // As OpenAI checks it (an empty one is taken as none).
    name: z
      .string()
      .refine((name) => name === '' || toolNamePattern.test(name), `a participant's name is ${toolNameRule} (OpenAI's rule): write 'Alice_Smith', not 'Alice Smith'`)
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
      else if (typeof id !== 'string' || !ids.takes(id)) context.addIssue({ code: 'custom', path: ['tool_call_id'], message: ids.message });
    }
  });

/** What a model server (the emulator, as vLLM) accepts from OpenAI Chat Completions clients; unknown fields pass (SDKs send many). The gateway's schema, below, narrows it. */
export const openaiRequestSchema = z.looseObject({
  model: z.string().min(1),
  messages: z.array(messageSchema(serverCallIds)).min(1),
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
  // Any number, as vLLM takes them; the gateway's schema holds them to OpenAI's 4.
  stop: stopField(undefined),
  stream: z.boolean().nullish(),
  stream_options: streamOptions.nullish(),
  // vLLM's extension: continue a trailing assistant message (a prefill) rather than answer after it.
  continue_final_message: z.boolean().nullish(),
  user: z.string().max(256, 'user is at most 256 characters: an opaque id of your end user').nullish(),
  // OpenAI's successor to `user` for the same purpose; it wins when both are sent.
  safety_identifier: z.string().max(128, 'safety_identifier is at most 128 characters: an opaque id of your end user, such as a hash of their email').nullish(),
  web_search_options: z.null({ error: 'web search is not supported by Switchyard' }).optional(),
  // A moderation policy may block an input or an answer: ignoring it would serve what it blocks.
  moderation: z.null({ error: 'moderated completions (moderation) are not supported by Switchyard' }).optional(),
  n: z.literal(1, { error: 'n must be 1: one choice per request is served (send n requests for n choices)' }).nullish(),
  response_format: responseFormatSchema.nullish(),
  // Carried: it changes how long and how deep a reasoning model's answer is.
  reasoning_effort: z.enum(['none', 'minimal', 'low', 'medium', 'high', 'xhigh']).nullish(),
  // Refused rather than silently ignored: a caller relying on them would get something else.
  logprobs: z.literal(false, { error: 'logprobs are not supported by Switchyard' }).nullish(),
  // 0 asks for none, as clients send by default.
  top_logprobs: z.union([z.null(), z.literal(0)], { error: 'top_logprobs are not supported by Switchyard' }).optional(),
  modalities: z.array(z.literal('text', { error: "modalities: only 'text' output is supported by Switchyard" })).nullish(),
  audio: z.null({ error: 'audio output is not supported by Switchyard' }).optional(),
  // null or an empty list offers no tools, as leaving the field out does.
  tools: z.array(toolDefinition).nullish(),
  tool_choice: toolChoiceSchema.nullish(),
  parallel_tool_calls: z.boolean().nullish(),
  // OpenAI's legacy function calling: refused, pointing at its successor (null, [] and 'none' ask for nothing).
  functions: noTools('functions are legacy function calling, which Switchyard does not support: send tools instead').nullish(),
  function_call: z.literal('none', { error: 'function_call is legacy function calling, which Switchyard does not support: send tool_choice instead' }).nullish(),
});

/** vLLM's length controls, as a model server (the emulator) reads them; the gateway's schema refuses them. */
export const serverLengthSchema = z.looseObject({
  ignore_eos: z.boolean().nullish(),
  min_tokens: z.number().int().min(0).nullish(),
});

/** As the gateway reads a request: what it cannot carry to an upstream is refused, not dropped. */
export const openaiGatewayRequestSchema = openaiRequestSchema.extend({
  messages: z.array(messageSchema(gatewayCallIds)).min(1),
  stop: stopField(maxGatewayStopSequences),
  ...serverExtensions,
  ...otherApiFields,
});

/** A request as the schema reads it, and its parts, for the readers that make it canonical. */
export type OpenaiRequest = z.infer<typeof openaiRequestSchema>;
export type OpenaiMessage = z.infer<ReturnType<typeof messageSchema>>;
export type OpenaiContent = z.infer<typeof content>;
export type OpenaiContentPart = ContentPartInput;
export type OpenaiToolDefinition = z.infer<typeof toolDefinition>;
export type OpenaiToolChoice = z.infer<typeof toolChoiceSchema>;
export type OpenaiResponseFormat = z.infer<typeof responseFormatSchema>;
