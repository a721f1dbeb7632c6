import { describe, expect, it } from 'vitest';
import type { ChatEvent } from '../../src/protocol/chat.js';
import { anthropicDialect } from '../../src/protocol/anthropic/anthropic-dialect.js';
import { openaiDialect } from '../../src/protocol/openai/openai-dialect.js';

// Finishes that end no answer, and errors that come after an answer ended: neither may make a
// broken answer look whole, nor a whole one (a refusal, a cut) look broken and be continued.
const openaiChunk = (choice: object, extra: object = {}): string => JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 0, model: 'm', choices: [{ index: 0, ...choice }], ...extra });
const readOpenai = (chunks: readonly string[]): ChatEvent[] => {
  const reader = openaiDialect.createStreamReader();
  return chunks.flatMap((chunk) => reader.read(undefined, chunk).events);
};
const anthropicFrame = (type: string, data: object): [string, string] => [type, JSON.stringify({ type, ...data })];
const readAnthropic = (frames: readonly [string, string][]): ChatEvent[] => {
  const reader = anthropicDialect.createStreamReader();
  return frames.flatMap(([type, data]) => reader.read(type, data).events);
};

describe('finish reasons that end no answer', () => {
  it("vLLM's abort and error, streamed or whole, are a broken answer, not a stop", () => {
    for (const reason of ['abort', 'error']) {
      const events = readOpenai([openaiChunk({ delta: { content: 'this answer was ' }, finish_reason: null }), openaiChunk({ delta: { content: 'cut' }, finish_reason: reason })]);
      expect(events.at(-1)).toEqual({ type: 'error', kind: 'api_error', message: `the upstream ended the answer with finish_reason '${reason}' (its generation failed part-way)` });
      expect(events.filter((event) => event.type === 'finish')).toEqual([]);
      const whole = { id: 'c', object: 'chat.completion', created: 0, model: 'm', choices: [{ index: 0, message: { role: 'assistant', content: 'this answer was cut' }, finish_reason: reason }], usage: { prompt_tokens: 3, completion_tokens: 4 } };
      expect(openaiDialect.parseResult(whole)).toEqual({ ok: false, problem: { status: 502, kind: 'api_error', message: `the upstream ended the answer with finish_reason '${reason}' (its generation failed part-way)` } });
    }
  });

  it("a legacy function_call finish without tool calls is refused, with them it ends the calls", () => {
    const legacy = readOpenai([openaiChunk({ delta: { function_call: { name: 'f', arguments: '{}' } }, finish_reason: null }), openaiChunk({ delta: {}, finish_reason: 'function_call' })]);
    expect(legacy.at(-1)).toMatchObject({ type: 'error', message: expect.stringContaining('legacy function_call') as unknown });
    const called = readOpenai([openaiChunk({ delta: { tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: 'f', arguments: '{}' } }] }, finish_reason: null }), openaiChunk({ delta: {}, finish_reason: 'function_call' }), JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 0, model: 'm', choices: [], usage: { prompt_tokens: 3, completion_tokens: 4 } })]);
    expect(called.at(-1)).toMatchObject({ type: 'finish', finishReason: 'tool_calls' });
  });
});

describe('a whole answer without a finish (an upstream that answers a stream request with JSON)', () => {
  it('is no answer in either dialect, as a stream that ends without one is not: it may have been cut short (E59)', () => {
    const openaiWhole = { id: 'c', object: 'chat.completion', created: 0, model: 'm', choices: [{ index: 0, message: { role: 'assistant', content: 'Partial answer cut' }, finish_reason: null }], usage: { prompt_tokens: 5, completion_tokens: 3 } };
    expect(openaiDialect.parseResult(openaiWhole)).toEqual({ ok: false, problem: { status: 502, kind: 'api_error', message: 'upstream returned a whole answer whose finish_reason is null: it may have been cut short, so it is not passed on as complete' } });
    const anthropicWhole = { id: 'msg_1', type: 'message', role: 'assistant', model: 'm', content: [{ type: 'text', text: 'Partial answer cut' }], stop_reason: null, stop_sequence: null, usage: { input_tokens: 5, output_tokens: 3 } };
    expect(anthropicDialect.parseResult(anthropicWhole)).toEqual({ ok: false, problem: { status: 502, kind: 'api_error', message: 'upstream returned a whole answer whose stop_reason is null: it may have been cut short, so it is not passed on as complete' } });
    // With a finish each is the answer it always was.
    expect(openaiDialect.parseResult({ ...openaiWhole, choices: [{ index: 0, message: { role: 'assistant', content: 'Whole' }, finish_reason: 'stop' }] })).toMatchObject({ ok: true, value: { text: 'Whole', finishReason: 'stop' } });
    expect(anthropicDialect.parseResult({ ...anthropicWhole, stop_reason: 'end_turn' })).toMatchObject({ ok: true, value: { text: 'Partial answer cut', finishReason: 'stop' } });
  });
});

describe('an Anthropic message_stop without a stop reason', () => {
  it('ends no answer, as OpenAI [DONE] without a finish_reason: the stream is done with no finish', () => {
    const start = anthropicFrame('message_start', { message: { id: 'msg_1', model: 'm', usage: { input_tokens: 5 } } });
    const text = [anthropicFrame('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }), anthropicFrame('content_block_delta', { index: 0, delta: { type: 'text_delta', text: 'Hel' } })];
    for (const frames of [[anthropicFrame('message_stop', {})], [start, anthropicFrame('message_stop', {})], [start, ...text, anthropicFrame('message_stop', {})], [start, ...text, anthropicFrame('content_block_stop', { index: 0 }), anthropicFrame('message_stop', {})]]) {
      const reader = anthropicDialect.createStreamReader();
      const last = frames.map(([type, data]) => reader.read(type, data)).at(-1);
      expect(last).toEqual({ events: [], done: true });
      expect(reader.announcedFinish()).toBeUndefined();
    }
    // With the stop reason named first it is the whole answer it always was.
    const whole = readAnthropic([start, ...text, anthropicFrame('message_delta', { delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 1 } }), anthropicFrame('message_stop', {})]);
    expect(whole.at(-1)).toEqual({ type: 'finish', finishReason: 'stop', usage: { inputTokens: 5, outputTokens: 1 } });
  });
});

describe('an error after the answer announced its end', () => {
  it('OpenAI: the finish stands, the error is dropped', () => {
    const events = readOpenai([openaiChunk({ delta: { content: 'Filtered part' }, finish_reason: null }), openaiChunk({ delta: {}, finish_reason: 'content_filter' }), JSON.stringify({ error: { message: 'upstream hiccup' } })]);
    expect(events.at(-1)).toEqual({ type: 'finish', finishReason: 'content_filter', usage: { inputTokens: 0, outputTokens: 0 } });
    expect(events.some((event) => event.type === 'error')).toBe(false);
    // Before the finish, an error is the break it always was.
    expect(readOpenai([openaiChunk({ delta: { content: 'half' }, finish_reason: null }), JSON.stringify({ error: { message: 'upstream hiccup' } })]).at(-1)).toMatchObject({ type: 'error', fromUpstream: true });
    // Older vLLM's flat error object is an error too, with its words (not a chunk with nothing in it).
    const flat = JSON.stringify({ object: 'error', message: "This model's maximum context length is 8192 tokens", type: 'BadRequestError', param: null, code: 400 });
    expect(readOpenai([flat])).toEqual([{ type: 'error', kind: 'api_error', message: "This model's maximum context length is 8192 tokens", fromUpstream: true }]);
  });

  it('Anthropic: message_delta with a stop reason, then an error event, is the announced finish', () => {
    const start = anthropicFrame('message_start', { message: { id: 'msg_1', model: 'm', usage: { input_tokens: 5 } } });
    const text = [anthropicFrame('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }), anthropicFrame('content_block_delta', { index: 0, delta: { type: 'text_delta', text: 'I will not' } })];
    for (const [stopReason, finishReason] of [['refusal', 'content_filter'], ['max_tokens', 'length']] as const) {
      const events = readAnthropic([start, ...text, anthropicFrame('message_delta', { delta: { stop_reason: stopReason, stop_sequence: null }, usage: { output_tokens: 3 } }), anthropicFrame('error', { error: { type: 'overloaded_error', message: 'Overloaded' } })]);
      expect(events.at(-1)).toEqual({ type: 'finish', finishReason, usage: { inputTokens: 5, outputTokens: 3 } });
      expect(events.some((event) => event.type === 'error')).toBe(false);
    }
  });

  it("Anthropic: text in a text block's start is passed on", () => {
    const events = readAnthropic([anthropicFrame('message_start', { message: { id: 'msg_1', model: 'm', usage: { input_tokens: 5 } } }), anthropicFrame('content_block_start', { index: 0, content_block: { type: 'text', text: 'PREFIX-' } }), anthropicFrame('content_block_delta', { index: 0, delta: { type: 'text_delta', text: 'rest' } })]);
    expect(events.filter((event) => event.type === 'text')).toEqual([{ type: 'text', text: 'PREFIX-' }, { type: 'text', text: 'rest' }]);
  });

  it('Anthropic: a tool call still open is no whole answer, whatever follows the finish', () => {
    const open = [anthropicFrame('message_start', { message: { id: 'msg_1', model: 'm', usage: { input_tokens: 5 } } }), anthropicFrame('content_block_start', { index: 0, content_block: { type: 'tool_use', id: 'toolu_1', name: 'get', input: {} } }), anthropicFrame('content_block_delta', { index: 0, delta: { type: 'input_json_delta', partial_json: '{"city": "Pa' } }), anthropicFrame('message_delta', { delta: { stop_reason: 'tool_use', stop_sequence: null }, usage: { output_tokens: 3 } })];
    expect(readAnthropic([...open, anthropicFrame('error', { error: { type: 'overloaded_error', message: 'Overloaded' } })]).at(-1)).toMatchObject({ type: 'error', kind: 'overloaded' });
    expect(readAnthropic([...open, anthropicFrame('message_stop', {})]).at(-1)).toEqual({ type: 'error', kind: 'api_error', message: 'upstream ended the message inside a tool call' });
    const reader = anthropicDialect.createStreamReader();
    for (const [type, data] of open) reader.read(type, data);
    expect(reader.announcedFinish()).toBeUndefined();
    // Closed, the call is whole: the finish stands.
    reader.read('content_block_stop', JSON.stringify({ type: 'content_block_stop', index: 0 }));
    expect(reader.announcedFinish()).toMatchObject({ type: 'finish', finishReason: 'tool_calls' });
  });
});
