import type { ChatMessage, ContentPart } from '../chat.js';
import { imageUrlOf } from '../image-source.js';
import type { OpenaiContent, OpenaiContentPart, OpenaiMessage } from './openai-request-schema.js';
import { sentCallIds } from '../tool-call-id.js';
import { wireToolCall } from './openai-tool-calls.js';

export function canonicalMessage(message: OpenaiMessage): ChatMessage {
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

function canonicalPart(part: OpenaiContentPart): ContentPart {
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
export function joinedCachedSystem(messages: readonly ChatMessage[]): readonly ChatMessage[] {
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
export function wireMessages(messages: readonly ChatMessage[]): unknown[] {
  // A loop, not flatMap: most requests carry no call, and this runs for every one.
  const ids: string[] = [];
  for (const message of messages) {
    if (message.role === 'tool') ids.push(message.toolCallId ?? '');
    else if (message.toolCalls !== undefined) for (const call of message.toolCalls) ids.push(call.id);
  }
  const sentCallId = sentCallIds(ids);
  const wired: unknown[] = [];
  let shown: unknown[] = [];
  for (const [index, message] of messages.entries()) {
    if (shown.length > 0 && message.role === 'user') {
      const media = withMedia(message);
      const own = media === undefined ? (message.content === '' ? [] : [{ type: 'text', text: message.content }]) : media.flatMap(wireParts);
      wired.push({ ...(wireMessage(message, sentCallId) as object), content: [...shown, ...own] });
      shown = [];
      continue;
    }
    wired.push(wireMessage(message, sentCallId));
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

/** A canonical message in OpenAI's form: a tool result, an assistant turn's calls (content null when it said nothing else), their ids as sentCallId makes them. */
function wireMessage(message: ChatMessage, sentCallId: (id: string) => string): unknown {
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
  const media = withMedia(message);
  return { role: message.role, content: media === undefined ? message.content : media.flatMap(wireParts), ...named };
}

/**
 * The message's parts when they hold an image or a document. Parts of text alone (an Anthropic
 * caller's turn of several text blocks, kept for its cache breakpoints) go as the turn's text,
 * joined one per line as vLLM joins text parts: an OpenAI-dialect upstream gets what it got before.
 */
function withMedia(message: ChatMessage): readonly ContentPart[] | undefined {
  return message.parts?.some((part) => part.type !== 'text') === true ? message.parts : undefined;
}

function textOf(value: OpenaiContent): string {
  // Parts are joined one per line, as vLLM's chat templates join them.
  return typeof value === 'string' ? value : value.flatMap((part) => (part.type === 'text' ? [part.text] : part.type === 'refusal' ? [part.refusal] : [])).join('\n');
}
