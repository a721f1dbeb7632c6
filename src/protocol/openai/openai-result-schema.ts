import { z } from 'zod';

/** A tool call in an upstream's complete answer; its id is made one the gateway takes back (takenBackId). */
const resultToolCall = z.looseObject({
  id: z.string().nullish(),
  function: z.looseObject({ name: z.string().min(1), arguments: z.unknown().optional() }),
});

/** An upstream's complete answer (built once: zod compiles each schema on first use). */
export const openaiResultSchema = z.looseObject({
  id: z.string(),
  model: z.string(),
  choices: z
    .array(
      z.looseObject({
        // The gateway asks for one choice (n is never sent): another is an answer to no question.
        index: z.literal(0).optional(),
        // refusal: the model declined a structured answer (OpenAI), in words instead of JSON.
        message: z.looseObject({ content: z.union([z.string(), z.array(z.unknown())], { error: 'must be a string, or a list of content parts' }).nullish(), refusal: z.string().nullish(), tool_calls: z.array(resultToolCall).nullish(), reasoning_content: z.unknown().optional(), reasoning: z.unknown().optional() }),
        finish_reason: z.string().nullable(),
        stop_reason: z.unknown().optional(),
        matched_stop: z.unknown().optional(),
      }),
    )
    .min(1)
    .max(1),
  usage: z.looseObject({ prompt_tokens: z.number(), completion_tokens: z.number() }).optional(),
});
