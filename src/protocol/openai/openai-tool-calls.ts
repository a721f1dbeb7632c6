import { isCutShort, type FinishReason, type ToolCall, type ToolChoice, type ToolDefinition } from '../chat.js';
import { isRecord } from '../is-record.js';
import type { OpenaiToolChoice, OpenaiToolDefinition } from './openai-request-schema.js';

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
