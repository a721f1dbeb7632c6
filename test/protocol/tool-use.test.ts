import { describe, expect, it } from 'vitest';
import type { ChatMessage, ToolDefinition } from '../../src/protocol/chat.js';
import { toolUseIssue } from '../../src/protocol/tool-use.js';

const weather: ToolDefinition = { name: 'get_weather', parameters: { type: 'object' } };
const time: ToolDefinition = { name: 'get_time', parameters: { type: 'object' } };
const user = (content: string): ChatMessage => ({ role: 'user', content });
const calls = (...ids: string[]): ChatMessage => ({ role: 'assistant', content: '', toolCalls: ids.map((id) => ({ id, name: 'get_weather', arguments: '{}' })) });
const result = (id: string): ChatMessage => ({ role: 'tool', content: '18 degrees', toolCallId: id });

describe('toolUseIssue: what both dialects refuse about tools, checked once', () => {
  it('a consistent agent turn passes: question, two calls, both results, the next question', () => {
    expect(toolUseIssue([user('q'), calls('a', 'b'), result('b'), result('a'), user('thanks'), calls('c'), result('c')], [weather], { type: 'auto' }, true)).toBeUndefined();
    // System messages may stand between a call and its results (Anthropic moves them to the system prompt).
    expect(toolUseIssue([user('q'), calls('a'), { role: 'system', content: 'be brief' }, result('a')], [weather], undefined, true)).toBeUndefined();
  });

  it('tool choices: a named tool must be offered; a required one needs tools', () => {
    expect(toolUseIssue([user('q')], [weather], { type: 'tool', name: 'get_time' }, true)).toEqual({ field: 'tool_choice', text: "names a tool ('get_time') that is not among the tools offered" });
    expect(toolUseIssue([user('q')], undefined, { type: 'required' }, true)).toMatchObject({ field: 'tool_choice', text: expect.stringMatching(/needs tools/) });
    expect(toolUseIssue([user('q')], undefined, { type: 'tool', name: 'get_time' }, true)).toMatchObject({ field: 'tool_choice' });
    expect(toolUseIssue([user('q')], undefined, { type: 'none' }, true)).toBeUndefined();
    expect(toolUseIssue([user('q')], [weather, time], { type: 'tool', name: 'get_time' }, true)).toBeUndefined();
  });

  it('two tools of one name are refused', () => {
    expect(toolUseIssue([user('q')], [weather, weather], undefined, true)).toEqual({ field: 'tools', text: "two tools are named 'get_weather': tool names must be unique" });
  });

  it('tool turns in a request that offers no tools are refused where the API refuses them (Anthropic), at the first such turn; OpenAI takes them', () => {
    expect(toolUseIssue([user('q'), calls('a'), result('a'), user('more')], undefined, undefined, true)).toMatchObject({ message: 1, field: 'messages', text: expect.stringMatching(/needs the tools it used/) });
    expect(toolUseIssue([user('q'), calls('a'), result('a'), user('more')], undefined, undefined, false)).toBeUndefined();
    // Still checked as a conversation: a result must answer a call.
    expect(toolUseIssue([user('q'), result('a')], undefined, undefined, false)).toMatchObject({ message: 1, field: 'messages' });
    expect(toolUseIssue([user('q'), calls('a'), result('a'), user('more')], [weather], { type: 'none' }, true)).toBeUndefined();
  });

  it('a result that answers no pending call is refused at the result', () => {
    expect(toolUseIssue([user('q'), calls('a'), result('x')], [weather], undefined, true)).toEqual({ message: 2, field: 'messages', text: "a tool result for 'x', which is no unanswered tool call of the assistant turn before it" });
    // Answered twice: the second answers nothing pending.
    expect(toolUseIssue([user('q'), calls('a'), result('a'), result('a')], [weather], undefined, true)).toMatchObject({ message: 3 });
    // A result of an earlier turn's call, after the conversation moved on.
    expect(toolUseIssue([user('q'), calls('a'), result('a'), user('next'), result('a')], [weather], undefined, true)).toMatchObject({ message: 4 });
  });

  it('calls left unanswered when the conversation moves on, or at its end, are refused at the calling turn', () => {
    expect(toolUseIssue([user('q'), calls('a', 'b'), result('a'), user('next')], [weather], undefined, true)).toEqual({ message: 1, field: 'messages', text: "its tool calls ('b') have no results: each call needs a tool result right after the assistant turn" });
    expect(toolUseIssue([user('q'), calls('a')], [weather], undefined, true)).toMatchObject({ message: 1, text: expect.stringMatching(/ends with tool calls/) });
    // One of two answered: the missing one is named.
    expect(toolUseIssue([user('q'), calls('a1', 'a2'), result('a1')], [weather], undefined, true)).toEqual({ message: 1, field: 'messages', text: "the conversation ends with tool calls ('a2') that have no results: send a result for each after it (an answer cannot continue a tool call)" });
  });

  it('two calls of one id in a turn are refused; an id an earlier turn used is not (OpenAI takes it; the Anthropic encoder renames it)', () => {
    expect(toolUseIssue([user('q'), calls('a', 'a'), result('a')], [weather], undefined, true)).toMatchObject({ message: 1, text: "calls two tools with the same id 'a': tool call ids must be unique" });
    expect(toolUseIssue([user('q'), calls('a'), result('a'), user('again'), calls('a'), result('a')], [weather], undefined, true)).toBeUndefined();
  });

  it('read as a server (the emulator), Anthropic refuses an id an earlier turn used, as Anthropic does; the gateway takes it', async () => {
    const { anthropicDialect } = await import('../../src/protocol/anthropic/anthropic-dialect.js');
    const turn = (id: string): unknown[] => [
      { role: 'assistant', content: [{ type: 'tool_use', id, name: 'get_weather', input: {} }] },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: id, content: 'sunny' }] },
    ];
    const body = { model: 'm', max_tokens: 5, tools: [{ name: 'get_weather', input_schema: { type: 'object' } }], messages: [{ role: 'user', content: 'q' }, ...turn('toolu_1'), ...turn('toolu_1')] };
    expect(anthropicDialect.parseRequest(body).ok).toBe(true);
    const asServer = anthropicDialect.parseRequest(body, { asServer: true });
    expect(asServer.ok ? undefined : asServer.problem).toEqual({ status: 400, kind: 'invalid_request', param: 'messages.3', message: 'messages.3: tool_use ids must be unique' });
  });

  it('the Anthropic encoder renames an id an earlier turn used, with the result that answers it', async () => {
    const { anthropicDialect } = await import('../../src/protocol/anthropic/anthropic-dialect.js');
    const encoded = anthropicDialect.encodeRequest({ model: 'm', messages: [user('q'), calls('a'), result('a'), user('again'), calls('a', 'b'), result('b'), result('a')], tools: [weather], maxTokens: 5, temperature: undefined, topP: undefined, stop: [], stream: false, includeUsage: false, finalAssistant: 'answer' }) as { messages: { content: unknown }[] };
    const ids = JSON.stringify(encoded.messages.map((message) => message.content)).match(/"(id|tool_use_id)":"[^"]+"/g);
    expect(ids).toEqual(['"id":"a"', '"tool_use_id":"a"', '"id":"a_2"', '"id":"b"', '"tool_use_id":"b"', '"tool_use_id":"a_2"']);
  });

  it('ids that are not plain names are not quoted back (messages are logged)', () => {
    const odd = 'x'.repeat(60);
    expect(toolUseIssue([user('q'), calls('a'), result(odd)], [weather], undefined, true)?.text).toBe('a tool result for a tool call, which is no unanswered tool call of the assistant turn before it');
  });

  it('tool schemas that are not objects are refused in both dialects, as both APIs refuse them', async () => {
    const { openaiDialect } = await import('../../src/protocol/openai/openai-dialect.js');
    const { anthropicDialect } = await import('../../src/protocol/anthropic/anthropic-dialect.js');
    const openai = openaiDialect.parseRequest({ model: 'm', messages: [{ role: 'user', content: 'q' }], tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'array' } } }] });
    expect(openai.ok ? undefined : openai.problem).toEqual({ status: 400, kind: 'invalid_request', param: 'tools.0.function.parameters.type', message: "tools.0.function.parameters.type: a function's arguments are an object: parameters.type must be 'object'" });
    const anthropic = anthropicDialect.parseRequest({ model: 'm', max_tokens: 5, messages: [{ role: 'user', content: 'q' }], tools: [{ name: 'f', input_schema: { type: 'string' } }] });
    expect(anthropic.ok ? undefined : anthropic.problem).toEqual({ status: 400, kind: 'invalid_request', param: 'tools.0.input_schema.type', message: "tools.0.input_schema.type: a tool's input is an object: input_schema.type must be 'object'" });
    // No type at all: read as an object, as OpenAI callers often leave it out.
    expect(openaiDialect.parseRequest({ model: 'm', messages: [{ role: 'user', content: 'q' }], tools: [{ type: 'function', function: { name: 'f', parameters: { properties: {} } } }] }).ok).toBe(true);
  });
});
