import type { ChatMessage, ToolCall, ToolChoice, ToolDefinition } from './chat.js';
import { maxJsonDepth, pathTooDeep } from './json-depth.js';
import { isQuotableName } from './request-problem.js';
import { isRecord } from './is-record.js';

/** A tool name both APIs accept (OpenAI: letters, digits, '_' and '-', at most 64; Anthropic the same, up to 128). */
export const toolNamePattern = /^[a-zA-Z0-9_-]{1,64}$/;

/** What toolNamePattern allows, in words, for the messages of every name held to it. */
export const toolNameRule = "1 to 64 ASCII letters, digits, '_' or '-'";

/** A tool call id both APIs accept back (Anthropic: letters, digits, '_' and '-'). */
export const toolCallIdPattern = /^[a-zA-Z0-9_-]{1,256}$/;

/**
 * The JSON object `text` holds, or undefined when it holds none (not JSON, another value, or one
 * nested deeper than a request may be: such arguments could not be written again).
 */
export function jsonObjectOf(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return isRecord(value) && pathTooDeep(value) === undefined ? value : undefined;
  } catch {
    return undefined;
  }
}

/** What is wrong with a caller's tool call arguments, in words for a 400, or undefined when nothing is. */
export function argumentsProblem(text: string): string | undefined {
  if (jsonObjectOf(text) !== undefined) return undefined;
  // Told apart only once refused: the common case parses once.
  try {
    const value: unknown = JSON.parse(text);
    if (isRecord(value)) return `must be nested at most ${String(maxJsonDepth)} levels deep`;
  } catch {
    // not JSON: said below
  }
  return 'must be a JSON object, as text (such as "{}")';
}

/** Whether a call's arguments are what both APIs promise: JSON text of an object ('' stands for `{}`). */
export function hasObjectArguments(call: ToolCall): boolean {
  return call.arguments === '' || jsonObjectOf(call.arguments) !== undefined;
}

/**
 * Where a request's use of tools is inconsistent: `message` is the canonical message's index
 * (the dialect names it in its own terms), undefined for the request's tools or tool choice.
 */
export interface ToolUseIssue {
  readonly message?: number;
  readonly field: 'tools' | 'tool_choice' | 'messages';
  readonly text: string;
}

/**
 * The first inconsistency in a request's tools, as the APIs refuse them: a named tool choice that
 * names no tool offered, a required one without tools, a tool offered twice, tool turns in a
 * request that offers no tools (where the caller's API refuses them: `toolTurnsNeedTools`,
 * Anthropic's; OpenAI takes them, and agent SDKs send them after a handoff to an agent without
 * tools), a call id used twice in one turn, and a conversation where a tool
 * result answers no pending call or a call goes unanswered before the conversation moves on. (An id
 * an earlier turn used, which Anthropic refuses and OpenAI takes, the Anthropic encoder renames.) Checked once here, for both dialects,
 * so an upstream never refuses a request the gateway took (which would count against its health).
 */
export function toolUseIssue(messages: readonly ChatMessage[], tools: readonly ToolDefinition[] | undefined, choice: ToolChoice | undefined, toolTurnsNeedTools: boolean): ToolUseIssue | undefined {
  const names = new Set<string>();
  for (const tool of tools ?? []) {
    if (names.has(tool.name)) return { field: 'tools', text: `two tools are named ${quoted(tool.name, 'alike')}: tool names must be unique` };
    names.add(tool.name);
  }
  if (choice !== undefined && (choice.type === 'required' || choice.type === 'tool') && names.size === 0) {
    return { field: 'tool_choice', text: 'a tool choice that requires a tool needs tools: send tools, or leave tool_choice out' };
  }
  if (choice?.type === 'tool' && !names.has(choice.name)) {
    return { field: 'tool_choice', text: `names a tool (${quoted(choice.name, 'by a name')}) that is not among the tools offered` };
  }
  // Anthropic refuses tool_use and tool_result blocks in a request that defines no tools; OpenAI
  // takes them (its encoder for Anthropic upstreams then declares the tools called, see anthropicTools).
  const toolTurn = names.size === 0 && toolTurnsNeedTools ? messages.findIndex((message) => message.role === 'tool' || (message.toolCalls?.length ?? 0) > 0) : -1;
  if (toolTurn >= 0) return { message: toolTurn, field: 'messages', text: 'a conversation with tool calls or tool results needs the tools it used: send tools too (with a tool choice of none for an answer in text)' };
  /** Calls of the latest assistant turn not yet answered, and that turn's index. */
  let pending = new Set<string>();
  let callerIndex = -1;
  for (const [index, message] of messages.entries()) {
    if (message.role === 'tool') {
      const id = message.toolCallId ?? '';
      if (!pending.delete(id)) return { message: index, field: 'messages', text: `a tool result for ${quoted(id)}, which is no unanswered tool call of the assistant turn before it` };
      continue;
    }
    if (message.role === 'system') continue;
    if (pending.size > 0) return { message: callerIndex, field: 'messages', text: `its tool calls (${[...pending].map((id) => quoted(id)).join(', ')}) have no results: each call needs a tool result right after the assistant turn` };
    const calls = message.toolCalls ?? [];
    if (calls.length === 0) continue;
    pending = new Set();
    for (const call of calls) {
      if (pending.has(call.id)) return { message: index, field: 'messages', text: `calls two tools with the same id ${quoted(call.id)}: tool call ids must be unique` };
      pending.add(call.id);
    }
    callerIndex = index;
  }
  if (pending.size > 0) return { message: callerIndex, field: 'messages', text: `the conversation ends with tool calls (${[...pending].map((id) => quoted(id)).join(', ')}) that have no results: send a result for each after it (an answer cannot continue a tool call)` };
  return undefined;
}

/** A caller's id or name in an error message: quoted only when it is a plain name (messages are logged). */
function quoted(text: string, otherwise = 'a tool call'): string {
  return isQuotableName(text) ? `'${text}'` : otherwise;
}
