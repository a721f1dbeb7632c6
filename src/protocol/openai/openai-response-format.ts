import type { ResponseFormat, ToolDefinition } from '../chat.js';
import { asObjectSchema, openaiStrictProblem } from '../json-schema-limits.js';
import type { OpenaiResponseFormat } from './openai-request-schema.js';

export function responseFormatOf(format: OpenaiResponseFormat | null | undefined): ResponseFormat | undefined {
  if (format === undefined || format === null || format.type === 'text') return undefined;
  if (format.type === 'json_object') return format.schema === undefined || format.schema === null ? { type: 'json_object' } : { type: 'json_schema', name: 'response', schema: format.schema, strict: false };
  const { name, description, schema, strict } = format.json_schema;
  return { type: 'json_schema', name, ...(description === undefined || description === null ? {} : { description }), schema, strict: strict === true };
}

/** The first strict schema (of the response format, then of each tool) that OpenAI's strict mode would refuse, by the path of its problem. */
export function strictSchemaProblem(format: ResponseFormat | undefined, tools: readonly ToolDefinition[]): { readonly param: string } | undefined {
  if (format?.type === 'json_schema' && format.strict) {
    const problem = openaiStrictProblem(format.schema);
    if (problem !== undefined) return { param: `response_format.json_schema.schema.${problem}` };
  }
  for (const [index, tool] of tools.entries()) {
    // Judged as sent: an object schema (a typeless one becomes one, see asObjectSchema).
    const problem = tool.strict === true ? openaiStrictProblem(asObjectSchema(tool.parameters)) : undefined;
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
export function strictFits(strict: boolean | undefined, schema: Readonly<Record<string, unknown>>): boolean {
  return strict === true && openaiStrictProblem(schema) === undefined;
}

export function wireResponseFormat(format: ResponseFormat): unknown {
  if (format.type === 'json_object') return { type: 'json_object' };
  return { type: 'json_schema', json_schema: { name: format.name, ...(format.description === undefined ? {} : { description: format.description }), schema: format.schema, strict: strictFits(format.strict, format.schema) } };
}
