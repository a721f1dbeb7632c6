import { tokenCount, type PromptCache, type Usage } from '../chat.js';
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
  const cache = read === undefined && written === undefined ? earlier : withOneHour({ readTokens: read ?? earlier?.readTokens ?? 0, writeTokens: written ?? earlier?.writeTokens ?? 0 }, isRecord(usage.cache_creation) ? tokenCount(usage.cache_creation.ephemeral_1h_input_tokens) : earlier?.writeTokensOneHour);
  if (cache === undefined) return { inputTokens: uncached };
  return { inputTokens: uncached + cache.readTokens + cache.writeTokens, cache };
}

/** The part of a cache write kept an hour, when said and no larger than the write. */
function withOneHour(cache: PromptCache, oneHour: number | undefined): PromptCache {
  return oneHour === undefined || oneHour > cache.writeTokens ? cache : { ...cache, writeTokensOneHour: oneHour };
}

/** The reasoning part of an Anthropic output count (output_tokens_details.thinking_tokens), when said and no larger than it. */
export function readAnthropicThinkingTokens(usage: unknown, outputTokens: number): number | undefined {
  const thinking = isRecord(usage) && isRecord(usage.output_tokens_details) ? tokenCount(usage.output_tokens_details.thinking_tokens) : undefined;
  return thinking === undefined || thinking > outputTokens ? undefined : thinking;
}

export interface AnthropicInputFields {
  input_tokens: number;
  cache_creation_input_tokens: number;
  cache_read_input_tokens: number;
  cache_creation?: { ephemeral_5m_input_tokens: number; ephemeral_1h_input_tokens: number };
}

/**
 * A whole prompt's count as Anthropic writes it: the part after the cache, then the cache's parts
 * (0 when not known), and how the write splits by how long it is kept when the upstream said.
 */
export function anthropicInputFields(inputTokens: number, cache: PromptCache | undefined): AnthropicInputFields {
  const read = cache?.readTokens ?? 0;
  const written = cache?.writeTokens ?? 0;
  const fields: AnthropicInputFields = { input_tokens: Math.max(0, inputTokens - read - written), cache_creation_input_tokens: written, cache_read_input_tokens: read };
  const oneHour = cache?.writeTokensOneHour;
  if (oneHour !== undefined) fields.cache_creation = { ephemeral_5m_input_tokens: written - oneHour, ephemeral_1h_input_tokens: oneHour };
  return fields;
}

/** An output count as Anthropic writes it, with its reasoning part when the upstream said. */
export function anthropicOutputFields(usage: Usage): { output_tokens: number; output_tokens_details?: { thinking_tokens: number } } {
  return usage.reasoningTokens === undefined ? { output_tokens: usage.outputTokens } : { output_tokens: usage.outputTokens, output_tokens_details: { thinking_tokens: usage.reasoningTokens } };
}

/** A whole message's usage: the prompt and its cache parts, the output and its reasoning part. */
export function readWholeAnthropicUsage(usage: unknown): Usage {
  const outputTokens = isRecord(usage) ? (tokenCount(usage.output_tokens) ?? 0) : 0;
  const thinking = readAnthropicThinkingTokens(usage, outputTokens);
  return { ...(readAnthropicUsage(usage) ?? { inputTokens: 0 }), outputTokens, ...(thinking === undefined ? {} : { reasoningTokens: thinking }) };
}
