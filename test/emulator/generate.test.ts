import { describe, expect, it } from 'vitest';
import { corruptMarker, corruptPlan, eventsOfToken, planCompletion, thinkingSignature, vocabulary } from '../../src/emulator/generate.js';
import { estimateTokens } from '../../src/protocol/chat.js';
import { seededRandom } from '../../src/random/seeded-random.js';
import type { ChatRequest } from '../../src/protocol/chat.js';

function request(content: string, extra: Partial<ChatRequest> = {}): ChatRequest {
  return { model: 'm', messages: [{ role: 'user', content }], maxTokens: undefined, temperature: undefined, topP: undefined, stop: [], stream: false, includeUsage: false, finalAssistant: 'continue', ...extra };
}

describe('deterministic answers', () => {
  it('same seed and prompt give the same text; another seed or prompt gives another', () => {
    const a = planCompletion(request('Tell me about switchyards'), { seed: 1, meanOutputTokens: 50 });
    const b = planCompletion(request('Tell me about switchyards'), { seed: 1, meanOutputTokens: 50 });
    const c = planCompletion(request('Tell me about switchyards'), { seed: 2, meanOutputTokens: 50 });
    const d = planCompletion(request('Tell me about rail yards'), { seed: 1, meanOutputTokens: 50 });
    expect(b.text).toBe(a.text);
    expect(c.text).not.toBe(a.text);
    expect(d.text).not.toBe(a.text);
  });

  it("vLLM's ignore_eos runs to max_tokens, and min_tokens holds the natural end and stop sequences off until then", () => {
    const prompt = 'a prompt whose natural answer is short';
    const natural = planCompletion(request(prompt, { maxTokens: 400 }), { seed: 1, meanOutputTokens: 5 });
    expect(natural.usage.outputTokens).toBeLessThan(10);
    expect(natural.finishReason).toBe('stop');
    const ignoring = planCompletion(request(prompt, { maxTokens: 400, serverLength: { ignoreEos: true, minTokens: 0 } }), { seed: 1, meanOutputTokens: 5 });
    expect(ignoring.usage.outputTokens).toBe(400);
    expect(ignoring.finishReason).toBe('length');
    // The same words first: the answer goes on where the natural one ended.
    expect(ignoring.text.startsWith(natural.text)).toBe(true);
    const atLeast = planCompletion(request(prompt, { maxTokens: 400, serverLength: { ignoreEos: false, minTokens: 150 } }), { seed: 1, meanOutputTokens: 5 });
    expect(atLeast.usage.outputTokens).toBe(150);
    expect(atLeast.finishReason).toBe('stop');
    // A stop sequence completed in the first min_tokens tokens does not end it; one completed after
    // does (R31: only the first was looked at; R32: vLLM v1 checks from token min_tokens + 1).
    const words = ignoring.tokens;
    const word = words[1] ?? '';
    const again = words.indexOf(word, 2);
    expect(again).toBeGreaterThan(1);
    const stopped = planCompletion(request(prompt, { maxTokens: 400, stop: [word], serverLength: { ignoreEos: true, minTokens: again } }), { seed: 1, meanOutputTokens: 5 });
    // Counted up to the token that completes it (index `again`), as vLLM counts them (E52).
    expect(stopped).toMatchObject({ finishReason: 'stop', stopSequence: word, usage: { outputTokens: again + 1 } });
    // Completed in token min_tokens itself: not yet.
    const notYet = planCompletion(request(prompt, { maxTokens: 400, stop: [word], serverLength: { ignoreEos: true, minTokens: again + 1 } }), { seed: 1, meanOutputTokens: 5 });
    expect(notYet.usage.outputTokens).toBeGreaterThanOrEqual(again + 1);
    // Two completed in the same token: the first in the list, as vLLM's check takes them (R33).
    const k = words.findIndex((candidate, index) => index > 1 && candidate.length > 3 && !words.slice(0, index).join('').includes(candidate.slice(0, 3)));
    expect(k).toBeGreaterThan(1);
    const whole = words[k] ?? '';
    const byList = (stop: string[]): string | undefined => planCompletion(request(prompt, { maxTokens: 400, stop, serverLength: { ignoreEos: true, minTokens: 0 } }), { seed: 1, meanOutputTokens: 5 }).stopSequence;
    expect(byList([whole, whole.slice(0, 3)])).toBe(whole);
    expect(byList([whole.slice(0, 3), whole])).toBe(whole.slice(0, 3));
    // Of two stops, the one completed first ends the answer, though the other began before it.
    const twoWords = `${words[1] ?? ''}${words[2] ?? ''}${words[3] ?? ''}`;
    const first = planCompletion(request(prompt, { maxTokens: 400, stop: [twoWords, words[2] ?? ''], serverLength: { ignoreEos: true, minTokens: 0 } }), { seed: 1, meanOutputTokens: 5 });
    expect(first).toMatchObject({ finishReason: 'stop', stopSequence: words[2], usage: { outputTokens: 3 } });
    // min_tokens equal to max_tokens: cut at the budget before the end could come (finish length, R31).
    const atBudget = planCompletion(request(prompt, { maxTokens: 20, serverLength: { ignoreEos: false, minTokens: 20 } }), { seed: 1, meanOutputTokens: 5 });
    expect(atBudget).toMatchObject({ finishReason: 'length', usage: { outputTokens: 20 } });
  });

  it('a JSON answer that fills max_tokens exactly finishes length, as a text answer does (R33)', () => {
    const schema = { type: 'object', properties: { v: { type: 'string', enum: ['abcdefgh'] } }, required: ['v'] };
    const json = (maxTokens: number): string => planCompletion(request('answer', { maxTokens, responseFormat: { type: 'json_schema', name: 'r', schema, strict: true } }), { seed: 1, meanOutputTokens: 5 }).finishReason;
    // '{"v":"abcdefgh"}' streams as 4 pieces.
    expect([json(3), json(4), json(5)]).toEqual(['length', 'length', 'stop']);
  });

  it('streams tool arguments and JSON answers without splitting a character across pieces (E40)', () => {
    const schema = { type: 'object', properties: { v: { type: 'string', enum: ['a😀b😀😀 café 🚂🚃🚄'] } }, required: ['v'] };
    const splits = (pieces: readonly string[]): number => pieces.filter((piece) => /[\uD800-\uDBFF]$/.test(piece) || /^[\uDC00-\uDFFF]/.test(piece)).length;
    const called = planCompletion(request('call it', { tools: [{ name: 'f', parameters: schema }], toolChoice: { type: 'required' } }), { seed: 1, meanOutputTokens: 5 });
    const argumentPieces = (called.tokenEvents ?? []).flat().flatMap((event) => (event.type === 'tool_arguments' ? [event.text] : []));
    expect(argumentPieces.join('')).toBe(called.toolCalls?.[0]?.arguments);
    expect(argumentPieces.join('')).toContain('🚂');
    expect(splits(argumentPieces)).toBe(0);
    expect(called.finishReason).toBe('tool_calls');
    const json = planCompletion(request('answer', { responseFormat: { type: 'json_schema', name: 'r', schema, strict: true } }), { seed: 1, meanOutputTokens: 5 });
    expect(JSON.parse(json.text)).toEqual({ v: 'a😀b😀😀 café 🚂🚃🚄' });
    expect(splits(json.tokens)).toBe(0);
  });

  it('one word per token from the vocabulary; the tokens join to the text; usage counts them', () => {
    const plan = planCompletion(request('x'.repeat(41)), { seed: 3, meanOutputTokens: 20 });
    expect(plan.tokens.join('')).toBe(plan.text);
    const words = plan.text.split(' ');
    expect(words.length).toBe(plan.tokens.length);
    for (const word of words) expect(vocabulary).toContain(word);
    expect(plan.usage).toEqual({ inputTokens: 11, outputTokens: words.length });
    expect(plan.finishReason).toBe('stop');
    expect(estimateTokens('abcd')).toBe(1);
    expect(estimateTokens('abcde')).toBe(2);
  });

  it('continuing an assistant turn that ends mid-line starts with a space, so the joined text reads as one answer', () => {
    const prefilled = (content: string): ChatRequest => request('q', { messages: [{ role: 'user', content: 'q' }, { role: 'assistant', content }] });
    const after = planCompletion(prefilled('the fleet'), { seed: 5, meanOutputTokens: 10 });
    expect(after.text.startsWith(' ')).toBe(true);
    expect(('the fleet' + after.text).split(' ').every((word) => vocabulary.includes(word) || word === 'fleet')).toBe(true);
    // Already ending in whitespace, or a fresh answer: no extra space.
    expect(planCompletion(prefilled('the fleet '), { seed: 5, meanOutputTokens: 10 }).text.startsWith(' ')).toBe(false);
    expect(planCompletion(request('q'), { seed: 5, meanOutputTokens: 10 }).text.startsWith(' ')).toBe(false);
  });

  it('a trailing assistant turn to answer after (OpenAI without continue_final_message) gets a fresh answer, not a continuation', () => {
    const messages: ChatRequest['messages'] = [{ role: 'user', content: 'q' }, { role: 'assistant', content: 'the fleet' }];
    const answered = planCompletion(request('q', { messages, finalAssistant: 'answer' }), { seed: 5, meanOutputTokens: 10 });
    expect(answered.text.startsWith(' ')).toBe(false);
    expect(planCompletion(request('q', { messages, finalAssistant: 'continue' }), { seed: 5, meanOutputTokens: 10 }).text).toBe(` ${answered.text}`);
  });

  it('natural lengths are between 1 and 2 x mean - 1, and average near the mean', () => {
    const lengths = Array.from({ length: 400 }, (_, i) => planCompletion(request(`prompt ${i}`), { seed: 9, meanOutputTokens: 10 }).tokens.length);
    expect(Math.min(...lengths)).toBeGreaterThanOrEqual(1);
    expect(Math.max(...lengths)).toBeLessThanOrEqual(19);
    const mean = lengths.reduce((sum, n) => sum + n, 0) / lengths.length;
    expect(mean).toBeGreaterThan(9);
    expect(mean).toBeLessThan(11);
  });

  it('max_tokens cuts the same text short with finish length', () => {
    const full = planCompletion(request('hello there'), { seed: 5, meanOutputTokens: 100 });
    expect(full.tokens.length).toBeGreaterThan(3);
    const cut = planCompletion(request('hello there', { maxTokens: 3 }), { seed: 5, meanOutputTokens: 100 });
    expect(cut.tokens).toEqual(full.tokens.slice(0, 3));
    expect(cut.finishReason).toBe('length');
    const roomy = planCompletion(request('hello there', { maxTokens: full.tokens.length + 1 }), { seed: 5, meanOutputTokens: 100 });
    expect(roomy.finishReason).toBe('stop');
    // A budget the words fill exactly is cut for length before the end could come, as vLLM does (R32).
    const filled = planCompletion(request('hello there', { maxTokens: full.tokens.length }), { seed: 5, meanOutputTokens: 100 });
    expect(filled).toMatchObject({ tokens: full.tokens, finishReason: 'length' });
  });

  it('a stop sequence truncates the text before it with finish stop, naming the sequence', () => {
    const full = planCompletion(request('stop me'), { seed: 5, meanOutputTokens: 100 });
    const third = full.tokens[2] as string;
    const stopped = planCompletion(request('stop me', { stop: [third] }), { seed: 5, meanOutputTokens: 100 });
    expect(stopped.finishReason).toBe('stop');
    expect(stopped.stopSequence).toBe(third);
    expect(full.stopSequence).toBeUndefined();
    expect(stopped.text).toBe(full.text.slice(0, full.text.indexOf(third)));
    expect(stopped.tokens.join('')).toBe(stopped.text);
    // Counted and timed up to the token that completes the stop, as vLLM counts them; those tokens stream nothing (E52).
    expect(stopped.usage.outputTokens).toBe(3);
    expect(stopped.tokens.length).toBe(3);
    expect(eventsOfToken(stopped, 2)).toEqual([]);
    const spanning = `${full.tokens[3] ?? ''}${full.tokens[4] ?? ''}${full.tokens[5] ?? ''}`.trim();
    expect(planCompletion(request('stop me', { stop: [spanning] }), { seed: 5, meanOutputTokens: 100 }).usage.outputTokens).toBe(6);
    const first = planCompletion(request('stop me', { stop: [full.tokens[0] ?? ''] }), { seed: 5, meanOutputTokens: 100 });
    expect(first).toMatchObject({ text: '', tokens: [''], usage: { outputTokens: 1 } });
    // The stop's own tokens are not corrupted (they stream nothing).
    expect(corruptPlan(first, 1, seededRandom(1)).tokens).toEqual(['']);
  });

  it('corruption replaces the chosen fraction of tokens with the marker', () => {
    const plan = planCompletion(request('corrupt me'), { seed: 1, meanOutputTokens: 200 });
    const all = corruptPlan(plan, 1, seededRandom(1));
    expect(all.text).toBe(Array.from({ length: plan.tokens.length }, () => corruptMarker).join(' '));
    expect(all.usage).toEqual(plan.usage);
    expect(corruptPlan(plan, 0, seededRandom(1))).toBe(plan);
    const some = corruptPlan(plan, 0.5, seededRandom(1)).tokens.filter((t) => t.includes(corruptMarker)).length;
    expect(some).toBeGreaterThan(plan.tokens.length * 0.2);
    expect(some).toBeLessThan(plan.tokens.length * 0.8);
  });
});

describe('extended thinking', () => {
  it("corruption garbles the answer's text, not the signed thinking before it (E52: it left the whole answer alone)", () => {
    const plan = planCompletion(request('Which pool?', { thinking: { type: 'enabled', budgetTokens: 1024 }, maxTokens: 2048 }), { seed: 4, meanOutputTokens: 30 });
    const thought = plan.tokenEvents?.filter((events) => events[0]?.type === 'thinking').length ?? 0;
    const all = corruptPlan(plan, 1, seededRandom(1));
    expect(all.thinking).toEqual(plan.thinking);
    expect(all.tokenEvents?.slice(0, thought)).toEqual(plan.tokenEvents?.slice(0, thought));
    const answerTokens = plan.tokens.length - thought;
    expect(answerTokens).toBeGreaterThan(0);
    expect(all.text).toBe(Array.from({ length: answerTokens }, () => corruptMarker).join(' '));
    expect(all.tokens.slice(thought).join('')).toBe(all.text);
    expect(all.tokenEvents?.slice(thought).map((events) => events[0])).toEqual(all.tokens.slice(thought).map((text) => ({ type: 'text', text })));
    expect(all.usage).toEqual(plan.usage);
  });

  it('a signed block of words first, within the budget, leaving the answer a token of max_tokens; the rest as without thinking', () => {
    const asked = request('Which pool?', { thinking: { type: 'enabled', budgetTokens: 1024 }, maxTokens: 2048 });
    const plan = planCompletion(asked, { seed: 4, meanOutputTokens: 30 });
    const thinking = plan.thinking?.[0];
    if (thinking?.type !== 'thinking') throw new Error('no thinking');
    expect(thinking.signature).toBe(thinkingSignature(thinking.thinking));
    const thought = thinking.thinking.split(' ').length;
    expect(thought).toBeGreaterThanOrEqual(8);
    expect(plan.tokens.slice(0, thought).join('')).toBe(thinking.thinking);
    expect(plan.tokenEvents?.[thought - 1]).toEqual([{ type: 'thinking', text: plan.tokens[thought - 1] }, { type: 'thinking_signature', signature: thinking.signature }]);
    expect(plan.usage.outputTokens).toBe(plan.tokens.length);
    expect(planCompletion(asked, { seed: 4, meanOutputTokens: 30 })).toEqual(plan);
    // A max_tokens the thinking fills: the answer ends in its thinking, the block signed all the same
    // (streamed and whole alike), so an agent loop can send it back.
    const tight = planCompletion({ ...asked, maxTokens: 3 }, { seed: 4, meanOutputTokens: 30 });
    expect(tight.tokens).toHaveLength(3);
    expect(tight).toMatchObject({ text: '', finishReason: 'length', usage: { outputTokens: 3 } });
    expect(tight.thinking).toEqual([{ type: 'thinking', thinking: tight.tokens.join(''), signature: thinkingSignature(tight.tokens.join('')) }]);
    expect(tight.tokenEvents?.flat().map((event) => event.type)).toEqual(['thinking', 'thinking', 'thinking', 'thinking_signature']);
    // One more token: thinking and its signature, then a one-token answer.
    const room = planCompletion({ ...asked, maxTokens: 11 }, { seed: 4, meanOutputTokens: 30 });
    expect(room.tokens.length).toBeLessThanOrEqual(11);
  });
});
