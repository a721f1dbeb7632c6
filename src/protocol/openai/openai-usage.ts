import { tokenCount, type Usage } from '../chat.js';
import { isRecord } from '../is-record.js';

/**
 * An OpenAI usage object: prompt_tokens is the whole prompt, and prompt_tokens_details.cached_tokens,
 * when sent, the part the prompt cache served (OpenAI does not count what it stored). A count
 * that is missing or not a count reads as 0 (unknown).
 */
export function readOpenaiUsage(usage: unknown): Usage {
  if (!isRecord(usage)) return { inputTokens: 0, outputTokens: 0 };
  const inputTokens = tokenCount(usage.prompt_tokens) ?? 0;
  const outputTokens = tokenCount(usage.completion_tokens) ?? 0;
  const cached = isRecord(usage.prompt_tokens_details) ? tokenCount(usage.prompt_tokens_details.cached_tokens) : undefined;
  return cached === undefined || cached > inputTokens ? { inputTokens, outputTokens } : { inputTokens, outputTokens, cache: { readTokens: cached, writeTokens: 0 } };
}

/** Usage as OpenAI writes it, with the cached part of the prompt when the upstream said. */
export function openaiUsageFields(usage: Usage): Record<string, unknown> {
  const counts = { prompt_tokens: usage.inputTokens, completion_tokens: usage.outputTokens, total_tokens: usage.inputTokens + usage.outputTokens };
  return usage.cache === undefined ? counts : { ...counts, prompt_tokens_details: { cached_tokens: usage.cache.readTokens } };
}
