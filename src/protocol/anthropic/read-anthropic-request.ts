import { z } from 'zod';
import { defaultResponseFormatName, hasVisibleText, maxGatewayStopSequences, type ChatMessage, type ChatRequest, type ContentPart, type CacheBreakpoint, type Parsed, type ThinkingBlock, type ThinkingRequest, type ToolCall, type ToolChoice, type ToolDefinition } from '../chat.js';
import { invalidRequest, unsupportedContent } from '../request-problem.js';
import { readPdf } from '../document-source.js';
import { readBase64Image, readWebImage } from '../image-source.js';
import { maxJsonDepth, tooDeepProblem } from '../json-depth.js';
import { anthropicSchema } from '../json-schema-limits.js';
import { toolUseIssue } from '../tool-use.js';
import { isRecord } from '../is-record.js';
import { anthropicCountRequestSchema, anthropicRequestSchema, documentBlock, imageBlock, textBlock, thinkingBlock, toolResultBlock, toolUseBlock, type AnthropicCacheControl, type AnthropicSystem, type AnthropicThinkingConfig, type AnthropicToolChoice, type AnthropicToolResultBlock, type AnthropicTurnInput } from './anthropic-request-schema.js';

function geographyOf(value: string | null | undefined): { geography?: string } {
  const geography = value?.toLowerCase();
  return geography === undefined || geography === 'global' ? {} : { geography };
}

function textOf(value: string | readonly { readonly text: string }[]): string {
  // Blocks are joined as the system prompts of an OpenAI request are: one per line.
  return typeof value === 'string' ? value : value.map((block) => block.text).join('\n');
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

/**
 * A caller's turns as canonical messages. A user turn's tool_result blocks become 'tool' messages,
 * in order, then its text (if it has any text block) one user message; an assistant turn is one
 * message, its text then its calls. Refused as the Messages API refuses them: a tool block in the
 * wrong role's turn, text before a tool result, a turn that says nothing (but a final assistant one).
 */
function readConversation(system: AnthropicSystem | undefined, turns: readonly AnthropicTurnInput[]): Parsed<Conversation> {
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
    // A cache breakpoint on any of the turn's own blocks: kept on its part in a user turn of several
    // blocks (see keepsParts), else at the end of its message.
    let cache: CacheBreakpoint | undefined;
    const part = (content: ContentPart, breakpoint: CacheBreakpoint | undefined): void => {
      parts.push(breakpoint === undefined ? content : { ...content, cache: breakpoint });
      cache = breakpoint ?? cache;
    };
    const blocks = typeof turn.content === 'string' ? [{ type: 'text', text: turn.content }] : turn.content;
    for (const [blockIndex, block] of blocks.entries()) {
      const type = isRecord(block) ? block.type : undefined;
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
        part({ type: 'image', source: reading.source }, cacheOf(parsed.data.cache_control));
      } else if (type === 'document') {
        if (turn.role !== 'user') return refusal(`${path}.content.${String(blockIndex)}`, 'document blocks are what the user shows the model: they belong in user turns');
        const read = readDocument(block, ['messages', index, 'content', blockIndex]);
        if (!read.ok) return read;
        part(read.value.part, read.value.cache);
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
        part({ type: 'text', text: parsed.data.text }, cacheOf(parsed.data.cache_control));
      }
    }
    const text = texts.join('\n');
    // Refused as the Messages API refuses it: the encoder would drop such a turn, and the turn
    // before it (a prefill, an earlier question) would become the one answered.
    const finalAssistant = index === turns.length - 1 && turn.role === 'assistant';
    // Images and documents: the turn's parts are kept.
    const images = parts.some((kept) => kept.type !== 'text');
    if (!finalAssistant && calls.length === 0 && results.length === 0 && thinking.length === 0 && !hasVisibleText(text) && !images) {
      return refusal(`${path}.content`, 'all messages must have non-empty content except for the optional final assistant message');
    }
    for (const result of results) {
      messages.push(result);
      paths.push(path);
    }
    if (results.length === 0 || parts.length > 0) {
      // An assistant turn's text is one block with its calls after it: its breakpoint at its end.
      const kept = turn.role === 'user' && keepsParts(parts) ? { parts } : cache === undefined ? {} : { cache };
      messages.push({ role: turn.role, content: text, ...(calls.length === 0 ? {} : { toolCalls: calls }), ...kept, ...(thinking.length === 0 ? {} : { thinking }) });
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
 * screenshot, a PDF read), or several blocks. A breakpoint on a block of its content stays on its
 * block; on the one block of a result of one, it is kept on the result (the same place).
 */
function readToolResult(result: AnthropicToolResultBlock, path: readonly (string | number)[]): Parsed<ChatMessage> {
  const texts: string[] = [];
  const parts: ContentPart[] = [];
  const own = cacheOf(result.cache_control);
  const part = (content: ContentPart, breakpoint: CacheBreakpoint | undefined): void => {
    parts.push(breakpoint === undefined ? content : { ...content, cache: breakpoint });
  };
  const blocks = result.content === undefined ? [] : typeof result.content === 'string' ? [{ type: 'text', text: result.content }] : result.content;
  for (const [blockIndex, block] of blocks.entries()) {
    const type = isRecord(block) ? block.type : undefined;
    if (type === 'image') {
      const parsed = imageBlock.safeParse(block);
      if (!parsed.success) return blockRefusal(parsed.error, [...path, 'content', blockIndex]);
      const source = parsed.data.source;
      const reading = source.type === 'url' ? readWebImage(source.url) : readBase64Image(source.media_type, source.data);
      if (!reading.ok) return refusal(`${path.join('.')}.content.${String(blockIndex)}.source`, reading.problem);
      part({ type: 'image', source: reading.source }, cacheOf(parsed.data.cache_control));
      continue;
    }
    if (type === 'document') {
      const read = readDocument(block, [...path, 'content', blockIndex]);
      if (!read.ok) return read;
      part(read.value.part, read.value.cache);
      continue;
    }
    const parsed = textBlock.safeParse(block);
    if (!parsed.success && type === 'text') return blockRefusal(parsed.error, [...path, 'content', blockIndex]);
    if (!parsed.success) return refusal(`${path.join('.')}.content`, unsupportedContent('block', 'content', ['text', 'image', 'document'])({ input: [block] }));
    texts.push(parsed.data.text);
    part({ type: 'text', text: parsed.data.text }, cacheOf(parsed.data.cache_control));
  }
  // Several blocks keep their own breakpoints, as a user turn's do (R39); the result's own is on the result.
  const several = keepsParts(parts);
  const cache = several ? own : (parts[0]?.cache ?? own);
  return { ok: true, value: { role: 'tool', content: texts.join('\n'), toolCallId: result.tool_use_id, ...(several ? { parts } : {}), ...(result.is_error === true ? { isError: true } : {}), ...(cache === undefined ? {} : { cache }) } };
}

/**
 * The system prompt as canonical system messages: one, its blocks joined, unless a block carries a
 * cache breakpoint, when each block is its own message (so the breakpoint stays where it was). An
 * empty system prompt is no system prompt, whichever dialect the upstream speaks.
 */
function systemMessages(system: AnthropicSystem | undefined): ChatMessage[] {
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

/**
 * Whether a user turn's (or a tool result's) blocks stay parts, each with its own breakpoint: when
 * there are several, or one is an image or a document. Several text blocks are not joined into one:
 * a breakpoint stays where the caller put it (moved to the end, past a question that differs each
 * time, it would cache nothing, E49), and the turn is sent alike whether or not this request marks
 * it, so a later request whose breakpoint moved on still finds the cache written at a block's end (R39).
 */
function keepsParts(parts: readonly ContentPart[]): boolean {
  return parts.length > 1 || parts.some((kept) => kept.type !== 'text');
}

function cacheOf(control: AnthropicCacheControl): CacheBreakpoint | undefined {
  if (control === undefined || control === null) return undefined;
  return control.ttl === undefined ? {} : { ttl: control.ttl };
}

/** Extended thinking as asked for; disabled is none. */
function thinkingOf(config: AnthropicThinkingConfig | undefined): { thinking?: ThinkingRequest } {
  if (config === undefined || config.type === 'disabled') return {};
  const display = config.display === undefined || config.display === null ? {} : { display: config.display };
  return { thinking: config.type === 'enabled' ? { type: 'enabled', budgetTokens: config.budget_tokens, ...display } : { type: 'adaptive', ...display } };
}

function toolChoiceOf(choice: AnthropicToolChoice): ToolChoice {
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

/** A Messages request (or a token count's, whose schema leaves out max_tokens) to a canonical request. */
export function readAnthropicRequest(body: unknown, schema: typeof anthropicRequestSchema | typeof anthropicCountRequestSchema, options: { readonly asServer?: boolean }): Parsed<ChatRequest> {
  // A model server takes a few levels more: a gateway's encoding moves a caller's tool arguments and
  // schemas deeper (OpenAI arguments text becomes Anthropic's input object, in a content block).
  const tooDeep = tooDeepProblem(body, options.asServer === true ? maxJsonDepth + 16 : maxJsonDepth);
  if (tooDeep !== undefined) return tooDeep;
  const parsed = schema.safeParse(body);
  if (!parsed.success) return invalidRequest(parsed.error);
  const r = parsed.data;
  // The gateway's own bound (a model server, the emulator, takes any number, as Anthropic does).
  if (options.asServer !== true && (r.stop_sequences?.length ?? 0) > maxGatewayStopSequences) return refusal('stop_sequences', `at most ${String(maxGatewayStopSequences)} stop_sequences: answers may be served by OpenAI-compatible upstreams, which take ${String(maxGatewayStopSequences)}`);
  // A message thread (the conversation stored at Anthropic, continued by id): dropped, a
  // continuation would be answered without the conversation before it. The SDK's tool runner
  // threads by default and, told so by the error code, sends the whole conversation instead.
  if (r.thread !== undefined && r.thread !== null) {
    return { ok: false, problem: { status: 400, kind: 'invalid_request', param: 'thread', code: 'thread_unsupported_request', message: 'thread: message threads (conversations stored by the server) are not supported by Switchyard: send the whole conversation in messages, without thread' } };
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
      ...(r.cache_control === undefined || r.cache_control === null ? {} : { autoCache: cacheOf(r.cache_control) ?? {} }),
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
