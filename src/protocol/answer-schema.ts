import { z } from 'zod';

/**
 * A JSON Schema an answer must match (structured output), as both dialects read it: an object at
 * the top, as OpenAI and Anthropic require, so that an answer in either dialect fits the other.
 */
export const answerSchema = z
  .record(z.string(), z.unknown(), { error: 'is required: the JSON Schema the answer must match' })
  .refine((schema) => schema.type === 'object', { error: "the answer is a JSON object: schema.type must be 'object'", path: ['type'] });
