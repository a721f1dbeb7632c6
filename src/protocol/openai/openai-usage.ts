import { tokenCount, type Usage } from '../chat.js';
import { isRecord } from '../is-record.js';

/**
 * An OpenAI usage object: prompt_tokens is the whole prompt; prompt_tokens_details.cached_tokens
 * and cache_write_tokens, when sent, the parts the prompt cache served and stored;
 * completion_tokens_details.reasoning_tokens, the reasoning part of the completion. A count that
 * is missing or not a count reads as 0 (unknown); a part larger than its whole is not taken.
 */
export function readOpenaiUsage(usage: unknown): Usage {
  if (!isRecord(usage)) return { inputTokens: 0, outputTokens: 0 };
  const inputTokens = tokenCount(usage.prompt_tokens) ?? 0;
  const outputTokens = tokenCount(usage.completion_tokens) ?? 0;
  const prompt = isRecord(usage.prompt_tokens_details) ? usage.prompt_tokens_details : undefined;
  const cached = tokenCount(prompt?.cached_tokens);
  const written = tokenCount(prompt?.cache_write_tokens);
  const reasoning = isRecord(usage.completion_tokens_details) ? tokenCount(usage.completion_tokens_details.reasoning_tokens) : undefined;
  const counts: Usage = reasoning === undefined || reasoning > outputTokens ? { inputTokens, outputTokens } : { inputTokens, outputTokens, reasoningTokens: reasoning };
  // The read as before the write was read (an upstream that counts writes outside the prompt keeps its read).
  const readTokens = cached !== undefined && cached <= inputTokens ? cached : undefined;
  const writeTokens = written !== undefined && (readTokens ?? 0) + written <= inputTokens ? written : undefined;
  if (readTokens === undefined && writeTokens === undefined) return counts;
  return { ...counts, cache: { readTokens: readTokens ?? 0, writeTokens: writeTokens ?? 0 } };
}

/**
 * Usage as OpenAI writes it: the cache's parts when the upstream said (cache_write_tokens only when
 * something was written: an OpenAI upstream that names none does not say), the reasoning part when known.
 */
export function openaiUsageFields(usage: Usage): Record<string, unknown> {
  const counts: Record<string, unknown> = { prompt_tokens: usage.inputTokens, completion_tokens: usage.outputTokens, total_tokens: usage.inputTokens + usage.outputTokens };
  if (usage.cache !== undefined) counts.prompt_tokens_details = usage.cache.writeTokens > 0 ? { cached_tokens: usage.cache.readTokens, cache_write_tokens: usage.cache.writeTokens } : { cached_tokens: usage.cache.readTokens };
  if (usage.reasoningTokens !== undefined) counts.completion_tokens_details = { reasoning_tokens: usage.reasoningTokens };
  return counts;
}
