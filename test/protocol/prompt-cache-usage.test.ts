import { describe, expect, it } from 'vitest';
import { anthropicInputFields, readAnthropicUsage } from '../../src/protocol/anthropic/anthropic-usage.js';
import { openaiUsageFields, readOpenaiUsage } from '../../src/protocol/openai/openai-usage.js';

describe('prompt cache parts of usage', () => {
  it("reads Anthropic's parts into the whole prompt, keeping earlier parts when a delta repeats input_tokens alone", () => {
    const start = readAnthropicUsage({ input_tokens: 10, cache_creation_input_tokens: 2000, cache_read_input_tokens: 30000 });
    expect(start).toEqual({ inputTokens: 32010, cache: { readTokens: 30000, writeTokens: 2000 } });
    expect(readAnthropicUsage({ input_tokens: 12 }, start?.cache)).toEqual({ inputTokens: 32012, cache: { readTokens: 30000, writeTokens: 2000 } });
    // Nulls (older answers) and non-counts say nothing; a missing input_tokens is no count at all.
    expect(readAnthropicUsage({ input_tokens: 7, cache_creation_input_tokens: null, cache_read_input_tokens: null })).toEqual({ inputTokens: 7 });
    expect(readAnthropicUsage({ input_tokens: 7, cache_read_input_tokens: -5, cache_creation_input_tokens: 3 })).toEqual({ inputTokens: 10, cache: { readTokens: 0, writeTokens: 3 } });
    expect(readAnthropicUsage({ cache_read_input_tokens: 5 })).toBeUndefined();
    expect(readAnthropicUsage('10')).toBeUndefined();
  });

  it('writes a whole prompt back as Anthropic counts it, never below 0', () => {
    expect(anthropicInputFields(32010, { readTokens: 30000, writeTokens: 2000 })).toEqual({ input_tokens: 10, cache_creation_input_tokens: 2000, cache_read_input_tokens: 30000 });
    expect(anthropicInputFields(42, undefined)).toEqual({ input_tokens: 42, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 });
    expect(anthropicInputFields(5, { readTokens: 30, writeTokens: 0 })).toEqual({ input_tokens: 0, cache_creation_input_tokens: 0, cache_read_input_tokens: 30 });
  });

  it("reads OpenAI's cached tokens as the cache read, unless they are more than the prompt", () => {
    expect(readOpenaiUsage({ prompt_tokens: 500, completion_tokens: 3, prompt_tokens_details: { cached_tokens: 400, audio_tokens: 0 } })).toEqual({ inputTokens: 500, outputTokens: 3, cache: { readTokens: 400, writeTokens: 0 } });
    expect(readOpenaiUsage({ prompt_tokens: 500, completion_tokens: 3, prompt_tokens_details: { cached_tokens: 501 } })).toEqual({ inputTokens: 500, outputTokens: 3 });
    expect(readOpenaiUsage({ prompt_tokens: 500, completion_tokens: 3, prompt_tokens_details: null })).toEqual({ inputTokens: 500, outputTokens: 3 });
    expect(readOpenaiUsage(null)).toEqual({ inputTokens: 0, outputTokens: 0 });
    expect(openaiUsageFields({ inputTokens: 32010, outputTokens: 3, cache: { readTokens: 30000, writeTokens: 2000 } })).toEqual({ prompt_tokens: 32010, completion_tokens: 3, total_tokens: 32013, prompt_tokens_details: { cached_tokens: 30000 } });
    expect(openaiUsageFields({ inputTokens: 5, outputTokens: 3 })).toEqual({ prompt_tokens: 5, completion_tokens: 3, total_tokens: 8 });
  });
});
