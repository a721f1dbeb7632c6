import { z } from 'zod';
import { isRecord } from '../is-record.js';

/** An upstream's token count. */
export const anthropicCountResultSchema = z.looseObject({ input_tokens: z.number().int().nonnegative() });

/** An upstream's complete answer (built once: zod compiles each schema on first use). */
export const anthropicResultSchema = z.looseObject({
  id: z.string(),
  model: z.string(),
  content: z.array(
    z
      .looseObject({ type: z.string(), text: z.string().optional(), id: z.unknown().optional(), name: z.unknown().optional(), input: z.unknown().optional(), thinking: z.unknown().optional(), signature: z.unknown().optional(), data: z.unknown().optional() })
      .refine((block) => block.type !== 'tool_use' || (typeof block.id === 'string' && typeof block.name === 'string' && isRecord(block.input)), 'a tool_use block needs an id, a name and an input object')
      .refine((block) => block.type !== 'thinking' || (typeof block.thinking === 'string' && typeof block.signature === 'string'), 'a thinking block needs its thinking and signature')
      .refine((block) => block.type !== 'redacted_thinking' || typeof block.data === 'string', 'a redacted_thinking block needs its data'),
  ),
  stop_reason: z.string().nullable(),
  stop_sequence: z.string().nullish(),
  usage: z.looseObject({ input_tokens: z.number(), output_tokens: z.number() }),
});
