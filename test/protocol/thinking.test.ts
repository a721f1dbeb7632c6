import { describe, expect, it } from 'vitest';
import { anthropicDialect } from '../../src/protocol/anthropic/anthropic-dialect.js';
import type { ChatEvent } from '../../src/protocol/chat.js';
import { openaiDialect } from '../../src/protocol/openai/openai-dialect.js';
import { readRequest, refusalOf } from './read-request.js';

// Extended thinking in the canonical model: read from and written to Anthropic's API, left out of
// OpenAI's (its Chat Completions API shows no thinking).

const ask = { model: 'm', max_tokens: 2048, messages: [{ role: 'user', content: 'q' }] };
const signed = { type: 'thinking', thinking: 'Consider the pools.', signature: 'c2lnbmVk' };
const redacted = { type: 'redacted_thinking', data: 'ZW5jcnlwdGVk' };

describe('reading thinking from Anthropic callers', () => {
  it('enabled with a budget, adaptive, or disabled (none)', () => {
    expect(readRequest(anthropicDialect, { ...ask, thinking: { type: 'enabled', budget_tokens: 1024 } }).thinking).toEqual({ type: 'enabled', budgetTokens: 1024 });
    expect(readRequest(anthropicDialect, { ...ask, thinking: { type: 'adaptive' } }).thinking).toEqual({ type: 'adaptive' });
    expect(readRequest(anthropicDialect, { ...ask, thinking: { type: 'disabled' } })).not.toHaveProperty('thinking');
  });

  it.each([
    [{ type: 'enabled', budget_tokens: 512 }, 'thinking.budget_tokens', 'thinking.budget_tokens: budget_tokens must be at least 1024'],
    [{ type: 'enabled', budget_tokens: 2048 }, 'thinking.budget_tokens', 'thinking.budget_tokens: budget_tokens (2048) must be below max_tokens (2048): the answer comes out of the same budget'],
    [{ type: 'on' }, 'thinking.type', 'thinking.type: thinking is {"type": "enabled", "budget_tokens": N}, {"type": "adaptive"} or {"type": "disabled"}'],
  ])('%j is refused, naming the field', (thinking, param, message) => {
    expect(refusalOf(anthropicDialect, { ...ask, thinking })).toEqual({ param, message });
  });

  it("an assistant turn's thinking and redacted thinking blocks are kept, in order, before its text and calls", () => {
    const request = readRequest(anthropicDialect, {
      ...ask,
      tools: [{ name: 'f', input_schema: { type: 'object' } }],
      messages: [{ role: 'user', content: 'q' }, { role: 'assistant', content: [signed, redacted, { type: 'tool_use', id: 'c1', name: 'f', input: {} }] }, { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'c1', content: 'ok' }] }],
    });
    expect(request.messages[1]).toEqual({ role: 'assistant', content: '', toolCalls: [{ id: 'c1', name: 'f', arguments: '{}' }], thinking: [{ type: 'thinking', thinking: 'Consider the pools.', signature: 'c2lnbmVk' }, { type: 'redacted_thinking', data: 'ZW5jcnlwdGVk' }] });
  });
});

describe('writing thinking', () => {
  const history = readRequest(anthropicDialect, { ...ask, thinking: { type: 'enabled', budget_tokens: 1024 }, messages: [{ role: 'user', content: 'q' }, { role: 'assistant', content: [signed, { type: 'text', text: 'Frankfurt.' }] }, { role: 'user', content: 'why?' }] });

  it('to Anthropic-dialect upstreams: the config, and the blocks back as they came', () => {
    expect(anthropicDialect.encodeRequest(history)).toMatchObject({ thinking: { type: 'enabled', budget_tokens: 1024 }, messages: [{ role: 'user', content: 'q' }, { role: 'assistant', content: [signed, { type: 'text', text: 'Frankfurt.' }] }, { role: 'user', content: 'why?' }] });
    expect(anthropicDialect.encodeRequest({ ...history, thinking: { type: 'adaptive' } })).toMatchObject({ thinking: { type: 'adaptive' } });
  });

  it('to an Anthropic-dialect endpoint without thinking (thinking: false): the history without its blocks', () => {
    const { thinking: _asked, ...plain } = history;
    expect(anthropicDialect.encodeRequest(plain, { withoutThinking: true })).toMatchObject({ messages: [{ role: 'user', content: 'q' }, { role: 'assistant', content: 'Frankfurt.' }, { role: 'user', content: 'why?' }] });
  });

  it('to OpenAI-dialect upstreams: none (routing keeps thinking requests away; history blocks are left out)', () => {
    const sent = JSON.stringify(openaiDialect.encodeRequest(history));
    expect(sent).not.toContain('thinking');
    expect(sent).not.toContain('c2lnbmVk');
    expect(sent).toContain('Frankfurt.');
  });

  it('a whole answer: thinking blocks first, for Anthropic callers; OpenAI callers see the text alone', () => {
    const result = { id: 'msg_1', model: 'm', text: 'Frankfurt.', finishReason: 'stop' as const, thinking: [{ type: 'thinking' as const, thinking: 'Consider the pools.', signature: 'c2lnbmVk' }, { type: 'redacted_thinking' as const, data: 'ZW5jcnlwdGVk' }], usage: { inputTokens: 3, outputTokens: 9 } };
    const written = anthropicDialect.formatResult(result, 0) as { content: unknown[] };
    expect(written.content).toEqual([signed, redacted, { type: 'text', text: 'Frankfurt.' }]);
    const read = anthropicDialect.parseResult(written);
    expect(read.ok ? read.value : read.problem).toMatchObject({ text: 'Frankfurt.', thinking: result.thinking });
    expect(JSON.stringify(openaiDialect.formatResult(result, 0))).not.toContain('Consider');
  });
});

describe('streamed thinking', () => {
  const upstreamFrames = [
    ['message_start', { message: { id: 'msg_1', model: 'm', usage: { input_tokens: 3 } } }],
    ['content_block_start', { index: 0, content_block: { type: 'thinking', thinking: '', signature: '' } }],
    ['content_block_delta', { index: 0, delta: { type: 'thinking_delta', thinking: 'Consider ' } }],
    ['content_block_delta', { index: 0, delta: { type: 'thinking_delta', thinking: 'the pools.' } }],
    ['content_block_delta', { index: 0, delta: { type: 'signature_delta', signature: 'c2lnbmVk' } }],
    ['content_block_stop', { index: 0 }],
    ['content_block_start', { index: 1, content_block: { type: 'redacted_thinking', data: 'ZW5jcnlwdGVk' } }],
    ['content_block_stop', { index: 1 }],
    ['content_block_start', { index: 2, content_block: { type: 'text', text: '' } }],
    ['content_block_delta', { index: 2, delta: { type: 'text_delta', text: 'Frankfurt.' } }],
    ['content_block_stop', { index: 2 }],
    ['message_delta', { delta: { stop_reason: 'end_turn' }, usage: { output_tokens: 9 } }],
    ['message_stop', {}],
  ] as const;
  const events: ChatEvent[] = [
    { type: 'start', id: 'msg_1', model: 'm', inputTokens: 3 },
    { type: 'thinking', text: '' },
    { type: 'thinking', text: 'Consider ' },
    { type: 'thinking', text: 'the pools.' },
    { type: 'thinking_signature', signature: 'c2lnbmVk' },
    { type: 'redacted_thinking', data: 'ZW5jcnlwdGVk' },
    { type: 'text', text: 'Frankfurt.' },
    { type: 'finish', finishReason: 'stop', usage: { inputTokens: 3, outputTokens: 9 } },
  ];

  it('an Anthropic upstream stream reads as thinking, signature and redacted events', () => {
    const reader = anthropicDialect.createStreamReader();
    expect(upstreamFrames.flatMap(([type, data]) => reader.read(type, JSON.stringify({ type, ...data })).events)).toEqual(events);
  });

  it('written back to an Anthropic caller frame by frame, each block closed after its signature', () => {
    const writer = anthropicDialect.createStreamWriter({ includeUsage: true, created: 0 });
    const frames = events.map((event) => writer.write(event)).join('').split('\n\n').filter((frame) => frame !== '').map((frame) => frame.slice(frame.indexOf('data: ') + 6));
    expect(frames.slice(1, -2)).toEqual([
      '{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}}',
      '{"type":"ping"}',
      '{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"Consider "}}',
      '{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"the pools."}}',
      '{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"c2lnbmVk"}}',
      '{"type":"content_block_stop","index":0}',
      '{"type":"content_block_start","index":1,"content_block":{"type":"redacted_thinking","data":"ZW5jcnlwdGVk"}}',
      '{"type":"content_block_stop","index":1}',
      '{"type":"content_block_start","index":2,"content_block":{"type":"text","text":""}}',
      '{"type":"content_block_delta","index":2,"delta":{"type":"text_delta","text":"Frankfurt."}}',
      '{"type":"content_block_stop","index":2}',
    ]);
  });

  it('an OpenAI caller streams the text alone', () => {
    const writer = openaiDialect.createStreamWriter({ includeUsage: false, created: 0 });
    const written = events.map((event) => writer.write(event)).join('');
    expect(written).not.toContain('Consider');
    expect(written).toContain('Frankfurt.');
  });
});

describe('the emulator, as an Anthropic server, refuses what Anthropic refuses with thinking on', () => {
  const server = (body: object): unknown => {
    const parsed = anthropicDialect.parseRequest({ ...ask, thinking: { type: 'enabled', budget_tokens: 1024 }, ...body }, { asServer: true });
    return parsed.ok ? 'accepted' : parsed.problem.message;
  };
  it.each([
    [{ messages: [{ role: 'user', content: 'q' }, { role: 'assistant', content: 'Once' }] }, 'messages.1: a final assistant turn (a prefill) cannot be continued with thinking on'],
    [{ tools: [{ name: 'f', input_schema: { type: 'object' } }], tool_choice: { type: 'any' } }, 'tool_choice: thinking may not be enabled when tool_choice forces tool use'],
    [{ temperature: 0.2 }, 'temperature: temperature may only be set to 1 when thinking is enabled'],
    [{ top_k: 5 }, 'top_k: top_k may not be set when thinking is enabled'],
  ])('%j', (body, message) => {
    expect(server(body)).toBe(message);
  });
  it('and takes the rest, as the gateway takes all of these', () => {
    expect(server({ temperature: 1 })).toBe('accepted');
    expect(refusalOf(anthropicDialect, { ...ask, thinking: { type: 'enabled', budget_tokens: 1024 }, temperature: 0.2 })).toBe('accepted');
  });
});
