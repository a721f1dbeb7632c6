import { describe, expect, it } from 'vitest';
import { estimatePromptTokens, estimateTokens } from '../../src/protocol/chat.js';
import { openaiDialect } from '../../src/protocol/openai/openai-dialect.js';

// Tokenizers spend about a token per four bytes of English and code, and about one per
// character of Chinese, Japanese or Korean (o200k: 0.6-0.8, cl100k: 0.85-1.1). Counted per
// UTF-16 character, a CJK prompt read 3-4.5x low, which let a tenant's burst of such prompts
// pass its tokens-per-minute limit several times over and routed them to windows too small.
describe('estimateTokens', () => {
  it('counts English as four characters a token, as before', () => {
    expect(estimateTokens('The quick brown fox jumps over the lazy dog.')).toBe(11);
    expect(estimateTokens('')).toBe(0);
  });

  it('counts Chinese, Japanese and Korean at no fewer than six tokens in ten characters', () => {
    for (const text of ['网关在接受请求时估计令牌数量，然后根据上游报告的用量进行结算。', 'ゲートウェイは受付時にトークン数を見積もります。', '게이트웨이는 요청을 받을 때 토큰 수를 추정합니다.']) {
      expect(estimateTokens(text)).toBeGreaterThanOrEqual(Math.ceil(text.length * 0.6));
      expect(estimateTokens(text.repeat(100))).toBeGreaterThanOrEqual(text.length * 100 * 0.6);
    }
    // Cyrillic: two bytes a letter, about a token in two letters.
    expect(estimateTokens('Шлюз оценивает количество токенов')).toBe(Math.ceil((29 * 2 + 4) / 4));
  });

  it('counts a request the same way: its prompt is what routing and limits read', () => {
    const text = '网关估计令牌'.repeat(500);
    const parsed = openaiDialect.parseRequest({ model: 'm', messages: [{ role: 'user', content: text }] });
    if (!parsed.ok) throw new Error(parsed.problem.message);
    expect(estimatePromptTokens(parsed.value)).toBeGreaterThanOrEqual(text.length * 0.6);
  });
});
