import { describe, expect, it } from 'vitest';
import { fitToTokenLimit } from '../../src/gateway/fit-to-token-limit.js';
import type { ChatRequest } from '../../src/protocol/chat.js';

const asked = (maxTokens: number | undefined, thinking?: ChatRequest['thinking']): ChatRequest => ({ model: 'm', messages: [{ role: 'user', content: 'hi' }], maxTokens, temperature: undefined, topP: undefined, stop: [], stream: false, includeUsage: false, finalAssistant: 'continue', ...(thinking === undefined ? {} : { thinking }) });

describe('fitToTokenLimit: a request fitted to its tenant\'s tokens per minute', () => {
  it('within the limit, or without max_tokens, is as asked', () => {
    const small = asked(500);
    expect(fitToTokenLimit(small, 100, 1000)).toEqual({ ok: true, request: small, outputTokens: 500 });
    const unset = asked(undefined);
    expect(fitToTokenLimit(unset, 100, 1000)).toEqual({ ok: true, request: unset, outputTokens: 4096 });
    // A prompt that alone fills the limit is left for the limit to refuse.
    expect(fitToTokenLimit(small, 1000, 1000)).toMatchObject({ ok: true, request: small });
  });

  it("past it, max_tokens is lowered to what the limit leaves after the prompt; a thinking budget below that", () => {
    expect(fitToTokenLimit(asked(64_000), 36_000, 90_000)).toMatchObject({ ok: true, request: { maxTokens: 54_000 }, outputTokens: 54_000 });
    expect(fitToTokenLimit(asked(64_000, { type: 'enabled', budgetTokens: 60_000, display: 'summarized' }), 36_000, 90_000)).toMatchObject({ ok: true, request: { maxTokens: 54_000, thinking: { type: 'enabled', budgetTokens: 53_999, display: 'summarized' } } });
    // A thinking budget that already fits, and adaptive thinking, are kept.
    expect(fitToTokenLimit(asked(64_000, { type: 'enabled', budgetTokens: 10_000 }), 36_000, 90_000)).toMatchObject({ request: { thinking: { budgetTokens: 10_000 } } });
    expect(fitToTokenLimit(asked(64_000, { type: 'adaptive' }), 36_000, 90_000)).toMatchObject({ request: { maxTokens: 54_000, thinking: { type: 'adaptive' } } });
  });

  it('with less than thinking\'s least budget (1,024) left, no room for thinking', () => {
    expect(fitToTokenLimit(asked(8000, { type: 'enabled', budgetTokens: 4000 }), 100, 1000)).toEqual({ ok: false, noRoomForThinking: true, outputTokens: 900 });
    expect(fitToTokenLimit(asked(8000, { type: 'enabled', budgetTokens: 4000 }), 100, 1125)).toMatchObject({ ok: true, request: { maxTokens: 1025, thinking: { budgetTokens: 1024 } } });
  });
});
