import { closingInstructions, defaultMaxOutputTokens, hasVisibleText, saysSomething, type ChatMessage, type ChatRequest } from '../chat.js';
import type { EncodeOptions } from '../dialect.js';
import { anthropicSchema, asObjectSchema } from '../json-schema-limits.js';
import { anthropicTurns, wireCache, withoutThinkingBlocks, withoutTrailingWhitespace, withUniqueCallIds } from './anthropic-turns.js';

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
    const schema = asObjectSchema(tool.parameters);
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
      ...(format === undefined ? {} : { format: { type: 'json_schema', schema: format.type === 'json_schema' ? described(anthropicSchema(format.schema).schema, format.schema, format.description) : { type: 'object' } } }),
      // OpenAI's none and minimal are below Anthropic's lowest.
      ...(request.effort === undefined ? {} : { effort: request.effort === 'none' || request.effort === 'minimal' ? 'low' : request.effort }),
    },
  };
}

/**
 * OpenAI's model reads a response format's description as instructions; Anthropic's format has no
 * such field, so it goes into the schema's own description where the caller's schema has none,
 * before what the rewrite for Anthropic moved there (keywords it does not take, see anthropicSchema).
 */
function described(schema: Readonly<Record<string, unknown>>, callers: Readonly<Record<string, unknown>>, description: string | undefined): Readonly<Record<string, unknown>> {
  if (description === undefined || description === '' || callers['description'] !== undefined) return schema;
  const moved = schema['description'];
  return { ...schema, description: typeof moved === 'string' && moved !== '' ? `${description}\n${moved}` : description };
}

/** The messages with their closing instructions (see closingInstructions) as one user turn, and that turn. */
function withClosingInstructions(request: ChatRequest): { readonly messages: readonly ChatMessage[]; readonly closing?: ChatMessage } {
  const run = closingInstructions(request);
  if (run === undefined) return { messages: request.messages };
  // The run's system messages that say something (turns of other roles in it say nothing).
  const said = request.messages.slice(run.start, run.end).filter((m) => m.role === 'system' && hasVisibleText(m.content));
  const cache = said.findLast((m) => m.cache !== undefined)?.cache;
  const closing: ChatMessage = { role: 'user', content: said.map((m) => m.content).join('\n'), ...(cache === undefined ? {} : { cache }) };
  return { messages: [...request.messages.slice(0, run.start), closing, ...request.messages.slice(run.end)], closing };
}

/** A canonical request as an Anthropic Messages request. */
export function encodeAnthropicRequest(asked: ChatRequest, options: EncodeOptions = {}): unknown {
  const request = options.withoutThinking === true ? withoutThinkingBlocks(asked) : asked;
  const { messages, closing } = withClosingInstructions(request);
  const systemTurns = messages.filter((m) => m.role === 'system');
  const system = systemTurns.map((m) => m.content).join('\n');
  // With a cache breakpoint among them, the system prompt goes as blocks, each breakpoint on its own.
  const systemBlocks = systemTurns.some((m) => m.cache !== undefined) ? systemTurns.filter((m) => hasVisibleText(m.content)).map((m) => ({ type: 'text', text: m.content, ...(m.cache === undefined ? {} : { cache_control: wireCache(m.cache) }) })) : undefined;
  // Anthropic refuses a turn without visible text, which OpenAI and vLLM accept: such a turn says
  // nothing to the model, and Anthropic joins the turns of one role it may leave side by side.
  // Tool calls and tool results say something, even without text.
  const said = withUniqueCallIds(messages).filter((m) => m.role !== 'system' && (saysSomething(m) || m.thinking !== undefined));
  // A last assistant turn without its trailing whitespace, which Anthropic refuses (see withoutTrailingWhitespace).
  const turns = withoutTrailingWhitespace(anthropicTurns(said));
  // Anthropic refuses a stop sequence of whitespace alone, which OpenAI accepts; the gateway's own
  // guard applies every stop sequence to the answer, so such a one is applied there only.
  const stops = request.stop.filter((stop) => stop.trim() !== '');
  // Anthropic needs a user turn first: an OpenAI request in which no turn but the system prompt
  // asks anything (system messages alone, or with an empty user turn, as agent SDKs send for an
  // empty input; or that and the answer so far, when it is resumed) gets its system prompt as
  // that user turn, which is what an OpenAI-dialect upstream's model answers.
  // (So is a system prompt with assistant turns alone: a continuation of a request of system
  // messages alone has that shape, and the conversation must still begin with a user turn.)
  // (The closing instructions' user turn asks nothing of the system prompt: it comes after.)
  const alone = turns.length === 0 || (system !== '' && !said.some((m) => m.role !== 'assistant' && m !== closing));
  return {
    model: request.model,
    // Anthropic requires a budget: the same default the gateway routed and charged with.
    max_tokens: request.maxTokens ?? defaultMaxOutputTokens,
    ...(system === '' || alone ? {} : { system: systemBlocks ?? system }),
    messages: alone ? [{ role: 'user', content: system }, ...turns] : turns,
    ...(request.autoCache === undefined ? {} : { cache_control: wireCache(request.autoCache) }),
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
}
