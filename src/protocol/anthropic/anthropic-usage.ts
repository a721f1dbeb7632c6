import { tokenCount, type PromptCache } from '../chat.js';
import { isRecord } from '../is-record.js';

/**
 * An Anthropic usage object read as the whole prompt and its cache parts. Anthropic's input_tokens
 * counts only the prompt after the last cache breakpoint; what the cache served and stored is
 * counted apart, and a prompt mostly cached reads as a few tokens. `earlier`: the parts already
 * read for this message (its message_start), for a message_delta that repeats input_tokens alone.
 * Undefined when input_tokens is not a count.
 */
export function readAnthropicUsage(usage: unknown, earlier?: PromptCache): { readonly inputTokens: number; readonly cache?: PromptCache } | undefined {
  if (!isRecord(usage)) return undefined;
  const uncached = tokenCount(usage.input_tokens);
  if (uncached === undefined) return undefined;
  const read = tokenCount(usage.cache_read_input_tokens);
  const written = tokenCount(usage.cache_creation_input_tokens);
  const cache = read === undefined && written === undefined ? earlier : { readTokens: read ?? earlier?.readTokens ?? 0, writeTokens: written ?? earlier?.writeTokens ?? 0 };
  if (cache === undefined) return { inputTokens: uncached };
  return { inputTokens: uncached + cache.readTokens + cache.writeTokens, cache };
}

/** A whole prompt's count as Anthropic writes it: the part after the cache, then the cache's parts (0 when not known). */
export function anthropicInputFields(inputTokens: number, cache: PromptCache | undefined): { input_tokens: number; cache_creation_input_tokens: number; cache_read_input_tokens: number } {
  const read = cache?.readTokens ?? 0;
  const written = cache?.writeTokens ?? 0;
  return { input_tokens: Math.max(0, inputTokens - read - written), cache_creation_input_tokens: written, cache_read_input_tokens: read };
}
