import { describe, expect, it } from 'vitest';
import { anthropicDialect } from '../../src/protocol/anthropic/anthropic-dialect.js';
import { withoutPrefillWhitespace } from '../../src/gateway/answer-pump.js';
import { openaiDialect } from '../../src/protocol/openai/openai-dialect.js';
import { readRequest, refusalOf } from './read-request.js';

/**
 * Anthropic prompt caching through the gateway: the caller's cache_control breakpoints reach an
 * Anthropic-dialect upstream where it put them (system blocks, a turn's end, a tool result, a
 * tool), so cached prefixes are billed as cached; OpenAI-dialect upstreams, which cache prefixes by
 * themselves, get the same request without them.
 */

const ephemeral = { type: 'ephemeral' };
const tool = { name: 'search', input_schema: { type: 'object', properties: { q: { type: 'string' } } }, cache_control: ephemeral };
const body = {
  model: 'm',
  max_tokens: 100,
  system: [
    { type: 'text', text: 'You answer from the handbook.' },
    { type: 'text', text: 'HANDBOOK: a long document', cache_control: { type: 'ephemeral', ttl: '1h' } },
  ],
  tools: [tool],
  messages: [
    { role: 'user', content: [{ type: 'text', text: 'What does chapter 2 say?', cache_control: ephemeral }] },
    { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'search', input: { q: 'chapter 2' } }] },
    { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: 'Chapter 2: routing', cache_control: ephemeral }] },
  ],
};

describe('cache_control from an Anthropic caller', () => {
  it('reaches an Anthropic-dialect upstream where the caller put it', () => {
    const wire = anthropicDialect.encodeRequest(readRequest(anthropicDialect, body)) as Record<string, unknown>;
    expect(wire.system).toEqual(body.system);
    expect(wire.tools).toEqual([tool]);
    expect(wire.messages).toEqual(body.messages);
  });

  it("at the request's top level (automatic caching) reaches an Anthropic-dialect upstream there, and is left out for OpenAI-dialect ones", () => {
    const automatic = { model: 'm', max_tokens: 100, cache_control: { type: 'ephemeral', ttl: '1h' }, messages: [{ role: 'user', content: 'What does chapter 2 say?' }] };
    const read = readRequest(anthropicDialect, automatic);
    expect(anthropicDialect.encodeRequest(read)).toMatchObject({ cache_control: { type: 'ephemeral', ttl: '1h' } });
    expect(anthropicDialect.encodeRequest(readRequest(anthropicDialect, { ...automatic, cache_control: ephemeral }))).toMatchObject({ cache_control: ephemeral });
    expect(anthropicDialect.encodeRequest(readRequest(anthropicDialect, { ...automatic, cache_control: null }))).not.toHaveProperty('cache_control');
    expect(openaiDialect.encodeRequest(read)).not.toHaveProperty('cache_control');
    expect(refusalOf(anthropicDialect, { ...automatic, cache_control: { type: 'persistent' } })).toEqual({ param: 'cache_control.type', message: "cache_control.type: cache_control.type must be 'ephemeral'" });
  });

  it('is left out for OpenAI-dialect upstreams, which cache prefixes by themselves; the system prompt stays one message, as without breakpoints', () => {
    const wire = openaiDialect.encodeRequest(readRequest(anthropicDialect, body)) as { messages: unknown[]; tools: unknown[] };
    expect(JSON.stringify(wire)).not.toContain('cache');
    expect(wire.messages.slice(0, 2)).toEqual([
      { role: 'system', content: 'You answer from the handbook.\nHANDBOOK: a long document' },
      { role: 'user', content: 'What does chapter 2 say?' },
    ]);
  });

  it('inside tool result content, or on a prefill the gateway rewrites, is kept', () => {
    const inResult = {
      ...body,
      messages: [body.messages[0], body.messages[1], { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: [{ type: 'text', text: 'Chapter 2', cache_control: ephemeral }] }] }],
    };
    const wire = anthropicDialect.encodeRequest(readRequest(anthropicDialect, inResult)) as { messages: unknown[] };
    expect(wire.messages[2]).toEqual({ role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: 'Chapter 2', cache_control: ephemeral }] });

    // A prefill ending in whitespace, which the gateway trims before sending (Anthropic refuses it).
    const prefill = readRequest(anthropicDialect, { model: 'm', max_tokens: 10, messages: [{ role: 'user', content: 'Describe it.' }, { role: 'assistant', content: [{ type: 'text', text: 'It is ', cache_control: ephemeral }] }] });
    const sent = anthropicDialect.encodeRequest(withoutPrefillWhitespace(prefill)) as { messages: unknown[] };
    expect(sent.messages[1]).toEqual({ role: 'assistant', content: [{ type: 'text', text: 'It is', cache_control: ephemeral }] });
  });

  it('a request without breakpoints is written as before: the system prompt a string, turns plain', () => {
    const plain = { model: 'm', max_tokens: 10, system: [{ type: 'text', text: 'a' }, { type: 'text', text: 'b' }], messages: [{ role: 'user', content: 'hi' }] };
    const wire = anthropicDialect.encodeRequest(readRequest(anthropicDialect, plain)) as Record<string, unknown>;
    expect(wire.system).toBe('a\nb');
    expect(wire.messages).toEqual([{ role: 'user', content: 'hi' }]);
  });

  it("a user turn's breakpoints before its last block stay on their blocks, each with its ttl (a document cached, the question after it not)", () => {
    const content = [
      { type: 'text', text: 'BIG DOC 1', cache_control: { type: 'ephemeral', ttl: '1h' } },
      { type: 'text', text: 'BIG DOC 2', cache_control: ephemeral },
      { type: 'text', text: 'question 1?' },
    ];
    const read = readRequest(anthropicDialect, { model: 'm', max_tokens: 10, messages: [{ role: 'user', content }] });
    expect((anthropicDialect.encodeRequest(read) as Record<string, unknown>).messages).toEqual([{ role: 'user', content }]);
    // An OpenAI-dialect upstream gets the same text, joined one per line as before, without breakpoints.
    const openai = openaiDialect.encodeRequest(read) as { messages: unknown[] };
    expect(openai.messages).toEqual([{ role: 'user', content: 'BIG DOC 1\nBIG DOC 2\nquestion 1?' }]);

    // With an image and a document between, each breakpoint stays where it was too.
    const image = { type: 'image', source: { type: 'url', url: 'https://example.com/a.png' }, cache_control: ephemeral };
    const document = { type: 'document', source: { type: 'text', media_type: 'text/plain', data: 'the handbook' }, title: 'Handbook', cache_control: { type: 'ephemeral', ttl: '1h' } };
    const mixed = [document, image, { type: 'text', text: 'What does it show?' }];
    const wire = anthropicDialect.encodeRequest(readRequest(anthropicDialect, { model: 'm', max_tokens: 10, messages: [{ role: 'user', content: mixed }] })) as Record<string, unknown>;
    expect(wire.messages).toEqual([{ role: 'user', content: mixed }]);
  });

  it('a user turn of several blocks is sent as those blocks whether this request marks it or not, so a later request finds the cache at their ends (R39)', () => {
    const marked = [{ type: 'text', text: 'BIG DOC', cache_control: ephemeral }, { type: 'text', text: 'q1?' }];
    const conversation = (first: object[]): Record<string, unknown> => ({ model: 'm', max_tokens: 10, messages: [{ role: 'user', content: first }, { role: 'assistant', content: 'a1' }, { role: 'user', content: [{ type: 'text', text: 'q2?', cache_control: ephemeral }] }] });
    const wire = (first: object[]): unknown[] => (anthropicDialect.encodeRequest(readRequest(anthropicDialect, conversation(first))) as { messages: unknown[] }).messages;
    expect(wire(marked)[0]).toEqual({ role: 'user', content: marked });
    expect(wire([{ type: 'text', text: 'BIG DOC' }, { type: 'text', text: 'q1?' }])[0]).toEqual({ role: 'user', content: [{ type: 'text', text: 'BIG DOC' }, { type: 'text', text: 'q1?' }] });
    // A breakpoint on a block of whitespace (which Anthropic refuses, so it is left out) goes to the block before it, or after it when first.
    expect(wire([{ type: 'text', text: 'BIG DOC' }, { type: 'text', text: ' \n', cache_control: ephemeral }, { type: 'text', text: 'q1?' }])[0]).toEqual({ role: 'user', content: [{ type: 'text', text: 'BIG DOC', cache_control: ephemeral }, { type: 'text', text: 'q1?' }] });
    expect(wire([{ type: 'text', text: ' ', cache_control: ephemeral }, { type: 'text', text: 'q1?' }])[0]).toEqual({ role: 'user', content: [{ type: 'text', text: 'q1?', cache_control: ephemeral }] });
  });

  it("inside a tool result's content, breakpoints stay on their blocks, each with its ttl; on its one block, on the result (R39)", () => {
    const hour = { type: 'ephemeral', ttl: '1h' };
    const content = [{ type: 'text', text: 'DOC1', cache_control: hour }, { type: 'text', text: 'DOC2', cache_control: ephemeral }, { type: 'text', text: 'tail' }];
    const result = { type: 'tool_result', tool_use_id: 'toolu_1', content };
    const request = { ...body, messages: [body.messages[0], body.messages[1], { role: 'user', content: [result] }] };
    const wire = anthropicDialect.encodeRequest(readRequest(anthropicDialect, request)) as { messages: unknown[] };
    expect(wire.messages[2]).toEqual({ role: 'user', content: [result] });
    // An OpenAI-dialect upstream gets the result's text joined, as before.
    expect((openaiDialect.encodeRequest(readRequest(anthropicDialect, request)) as { messages: unknown[] }).messages.at(-1)).toMatchObject({ role: 'tool', content: 'DOC1\nDOC2\ntail' });
    // Blocks of whitespace alone, all left out: the result's text, the breakpoint on the result (R40).
    const blank = { type: 'tool_result', tool_use_id: 'toolu_1', content: [{ type: 'text', text: ' ', cache_control: hour }, { type: 'text', text: '\n' }] };
    const sent = anthropicDialect.encodeRequest(readRequest(anthropicDialect, { ...request, messages: [body.messages[0], body.messages[1], { role: 'user', content: [blank] }] })) as { messages: unknown[] };
    expect(sent.messages[2]).toEqual({ role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: ' \n\n', cache_control: hour }] });
  });

  it("a breakpoint on a one-block turn's block, or inside an assistant turn, is kept at the end of its message (a string turn becomes one block)", () => {
    const last = { model: 'm', max_tokens: 10, messages: [{ role: 'user', content: [{ type: 'text', text: 'one', cache_control: ephemeral }] }] };
    expect((anthropicDialect.encodeRequest(readRequest(anthropicDialect, last)) as Record<string, unknown>).messages).toEqual([{ role: 'user', content: [{ type: 'text', text: 'one', cache_control: ephemeral }] }]);
    const assistant = {
      model: 'm',
      max_tokens: 10,
      messages: [
        { role: 'user', content: 'Look it up.' },
        { role: 'assistant', content: [{ type: 'text', text: 'Searching.', cache_control: ephemeral }, { type: 'tool_use', id: 'toolu_1', name: 'search', input: { q: 'x' } }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: 'found' }] },
      ],
    };
    const wire = anthropicDialect.encodeRequest(readRequest(anthropicDialect, { ...assistant, tools: [tool] })) as { messages: unknown[] };
    expect(wire.messages[1]).toEqual({ role: 'assistant', content: [{ type: 'text', text: 'Searching.' }, { type: 'tool_use', id: 'toolu_1', name: 'search', input: { q: 'x' }, cache_control: ephemeral }] });
  });

  it('a cache_control of another type or ttl is refused, naming it', () => {
    expect(refusalOf(anthropicDialect, { ...body, tools: [{ ...tool, cache_control: { type: 'persistent' } }] })).toEqual({ param: 'tools.0.cache_control.type', message: "tools.0.cache_control.type: cache_control.type must be 'ephemeral'" });
    expect(refusalOf(anthropicDialect, { ...body, system: [{ type: 'text', text: 'x', cache_control: { type: 'ephemeral', ttl: '1d' } }] })).toMatchObject({ param: 'system.0.cache_control.ttl' });
  });
});
