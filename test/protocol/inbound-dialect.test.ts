import { describe, expect, it } from 'vitest';
import { inboundDialect, isChatPath } from '../../src/protocol/inbound-dialect.js';

describe('inboundDialect', () => {
  const anthropicClient = { 'anthropic-version': '2023-06-01' };

  it("a chat path, or a path under it, names its dialect whatever the headers say", () => {
    expect(inboundDialect('/v1/chat/completions', anthropicClient).name).toBe('openai');
    expect(inboundDialect('/v1/messages').name).toBe('anthropic');
    expect(inboundDialect('/v1/messages/count_tokens').name).toBe('anthropic');
    expect(inboundDialect('/v1/messagesx').name).toBe('openai');
  });

  it("elsewhere a dialect's own version header names it, else OpenAI's is the default", () => {
    expect(inboundDialect('/v1/models', anthropicClient).name).toBe('anthropic');
    expect(inboundDialect('/v1/models').name).toBe('openai');
    expect(inboundDialect('/v1/responses', { 'x-request-id': 'r1' }).name).toBe('openai');
    expect(inboundDialect('/nowhere', anthropicClient).name).toBe('anthropic');
  });

  it('isChatPath is true for the chat paths alone', () => {
    expect(['/v1/chat/completions', '/v1/messages', '/v1/messages/count_tokens', '/v1/models', '/'].map(isChatPath)).toEqual([true, true, false, false, false]);
  });
});
