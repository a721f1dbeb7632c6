import { describe, expect, it } from 'vitest';
import { quoteIdentifier } from '../../src/protocol/request-problem.js';
import { anthropicDialect } from '../../src/protocol/anthropic/anthropic-dialect.js';
import { openaiDialect } from '../../src/protocol/openai/openai-dialect.js';

describe('quoteIdentifier', () => {
  it('quotes a short name whole and cuts a long one at 64 characters', () => {
    expect(quoteIdentifier('llama')).toBe("'llama'");
    expect(quoteIdentifier('a'.repeat(100))).toBe(`'${'a'.repeat(64)}...'`);
  });

  it('never cuts between the halves of a surrogate pair, which strict JSON parsers refuse alone', () => {
    const quoted = quoteIdentifier(`${'a'.repeat(63)}😀${'b'.repeat(10)}`);
    expect(quoted).toBe(`'${'a'.repeat(63)}...'`);
    expect(quoted).not.toMatch(/[\ud800-\udbff]/);
  });
});

describe('request problems in plain words', () => {
  const openai = (extra: object): string => {
    const parsed = openaiDialect.parseRequest({ model: 'm', messages: [{ role: 'user', content: 'hi' }], ...extra });
    return parsed.ok ? 'accepted' : parsed.problem.message;
  };
  const anthropic = (extra: object): string => {
    const parsed = anthropicDialect.parseRequest({ model: 'm', messages: [{ role: 'user', content: 'hi' }], ...extra });
    return parsed.ok ? 'accepted' : parsed.problem.message;
  };

  it.each([
    [{ max_tokens: 0 }, 'max_tokens: must be greater than 0'],
    [{ max_tokens: 1.5 }, 'max_tokens: must be a whole number'],
    [{ max_tokens: Number.POSITIVE_INFINITY }, 'max_tokens: must be a finite number'],
    [{ max_tokens: 'ten' }, 'max_tokens: must be a number, got a string'],
    [{ temperature: 3 }, 'temperature: must be at most 2'],
    [{ temperature: -1 }, 'temperature: must be at least 0'],
    [{ messages: [] }, 'messages: must have at least 1 item'],
    [{ model: '' }, 'model: must not be empty'],
    [{ logit_bias: { 50256: 200 } }, 'logit_bias.50256: must be at most 100'],
  ])("zod's own wording is not what an OpenAI caller reads: %j", (extra, message) => {
    expect(openai(extra)).toBe(message);
  });

  it('an Anthropic caller is told a missing max_tokens is required, and which roles there are', () => {
    expect(anthropic({})).toBe('max_tokens: is required: a number');
    expect(anthropic({ max_tokens: 5, messages: [{ role: 'bot', content: 'x' }] })).toBe('messages.0.role: must be one of "user", "assistant", "system"');
  });

  it("a message the schema wrote itself is kept as written", () => {
    expect(openai({ n: 2 })).toBe('n: n must be 1: one choice per request is served (send n requests for n choices)');
  });
});
