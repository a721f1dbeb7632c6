import { hasVisibleText, saysSomething, type ChatMessage, type ChatRequest, type ContentPart, type CacheBreakpoint, type ThinkingBlock, type ToolCall } from '../chat.js';
import { parseKeepsNumbers, RawJson } from '../raw-json.js';
import { jsonObjectOf } from '../tool-use.js';

export function wireCache(cache: CacheBreakpoint): { type: 'ephemeral'; ttl?: '5m' | '1h' } {
  return { type: 'ephemeral', ...(cache.ttl === undefined ? {} : { ttl: cache.ttl }) };
}

/** Blocks with a cache breakpoint on the last one, when there is one to set. */
function withCache(blocks: AnthropicBlock[], cache: CacheBreakpoint | undefined): AnthropicBlock[] {
  const last = blocks.at(-1);
  if (cache === undefined || last === undefined) return blocks;
  return [...blocks.slice(0, -1), { ...last, cache_control: wireCache(cache) }];
}

/** The request with no thinking blocks in its history (see EncodeOptions.withoutThinking). */
export function withoutThinkingBlocks(request: ChatRequest): ChatRequest {
  if (!request.messages.some((message) => message.thinking !== undefined)) return request;
  return { ...request, messages: request.messages.map(({ thinking: _thinking, ...message }) => message) };
}

/**
 * The conversation with every tool call id unique in it, as Anthropic requires (its 400: "tool_use
 * ids must be unique"): OpenAI callers, and models with ids like Kimi's 'functions.f:0' (escaped, see takenBackId), repeat
 * ids across turns, which OpenAI takes. A repeat is renamed, with the results that answer it
 * (the results follow their calls, tool-use.ts checks that). Earlier turns' ids are history:
 * the answer's own calls keep the ids the upstream gives them.
 */
export function withUniqueCallIds(messages: readonly ChatMessage[]): readonly ChatMessage[] {
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
 * A tool call's arguments as Anthropic's `input` object, written as the model or the caller wrote
 * their numbers (a parse would change those a JavaScript number cannot carry, such as an id beyond
 * 2^53, and 1.0 to 1, an int to a reader that keeps types): '' (none streamed) is {}. Other text that
 * is not a JSON object gets here only in an answer cut short (finish 'length', mostly): the gateway
 * refuses such arguments in any other whole answer before writing it. Anthropic needs an object all
 * the same, so a cut call is written as {}: not a complete call without arguments, as the answer's
 * stop_reason (max_tokens) tells the caller it was cut. Writing must not throw either way.
 */
function inputOf(argumentsText: string): Record<string, unknown> | RawJson {
  if (argumentsText === '') return {};
  const input = jsonObjectOf(argumentsText);
  if (input === undefined) return {};
  return parseKeepsNumbers(argumentsText) ? input : new RawJson(argumentsText);
}

type AnthropicBlock = (
  | { readonly type: 'text'; readonly text: string }
  | { readonly type: 'tool_use'; readonly id: string; readonly name: string; readonly input: Record<string, unknown> | RawJson }
  | { readonly type: 'tool_result'; readonly tool_use_id: string; readonly content?: string | readonly AnthropicBlock[]; readonly is_error?: true }
  | { readonly type: 'image'; readonly source: { readonly type: 'base64'; readonly media_type: string; readonly data: string } | { readonly type: 'url'; readonly url: string } }
  | { readonly type: 'document'; readonly source: { readonly type: 'base64' | 'text'; readonly media_type: string; readonly data: string }; readonly title?: string; readonly context?: string }
  | ThinkingBlock
) & { readonly cache_control?: ReturnType<typeof wireCache> };

interface AnthropicTurn {
  readonly role: 'user' | 'assistant';
  readonly content: string | AnthropicBlock[];
}

export function toolUseOf(call: ToolCall): AnthropicBlock {
  return { type: 'tool_use', id: call.id, name: call.name, input: inputOf(call.arguments) };
}

/**
 * Canonical turns as Anthropic's. Tool results are tool_result blocks of a user turn, which also
 * takes the user message right after them: Anthropic wants a call's results in the one turn after
 * it, first. An assistant turn's calls are tool_use blocks after its text. Turns without tools
 * stay plain strings.
 */
export function anthropicTurns(messages: readonly ChatMessage[]): AnthropicTurn[] {
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

/**
 * Anthropic reads a last assistant turn as a prefill, and refuses one that ends in whitespace. A
 * prefill to continue comes here without it (see withoutPrefillWhitespace, which also drops as much
 * from the answer); an OpenAI caller's finished assistant turn, which an Anthropic upstream can only
 * read as a prefill, may still end so: its whitespace is dropped here, as nothing of the turn is lost.
 */
export function withoutTrailingWhitespace(turns: AnthropicTurn[]): AnthropicTurn[] {
  const last = turns.at(-1);
  if (last?.role !== 'assistant') return turns;
  const content = last.content;
  if (typeof content === 'string') return content.trimEnd() === '' || content.trimEnd() === content ? turns : [...turns.slice(0, -1), { role: 'assistant', content: content.trimEnd() }];
  const block = content.at(-1);
  if (block?.type !== 'text' || block.text.trimEnd() === '' || block.text.trimEnd() === block.text) return turns;
  return [...turns.slice(0, -1), { role: 'assistant', content: [...content.slice(0, -1), { ...block, text: block.text.trimEnd() }] }];
}

/**
 * A user turn's text and images as blocks, in order, each with its own cache breakpoint. Text without
 * visible characters is left out, as Anthropic refuses it; its breakpoint goes to the block before
 * it (the same prefix, but for the whitespace), or to the next when it is first (R39).
 */
function userBlocks(message: ChatMessage): AnthropicBlock[] {
  if (message.parts === undefined) return [{ type: 'text', text: message.content }];
  const blocks: AnthropicBlock[] = [];
  let carried: CacheBreakpoint | undefined;
  for (const part of message.parts) {
    const block = blockOf(part);
    const cache = part.cache ?? carried;
    if (block !== undefined) {
      blocks.push(cache === undefined ? block : { ...block, cache_control: wireCache(cache) });
      carried = undefined;
      continue;
    }
    const before = blocks.at(-1);
    if (cache === undefined) continue;
    if (before === undefined) carried = cache;
    else if (before.cache_control === undefined) blocks[blocks.length - 1] = { ...before, cache_control: wireCache(cache) };
  }
  return blocks;
}

function blockOf(part: ContentPart): AnthropicBlock | undefined {
  if (part.type === 'text') return hasVisibleText(part.text) ? { type: 'text', text: part.text } : undefined;
  if (part.type === 'document') return documentOf(part);
  const source = part.source;
  return { type: 'image', source: source.type === 'url' ? { type: 'url', url: source.url } : { type: 'base64', media_type: source.mediaType, data: source.data } };
}

/** A canonical document as Anthropic's document block. */
function documentOf(part: Extract<ContentPart, { type: 'document' }>): AnthropicBlock {
  const source = part.source.type === 'pdf' ? { type: 'base64' as const, media_type: 'application/pdf', data: part.source.data } : { type: 'text' as const, media_type: 'text/plain', data: part.source.text };
  return { type: 'document', source, ...(part.title === undefined ? {} : { title: part.title }), ...(part.context === undefined ? {} : { context: part.context }) };
}

/** A 'tool' message as a tool_result block: an empty result has no content, one with images its blocks, and is_error is sent only when true. */
function toolResultOf(message: ChatMessage): AnthropicBlock {
  const blocks = message.parts === undefined ? [] : userBlocks(message);
  // Parts that all had to be left out (whitespace alone) go as the result's text, their breakpoint on the result (R40).
  const content = blocks.length > 0 ? { content: blocks } : message.content === '' ? {} : { content: message.content };
  const cache = message.cache ?? (blocks.length === 0 ? message.parts?.findLast((part) => part.cache !== undefined)?.cache : undefined);
  return { type: 'tool_result', tool_use_id: message.toolCallId ?? '', ...content, ...(message.isError === true ? { is_error: true as const } : {}), ...(cache === undefined ? {} : { cache_control: wireCache(cache) }) };
}
