import { z } from 'zod';
import { defaultMaxOutputTokens, defaultResponseFormatName, minThinkingBudget, hasVisibleText, maxStopSequenceChars, saysSomething, tokenCount, upstreamErrorDetail, type ChatEvent, type ChatMessage, type ChatRequest, type ChatResult, type ContentPart, type ErrorKind, type ErrorReport, type FinishReason, type CacheBreakpoint, type ContextLimit, type Parsed, type RateLimitName, type RateLimitState, type RateLimitWindow, type ThinkingBlock, type ThinkingRequest, type ToolCall, type ToolChoice, type ToolDefinition } from './chat.js';
import type { Dialect, EncodeOptions, StreamReader, StreamWriter, TokenCounting } from './dialect.js';
import { invalidRequest, isQuotableName, malformedAnswer, noTools, otherApiField, readBlocks, unsupportedContent } from './request-problem.js';
import { answerSchema } from './answer-schema.js';
import { readPdf } from './document-source.js';
import { readBase64Image, readWebImage } from './image-source.js';
import { maxJsonDepth, tooDeepProblem } from './json-depth.js';
import { anthropicSchema } from './json-schema-limits.js';
import { idPattern } from '../domain/id-pattern.js';
import { sseFrame } from './sse.js';
import { jsonObjectOf, toolCallIdPattern, toolNamePattern, toolUseIssue } from './tool-use.js';

/** A prompt-cache breakpoint, carried back to Anthropic-dialect upstreams (see ChatMessage.cache). */
const cacheControl = z.looseObject({ type: z.literal('ephemeral', { error: "cache_control.type must be 'ephemeral'" }), ttl: z.enum(['5m', '1h']).optional() }).nullish();
const textBlock = z.looseObject({ type: z.literal('text'), text: z.string(), cache_control: cacheControl });
const systemProblem = unsupportedContent('block', 'system');
// Blocks read one by one, so a bad field of one (its cache_control) is named at its own path.
const systemContent = z.union([z.string(), z.array(z.unknown())], { error: systemProblem }).transform((value, context) => readBlocks(value, context, ['text'], textBlock, systemProblem));
// Blocks are read one by one after the schema (see readConversation): a union of block types
// would report any bad block as the whole content being of the wrong shape.
const messageContent = z.union([z.string(), z.array(z.unknown())], { error: unsupportedContent('block', 'content', ['text', 'image', 'document']) });

const toolNameRule = "a tool name is 1 to 64 letters, digits, '_' or '-'";
const toolCallIdRule = "a tool call id is 1 to 256 letters, digits, '_' or '-'";

/** An image in a user turn: the image itself (base64) or a URL the upstream fetches. */
const imageBlock = z.looseObject({
  type: z.literal('image'),
  cache_control: cacheControl,
  source: z.discriminatedUnion(
    'type',
    [
      z.looseObject({ type: z.literal('base64'), media_type: z.string(), data: z.string() }),
      z.looseObject({ type: z.literal('url'), url: z.string().regex(/^https?:\/\//i, 'url must be an http(s) URL') }),
    ],
    { error: "an image's source is {\"type\": \"base64\", \"media_type\": ..., \"data\": ...} or {\"type\": \"url\", \"url\": ...} (files uploaded to Anthropic are not supported by this gateway)" },
  ),
});

/** A document shown to the model: a PDF (base64) or plain text. Citations would change the answer's form, which the gateway cannot carry. */
const documentBlock = z.looseObject({
  type: z.literal('document'),
  cache_control: cacheControl,
  source: z.discriminatedUnion(
    'type',
    [
      z.looseObject({ type: z.literal('base64'), media_type: z.string(), data: z.string() }),
      z.looseObject({ type: z.literal('text'), media_type: z.literal('text/plain', { error: "a text document's media_type is 'text/plain'" }).optional(), data: z.string() }),
    ],
    { error: 'a document\'s source is {"type": "base64", "media_type": "application/pdf", "data": ...} or {"type": "text", "media_type": "text/plain", "data": ...} (URL, content and file sources are not supported by this gateway)' },
  ),
  title: z.string().nullish(),
  context: z.string().nullish(),
  citations: z.looseObject({ enabled: z.boolean().optional() }).nullish().refine((citations) => citations?.enabled !== true, { error: 'citations are not supported by this gateway: they change the form of the answer, which it cannot carry to every upstream' }),
});

/** A call the model made, sent back in an assistant turn. */
const toolUseBlock = z.looseObject({
  type: z.literal('tool_use'),
  id: z.string().regex(toolCallIdPattern, toolCallIdRule),
  name: z.string().regex(toolNamePattern, toolNameRule),
  input: z.record(z.string(), z.unknown(), { error: 'must be an object: the arguments the tool was called with' }),
  cache_control: cacheControl,
});

/** The model's thinking in an earlier answer, sent back as it came (its signature is checked upstream). */
const thinkingBlock = z.discriminatedUnion('type', [
  z.looseObject({ type: z.literal('thinking'), thinking: z.string(), signature: z.string() }),
  z.looseObject({ type: z.literal('redacted_thinking'), data: z.string() }),
]);

// Passed on as sent: Anthropic adds values (betas), and the gateway reads only 'summarized'.
const thinkingDisplay = z.string().nullish();

/** Extended thinking: a budget of tokens below max_tokens, as the model judges (adaptive), or none. */
const thinkingConfig = z.discriminatedUnion(
  'type',
  [
    z.looseObject({ type: z.literal('enabled'), budget_tokens: z.number().int().min(minThinkingBudget, `budget_tokens must be at least ${String(minThinkingBudget)}`), display: thinkingDisplay }),
    z.looseObject({ type: z.literal('adaptive'), display: thinkingDisplay }),
    z.looseObject({ type: z.literal('disabled') }),
  ],
  { error: 'thinking is {"type": "enabled", "budget_tokens": N}, {"type": "adaptive"} or {"type": "disabled"}' },
);

/** A tool's answer to a call, in a user turn. */
const toolResultBlock = z.looseObject({
  type: z.literal('tool_result'),
  tool_use_id: z.string().regex(toolCallIdPattern, toolCallIdRule),
  // Blocks are read one by one after the schema (see readToolResult): text, images and documents, as a tool returns them.
  content: z.union([z.string(), z.array(z.unknown())], { error: unsupportedContent('block', 'content', ['text', 'image', 'document']) }).optional(),
  is_error: z.boolean().optional(),
  cache_control: cacheControl,
});

/** The caller's own tool (a "custom" tool); any other `type` is a server tool Anthropic runs itself. */
const toolSchema = z.looseObject({
  // First, so that a server tool (which has no input_schema) is named as one. The SDK's Tool
  // allows `type: null`, which is a custom tool as an absent type is.
  type: z.literal('custom', { error: serverToolRefusal }).nullish(),
  name: z.string().regex(toolNamePattern, toolNameRule),
  description: z.string().optional(),
  input_schema: z.record(z.string(), z.unknown(), { error: 'is required: a JSON Schema object of the tool\'s input' }).refine((schema) => schema.type === undefined || schema.type === 'object', { error: "a tool's input is an object: input_schema.type must be 'object'", path: ['type'] }),
  // Carried to the upstream, and routed only to endpoints that constrain output (structuredOutputs).
  strict: z.boolean().nullish(),
  cache_control: cacheControl,
  // eager_input_streaming (fine-grained tool streaming) passes unforwarded: a streaming hint that does not change the answer.
});

/** The form of the answer: JSON matching a schema (structured output). */
const outputFormat = z.looseObject({ type: z.literal('json_schema', { error: "the output format's type must be 'json_schema'" }), schema: answerSchema });

const toolChoiceSchema = z
  .looseObject({
    type: z.enum(['auto', 'any', 'tool', 'none']),
    name: z.string().optional(),
    disable_parallel_tool_use: z.boolean().optional(),
  })
  .superRefine((choice, context) => {
    if (choice.type === 'tool' && choice.name === undefined) context.addIssue({ code: 'custom', path: ['name'], message: "is required with type 'tool': the name of the tool to call" });
  });

/** Server tools run at Anthropic (web search, code execution, bash, text editor, computer use): no other upstream has them. */
function serverToolRefusal(issue: { readonly input?: unknown }): string {
  const named = typeof issue.input === 'string' && isQuotableName(issue.input) ? ` ('${issue.input}')` : '';
  return `server tools${named} are not supported by this gateway: offer your own tools, each with a name and an input_schema`;
}

/** What the gateway accepts from Anthropic Messages clients; unknown fields pass. */
const requestSchema = z.looseObject({
  model: z.string().min(1),
  max_tokens: z.number().int().positive(),
  // System messages among the turns are in the SDK's MessageParam (1.x): kept in place, like OpenAI's.
  messages: z.array(z.looseObject({ role: z.enum(['user', 'assistant', 'system']), content: messageContent })).min(1),
  system: systemContent.optional(),
  temperature: z.number().min(0).max(1).optional(),
  top_p: z.number().min(0).max(1).optional(),
  top_k: z.number().int().min(0).optional(),
  // The same answer whichever upstream serves it: OpenAI-dialect upstreams take at most 4.
  stop_sequences: z.array(z.string().max(maxStopSequenceChars, `a stop sequence is at most ${maxStopSequenceChars} characters`)).max(4, 'at most 4 stop_sequences: answers may be served by OpenAI-compatible upstreams, which take 4').optional(),
  stream: z.boolean().optional(),
  // An empty list asks for no tools, as leaving the field out does.
  tools: z.array(toolSchema).optional(),
  tool_choice: toolChoiceSchema.optional(),
  mcp_servers: noTools('MCP servers (tools) are not supported by this gateway yet').optional(),
  output_config: z.looseObject({ format: outputFormat.nullish(), effort: z.enum(['low', 'medium', 'high', 'xhigh', 'max']).nullish() }).optional(),
  // The structured-outputs beta's name for output_config.format, which older SDKs send.
  output_format: outputFormat.nullish(),
  metadata: z.looseObject({ user_id: z.string().max(256, 'metadata.user_id is at most 256 characters: an opaque id of your end user').nullish() }).nullish(),
  thinking: thinkingConfig.optional(),
  // Data residency: honoured as a jurisdiction, never dropped (see ChatRequest.geography).
  inference_geo: z.string().max(64).regex(idPattern, "expected one jurisdiction name, such as 'us' or 'eu.fr', or 'global' for any").nullish(),
  // OpenAI Chat Completions fields that callers send here by mistake: the Messages API refuses them
  // ("Extra inputs are not permitted"), and dropping them would change the answer.
  stop: otherApiField('stop is a field of the OpenAI Chat Completions API (POST /v1/chat/completions): here, send stop_sequences'),
  max_completion_tokens: otherApiField('max_completion_tokens is a field of the OpenAI Chat Completions API: here, send max_tokens'),
  response_format: otherApiField('response_format is a field of the OpenAI Chat Completions API: here, send output_config.format, {"type": "json_schema", "schema": ...}'),
  n: otherApiField('n is a field of the OpenAI Chat Completions API: the Messages API returns one answer per request'),
  seed: otherApiField('seed is a field of the OpenAI Chat Completions API, not of the Messages API: remove it'),
  logprobs: otherApiField('logprobs is a field of the OpenAI Chat Completions API, and logprobs are not supported by this gateway'),
  top_logprobs: otherApiField('top_logprobs is a field of the OpenAI Chat Completions API, and logprobs are not supported by this gateway'),
  logit_bias: otherApiField('logit_bias is a field of the OpenAI Chat Completions API, not of the Messages API: remove it'),
  frequency_penalty: otherApiField('frequency_penalty is a field of the OpenAI Chat Completions API, not of the Messages API: remove it'),
  presence_penalty: otherApiField('presence_penalty is a field of the OpenAI Chat Completions API, not of the Messages API: remove it'),
  user: otherApiField('user is a field of the OpenAI Chat Completions API: here, send metadata.user_id'),
  functions: otherApiField('functions is a field of the OpenAI Chat Completions API: here, send tools, each with a name and an input_schema'),
  function_call: otherApiField('function_call is a field of the OpenAI Chat Completions API: here, send tool_choice'),
  modalities: otherApiField('modalities is a field of the OpenAI Chat Completions API, and only text output is supported'),
  audio: otherApiField('audio is a field of the OpenAI Chat Completions API, and only text output is supported'),
});

/** A token count's request: a chat request without an answer's budget (other answer settings pass, unread). */
const countRequestSchema = requestSchema.extend({ max_tokens: z.number().int().positive().optional() });

/** An upstream's token count. */
const countResultSchema = z.looseObject({ input_tokens: z.number().int().nonnegative() });

/** An upstream's complete answer (built once: zod compiles each schema on first use). */
const resultSchema = z.looseObject({
  id: z.string(),
  model: z.string(),
  content: z.array(
    z
      .looseObject({ type: z.string(), text: z.string().optional(), id: z.unknown().optional(), name: z.unknown().optional(), input: z.unknown().optional(), thinking: z.unknown().optional(), signature: z.unknown().optional(), data: z.unknown().optional() })
      .refine((block) => block.type !== 'tool_use' || (typeof block.id === 'string' && typeof block.name === 'string' && isPlainObject(block.input)), 'a tool_use block needs an id, a name and an input object')
      .refine((block) => block.type !== 'thinking' || (typeof block.thinking === 'string' && typeof block.signature === 'string'), 'a thinking block needs its thinking and signature')
      .refine((block) => block.type !== 'redacted_thinking' || typeof block.data === 'string', 'a redacted_thinking block needs its data'),
  ),
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

const stopReason: Readonly<Record<FinishReason, string>> = { stop: 'end_turn', length: 'max_tokens', content_filter: 'refusal', context_window: 'model_context_window_exceeded', tool_calls: 'tool_use' };

/** A stop_reason read from an upstream; pause_turn needs server tools, which are never requested. */
function finishFromAnthropic(reason: string | null | undefined): FinishReason {
  switch (reason) {
    case 'tool_use':
      return 'tool_calls';
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

/** A finish of 'tool_calls' with no call is 'stop': the answer ended, and there is nothing to run. */
function finishWithCalls(finish: FinishReason, hasCalls: boolean): FinishReason {
  return finish === 'tool_calls' && !hasCalls ? 'stop' : finish;
}

/** `stop_reason` and `stop_sequence`: a matched stop sequence is named; OpenAI upstreams never say which. */
function stopFields(finish: { readonly finishReason: FinishReason; readonly stopSequence?: string }): { stop_reason: string; stop_sequence: string | null } {
  return finish.stopSequence === undefined ? { stop_reason: stopReason[finish.finishReason], stop_sequence: null } : { stop_reason: 'stop_sequence', stop_sequence: finish.stopSequence };
}

function geographyOf(value: string | null | undefined): { geography?: string } {
  const geography = value?.toLowerCase();
  return geography === undefined || geography === 'global' ? {} : { geography };
}

function textOf(value: string | readonly { readonly text: string }[]): string {
  // Blocks are joined as the system prompts of an OpenAI request are: one per line.
  return typeof value === 'string' ? value : value.map((block) => block.text).join('\n');
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function refusal(param: string, text: string): Parsed<never> {
  return { ok: false, problem: { status: 400, kind: 'invalid_request', message: `${param}: ${text}`, param } };
}

/** A block schema's refusal, named by its place in the request. */
function blockRefusal(error: z.ZodError, path: readonly (string | number)[]): Parsed<never> {
  return invalidRequest(new z.ZodError(error.issues.map((issue) => ({ ...issue, path: [...path, ...issue.path] }))));
}

/** Canonical messages, each with the request path it came from (`system`, `messages.I`), to name it in refusals. */
interface Conversation {
  readonly messages: ChatMessage[];
  readonly paths: string[];
}

type Turn = z.infer<typeof countRequestSchema>['messages'][number];

/**
 * A caller's turns as canonical messages. A user turn's tool_result blocks become 'tool' messages,
 * in order, then its text (if it has any text block) one user message; an assistant turn is one
 * message, its text then its calls. Refused as the Messages API refuses them: a tool block in the
 * wrong role's turn, text before a tool result, a turn that says nothing (but a final assistant one).
 */
function readConversation(system: z.infer<typeof systemContent> | undefined, turns: readonly Turn[]): Parsed<Conversation> {
  const messages: ChatMessage[] = systemMessages(system);
  const paths: string[] = messages.map(() => 'system');
  for (const [index, turn] of turns.entries()) {
    const path = `messages.${String(index)}`;
    const texts: string[] = [];
    // The turn's text and images in order, kept when it holds an image.
    const parts: ContentPart[] = [];
    const calls: ToolCall[] = [];
    const thinking: ThinkingBlock[] = [];
    const results: ChatMessage[] = [];
    // A cache breakpoint on any of the turn's own blocks: kept at the end of its message.
    let cache: CacheBreakpoint | undefined;
    const blocks = typeof turn.content === 'string' ? [{ type: 'text', text: turn.content }] : turn.content;
    for (const [blockIndex, block] of blocks.entries()) {
      const type = isPlainObject(block) ? block.type : undefined;
      if (type === 'tool_use' || type === 'tool_result') {
        const role = type === 'tool_use' ? 'assistant' : 'user';
        if (turn.role !== role) return refusal(`${path}.content.${String(blockIndex)}`, type === 'tool_use' ? 'tool_use blocks are calls the model made: they belong in assistant turns' : 'tool_result blocks answer the tool calls of the assistant turn before: they belong in user turns');
      }
      if (type === 'thinking' || type === 'redacted_thinking') {
        if (turn.role !== 'assistant') return refusal(`${path}.content.${String(blockIndex)}`, `${type} blocks are the model's own: they belong in assistant turns`);
        const parsed = thinkingBlock.safeParse(block);
        if (!parsed.success) return blockRefusal(parsed.error, ['messages', index, 'content', blockIndex]);
        thinking.push(parsed.data.type === 'thinking' ? { type: 'thinking', thinking: parsed.data.thinking, signature: parsed.data.signature } : { type: 'redacted_thinking', data: parsed.data.data });
      } else if (type === 'tool_use') {
        const parsed = toolUseBlock.safeParse(block);
        if (!parsed.success) return blockRefusal(parsed.error, ['messages', index, 'content', blockIndex]);
        calls.push({ id: parsed.data.id, name: parsed.data.name, arguments: JSON.stringify(parsed.data.input) });
        cache = cacheOf(parsed.data.cache_control) ?? cache;
      } else if (type === 'image') {
        if (turn.role !== 'user') return refusal(`${path}.content.${String(blockIndex)}`, 'image blocks are what the user shows the model: they belong in user turns');
        const parsed = imageBlock.safeParse(block);
        if (!parsed.success) return blockRefusal(parsed.error, ['messages', index, 'content', blockIndex]);
        const source = parsed.data.source;
        const reading = source.type === 'url' ? readWebImage(source.url) : readBase64Image(source.media_type, source.data);
        if (!reading.ok) return refusal(`${path}.content.${String(blockIndex)}.source`, reading.problem);
        parts.push({ type: 'image', source: reading.source });
        cache = cacheOf(parsed.data.cache_control) ?? cache;
      } else if (type === 'document') {
        if (turn.role !== 'user') return refusal(`${path}.content.${String(blockIndex)}`, 'document blocks are what the user shows the model: they belong in user turns');
        const read = readDocument(block, ['messages', index, 'content', blockIndex]);
        if (!read.ok) return read;
        parts.push(read.value.part);
        cache = read.value.cache ?? cache;
      } else if (type === 'tool_result') {
        // Anthropic: "Messages following tool_use blocks must begin with ... tool_result blocks".
        if (parts.length > 0) return refusal(`${path}.content.${String(blockIndex)}`, "tool_result blocks come first in a user turn, before any text, as the Messages API requires");
        const parsed = toolResultBlock.safeParse(block);
        if (!parsed.success) return blockRefusal(parsed.error, ['messages', index, 'content', blockIndex]);
        const read = readToolResult(parsed.data, ['messages', index, 'content', blockIndex]);
        if (!read.ok) return read;
        results.push(read.value);
      } else {
        const parsed = textBlock.safeParse(block);
        // A text block's bad field is named at its path; documents, thinking...: refused, naming the block's type.
        if (!parsed.success && type === 'text') return blockRefusal(parsed.error, ['messages', index, 'content', blockIndex]);
        if (!parsed.success) return refusal(`${path}.content`, unsupportedContent('block', 'content', ['text', 'image', 'document'])({ input: [block] }));
        texts.push(parsed.data.text);
        parts.push({ type: 'text', text: parsed.data.text });
        cache = cacheOf(parsed.data.cache_control) ?? cache;
      }
    }
    const text = texts.join('\n');
    // Refused as the Messages API refuses it: the encoder would drop such a turn, and the turn
    // before it (a prefill, an earlier question) would become the one answered.
    const finalAssistant = index === turns.length - 1 && turn.role === 'assistant';
    // Images and documents: the turn's parts are kept.
    const images = parts.some((part) => part.type !== 'text');
    if (!finalAssistant && calls.length === 0 && results.length === 0 && thinking.length === 0 && !hasVisibleText(text) && !images) {
      return refusal(`${path}.content`, 'all messages must have non-empty content except for the optional final assistant message');
    }
    for (const result of results) {
      messages.push(result);
      paths.push(path);
    }
    if (results.length === 0 || parts.length > 0) {
      messages.push({ role: turn.role, content: text, ...(calls.length === 0 ? {} : { toolCalls: calls }), ...(images ? { parts } : {}), ...(cache === undefined ? {} : { cache }), ...(thinking.length === 0 ? {} : { thinking }) });
      paths.push(path);
    }
  }
  return { ok: true, value: { messages, paths } };
}

/** A document block as a canonical part, with its cache breakpoint; refused naming its place. */
function readDocument(block: unknown, path: readonly (string | number)[]): Parsed<{ readonly part: ContentPart; readonly cache: CacheBreakpoint | undefined }> {
  const parsed = documentBlock.safeParse(block);
  if (!parsed.success) return blockRefusal(parsed.error, path);
  const { source, title, context } = parsed.data;
  const described = { ...(title === undefined || title === null ? {} : { title }), ...(context === undefined || context === null ? {} : { context }) };
  const cache = cacheOf(parsed.data.cache_control);
  if (source.type === 'text') return { ok: true, value: { part: { type: 'document', source: { type: 'text', text: source.data }, ...described }, cache } };
  const reading = readPdf(source.media_type, source.data);
  if (!reading.ok) return refusal(`${path.join('.')}.source`, reading.problem);
  return { ok: true, value: { part: { type: 'document', source: reading.source, ...described }, cache } };
}

/**
 * A tool_result block as a canonical 'tool' message: its text joined (one block per line), and its
 * text, images and documents in order as parts when it returned an image or a document (a
 * screenshot, a PDF read). A breakpoint on a block of its content is kept on the result.
 */
function readToolResult(result: z.infer<typeof toolResultBlock>, path: readonly (string | number)[]): Parsed<ChatMessage> {
  const texts: string[] = [];
  const parts: ContentPart[] = [];
  let cache = cacheOf(result.cache_control);
  const blocks = result.content === undefined ? [] : typeof result.content === 'string' ? [{ type: 'text', text: result.content }] : result.content;
  for (const [blockIndex, block] of blocks.entries()) {
    const type = isPlainObject(block) ? block.type : undefined;
    if (type === 'image') {
      const parsed = imageBlock.safeParse(block);
      if (!parsed.success) return blockRefusal(parsed.error, [...path, 'content', blockIndex]);
      const source = parsed.data.source;
      const reading = source.type === 'url' ? readWebImage(source.url) : readBase64Image(source.media_type, source.data);
      if (!reading.ok) return refusal(`${path.join('.')}.content.${String(blockIndex)}.source`, reading.problem);
      parts.push({ type: 'image', source: reading.source });
      cache = cacheOf(parsed.data.cache_control) ?? cache;
      continue;
    }
    if (type === 'document') {
      const read = readDocument(block, [...path, 'content', blockIndex]);
      if (!read.ok) return read;
      parts.push(read.value.part);
      cache = read.value.cache ?? cache;
      continue;
    }
    const parsed = textBlock.safeParse(block);
    if (!parsed.success && type === 'text') return blockRefusal(parsed.error, [...path, 'content', blockIndex]);
    if (!parsed.success) return refusal(`${path.join('.')}.content`, unsupportedContent('block', 'content', ['text', 'image', 'document'])({ input: [block] }));
    texts.push(parsed.data.text);
    parts.push({ type: 'text', text: parsed.data.text });
    cache = cacheOf(parsed.data.cache_control) ?? cache;
  }
  const images = parts.some((part) => part.type !== 'text');
  return { ok: true, value: { role: 'tool', content: texts.join('\n'), toolCallId: result.tool_use_id, ...(images ? { parts } : {}), ...(result.is_error === true ? { isError: true } : {}), ...(cache === undefined ? {} : { cache }) } };
}

/**
 * The system prompt as canonical system messages: one, its blocks joined, unless a block carries a
 * cache breakpoint, when each block is its own message (so the breakpoint stays where it was). An
 * empty system prompt is no system prompt, whichever dialect the upstream speaks.
 */
function systemMessages(system: z.infer<typeof systemContent> | undefined): ChatMessage[] {
  if (system === undefined) return [];
  if (typeof system !== 'string' && system.some((block) => cacheOf(block.cache_control) !== undefined)) {
    return system.map((block) => {
      const cache = cacheOf(block.cache_control);
      return { role: 'system', content: block.text, ...(cache === undefined ? {} : { cache }) };
    });
  }
  const text = textOf(system);
  return text === '' ? [] : [{ role: 'system', content: text }];
}

function cacheOf(control: z.infer<typeof cacheControl>): CacheBreakpoint | undefined {
  if (control === undefined || control === null) return undefined;
  return control.ttl === undefined ? {} : { ttl: control.ttl };
}

function wireCache(cache: CacheBreakpoint): { type: 'ephemeral'; ttl?: '5m' | '1h' } {
  return { type: 'ephemeral', ...(cache.ttl === undefined ? {} : { ttl: cache.ttl }) };
}

/** Blocks with a cache breakpoint on the last one, when there is one to set. */
function withCache(blocks: AnthropicBlock[], cache: CacheBreakpoint | undefined): AnthropicBlock[] {
  const last = blocks.at(-1);
  if (cache === undefined || last === undefined) return blocks;
  return [...blocks.slice(0, -1), { ...last, cache_control: wireCache(cache) }];
}

/** The request with no thinking blocks in its history (see EncodeOptions.withoutThinking). */
function withoutThinkingBlocks(request: ChatRequest): ChatRequest {
  if (!request.messages.some((message) => message.thinking !== undefined)) return request;
  return { ...request, messages: request.messages.map(({ thinking: _thinking, ...message }) => message) };
}

/** Extended thinking as asked for; disabled is none. */
function thinkingOf(config: z.infer<typeof thinkingConfig> | undefined): { thinking?: ThinkingRequest } {
  if (config === undefined || config.type === 'disabled') return {};
  const display = config.display === undefined || config.display === null ? {} : { display: config.display };
  return { thinking: config.type === 'enabled' ? { type: 'enabled', budgetTokens: config.budget_tokens, ...display } : { type: 'adaptive', ...display } };
}

function toolChoiceOf(choice: z.infer<typeof toolChoiceSchema>): ToolChoice {
  switch (choice.type) {
    case 'any':
      return { type: 'required' };
    case 'tool':
      // The schema requires a name with type 'tool'.
      return { type: 'tool', name: choice.name ?? '' };
    default:
      return { type: choice.type };
  }
}

/** The index of the first message that calls a tool with an id an earlier call used, if any. */
function repeatedCallId(messages: readonly ChatMessage[]): number | undefined {
  const used = new Set<string>();
  for (const [index, message] of messages.entries()) {
    for (const call of message.toolCalls ?? []) {
      if (used.has(call.id)) return index;
      used.add(call.id);
    }
  }
  return undefined;
}

/**
 * The conversation with every tool call id unique in it, as Anthropic requires (its 400: "tool_use
 * ids must be unique"): OpenAI callers, and models with ids like Kimi's 'functions_f_0', repeat
 * ids across turns, which OpenAI takes. A repeat is renamed, with the results that answer it
 * (the results follow their calls, tool-use.ts checks that). Earlier turns' ids are history:
 * the answer's own calls keep the ids the upstream gives them.
 */
function withUniqueCallIds(messages: readonly ChatMessage[]): readonly ChatMessage[] {
  const used = new Set<string>();
  let renamed = new Map<string, string>();
  let changed = false;
  const result = messages.map((message) => {
    if (message.role === 'tool') {
      const id = renamed.get(message.toolCallId ?? '');
      return id === undefined ? message : { ...message, toolCallId: id };
    }
    if (message.toolCalls === undefined || message.toolCalls.length === 0) return message;
    renamed = new Map();
    const toolCalls = message.toolCalls.map((call) => {
      let id = call.id;
      for (let n = 2; used.has(id); n += 1) id = `${call.id.slice(0, 240)}_${String(n)}`;
      used.add(id);
      if (id === call.id) return call;
      renamed.set(call.id, id);
      changed = true;
      return { ...call, id };
    });
    return renamed.size === 0 ? message : { ...message, toolCalls };
  });
  return changed ? result : messages;
}

/**
 * A tool call's arguments as Anthropic's `input` object: '' (none streamed) is {}. Other text that
 * is not a JSON object gets here only in an answer cut short (finish 'length', mostly): the gateway
 * refuses such arguments in any other whole answer before writing it. Anthropic needs an object all
 * the same, so a cut call is written as {}: not a complete call without arguments, as the answer's
 * stop_reason (max_tokens) tells the caller it was cut. Writing must not throw either way.
 */
function inputOf(argumentsText: string): Record<string, unknown> {
  if (argumentsText === '') return {};
  return jsonObjectOf(argumentsText) ?? {};
}

type AnthropicBlock = (
  | { readonly type: 'text'; readonly text: string }
  | { readonly type: 'tool_use'; readonly id: string; readonly name: string; readonly input: Record<string, unknown> }
  | { readonly type: 'tool_result'; readonly tool_use_id: string; readonly content?: string | readonly AnthropicBlock[]; readonly is_error?: true }
  | { readonly type: 'image'; readonly source: { readonly type: 'base64'; readonly media_type: string; readonly data: string } | { readonly type: 'url'; readonly url: string } }
  | { readonly type: 'document'; readonly source: { readonly type: 'base64' | 'text'; readonly media_type: string; readonly data: string }; readonly title?: string; readonly context?: string }
  | ThinkingBlock
) & { readonly cache_control?: ReturnType<typeof wireCache> };

interface AnthropicTurn {
  readonly role: 'user' | 'assistant';
  readonly content: string | AnthropicBlock[];
}

function toolUseOf(call: ToolCall): AnthropicBlock {
  return { type: 'tool_use', id: call.id, name: call.name, input: inputOf(call.arguments) };
}

/**
 * Canonical turns as Anthropic's. Tool results are tool_result blocks of a user turn, which also
 * takes the user message right after them: Anthropic wants a call's results in the one turn after
 * it, first. An assistant turn's calls are tool_use blocks after its text. Turns without tools
 * stay plain strings.
 */
function anthropicTurns(messages: readonly ChatMessage[]): AnthropicTurn[] {
  const turns: AnthropicTurn[] = [];
  let index = 0;
  while (index < messages.length) {
    const message = messages[index];
    index += 1;
    if (message === undefined) continue;
    if (message.role === 'tool') {
      const blocks: AnthropicBlock[] = [toolResultOf(message)];
      for (let next = messages[index]; next?.role === 'tool'; next = messages[index]) {
        blocks.push(toolResultOf(next));
        index += 1;
      }
      const following = messages[index];
      if (following?.role === 'user' && saysSomething(following)) {
        blocks.push(...withCache(userBlocks(following), following.cache));
        index += 1;
      }
      turns.push({ role: 'user', content: blocks });
    } else if ((message.toolCalls !== undefined && message.toolCalls.length > 0) || message.thinking !== undefined) {
      // Thinking first, as the answer gave it; then its text and calls.
      turns.push({ role: 'assistant', content: withCache([...(message.thinking ?? []), ...(hasVisibleText(message.content) ? [{ type: 'text' as const, text: message.content }] : []), ...(message.toolCalls ?? []).map(toolUseOf)], message.cache) });
    } else {
      // A canonical system message never gets here: the caller takes them out for the system prompt.
      // A plain turn stays a string, unless it carries a cache breakpoint, which only a block can.
      turns.push({ role: message.role === 'assistant' ? 'assistant' : 'user', content: message.parts === undefined && message.cache === undefined ? message.content : withCache(userBlocks(message), message.cache) });
    }
  }
  return turns;
}

/** A user turn's text and images as blocks, in order; text without visible characters left out, as Anthropic refuses it. */
function userBlocks(message: ChatMessage): AnthropicBlock[] {
  if (message.parts === undefined) return [{ type: 'text', text: message.content }];
  return message.parts.flatMap((part): AnthropicBlock[] => {
    if (part.type === 'text') return hasVisibleText(part.text) ? [{ type: 'text', text: part.text }] : [];
    if (part.type === 'document') return [documentOf(part)];
    const source = part.source;
    return [{ type: 'image', source: source.type === 'url' ? { type: 'url', url: source.url } : { type: 'base64', media_type: source.mediaType, data: source.data } }];
  });
}

/** A canonical document as Anthropic's document block. */
function documentOf(part: Extract<ContentPart, { type: 'document' }>): AnthropicBlock {
  const source = part.source.type === 'pdf' ? { type: 'base64' as const, media_type: 'application/pdf', data: part.source.data } : { type: 'text' as const, media_type: 'text/plain', data: part.source.text };
  return { type: 'document', source, ...(part.title === undefined ? {} : { title: part.title }), ...(part.context === undefined ? {} : { context: part.context }) };
}

/** A 'tool' message as a tool_result block: an empty result has no content, one with images its blocks, and is_error is sent only when true. */
function toolResultOf(message: ChatMessage): AnthropicBlock {
  const content = message.parts === undefined ? (message.content === '' ? {} : { content: message.content }) : { content: userBlocks(message) };
  return { type: 'tool_result', tool_use_id: message.toolCallId ?? '', ...content, ...(message.isError === true ? { is_error: true as const } : {}), ...(message.cache === undefined ? {} : { cache_control: wireCache(message.cache) }) };
}

/**
 * For a conversation with tool calls but no tools offered (OpenAI takes it; agent SDKs send it after
 * a handoff to an agent without tools), which Anthropic refuses: the tools it called, declared by
 * name with any input, and a tool choice of none, so the model answers in text as it would have.
 */
function calledToolsOnly(messages: readonly ChatMessage[]): { tools?: unknown[]; tool_choice?: Record<string, unknown> } {
  const names = new Set<string>();
  for (const message of messages) for (const call of message.toolCalls ?? []) names.add(call.name);
  // (Every tool result answers a call of the turn before it: toolUseIssue checks.)
  if (names.size === 0) return {};
  return { tools: [...names].map((name) => ({ name, description: 'A tool called earlier in this conversation.', input_schema: { type: 'object' } })), tool_choice: { type: 'none' } };
}

/** The request's tools and tool choice as Anthropic's; nothing without tools (there is nothing to choose among). */
function anthropicTools(request: ChatRequest): { tools?: unknown[]; tool_choice?: Record<string, unknown> } {
  if (request.tools === undefined || request.tools.length === 0) return calledToolsOnly(request.messages);
  const tools = request.tools.map((tool) => {
    // Anthropic requires an object schema; OpenAI callers may leave the type out of theirs.
    const schema = tool.parameters.type === undefined ? { type: 'object', ...tool.parameters } : tool.parameters;
    // A strict tool's schema is held to Anthropic's subset (see anthropicSchema); others go as they are.
    return { name: tool.name, ...(tool.description === undefined ? {} : { description: tool.description }), input_schema: tool.strict === true ? anthropicSchema(schema).schema : schema, ...(tool.strict === true ? { strict: true } : {}), ...(tool.cache === undefined ? {} : { cache_control: wireCache(tool.cache) }) };
  });
  const single = request.parallelToolCalls === false ? { disable_parallel_tool_use: true } : {};
  const choice = request.toolChoice ?? (request.parallelToolCalls === false ? { type: 'auto' as const } : undefined);
  if (choice === undefined) return { tools };
  switch (choice.type) {
    case 'none':
      // No calls, so nothing to run in parallel: Anthropic's none takes no such flag.
      return { tools, tool_choice: { type: 'none' } };
    case 'required':
      return { tools, tool_choice: { type: 'any', ...single } };
    case 'tool':
      return { tools, tool_choice: { type: 'tool', name: choice.name, ...single } };
    case 'auto':
      return { tools, tool_choice: { type: 'auto', ...single } };
  }
}

/**
 * The request's response format and effort as Anthropic's output_config. JSON mode (any object) has no
 * Anthropic form: routing sends it only to endpoints of dialects that have one, and should one
 * get here it goes as a bare object schema, for the upstream to refuse, never dropped.
 */
function outputConfig(request: ChatRequest): { output_config?: unknown } {
  const format = request.responseFormat;
  if (format === undefined && request.effort === undefined) return {};
  return {
    output_config: {
      ...(format === undefined ? {} : { format: { type: 'json_schema', schema: format.type === 'json_schema' ? anthropicSchema(format.schema).schema : { type: 'object' } } }),
      // OpenAI's none and minimal are below Anthropic's lowest.
      ...(request.effort === undefined ? {} : { effort: request.effort === 'none' || request.effort === 'minimal' ? 'low' : request.effort }),
    },
  };
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

/** A Messages request (or a token count's, whose schema leaves out max_tokens) to a canonical request. */
function readRequest(body: unknown, schema: typeof requestSchema | typeof countRequestSchema, options: { readonly asServer?: boolean }): Parsed<ChatRequest> {
  // A model server takes a few levels more: a gateway's encoding moves a caller's tool arguments and
  // schemas deeper (OpenAI arguments text becomes Anthropic's input object, in a content block).
  const tooDeep = tooDeepProblem(body, options.asServer === true ? maxJsonDepth + 16 : maxJsonDepth);
  if (tooDeep !== undefined) return tooDeep;
  const parsed = schema.safeParse(body);
  if (!parsed.success) return invalidRequest(parsed.error);
  const r = parsed.data;
  // A message thread (the conversation stored at Anthropic, continued by id): dropped, a
  // continuation would be answered without the conversation before it. The SDK's tool runner
  // threads by default and, told so by the error code, sends the whole conversation instead.
  if (r.thread !== undefined && r.thread !== null) {
    return { ok: false, problem: { status: 400, kind: 'invalid_request', param: 'thread', code: 'thread_unsupported_request', message: 'thread: message threads (conversations stored by the server) are not supported by this gateway: send the whole conversation in messages, without thread' } };
  }
  const conversation = readConversation(r.system, r.messages);
  if (!conversation.ok) return conversation;
  const { messages, paths } = conversation.value;
  // An empty list asks for no tools, as leaving the field out does.
  const tools: ToolDefinition[] | undefined = r.tools === undefined || r.tools.length === 0 ? undefined : r.tools.map((tool) => {
          const cache = cacheOf(tool.cache_control);
          return { name: tool.name, ...(tool.description === undefined ? {} : { description: tool.description }), parameters: tool.input_schema, ...(tool.strict === true ? { strict: true } : {}), ...(cache === undefined ? {} : { cache }) };
        });
  const format = r.output_config?.format ?? r.output_format ?? undefined;
  if (r.output_config?.format != null && r.output_format != null) return refusal('output_format', 'output_format is the beta name of output_config.format: send one of them');
  // As Anthropic refuses them, so that the emulator, as a server, catches a schema the gateway
  // failed to rewrite (see anthropicSchema): the gateway itself takes any, and rewrites it.
  if (options.asServer === true) {
    const field = r.output_config?.format != null ? 'output_config.format.schema' : 'output_format.schema';
    const formatChanges = format === undefined ? [] : anthropicSchema(format.schema).changes;
    if (formatChanges.length > 0) return refusal(field, `not a schema Anthropic's structured output takes: ${formatChanges.slice(0, 3).join('; ')}`);
    for (const [index, tool] of (r.tools ?? []).entries()) {
      const toolChanges = tool.strict === true ? anthropicSchema(tool.input_schema).changes : [];
      if (toolChanges.length > 0) return refusal(`tools.${String(index)}.input_schema`, `not a schema Anthropic's strict tool use takes: ${toolChanges.slice(0, 3).join('; ')}`);
    }
  }
  // As Anthropic refuses them with thinking on, so that the emulator, as a server, catches a gateway that sends one.
  if (options.asServer === true && r.thinking !== undefined && r.thinking.type !== 'disabled') {
    const last = r.messages.at(-1);
    if (last?.role === 'assistant') return refusal(`messages.${String(r.messages.length - 1)}`, 'a final assistant turn (a prefill) cannot be continued with thinking on');
    if (r.tool_choice?.type === 'any' || r.tool_choice?.type === 'tool') return refusal('tool_choice', 'thinking may not be enabled when tool_choice forces tool use');
    if (r.temperature !== undefined && r.temperature !== 1) return refusal('temperature', 'temperature may only be set to 1 when thinking is enabled');
    if (r.top_k !== undefined) return refusal('top_k', 'top_k may not be set when thinking is enabled');
  }
  if (r.thinking?.type === 'enabled' && r.max_tokens !== undefined && r.thinking.budget_tokens >= r.max_tokens) return refusal('thinking.budget_tokens', `budget_tokens (${String(r.thinking.budget_tokens)}) must be below max_tokens (${String(r.max_tokens)}): the answer comes out of the same budget`);
  const choice = r.tool_choice === undefined ? undefined : toolChoiceOf(r.tool_choice);
  // Without tools, 'auto' and 'none' choose nothing: left out, as an upstream may refuse a choice
  // without tools (OpenAI does). 'any' and 'tool' stay, for toolUseIssue to refuse.
  const toolChoice = tools === undefined && (choice?.type === 'auto' || choice?.type === 'none') ? undefined : choice;
  const issue = toolUseIssue(messages, tools, toolChoice, true);
  if (issue !== undefined) return refusal(issue.message === undefined ? issue.field : (paths[issue.message] ?? issue.field), issue.text);
  // As Anthropic refuses it (the gateway renames such ids instead, see withUniqueCallIds), so that
  // the emulator, as a server, catches a request the gateway failed to rename.
  const repeated = options.asServer === true ? repeatedCallId(messages) : undefined;
  if (repeated !== undefined) return refusal(paths[repeated] ?? 'messages', 'tool_use ids must be unique');
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
      ...(tools === undefined ? {} : { tools }),
      ...(toolChoice === undefined ? {} : { toolChoice }),
      ...(tools !== undefined && r.tool_choice?.disable_parallel_tool_use === true ? { parallelToolCalls: false } : {}),
      // Anthropic holds the answer to the schema always: strict.
      ...(format === undefined ? {} : { responseFormat: { type: 'json_schema', name: defaultResponseFormatName, schema: format.schema, strict: true } }),
      ...(r.output_config?.effort === undefined || r.output_config.effort === null ? {} : { effort: r.output_config.effort }),
      ...thinkingOf(r.thinking),
    },
  };
}

/** Anthropic's refusal of a request too long for the window, in its own words. */
function anthropicContextWords({ promptTokens, outputTokens, window }: ContextLimit): string {
  // The prompt alone over the window; at it exactly, the budget is what does not fit.
  if (promptTokens > window || outputTokens === 0) return `prompt is too long: ${String(promptTokens)} tokens > ${String(window)} maximum`;
  return `input length and \`max_tokens\` exceed context limit: ${String(promptTokens)} + ${String(outputTokens)} > ${String(window)}, decrease input length or \`max_tokens\` and try again`;
}

/** Anthropic's token counting (POST /v1/messages/count_tokens), which Claude Code calls. */
export const anthropicTokenCounting: TokenCounting = {
  path: '/v1/messages/count_tokens',
  parseRequest(body: unknown, options: { readonly asServer?: boolean } = {}): Parsed<ChatRequest> {
    return readRequest(body, countRequestSchema, options);
  },
  encodeRequest(request: ChatRequest, options: EncodeOptions = {}): unknown {
    // The Messages body less what only shapes an answer (budget, sampling, stops, stream), which
    // the counting API refuses as extra inputs.
    const { max_tokens: _budget, temperature: _temperature, top_p: _topP, top_k: _topK, stop_sequences: _stops, metadata: _metadata, stream: _stream, ...counted } = anthropicDialect.encodeRequest(request, options) as Record<string, unknown>;
    return counted;
  },
  formatResult(inputTokens: number): unknown {
    return { input_tokens: inputTokens };
  },
  parseResult(body: unknown): Parsed<number> {
    const parsed = countResultSchema.safeParse(body);
    return parsed.success ? { ok: true, value: parsed.data.input_tokens } : malformedAnswer(parsed.error, 'token count');
  },
};

export const anthropicDialect: Dialect = {
  name: 'anthropic',
  chatPath: '/v1/messages',
  toolArgumentsAsObject: true,
  mayHoldToolArguments: true,
  requestIdHeader: 'request-id',
  showsReasoning: false,
  upstream: { systemPromptApart: true, trailingAssistantIsPrefill: true, signedThinking: true, jsonMode: false, pdfsByDefault: true, budgetFieldVaries: false },
  keepAliveFrame: sseFrame(JSON.stringify({ type: 'ping' }), 'ping'),

  parseRequest(body: unknown, options: { readonly asServer?: boolean } = {}): Parsed<ChatRequest> {
    return readRequest(body, requestSchema, options);
  },

  responseId(token: string): string {
    return `msg_${token}`;
  },

  encodeRequest(asked: ChatRequest, options: EncodeOptions = {}): unknown {
    const request = options.withoutThinking === true ? withoutThinkingBlocks(asked) : asked;
    const systemTurns = request.messages.filter((m) => m.role === 'system');
    const system = systemTurns.map((m) => m.content).join('\n');
    // With a cache breakpoint among them, the system prompt goes as blocks, each breakpoint on its own.
    const systemBlocks = systemTurns.some((m) => m.cache !== undefined) ? systemTurns.filter((m) => hasVisibleText(m.content)).map((m) => ({ type: 'text', text: m.content, ...(m.cache === undefined ? {} : { cache_control: wireCache(m.cache) }) })) : undefined;
    // Anthropic refuses a turn without visible text, which OpenAI and vLLM accept: such a turn says
    // nothing to the model, and Anthropic joins the turns of one role it may leave side by side.
    // Tool calls and tool results say something, even without text.
    const said = withUniqueCallIds(request.messages).filter((m) => m.role !== 'system' && (saysSomething(m) || m.thinking !== undefined));
    const turns = anthropicTurns(said);
    // Anthropic refuses a stop sequence of whitespace alone, which OpenAI accepts; the gateway's own
    // guard applies every stop sequence to the answer, so such a one is applied there only.
    const stops = request.stop.filter((stop) => stop.trim() !== '');
    // Anthropic needs a user turn first: an OpenAI request in which no turn but the system prompt
    // asks anything (system messages alone, or with an empty user turn, as agent SDKs send for an
    // empty input; or that and the answer so far, when it is resumed) gets its system prompt as
    // that user turn, which is what an OpenAI-dialect upstream's model answers.
    // (So is a system prompt with assistant turns alone: a continuation of a request of system
    // messages alone has that shape, and the conversation must still begin with a user turn.)
    const alone = turns.length === 0 || (system !== '' && !said.some((m) => m.role !== 'assistant'));
    return {
      model: request.model,
      // Anthropic requires a budget: the same default the gateway routed and charged with.
      max_tokens: request.maxTokens ?? defaultMaxOutputTokens,
      ...(system === '' || alone ? {} : { system: systemBlocks ?? system }),
      messages: alone ? [{ role: 'user', content: system }, ...turns] : turns,
      ...anthropicTools(request),
      ...outputConfig(request),
      // An endpoint without thinking (withoutThinking) is sent none: only adaptive thinking, which the model may skip, reaches one.
      ...(request.thinking === undefined || options.withoutThinking === true ? {} : { thinking: { ...(request.thinking.type === 'enabled' ? { type: 'enabled', budget_tokens: request.thinking.budgetTokens } : { type: 'adaptive' }), ...(request.thinking.display === undefined ? {} : { display: request.thinking.display }) } }),
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
      content: [...(result.thinking ?? []), ...(result.text === '' ? [] : [{ type: 'text', text: result.text }]), ...(result.toolCalls ?? []).map(toolUseOf)],
      ...stopFields(result),
      // The gateway caches no prompts: the cache counts are 0, present as Anthropic always sends them.
      usage: { input_tokens: result.usage.inputTokens, output_tokens: result.usage.outputTokens, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 },
    };
  },

  parseResult(body: unknown): Parsed<ChatResult> {
    const parsed = resultSchema.safeParse(body);
    if (!parsed.success) return malformedAnswer(parsed.error, 'message');
    const toolCalls = parsed.data.content.flatMap((block): ToolCall[] => (block.type === 'tool_use' && typeof block.id === 'string' && typeof block.name === 'string' ? [{ id: block.id, name: block.name, arguments: JSON.stringify(block.input) }] : []));
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
        finishReason: finishWithCalls(finishFromAnthropic(parsed.data.stop_reason), toolCalls.length > 0),
        ...(parsed.data.stop_reason === 'stop_sequence' && typeof parsed.data.stop_sequence === 'string' ? { stopSequence: parsed.data.stop_sequence } : {}),
        ...(toolCalls.length === 0 ? {} : { toolCalls }),
        ...(thinking.length === 0 ? {} : { thinking }),
        usage: { inputTokens: tokenCount(parsed.data.usage.input_tokens) ?? 0, outputTokens: tokenCount(parsed.data.usage.output_tokens) ?? 0 },
      },
    };
  },

  createStreamWriter(): StreamWriter {
    // Content blocks are numbered in the order they open. The text block opens at the first text:
    // an empty answer (a stop sequence at once) has no block, as Anthropic streams it. Accumulated,
    // an empty block is one the API refuses if sent back.
    let nextBlock = 0;
    let open: { readonly kind: 'text' | 'tool_use' | 'thinking'; readonly index: number } | undefined;
    /** Each tool call's block, by the call's canonical index. */
    const callBlocks = new Map<number, number>();
    const frame = (payload: { readonly type: string } & Record<string, unknown>): string => sseFrame(JSON.stringify(payload), payload.type);
    const close = (): string => {
      if (open === undefined) return '';
      const stop = frame({ type: 'content_block_stop', index: open.index });
      open = undefined;
      return stop;
    };
    const start = (kind: 'text' | 'tool_use' | 'thinking', contentBlock: Record<string, unknown>): string => {
      const closed = close();
      open = { kind, index: nextBlock };
      nextBlock += 1;
      // Anthropic pings once, after the first block starts.
      return closed + frame({ type: 'content_block_start', index: open.index, content_block: contentBlock }) + (open.index === 0 ? frame({ type: 'ping' }) : '');
    };
    return {
      write(event: ChatEvent): string {
        switch (event.type) {
          case 'start':
            return sseFrame(JSON.stringify({ type: 'message_start', message: { id: event.id, type: 'message', role: 'assistant', model: event.model, content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: event.inputTokens, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 0 } } }), 'message_start');
          case 'text': {
            if (event.text === '') return '';
            const opened = open?.kind === 'text' ? '' : start('text', { type: 'text', text: '' });
            return opened + frame({ type: 'content_block_delta', index: open?.index ?? 0, delta: { type: 'text_delta', text: event.text } });
          }
          case 'tool_call': {
            const opened = start('tool_use', { type: 'tool_use', id: event.id, name: event.name, input: {} });
            callBlocks.set(event.index, open?.index ?? 0);
            return opened;
          }
          case 'tool_arguments': {
            const block = callBlocks.get(event.index);
            // Arguments of a call never begun have no block to go in.
            if (event.text === '' || block === undefined) return '';
            return frame({ type: 'content_block_delta', index: block, delta: { type: 'input_json_delta', partial_json: event.text } });
          }
          case 'tool_call_end':
            // The block closes when the next one begins or the answer finishes, as for text.
            return '';
          case 'thinking': {
            // An empty piece opens the block (a model whose thinking text is not shown starts so).
            const opened = open?.kind === 'thinking' ? '' : start('thinking', { type: 'thinking', thinking: '', signature: '' });
            if (event.text === '') return opened;
            return opened + frame({ type: 'content_block_delta', index: open?.index ?? 0, delta: { type: 'thinking_delta', thinking: event.text } });
          }
          case 'thinking_signature': {
            // The signature ends its block, as Anthropic streams it (a block of no text still has one).
            const opened = open?.kind === 'thinking' ? '' : start('thinking', { type: 'thinking', thinking: '', signature: '' });
            return opened + frame({ type: 'content_block_delta', index: open?.index ?? 0, delta: { type: 'signature_delta', signature: event.signature } }) + close();
          }
          case 'redacted_thinking':
            return start('thinking', { type: 'redacted_thinking', data: event.data }) + close();
          case 'reasoning':
            // Unsigned, it could not go back as a thinking block: an open model's reasoning is not shown here.
            return '';
          case 'finish':
            return close() + frame({ type: 'message_delta', delta: stopFields(event), usage: { input_tokens: event.usage.inputTokens, output_tokens: event.usage.outputTokens } }) + frame({ type: 'message_stop' });
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
    /** Each tool_use block's canonical call index (0, 1, 2... in the order they start), by the block's index. */
    const callOfBlock = new Map<number, number>();
    /** The blocks whose start carried their input whole (by the block's index): deltas for them are ignored. */
    const wholeInput = new Set<number>();
    const finishEvent = (): Extract<ChatEvent, { type: 'finish' }> => ({ type: 'finish', finishReason: finishWithCalls(finish, callOfBlock.size > 0), ...(stopSequence === undefined ? {} : { stopSequence }), usage: { inputTokens, outputTokens } });
    return {
      read(event, data) {
        let json: {
          type?: string;
          index?: unknown;
          message?: { id?: string; model?: string; usage?: { input_tokens?: unknown } };
          content_block?: { type?: unknown; id?: unknown; name?: unknown; input?: unknown; thinking?: unknown; data?: unknown };
          delta?: { type?: string; text?: string; partial_json?: unknown; thinking?: unknown; signature?: unknown; stop_reason?: string; stop_sequence?: string | null };
          usage?: { input_tokens?: unknown; output_tokens?: unknown };
          error?: { type?: string; message?: string };
        };
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
          case 'content_block_start': {
            const block = json.content_block;
            // Even empty, a thinking block's start is a sign of life: its text may never stream (display omitted).
            if (block?.type === 'thinking') return { events: [{ type: 'thinking', text: typeof block.thinking === 'string' ? block.thinking : '' }], done: false };
            if (block?.type === 'redacted_thinking') return typeof block.data === 'string' ? { events: [{ type: 'redacted_thinking', data: block.data }], done: false } : { events: [{ type: 'error', kind: 'api_error', message: 'upstream sent a malformed redacted_thinking block' }], done: true };
            if (block?.type !== 'tool_use') return { events: [], done: false };
            // A call that cannot be answered (no id) or run (no name) is no call.
            if (typeof json.index !== 'number' || typeof block.id !== 'string' || typeof block.name !== 'string') return { events: [{ type: 'error', kind: 'api_error', message: 'upstream sent a malformed tool_use block' }], done: true };
            const index = callOfBlock.size;
            callOfBlock.set(json.index, index);
            const events: ChatEvent[] = [{ type: 'tool_call', index, id: block.id, name: block.name }];
            // Anthropic starts a block with an empty input and streams it; a server that sends the
            // input whole at the start gets it passed on as the call's arguments, at once. Deltas
            // for that block are then ignored: the input is a whole object already, so deltas could
            // only repeat it (arguments '{"a":1}{"a":1}'). Simpler than holding the input back until
            // content_block_stop, and a stream cut before the stop still has the call's arguments.
            if (isPlainObject(block.input) && Object.keys(block.input).length > 0) {
              wholeInput.add(json.index);
              events.push({ type: 'tool_arguments', index, text: JSON.stringify(block.input) });
            }
            return { events, done: false };
          }
          case 'content_block_delta': {
            if (json.delta?.type === 'text_delta') return typeof json.delta.text === 'string' && json.delta.text !== '' ? { events: [{ type: 'text', text: json.delta.text }], done: false } : { events: [], done: false };
            if (json.delta?.type === 'thinking_delta') return typeof json.delta.thinking === 'string' && json.delta.thinking !== '' ? { events: [{ type: 'thinking', text: json.delta.thinking }], done: false } : { events: [], done: false };
            if (json.delta?.type === 'signature_delta') return typeof json.delta.signature === 'string' ? { events: [{ type: 'thinking_signature', signature: json.delta.signature }], done: false } : { events: [{ type: 'error', kind: 'api_error', message: 'upstream sent a malformed signature' }], done: true };
            if (json.delta?.type !== 'input_json_delta' || typeof json.delta.partial_json !== 'string' || json.delta.partial_json === '') return { events: [], done: false };
            const index = typeof json.index === 'number' && !wholeInput.has(json.index) ? callOfBlock.get(json.index) : undefined;
            if (index === undefined) return { events: [], done: false };
            // Anthropic streams one block at a time. Input for a call after the next one began
            // cannot be carried (a caller's block for it is closed, and would look complete).
            if (index !== callOfBlock.size - 1) return { events: [{ type: 'error', kind: 'api_error', message: 'upstream interleaved the input of two tool calls' }], done: true };
            return { events: [{ type: 'tool_arguments', index, text: json.delta.partial_json }], done: false };
          }
          case 'message_delta':
            announced ||= typeof json.delta?.stop_reason === 'string';
            if (typeof json.delta?.stop_reason === 'string') finish = finishFromAnthropic(json.delta.stop_reason);
            if (json.delta?.stop_reason === 'stop_sequence' && typeof json.delta.stop_sequence === 'string') stopSequence = json.delta.stop_sequence;
            outputTokens = tokenCount(json.usage?.output_tokens) ?? outputTokens;
            inputTokens = tokenCount(json.usage?.input_tokens) ?? inputTokens;
            return { events: [], done: false };
          case 'content_block_stop': {
            const index = typeof json.index === 'number' ? callOfBlock.get(json.index) : undefined;
            return { events: index === undefined ? [] : [{ type: 'tool_call_end', index }], done: false };
          }
          case 'message_stop':
            finished = true;
            // stop_reason tool_use without a tool_use block reads as 'stop' (see finishWithCalls).
            return { events: [finishEvent()], done: true };
          case 'error':
            return { events: [{ type: 'error', kind: json.error?.type === 'overloaded_error' ? 'overloaded' : 'api_error', message: upstreamErrorDetail(json).message, fromUpstream: true }], done: true };
          default:
            return { events: [], done: false };
        }
      },
      announcedFinish() {
        return announced && !finished ? finishEvent() : undefined;
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

  formatError({ kind, message, requestId, code, contextLimit }: ErrorReport): unknown {
    // A refused message thread says so in Anthropic's error details, which the SDK's tool runner
    // reads to send the whole conversation instead.
    const details = code === 'thread_unsupported_request' ? { details: { error_code: code, unsupported: ['thread'] } } : {};
    // Anthropic's own words first, which clients match from the start of the message.
    const said = contextLimit === undefined ? message : `${anthropicContextWords(contextLimit)} (${message})`;
    return { type: 'error', error: { type: kindToType[kind], message: said, ...details }, ...(requestId === undefined ? {} : { request_id: requestId }) };
  },

  rateLimitHeaders(state: RateLimitState, now: number): Record<string, string> {
    return { ...anthropicLimit('requests', state.requests, now), ...anthropicLimit('tokens', state.tokens, now) };
  },

  tokenCounting: anthropicTokenCounting,
};

