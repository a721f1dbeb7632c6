import { describe, expect, it } from 'vitest';
import { anthropicDialect } from '../../src/protocol/anthropic/anthropic-dialect.js';
import type { ChatEvent } from '../../src/protocol/chat.js';
import { openaiDialect } from '../../src/protocol/openai/openai-dialect.js';

// Upstreams that answer in the right shape with the wrong content (E45, raw-TCP upstreams): each
// such answer was read as a whole one missing parts, so it ended looking complete, and no other
// endpoint was tried. A malformed part now breaks the stream (resumed elsewhere, or ended with an
// error event), unless the answer was already whole (its finish came): then it ends there (E46).
// More content after a finish means that finish was not the end (R36: Open WebUI sends one first).
// Parts of a newer kind are passed over.

/** Every event an OpenAI-dialect reader gives for the chunks, and whether it said the stream is done. */
function readOpenai(chunks: readonly unknown[]): { events: ChatEvent[]; done: boolean } {
  const reader = openaiDialect.createStreamReader();
  const events: ChatEvent[] = [];
  for (const chunk of chunks) {
    const read = reader.read(undefined, typeof chunk === 'string' ? chunk : JSON.stringify(chunk));
    events.push(...read.events);
    if (read.done) return { events, done: true };
  }
  return { events, done: false };
}

function readAnthropic(frames: readonly { type: string }[]): { events: ChatEvent[]; done: boolean } {
  const reader = anthropicDialect.createStreamReader();
  const events: ChatEvent[] = [];
  for (const frame of frames) {
    const read = reader.read(frame.type, JSON.stringify(frame));
    events.push(...read.events);
    if (read.done) return { events, done: true };
  }
  return { events, done: false };
}

const chunk = (delta: object, finish: string | null = null, index: unknown = 0): object => ({ id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index, delta, logprobs: null, finish_reason: finish }] });
const openaiStart: ChatEvent = { type: 'start', id: 'c1', model: 'm', inputTokens: 0 };
const error = (message: string): ChatEvent => ({ type: 'error', kind: 'api_error', message });

describe('an OpenAI-dialect stream with malformed parts', () => {
  it('content that is not text (a number, an object, a list of no text parts) breaks the stream: dropped, the answer would look whole without it', () => {
    for (const content of [42, { text: 'x' }, [42], [{ type: 'text', text: 7 }], true]) {
      expect(readOpenai([chunk({ role: 'assistant', content: 'Hello' }), chunk({ content })])).toEqual({ events: [openaiStart, { type: 'text', text: 'Hello' }, error('upstream sent a content delta that is not text')], done: true });
    }
    expect(readOpenai([chunk({ refusal: 7 })]).events.at(-1)).toEqual(error('upstream sent a content delta that is not text'));
    // null and absent content are no content, as OpenAI sends them.
    expect(readOpenai([chunk({ role: 'assistant', content: null }), chunk({}, 'stop')])).toEqual({ events: [openaiStart], done: false });
  });

  it('a finish_reason that is not text (a number, true, an object) breaks the stream, as a whole answer\'s schema refuses it: read as a finish, it ended a broken answer as a complete "stop" (R68)', () => {
    const usage = { id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [], usage: { prompt_tokens: 3, completion_tokens: 1 } };
    for (const finish of [7, true, { reason: 'stop' }]) {
      const withFinish = { ...chunk({}), choices: [{ index: 0, delta: {}, logprobs: null, finish_reason: finish }] };
      expect(readOpenai([chunk({ role: 'assistant', content: 'Hello' }), withFinish, usage, '[DONE]'])).toEqual({ events: [openaiStart, { type: 'text', text: 'Hello' }, error('upstream sent a finish_reason that is not text')], done: true });
    }
    // After a finish, a later chunk's finish_reason is not read: its usage still counts (R69).
    const badAfter = { ...usage, choices: [{ index: 0, delta: {}, logprobs: null, finish_reason: 7 }] };
    expect(readOpenai([chunk({ role: 'assistant', content: 'Hello' }), chunk({}, 'stop'), badAfter]).events.at(-1)).toEqual({ type: 'finish', finishReason: 'stop', usage: { inputTokens: 3, outputTokens: 1 } });
    // A string finish, null and an empty one are read as before: null and '' are no finish yet.
    expect(readOpenai([chunk({ role: 'assistant', content: 'Hello' }), chunk({}, ''), chunk({}, 'stop'), usage]).events.at(-1)).toEqual({ type: 'finish', finishReason: 'stop', usage: { inputTokens: 3, outputTokens: 1 } });
  });

  it("a choice other than the one asked for (index 0) breaks the stream: merged in, its words and finish ended a broken answer as whole", () => {
    const second = { id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta: { content: 'a' }, finish_reason: null }, { index: 1, delta: { content: 'b' }, finish_reason: 'stop' }] };
    expect(readOpenai([chunk({ content: 'Hello' }), second]).events.at(-1)).toEqual(error('upstream sent more than one choice, or one that is not an object; the gateway asks for one'));
    expect(readOpenai([chunk({ content: 'Hello' }), chunk({ content: 'OTHER' }, 'stop', 1)]).events.at(-1)).toEqual(error('upstream sent a choice of index 1; the gateway asks for one, index 0'));
    expect(readOpenai([{ id: 'c1', model: 'm', choices: { 0: { index: 0, delta: { content: 'x' } } } }]).events.at(-1)).toEqual(error('upstream sent choices that are not a list'));
    // No choices at all (a usage chunk, an Azure filter-results chunk) is no choice, and no fault.
    expect(readOpenai([chunk({ content: 'Hi' }), { id: 'c1', model: 'm', choices: [], prompt_filter_results: [] }])).toEqual({ events: [openaiStart, { type: 'text', text: 'Hi' }], done: false });
    // A choice without its index is the one asked for.
    expect(readOpenai([{ id: 'c1', model: 'm', choices: [{ delta: { content: 'Hi' } }] }]).events).toEqual([openaiStart, { type: 'text', text: 'Hi' }]);
  });

  it("text after a finish means that finish was not the end: the last one stands (R36: Open WebUI sends 'stop' on its first, empty chunk)", () => {
    const read = readOpenai([
      chunk({ role: 'assistant', content: '' }, 'stop'),
      // The exact layout the fast path reads, then one it does not.
      '{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"The answer"},"logprobs":null,"finish_reason":null}]}',
      chunk({ reasoning_content: 'thought', content: ' is 42.' }),
      chunk({}, 'length'),
      { id: 'c1', model: 'm', choices: [], usage: { prompt_tokens: 3, completion_tokens: 4 } },
      '[DONE]',
    ]);
    expect(read).toEqual({ events: [openaiStart, { type: 'text', text: 'The answer' }, { type: 'reasoning', text: 'thought' }, { type: 'text', text: ' is 42.' }, { type: 'finish', finishReason: 'length', usage: { inputTokens: 3, outputTokens: 4 } }], done: true });
    // With no finish after the text, the stream ended early: no finish, a break.
    expect(readOpenai([chunk({ content: 'Hello' }, 'stop'), chunk({ content: ' MORE' }), '[DONE]'])).toEqual({ events: [openaiStart, { type: 'text', text: 'Hello' }, { type: 'text', text: ' MORE' }], done: true });
  });

  it('a part that cannot be read after the finish ends the answer whole, as it was (E46: it broke a complete answer); [DONE] padded is [DONE]', () => {
    const finished: ChatEvent = { type: 'finish', finishReason: 'stop', usage: { inputTokens: 0, outputTokens: 0 } };
    for (const bad of ['{not json', JSON.stringify(chunk({ content: 'x' }, null, 1)), JSON.stringify(chunk({ content: 42 }))]) {
      expect(readOpenai([chunk({ content: 'Hello' }), chunk({}, 'stop'), bad])).toEqual({ events: [openaiStart, { type: 'text', text: 'Hello' }, finished], done: true });
    }
    expect(readOpenai([chunk({ content: 'Hello' }), chunk({}, 'stop'), '[DONE]  '])).toEqual({ events: [openaiStart, { type: 'text', text: 'Hello' }, finished], done: true });
  });

  it('a finish on nothing is no whole answer: a call after it goes on, and a bad part or a break after it is a break (R37)', () => {
    const call = chunk({ tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] });
    const read = readOpenai([chunk({ role: 'assistant', content: '' }, 'stop'), call, chunk({}, 'tool_calls'), { id: 'c1', model: 'm', choices: [], usage: { prompt_tokens: 3, completion_tokens: 5 } }, '[DONE]']);
    expect(read.events.map((event) => event.type)).toEqual(['start', 'tool_call', 'tool_arguments', 'finish']);
    expect(read.events.at(-1)).toMatchObject({ type: 'finish', finishReason: 'tool_calls' });
    expect(readOpenai([chunk({ role: 'assistant', content: '' }, 'stop'), '{not json']).events.at(-1)).toEqual(error('upstream sent a malformed stream chunk'));
    const reader = openaiDialect.createStreamReader();
    reader.read(undefined, JSON.stringify(chunk({ role: 'assistant', content: '' }, 'stop')));
    expect(reader.announcedFinish()).toBeUndefined();
    // An empty answer that ends properly is still an answer.
    expect(readOpenai([chunk({ role: 'assistant', content: '' }, 'stop'), '[DONE]']).events.at(-1)).toMatchObject({ type: 'finish', finishReason: 'stop' });
  });

  it("a list of content parts (Mistral's reasoning models) is read as text and reasoning, streamed and whole", () => {
    const thinking = { type: 'thinking', thinking: [{ type: 'text', text: 'Let me see.' }] };
    expect(readOpenai([chunk({ content: [thinking] }), chunk({ content: [{ type: 'text', text: 'Paris' }, { type: 'reference', reference_ids: [1] }] }), chunk({ content: '.' }, 'stop')]).events).toEqual([openaiStart, { type: 'reasoning', text: 'Let me see.' }, { type: 'text', text: 'Paris' }, { type: 'text', text: '.' }]);
    const whole = openaiDialect.parseResult({ id: 'c1', object: 'chat.completion', created: 1, model: 'm', choices: [{ index: 0, message: { role: 'assistant', content: [thinking, { type: 'text', text: 'Paris.' }] }, finish_reason: 'stop' }], usage: { prompt_tokens: 3, completion_tokens: 5 } });
    expect(whole).toMatchObject({ ok: true, value: { text: 'Paris.', reasoning: 'Let me see.' } });
    // A part with text is text whatever its type says (R37: dropped); thinking that is no text is no part.
    expect(readOpenai([chunk({ content: [{ text: 'Par' }, { type: 'output_text', text: 'is' }] })]).events).toEqual([openaiStart, { type: 'text', text: 'Paris' }]);
    expect(readOpenai([chunk({ content: [{ type: 'thinking', thinking: { a: 1 } }] })]).events.at(-1)).toEqual(error('upstream sent a content delta that is not text'));
  });

  it('a whole (JSON) answer with a second choice, or only a choice of another index, is no answer', () => {
    const message = (content: string): object => ({ role: 'assistant', content });
    const answer = (choices: object[]): object => ({ id: 'c1', object: 'chat.completion', created: 1, model: 'm', choices, usage: { prompt_tokens: 3, completion_tokens: 2 } });
    expect(openaiDialect.parseResult(answer([{ index: 1, message: message('other'), finish_reason: 'stop' }, { index: 0, message: message('mine'), finish_reason: 'length' }])).ok).toBe(false);
    expect(openaiDialect.parseResult(answer([{ index: 1, message: message('other'), finish_reason: 'stop' }])).ok).toBe(false);
    expect(openaiDialect.parseResult(answer([{ index: 0, message: message('mine'), finish_reason: 'stop' }]))).toMatchObject({ ok: true, value: { text: 'mine' } });
    expect(openaiDialect.parseResult(answer([{ message: message('mine'), finish_reason: 'stop' }]))).toMatchObject({ ok: true, value: { text: 'mine' } });
  });
});

const messageStart = { type: 'message_start', message: { id: 'msg_1', model: 'm', usage: { input_tokens: 3, output_tokens: 1 } } };
const anthropicStart: ChatEvent = { type: 'start', id: 'msg_1', model: 'm', inputTokens: 3 };
const textBlock = (index: number): { type: string } => ({ type: 'content_block_start', index, content_block: { type: 'text', text: '' } } as { type: string });
const textDelta = (index: number, text: unknown): { type: string } => ({ type: 'content_block_delta', index, delta: { type: 'text_delta', text } } as { type: string });
const blockStop = (index: number): { type: string } => ({ type: 'content_block_stop', index } as { type: string });
const stopReason = { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 2 } };

describe('an Anthropic-dialect stream with malformed parts', () => {
  it('a text or thinking delta that is not text, or a delta of no type, breaks the stream', () => {
    expect(readAnthropic([messageStart, textBlock(0), textDelta(0, 'Hi'), textDelta(0, 42)])).toEqual({ events: [anthropicStart, { type: 'text', text: 'Hi' }, error('upstream sent a text delta that is not text')], done: true });
    const thinking = { type: 'content_block_start', index: 0, content_block: { type: 'thinking', thinking: '' } };
    expect(readAnthropic([messageStart, thinking, { type: 'content_block_delta', index: 0, delta: { type: 'thinking_delta', thinking: { x: 1 } } } as { type: string }]).events.at(-1)).toEqual(error('upstream sent a thinking delta that is not text'));
    expect(readAnthropic([messageStart, textBlock(0), { type: 'content_block_delta', index: 0, delta: { text: 'Hi' } } as { type: string }]).events.at(-1)).toEqual(error('upstream sent a content delta with no type'));
    const tool = { type: 'content_block_start', index: 0, content_block: { type: 'tool_use', id: 'toolu_1', name: 'f', input: {} } };
    expect(readAnthropic([messageStart, tool, { type: 'content_block_delta', index: 0, delta: { type: 'input_json_delta', partial_json: { a: 1 } } } as { type: string }]).events.at(-1)).toEqual(error("upstream sent a tool call's input that is not text"));
  });

  it('a delta of a newer type (citations_delta) is passed over, and the answer goes on', () => {
    const citation = { type: 'content_block_delta', index: 0, delta: { type: 'citations_delta', citation: { type: 'char_location' } } } as { type: string };
    expect(readAnthropic([messageStart, textBlock(0), textDelta(0, 'Hi'), citation, textDelta(0, ' there'), blockStop(0), stopReason, { type: 'message_stop' }])).toEqual({
      events: [anthropicStart, { type: 'text', text: 'Hi' }, { type: 'text', text: ' there' }, { type: 'finish', finishReason: 'stop', usage: { inputTokens: 3, outputTokens: 2 } }],
      done: true,
    });
  });

  it('a delta for a block stopped, or a call\'s input for a block never begun, breaks the stream; text for a block never begun begins it (R36: servers that send no content_block_start)', () => {
    expect(readAnthropic([messageStart, textBlock(0), textDelta(0, 'Hi'), blockStop(0), textDelta(0, 'AFTER')]).events.at(-1)).toEqual(error('upstream sent a content_block_delta for content block 0, which is not open'));
    expect(readAnthropic([messageStart, { type: 'content_block_delta', index: 2, delta: { type: 'input_json_delta', partial_json: '{}' } } as { type: string }]).events.at(-1)).toEqual(error('upstream sent a content_block_delta for content block 2, which is not open'));
    expect(readAnthropic([messageStart, textDelta(0, 'Hello'), textDelta(0, ' there'), blockStop(0), stopReason, { type: 'message_stop' }])).toEqual({
      events: [anthropicStart, { type: 'text', text: 'Hello' }, { type: 'text', text: ' there' }, { type: 'finish', finishReason: 'stop', usage: { inputTokens: 3, outputTokens: 2 } }],
      done: true,
    });
  });

  it('content after the stop reason means it was not the end: a stream that stops without another is broken', () => {
    expect(readAnthropic([messageStart, textBlock(0), textDelta(0, 'Hello'), blockStop(0), stopReason, textBlock(1), textDelta(1, ' AFTER'), { type: 'message_stop' }])).toEqual({
      events: [anthropicStart, { type: 'text', text: 'Hello' }, { type: 'text', text: ' AFTER' }],
      done: true,
    });
  });

  it('a stop reason on nothing is no whole answer: a bad part after it is a break (R37)', () => {
    expect(readAnthropic([messageStart, stopReason, { type: 'ping' }]).events).toEqual([anthropicStart]);
    const reader = anthropicDialect.createStreamReader();
    for (const frame of [messageStart, stopReason]) reader.read(frame.type, JSON.stringify(frame));
    expect(reader.announcedFinish()).toBeUndefined();
    expect(reader.read(undefined, '{not json')).toEqual({ events: [error('upstream sent a malformed stream event')], done: true });
    // An empty answer that stops properly is still an answer.
    expect(readAnthropic([messageStart, stopReason, { type: 'message_stop' }]).events.at(-1)).toMatchObject({ type: 'finish', finishReason: 'stop' });
  });

  it('a part that cannot be read after the stop reason ends the answer whole, as it was (E46)', () => {
    const finished: ChatEvent = { type: 'finish', finishReason: 'stop', usage: { inputTokens: 3, outputTokens: 2 } };
    const whole = [messageStart, textBlock(0), textDelta(0, 'Hello'), blockStop(0), stopReason];
    expect(readAnthropic([...whole, textDelta(0, 'AFTER')])).toEqual({ events: [anthropicStart, { type: 'text', text: 'Hello' }, finished], done: true });
    // A block that cannot be read, begun after it, likewise.
    for (const block of [{ type: 'tool_use', id: 'toolu_1', input: {} }, { type: 'redacted_thinking' }]) {
      expect(readAnthropic([...whole, { type: 'content_block_start', index: 1, content_block: block } as { type: string }])).toEqual({ events: [anthropicStart, { type: 'text', text: 'Hello' }, finished], done: true });
    }
    const reader = anthropicDialect.createStreamReader();
    for (const frame of whole) reader.read(frame.type, JSON.stringify(frame));
    expect(reader.read(undefined, '[DONE]')).toEqual({ events: [finished], done: true });
  });

  it('a message without its message_start gets one made up, so that a caller\'s stream begins as Anthropic\'s SDKs require; a later start is passed over', () => {
    expect(readAnthropic([textBlock(0), textDelta(0, 'Hi'), messageStart, blockStop(0), stopReason, { type: 'message_stop' }])).toEqual({
      events: [{ type: 'start', id: '', model: '', inputTokens: 0 }, { type: 'text', text: 'Hi' }, { type: 'finish', finishReason: 'stop', usage: { inputTokens: 0, outputTokens: 2 } }],
      done: true,
    });
    // A ping first is no part of the message.
    expect(readAnthropic([{ type: 'ping' }, messageStart]).events).toEqual([anthropicStart]);
  });

  it('an id or model that is not text is none; a call of no id then gets one made up (R50: an id of 7 threw, and the answer failed as a break)', () => {
    const oddStart = { type: 'message_start', message: { id: 7, model: { name: 'm' }, usage: { input_tokens: 3, output_tokens: 1 } } };
    const call = { type: 'content_block_start', index: 0, content_block: { type: 'tool_use', id: '', name: 'f', input: {} } };
    expect(readAnthropic([oddStart, call]).events).toEqual([{ type: 'start', id: '', model: '', inputTokens: 3 }, { type: 'tool_call', index: 0, id: 'call_0', name: 'f' }]);
  });
});

describe('an OpenAI-dialect stream whose id or model is not text', () => {
  it('reads them as none; a call of no id then gets one made up (R50)', () => {
    const odd = { id: 7, object: 'chat.completion.chunk', created: 1, model: 42, choices: [{ index: 0, delta: { tool_calls: [{ index: 0, type: 'function', function: { name: 'f', arguments: '{}' } }] }, finish_reason: null }] };
    const finish = { ...odd, choices: [{ index: 0, delta: {}, finish_reason: 'tool_calls' }] };
    expect(readOpenai([odd, finish]).events.slice(0, 2)).toEqual([{ type: 'start', id: '', model: '', inputTokens: 0 }, { type: 'tool_call', index: 0, id: 'call_0', name: 'f' }]);
  });
});
