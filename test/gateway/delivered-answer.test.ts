import { describe, expect, it } from 'vitest';
import type { ChatEvent } from '../../src/protocol/chat.js';
import { DeliveredAnswer } from '../../src/gateway/delivered-answer.js';

type Delivered = Exclude<ChatEvent, { type: 'finish' } | { type: 'error' }>;

function answer(options: { stop?: string[]; maxTokens?: number; joinWhitespace?: string } = {}): { delivered: DeliveredAnswer; seen: Delivered[] } {
  const seen: Delivered[] = [];
  const delivered = new DeliveredAnswer({ event: (event) => seen.push(event) }, { stop: options.stop ?? [], maxTokens: options.maxTokens }, options.joinWhitespace ?? '');
  return { delivered, seen };
}

const text = (value: string): Extract<ChatEvent, { type: 'text' }> => ({ type: 'text', text: value });

describe('DeliveredAnswer', () => {
  it('passes text on and counts each chunk as a token', () => {
    const { delivered, seen } = answer();
    delivered.text(text('Hello'));
    delivered.text(text(', world'));
    expect(seen).toEqual([text('Hello'), text(', world')]);
    expect([delivered.sent.toString(), delivered.tokens, delivered.deliveredTokens()]).toEqual(['Hello, world', 2, 2]);
  });

  it('cuts at the text limit (256 characters a token of budget), not inside a surrogate pair, and says it overran', () => {
    const { delivered, seen } = answer({ maxTokens: 1 });
    delivered.text(text('a'.repeat(255)));
    expect(delivered.overran).toBe(false);
    delivered.text(text('😀b'));
    // One character of room: half a surrogate pair is none, so nothing more is delivered.
    expect([delivered.overran, delivered.sent.length, seen.length]).toEqual([true, 255, 1]);
    const argumentsToo = answer({ maxTokens: 1 });
    argumentsToo.delivered.tool({ type: 'tool_call', index: 0, id: 'call_1', name: 'f' });
    argumentsToo.delivered.tool({ type: 'tool_arguments', index: 0, text: '{"x":"' + 'y'.repeat(300) });
    expect([argumentsToo.delivered.overran, argumentsToo.delivered.calls.argumentChars]).toEqual([true, 256]);
  });

  it("drops the join's whitespace where the continuation writes it again, and no more", () => {
    const { delivered, seen } = answer({ joinWhitespace: ' \n' });
    delivered.text(text(' '));
    delivered.text(text('\nNext'));
    delivered.text(text(' word'));
    expect(seen).toEqual([text('Next'), text(' word')]);
    const other = answer({ joinWhitespace: ' ' });
    other.delivered.text(text('Next'));
    other.delivered.text(text(' '));
    expect(other.seen).toEqual([text('Next'), text(' ')]);
    other.delivered.resumeAfter('\n');
    other.delivered.text(text('\nmore'));
    expect(other.seen.at(-1)).toEqual(text('more'));
  });

  it('holds a possible stop sequence back, ends at a whole one, and delivers what was held at the end', () => {
    const { delivered, seen } = answer({ stop: ['END'] });
    delivered.text(text('done E'));
    expect([seen.map((event) => (event.type === 'text' ? event.text : '')).join(''), delivered.held]).toEqual(['done ', 'E']);
    delivered.text(text('N'));
    delivered.endHeld();
    expect([delivered.sent.toString(), delivered.guardStop]).toEqual(['done EN', undefined]);
    // Held text at the end is delivered whole, even past the text limit (by less than a stop sequence).
    const atLimit = answer({ stop: ['STOP'], maxTokens: 1 });
    atLimit.delivered.text(text('a'.repeat(254) + 'STO'));
    atLimit.delivered.endHeld();
    expect([atLimit.delivered.sent.length, atLimit.delivered.overran]).toEqual([257, false]);
    const stopped = answer({ stop: ['END'] });
    stopped.delivered.text(text('all EN'));
    stopped.delivered.text(text('D and more'));
    expect([stopped.delivered.sent.toString(), stopped.delivered.guardStop]).toEqual(['all ', 'END']);
  });

  it('keeps a refusal apart from stop sequences, after the text held before it', () => {
    const { delivered, seen } = answer({ stop: ['STOP'] });
    delivered.text(text('I ST'));
    delivered.text({ type: 'text', text: "can't STOP", refusal: true });
    expect(seen).toEqual([text('I '), text('ST'), { type: 'text', text: "can't STOP", refusal: true }]);
    expect(delivered.refused).toBe(true);
  });

  it('counts a call held back in few pieces at least at the estimate of its arguments, and a call drops the join whitespace', () => {
    const { delivered, seen } = answer({ joinWhitespace: ' ' });
    delivered.tool({ type: 'tool_call', index: 0, id: 'call_1', name: 'lookup' });
    delivered.tool({ type: 'tool_arguments', index: 0, text: '{"query":"a long query of many words"}' });
    delivered.tool({ type: 'tool_call_end', index: 0 });
    delivered.text(text(' after'));
    expect(seen.map((event) => event.type)).toEqual(['tool_call', 'tool_arguments', 'text']);
    expect(seen.at(-1)).toEqual(text(' after'));
    // One piece of 39 bytes: the estimate (10) counts, not the one piece; the text chunk adds one.
    expect([delivered.tokens, delivered.deliveredTokens()]).toEqual([2, 11]);
  });

  it('passes thinking on, an empty start as no token, and reasoning as its own text', () => {
    const { delivered, seen } = answer({ stop: ['X'] });
    delivered.thinking({ type: 'thinking', text: '' });
    delivered.thinking({ type: 'thinking', text: 'hmm' });
    delivered.thinking({ type: 'thinking_signature', signature: 'sig' });
    delivered.reasoningPart({ type: 'reasoning', text: 'why' });
    expect(seen.map((event) => event.type)).toEqual(['thinking', 'thinking', 'thinking_signature', 'reasoning']);
    expect([delivered.tokens, delivered.thought.chars, delivered.reasoning.toString(), delivered.written()]).toEqual([2, 3, 'why', 'hmmwhy']);
  });
});
