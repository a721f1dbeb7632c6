import { describe, expect, it } from 'vitest';
import { anthropicInputFields, anthropicOutputFields, readAnthropicUsage, readWholeAnthropicUsage } from '../../src/protocol/anthropic/anthropic-usage.js';
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
    expect(openaiUsageFields({ inputTokens: 32010, outputTokens: 3, cache: { readTokens: 30000, writeTokens: 2000 } })).toEqual({ prompt_tokens: 32010, completion_tokens: 3, total_tokens: 32013, prompt_tokens_details: { cached_tokens: 30000, cache_write_tokens: 2000 } });
    // Nothing written: not said (an OpenAI upstream that names no write does not say it wrote none).
    expect(openaiUsageFields({ inputTokens: 500, outputTokens: 3, cache: { readTokens: 400, writeTokens: 0 } })).toEqual({ prompt_tokens: 500, completion_tokens: 3, total_tokens: 503, prompt_tokens_details: { cached_tokens: 400 } });
    expect(openaiUsageFields({ inputTokens: 5, outputTokens: 3 })).toEqual({ prompt_tokens: 5, completion_tokens: 3, total_tokens: 8 });
  });

  it("reads OpenAI's cache writes and reasoning tokens, each only when it fits in its whole", () => {
    expect(readOpenaiUsage({ prompt_tokens: 500, completion_tokens: 30, prompt_tokens_details: { cached_tokens: 100, cache_write_tokens: 300 }, completion_tokens_details: { reasoning_tokens: 20 } })).toEqual({ inputTokens: 500, outputTokens: 30, reasoningTokens: 20, cache: { readTokens: 100, writeTokens: 300 } });
    expect(readOpenaiUsage({ prompt_tokens: 500, completion_tokens: 30, prompt_tokens_details: { cache_write_tokens: 300 } })).toEqual({ inputTokens: 500, outputTokens: 30, cache: { readTokens: 0, writeTokens: 300 } });
    // Writes that with the reads come to more than the prompt, or reasoning larger than the output: not taken (the reads are).
    expect(readOpenaiUsage({ prompt_tokens: 500, completion_tokens: 30, prompt_tokens_details: { cached_tokens: 300, cache_write_tokens: 300 }, completion_tokens_details: { reasoning_tokens: 31 } })).toEqual({ inputTokens: 500, outputTokens: 30, cache: { readTokens: 300, writeTokens: 0 } });
    expect(readOpenaiUsage({ prompt_tokens: 500, completion_tokens: 30, prompt_tokens_details: { cached_tokens: 501, cache_write_tokens: 300 } })).toEqual({ inputTokens: 500, outputTokens: 30, cache: { readTokens: 0, writeTokens: 300 } });
    expect(readOpenaiUsage({ prompt_tokens: 500, completion_tokens: 30, prompt_tokens_details: { cached_tokens: 501, cache_write_tokens: 501 } })).toEqual({ inputTokens: 500, outputTokens: 30 });
    expect(readOpenaiUsage({ prompt_tokens: 5, completion_tokens: 3, completion_tokens_details: { reasoning_tokens: 1.5 } })).toEqual({ inputTokens: 5, outputTokens: 3 });
    expect(openaiUsageFields({ inputTokens: 5, outputTokens: 3, reasoningTokens: 2 })).toEqual({ prompt_tokens: 5, completion_tokens: 3, total_tokens: 8, completion_tokens_details: { reasoning_tokens: 2 } });
  });

  it("reads Anthropic's hour-long cache writes and thinking tokens, and writes them back as Anthropic does", () => {
    const usage = { input_tokens: 10, cache_creation_input_tokens: 2000, cache_read_input_tokens: 30000, cache_creation: { ephemeral_5m_input_tokens: 500, ephemeral_1h_input_tokens: 1500 }, output_tokens: 40, output_tokens_details: { thinking_tokens: 25 } };
    const start = readAnthropicUsage(usage);
    expect(start).toEqual({ inputTokens: 32010, cache: { readTokens: 30000, writeTokens: 2000, writeTokensOneHour: 1500 } });
    // A delta repeating input_tokens alone keeps the start's split.
    expect(readAnthropicUsage({ input_tokens: 10 }, start?.cache)).toEqual(start);
    // An hour-long part larger than the write is not taken.
    expect(readAnthropicUsage({ ...usage, cache_creation: { ephemeral_5m_input_tokens: 0, ephemeral_1h_input_tokens: 2001 } })).toEqual({ inputTokens: 32010, cache: { readTokens: 30000, writeTokens: 2000 } });
    expect(readWholeAnthropicUsage(usage)).toEqual({ inputTokens: 32010, outputTokens: 40, reasoningTokens: 25, cache: { readTokens: 30000, writeTokens: 2000, writeTokensOneHour: 1500 } });
    expect(readWholeAnthropicUsage({ ...usage, output_tokens_details: { thinking_tokens: 41 } })).not.toHaveProperty('reasoningTokens');
    expect(anthropicInputFields(32010, { readTokens: 30000, writeTokens: 2000, writeTokensOneHour: 1500 })).toEqual({ input_tokens: 10, cache_creation_input_tokens: 2000, cache_read_input_tokens: 30000, cache_creation: { ephemeral_5m_input_tokens: 500, ephemeral_1h_input_tokens: 1500 } });
    expect(anthropicOutputFields({ inputTokens: 1, outputTokens: 40, reasoningTokens: 25 })).toEqual({ output_tokens: 40, output_tokens_details: { thinking_tokens: 25 } });
    expect(anthropicOutputFields({ inputTokens: 1, outputTokens: 40 })).toEqual({ output_tokens: 40 });
  });
});
