import { createHash } from 'node:crypto';
import { isCutShort, type FinishReason, type ToolCall, type ToolChoice, type ToolDefinition } from '../chat.js';
import { isRecord } from '../is-record.js';
import type { OpenaiToolChoice, OpenaiToolDefinition } from './openai-request-schema.js';

/** The longest tool call id OpenAI takes back in tool_calls[].id (it refuses longer ones). */
const maxCallIdChars = 40;

/**
 * An upstream's tool call id as one the gateway takes back from a caller, and OpenAI and Anthropic
 * take: other characters (Kimi's 'functions.get_weather:0') become '_', and one longer than OpenAI
 * takes keeps its start and ends with a hash of the whole id, so two long ids stay distinct.
 * Undefined for none: the caller makes one.
 */
export function takenBackId(id: unknown): string | undefined {
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
export function sentCallId(id: string): string {
  return id.length <= maxCallIdChars ? id : (takenBackId(id) ?? id);
}

/**
 * An id for a call an upstream gave none, at most 40 characters: unique in the answer (its index
 * ends it), and across answers by the tail of the answer's own id (where its random part is).
 */
export function madeUpCallId(answerId: string, index: number): string {
  const suffix = `_${index}`;
  const room = Math.min(32, maxCallIdChars - 'call_'.length - suffix.length);
  const answer = room > 0 ? answerId.replace(/[^a-zA-Z0-9_-]/g, '_').slice(-room) : '';
  return answer === '' ? `call${suffix}` : `call_${answer}${suffix}`;
}

/** A call's arguments as text: servers that send them as an object (not OpenAI's wire form) get them written as JSON. */
export function argumentsText(value: unknown): string {
  if (typeof value === 'string') return value;
  return isRecord(value) ? JSON.stringify(value) : '';
}

/** A call's arguments on the wire: OpenAI always writes a JSON object, '{}' for none (but '' in an answer cut short). */
function wireArguments(text: string, finish?: FinishReason): string {
  // A call an answer cut short may have cut must not look complete: its arguments are not made '{}'.
  return text === '' && (finish === undefined || !isCutShort(finish)) ? '{}' : text;
}

export function wireToolCall(call: ToolCall, finish?: FinishReason): unknown {
  return { id: call.id, type: 'function', function: { name: call.name, arguments: wireArguments(call.arguments, finish) } };
}

export function wireToolChoice(choice: ToolChoice): unknown {
  return choice.type === 'tool' ? { type: 'function', function: { name: choice.name } } : choice.type;
}

export function toolChoiceOf(choice: OpenaiToolChoice | null | undefined): ToolChoice | undefined {
  if (choice === undefined || choice === null) return undefined;
  return typeof choice === 'string' ? { type: choice } : { type: 'tool', name: choice.function.name };
}

export function toolDefinitionOf({ function: tool }: OpenaiToolDefinition): ToolDefinition {
  return {
    name: tool.name,
    ...(tool.description === undefined || tool.description === null ? {} : { description: tool.description }),
    // No parameters: a function of no arguments, as OpenAI reads it (closed, for strict mode).
    parameters: tool.parameters ?? (tool.strict === true ? { type: 'object', properties: {}, required: [], additionalProperties: false } : { type: 'object', properties: {} }),
    ...(tool.strict === true ? { strict: true } : {}),
  };
}
