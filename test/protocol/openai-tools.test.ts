import { ChatCompletionStream } from 'openai/lib/ChatCompletionStream';
import { describe, expect, it } from 'vitest';
import type { ChatEvent, ChatRequest, ChatResult } from '../../src/protocol/chat.js';
import { anthropicDialect } from '../../src/protocol/anthropic/anthropic-dialect.js';
import { openaiDialect } from '../../src/protocol/openai/openai-dialect.js';

/** Tool calling in the OpenAI Chat Completions dialect: requests, answers and streams, both ways. */

const weatherTool = { type: 'function', function: { name: 'get_weather', description: 'Weather in a city', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } } };
const timeTool = { type: 'function', function: { name: 'get_time' } };
const callWeather = { id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } };

function request(extra: object): Record<string, unknown> {
  return { model: 'm', messages: [{ role: 'user', content: 'weather in Paris?' }], ...extra };
}

function parse(extra: object, options?: { asServer: boolean }): ChatRequest {
  const parsed = openaiDialect.parseRequest(request(extra), options);
  if (!parsed.ok) throw new Error(parsed.problem.message);
  return parsed.value;
}

function problemOf(extra: object): unknown {
  const parsed = openaiDialect.parseRequest(request(extra));
  return parsed.ok ? 'accepted' : parsed.problem;
}

/** A conversation in which the model called get_weather, answered by its result. */
const calledAndAnswered = [
  { role: 'user', content: 'weather in Paris?' },
  { role: 'assistant', content: null, tool_calls: [callWeather] },
  { role: 'tool', tool_call_id: 'call_1', content: '{"temperature":21}' },
];

describe('parsing OpenAI tools, tool choice and parallel_tool_calls', () => {
  it('function tools become canonical definitions; parameters left out are a function of no arguments', () => {
    expect(parse({ tools: [weatherTool, timeTool] }).tools).toEqual([
      { name: 'get_weather', description: 'Weather in a city', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } },
      { name: 'get_time', parameters: { type: 'object', properties: {} } },
    ]);
    // Null fields are left out, and strict false asks for nothing.
    expect(parse({ tools: [{ type: 'function', function: { name: 'f', description: null, parameters: null, strict: false } }] }).tools).toEqual([{ name: 'f', parameters: { type: 'object', properties: {} } }]);
    expect(parse({ tools: [{ type: 'function', function: { name: 'f', strict: null } }] }).tools).toEqual([{ name: 'f', parameters: { type: 'object', properties: {} } }]);
  });

  it.each([{ tools: null }, { tools: [] }, {}])('%j offers no tools: tools is left out of the canonical request', (extra) => {
    const parsed = parse(extra);
    expect(parsed).not.toHaveProperty('tools');
    expect(parsed).not.toHaveProperty('toolChoice');
  });

  it.each([
    ['none', { type: 'none' }],
    ['auto', { type: 'auto' }],
    ['required', { type: 'required' }],
    [{ type: 'function', function: { name: 'get_time' } }, { type: 'tool', name: 'get_time' }],
  ])('tool_choice %j is read as %j', (choice, canonical) => {
    expect(parse({ tools: [weatherTool, timeTool], tool_choice: choice }).toolChoice).toEqual(canonical);
  });

  it('parallel_tool_calls is carried when set; null is not setting it', () => {
    expect(parse({ tools: [weatherTool], parallel_tool_calls: false }).parallelToolCalls).toBe(false);
    expect(parse({ tools: [weatherTool], parallel_tool_calls: true }).parallelToolCalls).toBe(true);
    expect(parse({ tools: [weatherTool], parallel_tool_calls: null })).not.toHaveProperty('parallelToolCalls');
    expect(parse({ tools: [weatherTool], tool_choice: null })).not.toHaveProperty('toolChoice');
  });

  it("without tools, tool_choice 'auto' or 'none' and parallel_tool_calls ask for nothing and are left out", () => {
    for (const extra of [{ tool_choice: 'none' }, { tool_choice: 'auto' }, { parallel_tool_calls: false }, { tools: [], tool_choice: 'auto', parallel_tool_calls: true }]) {
      const parsed = parse(extra);
      expect(parsed).not.toHaveProperty('toolChoice');
      expect(parsed).not.toHaveProperty('parallelToolCalls');
      expect(parsed).not.toHaveProperty('tools');
    }
  });

  it('a model server (the emulator) reads tools as the gateway does', () => {
    expect(parse({ tools: [weatherTool], tool_choice: 'required', parallel_tool_calls: false, messages: calledAndAnswered }, { asServer: true })).toMatchObject({
      tools: [{ name: 'get_weather' }],
      toolChoice: { type: 'required' },
      parallelToolCalls: false,
      messages: [{ role: 'user' }, { role: 'assistant', toolCalls: [{ id: 'call_1' }] }, { role: 'tool', toolCallId: 'call_1' }],
    });
    expect(parse({ tools: [{ type: 'function', function: { name: 'f', strict: true } }] }, { asServer: true }).tools).toEqual([{ name: 'f', parameters: { type: 'object', properties: {}, required: [], additionalProperties: false }, strict: true }]);
  });
});

describe('parsing OpenAI tool calls and tool results in messages', () => {
  it('an assistant turn that called tools and the results that answer it become canonical messages', () => {
    expect(parse({ tools: [weatherTool], messages: calledAndAnswered }).messages).toEqual([
      { role: 'user', content: 'weather in Paris?' },
      { role: 'assistant', content: '', toolCalls: [{ id: 'call_1', name: 'get_weather', arguments: '{"city":"Paris"}' }] },
      { role: 'tool', content: '{"temperature":21}', toolCallId: 'call_1' },
    ]);
  });

  it("an assistant turn's content may be null, left out, '' or text beside its calls; a call's type may be left out", () => {
    const { type: _type, ...untyped } = callWeather;
    for (const [turn, content] of [
      [{ content: null, tool_calls: [callWeather] }, ''],
      [{ tool_calls: [untyped] }, ''],
      [{ content: '', tool_calls: [callWeather] }, ''],
      [{ content: 'Let me check.', tool_calls: [callWeather] }, 'Let me check.'],
      [{ content: [{ type: 'text', text: 'Let' }, { type: 'text', text: 'me check.' }], tool_calls: [callWeather] }, 'Let\nme check.'],
    ] as const) {
      const messages = [calledAndAnswered[0], { role: 'assistant', ...turn }, calledAndAnswered[2]];
      expect(parse({ tools: [weatherTool], messages }).messages[1]).toEqual({ role: 'assistant', content, toolCalls: [{ id: 'call_1', name: 'get_weather', arguments: '{"city":"Paris"}' }] });
    }
  });

  it('a tool result may be text parts (joined one per line) or empty', () => {
    const withResult = (content: unknown): ChatRequest['messages'] => parse({ tools: [weatherTool], messages: [calledAndAnswered[0], calledAndAnswered[1], { role: 'tool', tool_call_id: 'call_1', content }] }).messages;
    expect(withResult([{ type: 'text', text: 'sunny' }, { type: 'text', text: '21C' }])[2]).toEqual({ role: 'tool', content: 'sunny\n21C', toolCallId: 'call_1' });
    expect(withResult('')[2]).toEqual({ role: 'tool', content: '', toolCallId: 'call_1' });
  });

  it('parallel calls are answered by one tool message each, in any order', () => {
    const second = { id: 'call_2', type: 'function', function: { name: 'get_time', arguments: '{}' } };
    const messages = [
      { role: 'user', content: 'weather and time?' },
      { role: 'assistant', content: null, tool_calls: [callWeather, second] },
      { role: 'tool', tool_call_id: 'call_2', content: 'noon' },
      { role: 'tool', tool_call_id: 'call_1', content: 'sunny' },
      { role: 'assistant', content: 'Sunny at noon.' },
      { role: 'user', content: 'thanks' },
    ];
    expect(parse({ tools: [weatherTool, timeTool], messages }).messages.map((message) => message.toolCallId ?? message.toolCalls?.length ?? message.role)).toEqual(['user', 2, 'call_2', 'call_1', 'assistant', 'user']);
  });
});

describe('OpenAI tool requests the gateway refuses, naming the field', () => {
  const bad = (messages: unknown[]): object => ({ tools: [weatherTool], messages });
  it.each([
    // Tools.
    [{ tools: [{ type: 'function', function: { name: 'get weather' } }] }, 'tools.0.function.name', "a tool name is 1 to 64 ASCII letters, digits, '_' or '-'"],
    [{ tools: [weatherTool, { type: 'function', function: { name: 'x'.repeat(65) } }] }, 'tools.1.function.name', "a tool name is 1 to 64 ASCII letters, digits, '_' or '-'"],
    [{ tools: [{ type: 'function', function: {} }] }, 'tools.0.function.name', 'is required: a string'],
    [{ tools: [{ type: 'function', function: { name: 'f', strict: 1 } }] }, 'tools.0.function.strict', 'must be a boolean, got a number'],
    [{ tools: [{ type: 'custom', custom: { name: 'f' } }] }, 'tools.0.type', "'custom' tools are not supported by Switchyard: only 'function' tools"],
    [{ tools: [{ type: 'my tool!', function: { name: 'f' } }] }, 'tools.0.type', "tools of that type are not supported by Switchyard: only 'function' tools"],
    [{ tools: [{ function: { name: 'f' } }] }, 'tools.0.type', `is required: 'function' (a tool here is {"type": "function", "function": {"name": ..., "parameters": {...}}}; {"name": ..., "input_schema": ...} is the Anthropic Messages form, for POST /v1/messages)`],
    [{ tools: [{ name: 'f', input_schema: { type: 'object' } }] }, 'tools.0.type', `is required: 'function' (a tool here is {"type": "function", "function": {"name": ..., "parameters": {...}}}; {"name": ..., "input_schema": ...} is the Anthropic Messages form, for POST /v1/messages)`],
    [{ tools: [{ type: 'function', function: { name: 'f', parameters: [] } }] }, 'tools.0.function.parameters', 'parameters must be a JSON Schema object'],
    [{ tools: [weatherTool, weatherTool] }, 'tools', "two tools are named 'get_weather': tool names must be unique"],
    // Tool choice.
    [{ tools: [weatherTool], tool_choice: 'any' }, 'tool_choice', `tool_choice must be 'none', 'auto', 'required' or {"type": "function", "function": {"name": "..."}}: 'any' is the Anthropic Messages API's tool choice: here, send 'required'`],
    [{ tools: [weatherTool], tool_choice: { type: 'any' } }, 'tool_choice', `tool_choice must be 'none', 'auto', 'required' or {"type": "function", "function": {"name": "..."}}: 'any' is the Anthropic Messages API's tool choice: here, send 'required'`],
    [{ tools: [weatherTool], tool_choice: 'sometimes' }, 'tool_choice', `tool_choice must be 'none', 'auto', 'required' or {"type": "function", "function": {"name": "..."}}`],
    [{ tools: [weatherTool], tool_choice: { type: 'auto' } }, 'tool_choice', `tool_choice must be 'none', 'auto', 'required' or {"type": "function", "function": {"name": "..."}}: 'auto' is sent as the string itself, not as an object`],
    [{ tools: [weatherTool], tool_choice: { type: 'tool', name: 'get_weather' } }, 'tool_choice', `tool_choice must be 'none', 'auto', 'required' or {"type": "function", "function": {"name": "..."}}: {"type": "tool", "name": ...} is the Anthropic Messages API's form: here, send {"type": "function", "function": {"name": ...}}`],
    [{ mcp_servers: null, tools: [weatherTool], tool_choice: 'sometimes' }, 'tool_choice', `tool_choice must be 'none', 'auto', 'required' or {"type": "function", "function": {"name": "..."}}`],
    [{ mcp_servers: [{ type: 'url', url: 'https://mcp.example', name: 'm' }] }, 'mcp_servers', 'mcp_servers is a field of the Anthropic Messages API, and MCP servers (tools) are not supported by Switchyard yet'],
    [{ tools: [weatherTool], tool_choice: { type: 'function', function: {} } }, 'tool_choice', `tool_choice must be 'none', 'auto', 'required' or {"type": "function", "function": {"name": "..."}}: a function tool choice names the tool in function.name`],
    [{ tools: [weatherTool], tool_choice: { type: 'allowed_tools', allowed_tools: { mode: 'auto', tools: [] } } }, 'tool_choice', "allowed_tools tool choices are not supported by Switchyard yet: send only the allowed tools, with tool_choice 'auto' or 'required'"],
    [{ tools: [weatherTool], tool_choice: { type: 'custom', custom: { name: 'f' } } }, 'tool_choice', `tool_choice must be 'none', 'auto', 'required' or {"type": "function", "function": {"name": "..."}}: 'custom' tool choices are not supported by Switchyard: only 'function' tool choices`],
    [{ tool_choice: 'required' }, 'tool_choice', 'a tool choice that requires a tool needs tools: send tools, or leave tool_choice out'],
    [{ tools: [], tool_choice: { type: 'function', function: { name: 'get_weather' } } }, 'tool_choice', 'a tool choice that requires a tool needs tools: send tools, or leave tool_choice out'],
    [{ tools: [weatherTool], tool_choice: { type: 'function', function: { name: 'get_time' } } }, 'tool_choice', "names a tool ('get_time') that is not among the tools offered"],
    [{ tools: [weatherTool], parallel_tool_calls: 'yes' }, 'parallel_tool_calls', 'must be a boolean, got a string'],
    // Legacy function calling, pointing at tools.
    [{ functions: [{ name: 'f' }] }, 'functions', 'functions are legacy function calling, which Switchyard does not support: send tools instead'],
    [{ function_call: 'auto' }, 'function_call', 'function_call is legacy function calling, which Switchyard does not support: send tool_choice instead'],
    [bad([{ role: 'function', name: 'f', content: 'x' }]), 'messages.0.role', "function messages are legacy function calling, which Switchyard does not support: send tool messages (role 'tool', with tool_call_id) instead"],
    [bad([{ role: 'robot', content: 'x' }]), 'messages.0.role', "role must be 'system', 'developer', 'user', 'assistant' or 'tool'"],
    [bad([calledAndAnswered[0], { role: 'assistant', content: null, function_call: { name: 'f', arguments: '{}' } }]), 'messages.1.function_call', 'function calls in messages are legacy function calling, which Switchyard does not support: send tool_calls instead'],
    // Tool messages.
    [bad([calledAndAnswered[0], calledAndAnswered[1], { role: 'tool', content: 'sunny' }]), 'messages.2.tool_call_id', 'is required: a tool message is the result of the tool call with that id'],
    [bad([calledAndAnswered[0], calledAndAnswered[1], { role: 'tool', tool_call_id: 'call 1', content: 'sunny' }]), 'messages.2.tool_call_id', "a tool call id is 1 to 256 letters, digits, '_' or '-'"],
    [bad([calledAndAnswered[0], calledAndAnswered[1], { role: 'tool', tool_call_id: 7, content: 'sunny' }]), 'messages.2.tool_call_id', "a tool call id is 1 to 256 letters, digits, '_' or '-'"],
    [bad([calledAndAnswered[0], calledAndAnswered[1], { role: 'tool', tool_call_id: 'call_1' }]), 'messages.2.content', 'content must be a string or an array of text parts ({"type": "text", "text": "..."}); got undefined'],
    // Tool calls.
    [bad([{ role: 'user', content: 'hi', tool_calls: [callWeather] }]), 'messages.0.tool_calls', 'only assistant messages carry tool calls'],
    [bad([calledAndAnswered[0], { role: 'assistant', content: null }]), 'messages.1.content', 'content must be a string or an array of text parts ({"type": "text", "text": "..."}); got null (it may be null only with tool_calls or a refusal)'],
    [bad([calledAndAnswered[0], { role: 'assistant', content: null, tool_calls: [] }]), 'messages.1.content', 'content must be a string or an array of text parts ({"type": "text", "text": "..."}); got null (it may be null only with tool_calls or a refusal)'],
    [bad([calledAndAnswered[0], { role: 'assistant', content: null, tool_calls: [{ ...callWeather, id: 'call.1' }] }]), 'messages.1.tool_calls.0.id', "a tool call id is 1 to 256 letters, digits, '_' or '-'"],
    [bad([calledAndAnswered[0], { role: 'assistant', content: null, tool_calls: [{ ...callWeather, type: 'custom' }] }]), 'messages.1.tool_calls.0.type', "'custom' tool calls are not supported by Switchyard: only 'function' tool calls"],
    [bad([calledAndAnswered[0], { role: 'assistant', content: null, tool_calls: [{ ...callWeather, function: { name: 'get.weather', arguments: '{}' } }] }]), 'messages.1.tool_calls.0.function.name', "a tool name is 1 to 64 ASCII letters, digits, '_' or '-'"],
    [bad([calledAndAnswered[0], { role: 'assistant', content: null, tool_calls: [{ ...callWeather, function: { name: 'get_weather', arguments: { city: 'Paris' } } }] }]), 'messages.1.tool_calls.0.function.arguments', 'must be a string, got an object'],
    // Tool use out of order: named by the caller's own index, past an empty system message the parser drops.
    [bad([{ role: 'system', content: '' }, calledAndAnswered[0], { role: 'tool', tool_call_id: 'call_1', content: 'sunny' }]), 'messages.2', "a tool result for 'call_1', which is no unanswered tool call of the assistant turn before it"],
    [bad([{ role: 'system', content: '' }, ...calledAndAnswered.slice(0, 2), { role: 'user', content: 'well?' }]), 'messages.2', "its tool calls ('call_1') have no results: each call needs a tool result right after the assistant turn"],
    [bad([{ role: 'developer', content: '' }, ...calledAndAnswered.slice(0, 2)]), 'messages.2', "the conversation ends with tool calls ('call_1') that have no results: send a result for each after it (an answer cannot continue a tool call)"],
    [bad([calledAndAnswered[0], { role: 'assistant', content: null, tool_calls: [callWeather, callWeather] }]), 'messages.1', "calls two tools with the same id 'call_1': tool call ids must be unique"],
  ])('%j: 400 at %s', (extra, param, message) => {
    expect(problemOf(extra)).toEqual({ status: 400, kind: 'invalid_request', param, message: `${param}: ${message}` });
  });

  it.each(['city=Paris', '[1, 2]', '"Paris"', 'null', '', '{"city":'])("a call's arguments %j are refused: they must be JSON text of an object", (text) => {
    const messages = [calledAndAnswered[0], { role: 'assistant', content: null, tool_calls: [{ ...callWeather, function: { name: 'get_weather', arguments: text } }] }, calledAndAnswered[2]];
    const param = 'messages.1.tool_calls.0.function.arguments';
    expect(problemOf({ tools: [weatherTool], messages })).toEqual({ status: 400, kind: 'invalid_request', param, message: `${param}: must be a JSON object, as text (such as "{}")` });
  });
});

describe('tool turns without tools (an agent SDK after a handoff to an agent without tools)', () => {
  it('are taken, as OpenAI takes them; an Anthropic-dialect upstream, which refuses them, is told the tools called and a tool choice of none', () => {
    const parsed = parse({ messages: [...calledAndAnswered, { role: 'user', content: 'and tomorrow?' }] });
    expect(parsed.tools).toBeUndefined();
    expect(openaiDialect.encodeRequest(parsed)).not.toHaveProperty('tools');
    const anthropic = anthropicDialect.encodeRequest(parsed) as Record<string, unknown>;
    expect(anthropic.tools).toEqual([{ name: 'get_weather', description: 'A tool called earlier in this conversation.', input_schema: { type: 'object' } }]);
    expect(anthropic.tool_choice).toEqual({ type: 'none' });
    // What Anthropic's API would refuse, the gateway's Anthropic reading (as a server) takes.
    expect(anthropicDialect.parseRequest(anthropic, { asServer: true }).ok).toBe(true);
  });
});

describe('encoding tool use for an OpenAI-dialect upstream', () => {
  it("a schema without a type is sent as an object schema, as an Anthropic-dialect upstream is sent it (an Anthropic caller's input_schema may leave it out)", () => {
    const anthropicCaller = anthropicDialect.parseRequest({ model: 'm', max_tokens: 5, tools: [{ name: 'f', input_schema: { properties: { a: { type: 'string' } } } }], messages: [{ role: 'user', content: 'hi' }] });
    if (!anthropicCaller.ok) throw new Error(anthropicCaller.problem.message);
    expect((openaiDialect.encodeRequest(anthropicCaller.value) as { tools: unknown }).tools).toEqual([{ type: 'function', function: { name: 'f', parameters: { type: 'object', properties: { a: { type: 'string' } } } } }]);
    expect((anthropicDialect.encodeRequest(anthropicCaller.value) as { tools: unknown }).tools).toEqual([{ name: 'f', input_schema: { type: 'object', properties: { a: { type: 'string' } } } }]);
  });

  it('tools, tool choice, parallel_tool_calls, calls and results are written in OpenAI form', () => {
    const parsed = parse({ tools: [weatherTool, timeTool], tool_choice: 'auto', parallel_tool_calls: false, messages: [...calledAndAnswered, { role: 'assistant', content: 'Sunny.' }, { role: 'user', content: 'thanks' }] });
    const encoded = openaiDialect.encodeRequest(parsed) as Record<string, unknown>;
    expect(encoded.messages).toEqual([
      { role: 'user', content: 'weather in Paris?' },
      { role: 'assistant', content: null, tool_calls: [callWeather] },
      { role: 'tool', tool_call_id: 'call_1', content: '{"temperature":21}' },
      { role: 'assistant', content: 'Sunny.' },
      { role: 'user', content: 'thanks' },
    ]);
    expect(encoded.tools).toEqual([
      { type: 'function', function: { name: 'get_weather', description: 'Weather in a city', parameters: weatherTool.function.parameters } },
      { type: 'function', function: { name: 'get_time', parameters: { type: 'object', properties: {} } } },
    ]);
    expect(encoded).toMatchObject({ tool_choice: 'auto', parallel_tool_calls: false });
    expect(encoded).not.toHaveProperty('continue_final_message');
  });

  it.each([
    [{ type: 'none' }, 'none'],
    [{ type: 'auto' }, 'auto'],
    [{ type: 'required' }, 'required'],
    [{ type: 'tool', name: 'get_weather' }, { type: 'function', function: { name: 'get_weather' } }],
  ] as const)('tool choice %j is written as %j', (toolChoice, wire) => {
    expect(openaiDialect.encodeRequest({ ...parse({ tools: [weatherTool] }), toolChoice })).toMatchObject({ tool_choice: wire });
  });

  it("text beside calls is kept; a call's arguments never streamed are written '{}'", () => {
    const base = parse({});
    const encoded = openaiDialect.encodeRequest({
      ...base,
      messages: [
        { role: 'user', content: 'hi' },
        { role: 'assistant', content: 'Checking.', toolCalls: [{ id: 'toolu_1', name: 'get_time', arguments: '' }] },
        { role: 'tool', content: 'noon', toolCallId: 'toolu_1', isError: false },
      ],
    }) as { messages: unknown[] };
    expect(encoded.messages.slice(1)).toEqual([
      { role: 'assistant', content: 'Checking.', tool_calls: [{ id: 'toolu_1', type: 'function', function: { name: 'get_time', arguments: '{}' } }] },
      { role: 'tool', tool_call_id: 'toolu_1', content: 'noon' },
    ]);
  });

  it("a failed tool's result (isError, which OpenAI has no flag for) is written as an error in its text", () => {
    const encoded = openaiDialect.encodeRequest({
      ...parse({}),
      messages: [
        { role: 'user', content: 'hi' },
        { role: 'assistant', content: '', toolCalls: [{ id: 'toolu_1', name: 'get_time', arguments: '{}' }, { id: 'toolu_2', name: 'get_weather', arguments: '{"city":"Paris"}' }] },
        { role: 'tool', content: 'zone unknown', toolCallId: 'toolu_1', isError: true },
        { role: 'tool', content: '', toolCallId: 'toolu_2', isError: true },
      ],
    }) as { messages: unknown[] };
    expect(encoded.messages.slice(2)).toEqual([
      { role: 'tool', tool_call_id: 'toolu_1', content: 'Error: zone unknown' },
      { role: 'tool', tool_call_id: 'toolu_2', content: 'Error' },
    ]);
  });

  it('without tools, no tool field is sent (OpenAI refuses tool_choice and parallel_tool_calls alone); parallel_tool_calls only when set', () => {
    const encoded = openaiDialect.encodeRequest({ ...parse({}), toolChoice: { type: 'none' }, parallelToolCalls: false });
    for (const field of ['tools', 'tool_choice', 'parallel_tool_calls']) expect(encoded).not.toHaveProperty(field);
    expect(openaiDialect.encodeRequest({ ...parse({}), tools: [] })).not.toHaveProperty('tools');
    const unset = openaiDialect.encodeRequest(parse({ tools: [weatherTool] }));
    expect(unset).toHaveProperty('tools');
    expect(unset).not.toHaveProperty('tool_choice');
    expect(unset).not.toHaveProperty('parallel_tool_calls');
  });

  it("a trailing assistant turn is continued only when it is a 'continue'", () => {
    const parsed = parse({ tools: [weatherTool], messages: [...calledAndAnswered, { role: 'assistant', content: 'It is' }] });
    expect(openaiDialect.encodeRequest(parsed)).not.toHaveProperty('continue_final_message');
    expect(openaiDialect.encodeRequest({ ...parsed, finalAssistant: 'continue' })).toMatchObject({ continue_final_message: true, add_generation_prompt: false });
  });
});

describe('OpenAI complete answers with tool calls', () => {
  const result: ChatResult = {
    id: 'chatcmpl-1',
    model: 'm',
    text: '',
    finishReason: 'tool_calls',
    toolCalls: [
      { id: 'call_1', name: 'get_weather', arguments: '{"city":"Paris"}' },
      { id: 'call_2', name: 'get_time', arguments: '' },
    ],
    usage: { inputTokens: 10, outputTokens: 5 },
  };

  it("are formatted as OpenAI answers them: content null, tool_calls, finish_reason 'tool_calls', '{}' for no arguments", () => {
    const body = openaiDialect.formatResult(result, 0) as { choices: unknown[] };
    expect(body.choices).toEqual([
      {
        index: 0,
        message: {
          role: 'assistant',
          content: null,
          refusal: null,
          tool_calls: [
            { id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
            { id: 'call_2', type: 'function', function: { name: 'get_time', arguments: '{}' } },
          ],
        },
        logprobs: null,
        finish_reason: 'tool_calls',
      },
    ]);
    expect(openaiDialect.formatResult({ ...result, text: 'Checking.' }, 0)).toMatchObject({ choices: [{ message: { content: 'Checking.' } }] });
    // An answer without calls keeps its shape: no tool_calls field, content as written.
    const plain = openaiDialect.formatResult({ ...result, toolCalls: [], finishReason: 'stop' }, 0) as { choices: { message: object; finish_reason: string }[] };
    expect(plain.choices[0]?.message).toEqual({ role: 'assistant', content: '', refusal: null });
    expect(plain.choices[0]?.finish_reason).toBe('stop');
  });

  it("cut by the budget ('length'), a call without arguments keeps '' (it must not look complete), and reads back so", () => {
    const cut: ChatResult = { ...result, finishReason: 'length' };
    const body = openaiDialect.formatResult(cut, 0) as { choices: { message: { tool_calls: unknown[] }; finish_reason: string }[] };
    expect(body.choices[0]?.message.tool_calls).toEqual([
      { id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
      { id: 'call_2', type: 'function', function: { name: 'get_time', arguments: '' } },
    ]);
    expect(body.choices[0]?.finish_reason).toBe('length');
    expect(openaiDialect.parseResult(body)).toEqual({ ok: true, value: cut });
    // A context window's cut is written 'length' too, and the same.
    expect(openaiDialect.formatResult({ ...result, finishReason: 'context_window' }, 0)).toMatchObject({ choices: [{ message: { tool_calls: [{}, { function: { arguments: '' } }] }, finish_reason: 'length' }] });
  });

  it('are read back from an OpenAI body', () => {
    const parsed = openaiDialect.parseResult(openaiDialect.formatResult(result, 0));
    expect(parsed).toEqual({ ok: true, value: { ...result, toolCalls: [result.toolCalls?.[0], { id: 'call_2', name: 'get_time', arguments: '{}' }] } });
  });

  const body = (message: object, finishReason: string | null, extra: object = {}): unknown => ({ id: 'chatcmpl-7', model: 'm', choices: [{ index: 0, message: { role: 'assistant', ...message }, finish_reason: finishReason, ...extra }], usage: { prompt_tokens: 1, completion_tokens: 2 } });

  it("legacy 'function_call' is read as tool_calls; content may be null or left out", () => {
    expect(openaiDialect.parseResult(body({ content: null, tool_calls: [callWeather] }, 'function_call'))).toMatchObject({ ok: true, value: { text: '', finishReason: 'tool_calls', toolCalls: [{ id: 'call_1', name: 'get_weather', arguments: '{"city":"Paris"}' }] } });
    expect(openaiDialect.parseResult(body({ tool_calls: [callWeather] }, 'tool_calls'))).toMatchObject({ ok: true, value: { text: '', finishReason: 'tool_calls' } });
    expect(openaiDialect.parseResult(body({ content: 'hi', tool_calls: null }, 'stop'))).toEqual({ ok: true, value: { id: 'chatcmpl-7', model: 'm', text: 'hi', finishReason: 'stop', usage: { inputTokens: 1, outputTokens: 2 } } });
  });

  it('ids are made ones a caller can send back: missing ones made up from the answer id, others of other characters escaped', () => {
    const calls = [
      { function: { name: 'get_weather', arguments: '{}' } },
      { id: 'functions.get_time:1', type: 'function', function: { name: 'get_time', arguments: { zone: 'UTC' } } },
      { id: '', function: { name: 'get_time' } },
    ];
    expect(openaiDialect.parseResult(body({ content: null, tool_calls: calls }, 'tool_calls'))).toMatchObject({
      ok: true,
      value: {
        toolCalls: [
          { id: 'call_chatcmpl-7_0', name: 'get_weather', arguments: '{}' },
          // Arguments sent as an object (not OpenAI's form) are written as JSON.
          { id: 'sy-functions-2eget_time-3a1', name: 'get_time', arguments: '{"zone":"UTC"}' },
          { id: 'call_chatcmpl-7_2', name: 'get_time', arguments: '' },
        ],
      },
    });
  });

  it('ids of allowed characters are at most 40 (OpenAI refuses longer ones): made-up ones keep the tail of a long answer id, long ones keep their start and a hash', () => {
    const answerId = `chatcmpl-${'a'.repeat(40)}${'0123456789abcdefghijklmnopqrstuv'}`;
    const long = `call-${'x'.repeat(40)}`;
    const calls = [{ function: { name: 'f', arguments: '{}' } }, { id: `${long}_1`, function: { name: 'g', arguments: '{}' } }, { id: `${long}_2`, function: { name: 'g', arguments: '{}' } }, { function: { name: 'h', arguments: '{}' } }];
    const parsed = openaiDialect.parseResult({ id: answerId, model: 'm', choices: [{ index: 0, message: { role: 'assistant', content: null, tool_calls: calls }, finish_reason: 'tool_calls' }] });
    if (!parsed.ok) throw new Error(parsed.problem.message);
    const ids = (parsed.value.toolCalls ?? []).map((call) => call.id);
    expect(ids[0]).toBe('call_0123456789abcdefghijklmnopqrstuv_0');
    expect(ids[3]).toBe('call_0123456789abcdefghijklmnopqrstuv_3');
    expect(ids[1]).toMatch(/^call-x{26}_[0-9a-f]{8}$/);
    expect(ids[2]).toMatch(/^call-x{26}_[0-9a-f]{8}$/);
    expect(new Set(ids).size).toBe(4);
    for (const id of ids) expect(id.length).toBeLessThanOrEqual(40);
    // The same answer reads back the same ids; an id of 40 characters is kept as it is.
    const again = openaiDialect.parseResult({ id: answerId, model: 'm', choices: [{ index: 0, message: { role: 'assistant', content: null, tool_calls: calls }, finish_reason: 'tool_calls' }] });
    expect(again.ok && again.value.toolCalls?.map((call) => call.id)).toEqual(ids);
    const forty = `call_${'b'.repeat(35)}`;
    expect(openaiDialect.parseResult(body({ content: null, tool_calls: [{ id: forty, function: { name: 'f', arguments: '{}' } }] }, 'tool_calls'))).toMatchObject({ value: { toolCalls: [{ id: forty }] } });
  });

  it("a 'tool_calls' finish without tool calls is read as 'stop' (there are no calls to wait for)", () => {
    for (const message of [{ content: 'hi', tool_calls: null }, { content: 'hi', tool_calls: [] }, { content: 'hi' }]) {
      expect(openaiDialect.parseResult(body(message, 'tool_calls'))).toMatchObject({ ok: true, value: { text: 'hi', finishReason: 'stop' } });
    }
  });

  it("a 'stop' with tool calls (vLLM's forced tool choice) is read as tool_calls; a cut or a matched stop sequence is kept", () => {
    expect(openaiDialect.parseResult(body({ content: null, tool_calls: [callWeather] }, 'stop'))).toMatchObject({ value: { finishReason: 'tool_calls' } });
    expect(openaiDialect.parseResult(body({ content: null, tool_calls: [callWeather] }, 'length'))).toMatchObject({ value: { finishReason: 'length' } });
    expect(openaiDialect.parseResult(body({ content: null, tool_calls: [callWeather] }, 'stop', { stop_reason: 'END' }))).toMatchObject({ value: { finishReason: 'stop', stopSequence: 'END' } });
  });

  it('a tool call without a function name is a malformed answer', () => {
    expect(openaiDialect.parseResult(body({ content: null, tool_calls: [{ id: 'call_1', function: { arguments: '{}' } }] }, 'tool_calls'))).toMatchObject({ ok: false, problem: { status: 502 } });
  });
});

describe('writing tool calls as OpenAI stream chunks', () => {
  const head = '{"id":"chatcmpl-1","object":"chat.completion.chunk","created":7,"model":"m","choices":[{"index":0,"delta":';
  const tail = ',"logprobs":null,"finish_reason":null}]}';

  it('a call begins with its id and name and empty arguments, then argument pieces; a call with none gets {} before the finish', () => {
    const writer = openaiDialect.createStreamWriter({ includeUsage: false, created: 7 });
    const frames = [
      { type: 'start', id: 'chatcmpl-1', model: 'm', inputTokens: 3 },
      { type: 'text', text: 'Checking.' },
      { type: 'tool_call', index: 0, id: 'call_1', name: 'get_weather' },
      { type: 'tool_arguments', index: 0, text: '{"city":' },
      { type: 'tool_arguments', index: 0, text: '"Paris"}' },
      { type: 'tool_call', index: 1, id: 'call_2', name: 'get_time' },
      { type: 'tool_arguments', index: 1, text: '' },
      { type: 'finish', finishReason: 'tool_calls', usage: { inputTokens: 3, outputTokens: 9 } },
    ].map((event) => writer.write(event as ChatEvent));
    expect(frames).toEqual([
      // The role chunk waits for the first event a caller sees: text, so its content is "".
      '',
      `data: ${head}{"role":"assistant","content":""}${tail}\n\n` + `data: ${head}{"content":"Checking."}${tail}\n\n`,
      `data: ${head}{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"get_weather","arguments":""}}]}${tail}\n\n`,
      `data: ${head}{"tool_calls":[{"index":0,"function":{"arguments":"{\\"city\\":"}}]}${tail}\n\n`,
      `data: ${head}{"tool_calls":[{"index":0,"function":{"arguments":"\\"Paris\\"}"}}]}${tail}\n\n`,
      `data: ${head}{"tool_calls":[{"index":1,"id":"call_2","type":"function","function":{"name":"get_time","arguments":""}}]}${tail}\n\n`,
      // Empty argument text is no chunk.
      '',
      `data: ${head}{"tool_calls":[{"index":1,"function":{"arguments":"{}"}}]}${tail}\n\n` + `data: ${head}{},"logprobs":null,"finish_reason":"tool_calls"}]}\n\n` + 'data: [DONE]\n\n',
    ]);
  });

  it("a call without arguments gets {} when the next call begins, before it (the OpenAI SDK reports it done then), and the last one at the finish", () => {
    const writer = openaiDialect.createStreamWriter({ includeUsage: false, created: 7 });
    const frames = [
      { type: 'start', id: 'chatcmpl-1', model: 'm', inputTokens: 3 },
      { type: 'tool_call', index: 0, id: 'call_1', name: 'get_time' },
      { type: 'tool_call', index: 1, id: 'call_2', name: 'get_weather' },
      { type: 'tool_arguments', index: 1, text: '{"city":"Paris"}' },
      { type: 'tool_call', index: 2, id: 'call_3', name: 'get_date' },
      { type: 'finish', finishReason: 'tool_calls', usage: { inputTokens: 3, outputTokens: 9 } },
    ].map((event) => writer.write(event as ChatEvent));
    expect(frames.slice(1)).toEqual([
      // An answer that opens with a call: the role chunk's content is null, as OpenAI sends it.
      `data: ${head}{"role":"assistant","content":null}${tail}\n\n` + `data: ${head}{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"get_time","arguments":""}}]}${tail}\n\n`,
      `data: ${head}{"tool_calls":[{"index":0,"function":{"arguments":"{}"}}]}${tail}\n\n` + `data: ${head}{"tool_calls":[{"index":1,"id":"call_2","type":"function","function":{"name":"get_weather","arguments":""}}]}${tail}\n\n`,
      `data: ${head}{"tool_calls":[{"index":1,"function":{"arguments":"{\\"city\\":\\"Paris\\"}"}}]}${tail}\n\n`,
      // Call 1 had arguments: nothing is added for it.
      `data: ${head}{"tool_calls":[{"index":2,"id":"call_3","type":"function","function":{"name":"get_date","arguments":""}}]}${tail}\n\n`,
      `data: ${head}{"tool_calls":[{"index":2,"function":{"arguments":"{}"}}]}${tail}\n\n` + `data: ${head}{},"logprobs":null,"finish_reason":"tool_calls"}]}\n\n` + 'data: [DONE]\n\n',
    ]);
  });

  it("a finish of 'length' gives the last call no {}: cut by the budget, it must not look complete", () => {
    const writer = openaiDialect.createStreamWriter({ includeUsage: false, created: 7 });
    const frames = [
      { type: 'start', id: 'chatcmpl-1', model: 'm', inputTokens: 3 },
      { type: 'tool_call', index: 0, id: 'call_1', name: 'get_time' },
      { type: 'tool_call', index: 1, id: 'call_2', name: 'get_weather' },
      { type: 'finish', finishReason: 'length', usage: { inputTokens: 3, outputTokens: 9 } },
    ].map((event) => writer.write(event as ChatEvent));
    expect(frames.slice(2)).toEqual([
      // Call 0 was complete when call 1 began.
      `data: ${head}{"tool_calls":[{"index":0,"function":{"arguments":"{}"}}]}${tail}\n\n` + `data: ${head}{"tool_calls":[{"index":1,"id":"call_2","type":"function","function":{"name":"get_weather","arguments":""}}]}${tail}\n\n`,
      `data: ${head}{},"logprobs":null,"finish_reason":"length"}]}\n\n` + 'data: [DONE]\n\n',
    ]);
  });

  it("the OpenAI SDK's stream reports each call's arguments done once, as '{}' for calls without arguments", async () => {
    const writer = openaiDialect.createStreamWriter({ includeUsage: false, created: 7 });
    const events: ChatEvent[] = [
      { type: 'start', id: 'chatcmpl-1', model: 'm', inputTokens: 3 },
      { type: 'tool_call', index: 0, id: 'call_1', name: 'get_time' },
      { type: 'tool_call', index: 1, id: 'call_2', name: 'get_weather' },
      { type: 'tool_arguments', index: 1, text: '{"city":"Paris"}' },
      { type: 'tool_call', index: 2, id: 'call_3', name: 'get_date' },
      { type: 'finish', finishReason: 'tool_calls', usage: { inputTokens: 3, outputTokens: 9 } },
    ];
    // The SDK reads a stream of JSON lines (its own toReadableStream's form): the chunks, without SSE framing or [DONE].
    const lines = events
      .map((event) => writer.write(event))
      .join('')
      .split('\n\n')
      .filter((frame) => frame.startsWith('data: {'))
      .map((frame) => `${frame.slice('data: '.length)}\n`)
      .join('');
    const stream = ChatCompletionStream.fromReadableStream(new Response(lines).body ?? new ReadableStream());
    const done: { index: number; arguments: string }[] = [];
    stream.on('tool_calls.function.arguments.done', (event) => done.push({ index: event.index, arguments: event.arguments }));
    const completion = await stream.finalChatCompletion();
    expect(done).toEqual([
      { index: 0, arguments: '{}' },
      { index: 1, arguments: '{"city":"Paris"}' },
      { index: 2, arguments: '{}' },
    ]);
    expect(completion.choices[0]?.message.tool_calls?.map((call) => (call.type === 'function' ? call.function.arguments : ''))).toEqual(['{}', '{"city":"Paris"}', '{}']);
  });

  it('the role chunk comes with the first event a caller sees: null content before a call (past thinking it is not shown), "" before a finish or an error', () => {
    const role = (content: string): string => `data: ${head}{"role":"assistant","content":${content}}${tail}\n\n`;
    const thought = openaiDialect.createStreamWriter({ includeUsage: false, created: 7 });
    expect(thought.write({ type: 'start', id: 'chatcmpl-1', model: 'm', inputTokens: 3 })).toBe('');
    expect(thought.write({ type: 'thinking', text: 'Which tool?' })).toBe('');
    expect(thought.write({ type: 'tool_call', index: 0, id: 'call_1', name: 'f' }).startsWith(role('null'))).toBe(true);
    const empty = openaiDialect.createStreamWriter({ includeUsage: false, created: 7 });
    empty.write({ type: 'start', id: 'chatcmpl-1', model: 'm', inputTokens: 3 });
    expect(empty.write({ type: 'finish', finishReason: 'stop', usage: { inputTokens: 3, outputTokens: 0 } }).startsWith(role('""'))).toBe(true);
    const broken = openaiDialect.createStreamWriter({ includeUsage: false, created: 7 });
    broken.write({ type: 'start', id: 'chatcmpl-1', model: 'm', inputTokens: 3 });
    const error = broken.write({ type: 'error', kind: 'api_error', message: 'the upstream stream broke' });
    expect(error.startsWith(role('""'))).toBe(true);
    expect(error).toContain('"message":"the upstream stream broke"');
  });

  it('with include_usage, tool chunks carry usage: null too', () => {
    const writer = openaiDialect.createStreamWriter({ includeUsage: true, created: 7 });
    writer.write({ type: 'start', id: 'chatcmpl-1', model: 'm', inputTokens: 3 });
    expect(writer.write({ type: 'tool_call', index: 0, id: 'call_1', name: 'f' })).toBe(`data: ${head}{"role":"assistant","content":null}${tail.slice(0, -1)},"usage":null}\n\n` + `data: ${head}{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"f","arguments":""}}]}${tail.slice(0, -1)},"usage":null}\n\n`);
    expect(writer.write({ type: 'tool_arguments', index: 0, text: '{}' })).toContain('"usage":null}');
  });
});

/** The canonical events an OpenAI-dialect reader makes of a stream of chunks (objects, or raw data such as [DONE]). */
function readStream(chunks: readonly (object | string)[]): { events: ChatEvent[]; done: boolean } {
  const reader = openaiDialect.createStreamReader();
  const events: ChatEvent[] = [];
  let done = false;
  for (const chunk of chunks) {
    const read = reader.read(undefined, typeof chunk === 'string' ? chunk : JSON.stringify(chunk));
    events.push(...read.events);
    done = read.done;
  }
  return { events, done };
}

/** A chunk as OpenAI and vLLM send it: one choice with a delta, and maybe a finish reason. */
function chunk(delta: object, finishReason: string | null = null, id = 'chatcmpl-9'): object {
  return { id, object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }] };
}

const usageChunk = { id: 'chatcmpl-9', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [], usage: { prompt_tokens: 4, completion_tokens: 6 } };
const start: ChatEvent = { type: 'start', id: 'chatcmpl-9', model: 'm', inputTokens: 0 };
const finish = (finishReason: 'tool_calls' | 'stop' | 'length', usage = { inputTokens: 4, outputTokens: 6 }): ChatEvent => ({ type: 'finish', finishReason, usage });

describe('reading tool calls from an OpenAI-dialect stream', () => {
  it("OpenAI's own stream: two parallel calls, arguments in pieces", () => {
    const read = readStream([
      chunk({ role: 'assistant', content: null, tool_calls: [{ index: 0, id: 'call_a', type: 'function', function: { name: 'get_weather', arguments: '' } }], refusal: null }),
      chunk({ tool_calls: [{ index: 0, function: { arguments: '{"ci' } }] }),
      chunk({ tool_calls: [{ index: 0, function: { arguments: 'ty":"Paris"}' } }] }),
      chunk({ tool_calls: [{ index: 1, id: 'call_b', type: 'function', function: { name: 'get_time', arguments: '' } }] }),
      chunk({ tool_calls: [{ index: 1, function: { arguments: '{}' } }] }),
      chunk({}, 'tool_calls'),
      usageChunk,
      '[DONE]',
    ]);
    expect(read).toEqual({
      events: [
        start,
        { type: 'tool_call', index: 0, id: 'call_a', name: 'get_weather' },
        { type: 'tool_arguments', index: 0, text: '{"ci' },
        { type: 'tool_arguments', index: 0, text: 'ty":"Paris"}' },
        { type: 'tool_call', index: 1, id: 'call_b', name: 'get_time' },
        { type: 'tool_arguments', index: 1, text: '{}' },
        finish('tool_calls'),
      ],
      done: true,
    });
  });

  it("vLLM: a call's name and whole arguments in one chunk, after text; calls numbered from 0 whatever their wire index", () => {
    const read = readStream([
      chunk({ role: 'assistant', content: '' }),
      chunk({ content: 'Let me check.' }),
      chunk({ tool_calls: [{ index: 3, id: 'chatcmpl-tool-1', type: 'function', function: { name: 'get_weather', arguments: '{"city": "Paris"}' } }] }),
      chunk({ tool_calls: [{ index: 7, id: 'chatcmpl-tool-2', type: 'function', function: { name: 'get_time', arguments: '{}' } }] }, 'tool_calls'),
      usageChunk,
      '[DONE]',
    ]);
    expect(read.events).toEqual([
      start,
      { type: 'text', text: 'Let me check.' },
      { type: 'tool_call', index: 0, id: 'chatcmpl-tool-1', name: 'get_weather' },
      { type: 'tool_arguments', index: 0, text: '{"city": "Paris"}' },
      { type: 'tool_call', index: 1, id: 'chatcmpl-tool-2', name: 'get_time' },
      { type: 'tool_arguments', index: 1, text: '{}' },
      finish('tool_calls'),
    ]);
  });

  it("vLLM's forced tool choice ends with 'stop': read as tool_calls, as legacy 'function_call' is", () => {
    const call = chunk({ tool_calls: [{ index: 0, id: 'call_a', function: { name: 'f', arguments: '{}' } }] });
    expect(readStream([call, chunk({}, 'stop'), usageChunk]).events.at(-1)).toEqual(finish('tool_calls'));
    expect(readStream([call, chunk({}, 'function_call'), usageChunk]).events.at(-1)).toEqual(finish('tool_calls'));
    expect(readStream([call, chunk({}, 'length'), usageChunk]).events.at(-1)).toEqual(finish('length'));
    // Without calls, 'stop' stays a stop.
    expect(readStream([chunk({ content: 'hi' }), chunk({}, 'stop'), usageChunk]).events.at(-1)).toEqual(finish('stop'));
  });

  it('calls without an id get one made from the answer id and their index; a missing wire index is 0; ids are made ones a caller can send back', () => {
    expect(
      readStream([
        chunk({ tool_calls: [{ function: { name: 'get_weather', arguments: '{"city":' } }] }),
        chunk({ tool_calls: [{ function: { arguments: '"Paris"}' } }] }),
        chunk({ tool_calls: [{ index: 1, id: 'functions.get_time:1', function: { name: 'get_time', arguments: '{}' } }] }),
        chunk({ tool_calls: [{ index: 2, function: { name: 'get_date', arguments: '{}' } }] }, 'tool_calls'),
        '[DONE]',
      ]).events,
    ).toEqual([
      start,
      { type: 'tool_call', index: 0, id: 'call_chatcmpl-9_0', name: 'get_weather' },
      { type: 'tool_arguments', index: 0, text: '{"city":' },
      { type: 'tool_arguments', index: 0, text: '"Paris"}' },
      { type: 'tool_call', index: 1, id: 'sy-functions-2eget_time-3a1', name: 'get_time' },
      { type: 'tool_arguments', index: 1, text: '{}' },
      { type: 'tool_call', index: 2, id: 'call_chatcmpl-9_2', name: 'get_date' },
      { type: 'tool_arguments', index: 2, text: '{}' },
      // [DONE] without usage: the finish with what is known.
      finish('tool_calls', { inputTokens: 0, outputTokens: 0 }),
    ]);
    // A stream with no id of its own still gives each call a distinct id.
    const anonymous = readStream([chunk({ tool_calls: [{ index: 0, function: { name: 'f', arguments: '{}' } }, { index: 1, function: { name: 'g', arguments: '{}' } }] }, 'tool_calls', '')]).events;
    expect(anonymous.filter((event) => event.type === 'tool_call').map((event) => (event.type === 'tool_call' ? event.id : ''))).toEqual(['call_0', 'call_1']);
  });

  it("a 'tool_calls' finish without tool calls is read as 'stop'", () => {
    expect(readStream([chunk({ content: 'hi' }), chunk({}, 'tool_calls'), usageChunk, '[DONE]']).events).toEqual([start, { type: 'text', text: 'hi' }, finish('stop')]);
    const reader = openaiDialect.createStreamReader();
    reader.read(undefined, JSON.stringify(chunk({ content: 'hi' })));
    reader.read(undefined, JSON.stringify(chunk({}, 'tool_calls')));
    expect(reader.announcedFinish()).toEqual(finish('stop', { inputTokens: 0, outputTokens: 0 }));
  });

  it('ids of allowed characters are at most 40: made-up ones keep the tail of a long answer id, long ones keep their start and a hash', () => {
    const answerId = `chatcmpl-${'a'.repeat(40)}${'0123456789abcdefghijklmnopqrstuv'}`;
    const long = `call-${'x'.repeat(40)}`;
    const read = readStream([
      chunk({ tool_calls: [{ index: 0, function: { name: 'f', arguments: '{}' } }] }, null, answerId),
      chunk({ tool_calls: [{ index: 1, id: `${long}_1`, function: { name: 'g', arguments: '{}' } }] }, null, answerId),
      chunk({ tool_calls: [{ index: 2, id: `${long}_2`, function: { name: 'g', arguments: '{' } }] }, null, answerId),
      // The same long id again continues its call.
      chunk({ tool_calls: [{ index: 2, id: `${long}_2`, function: { arguments: '}' } }] }, 'tool_calls', answerId),
    ]).events;
    const ids = read.flatMap((event) => (event.type === 'tool_call' ? [event.id] : []));
    expect(ids[0]).toBe('call_0123456789abcdefghijklmnopqrstuv_0');
    expect(ids[1]).toMatch(/^call-x{26}_[0-9a-f]{8}$/);
    expect(ids[2]).toMatch(/^call-x{26}_[0-9a-f]{8}$/);
    expect(new Set(ids).size).toBe(3);
    for (const id of ids) expect(id.length).toBeLessThanOrEqual(40);
    expect(read.at(-1)).toEqual({ type: 'tool_arguments', index: 2, text: '}' });
  });

  it('an id sent before the name: the call is announced once the name comes, with that id', () => {
    const read = readStream([
      chunk({ tool_calls: [{ index: 0, id: 'call_a', type: 'function' }] }),
      chunk({ tool_calls: [{ index: 0, function: { name: 'get_weather' } }] }),
      chunk({ tool_calls: [{ index: 0, function: { arguments: '{}' } }] }),
    ]);
    expect(read.events).toEqual([start, { type: 'tool_call', index: 0, id: 'call_a', name: 'get_weather' }, { type: 'tool_arguments', index: 0, text: '{}' }]);
  });

  it('a name sent before the id: the call waits for its id until its first arguments, or the next call, or the finish', () => {
    // The id comes with the first arguments.
    expect(
      readStream([chunk({ tool_calls: [{ index: 0, function: { name: 'get_weather' } }] }), chunk({ tool_calls: [{ index: 0, id: 'call_late', function: { arguments: '{}' } }] })]).events,
    ).toEqual([start, { type: 'tool_call', index: 0, id: 'call_late', name: 'get_weather' }, { type: 'tool_arguments', index: 0, text: '{}' }]);
    // Arguments come without an id: one is made up then.
    expect(readStream([chunk({ tool_calls: [{ index: 0, function: { name: 'get_weather' } }] }), chunk({ tool_calls: [{ index: 0, function: { arguments: '{}' } }] })]).events.slice(1, 2)).toEqual([
      { type: 'tool_call', index: 0, id: 'call_chatcmpl-9_0', name: 'get_weather' },
    ]);
    // The next call begins: the first is announced before it.
    expect(readStream([chunk({ tool_calls: [{ index: 0, function: { name: 'f' } }] }), chunk({ tool_calls: [{ index: 1, id: 'call_g', function: { name: 'g' } }] })]).events).toEqual([
      start,
      { type: 'tool_call', index: 0, id: 'call_chatcmpl-9_0', name: 'f' },
      { type: 'tool_call', index: 1, id: 'call_g', name: 'g' },
    ]);
    // The finish comes: announced before it.
    expect(readStream([chunk({ tool_calls: [{ index: 0, function: { name: 'f' } }] }), chunk({}, 'tool_calls'), usageChunk]).events).toEqual([start, { type: 'tool_call', index: 0, id: 'call_chatcmpl-9_0', name: 'f' }, finish('tool_calls')]);
  });

  it('arguments sent before the name are held and follow the call', () => {
    expect(readStream([chunk({ tool_calls: [{ index: 0, id: 'call_a', function: { arguments: '{"a":' } }] }), chunk({ tool_calls: [{ index: 0, function: { name: 'f', arguments: '1}' } }] })]).events).toEqual([
      start,
      { type: 'tool_call', index: 0, id: 'call_a', name: 'f' },
      { type: 'tool_arguments', index: 0, text: '{"a":1}' },
    ]);
  });

  it('another id with a name at the same wire index is another call (servers that send each call whole at index 0)', () => {
    const read = readStream([
      chunk({ tool_calls: [{ id: 'call_a', function: { name: 'f', arguments: '{}' } }] }),
      chunk({ tool_calls: [{ id: 'call_b', function: { name: 'g', arguments: '{"x":1}' } }] }),
      // The same id again, or an id without a name, continues the call.
      chunk({ tool_calls: [{ id: 'call_b', function: { arguments: ' ' } }] }),
      chunk({ tool_calls: [{ id: 'call_c', function: { arguments: ' ' } }] }),
    ]);
    expect(read.events).toEqual([
      start,
      { type: 'tool_call', index: 0, id: 'call_a', name: 'f' },
      { type: 'tool_arguments', index: 0, text: '{}' },
      { type: 'tool_call', index: 1, id: 'call_b', name: 'g' },
      { type: 'tool_arguments', index: 1, text: '{"x":1}' },
      { type: 'tool_arguments', index: 1, text: ' ' },
      { type: 'tool_arguments', index: 1, text: ' ' },
    ]);
  });

  it('a call whose name never comes, or a tool call that is not an object, is a malformed stream', () => {
    const nameless = readStream([chunk({ tool_calls: [{ index: 0, id: 'call_a', function: { arguments: '{}' } }] }), chunk({}, 'tool_calls')]);
    expect(nameless).toEqual({ events: [start, { type: 'error', kind: 'api_error', message: 'upstream sent a tool call without a name' }], done: true });
    expect(readStream([chunk({ tool_calls: [{ index: 0, id: 'call_a' }] }), '[DONE]']).events.at(-1)).toEqual({ type: 'error', kind: 'api_error', message: 'upstream sent a tool call without a name' });
    expect(readStream([chunk({ tool_calls: [{ index: 0, id: 'call_a' }] }), chunk({ tool_calls: [{ index: 1, id: 'call_b', function: { name: 'g' } }] })])).toEqual({
      events: [start, { type: 'error', kind: 'api_error', message: 'upstream sent a tool call without a name' }],
      done: true,
    });
    expect(readStream([chunk({ tool_calls: [5] })])).toEqual({ events: [start, { type: 'error', kind: 'api_error', message: 'upstream sent a malformed tool call' }], done: true });
  });

  it('a stream cut after its tool_calls finish reason still announces that finish', () => {
    const reader = openaiDialect.createStreamReader();
    reader.read(undefined, JSON.stringify(chunk({ tool_calls: [{ index: 0, id: 'call_a', function: { name: 'f', arguments: '{}' } }] })));
    expect(reader.announcedFinish()).toBeUndefined();
    reader.read(undefined, JSON.stringify(chunk({}, 'tool_calls')));
    expect(reader.announcedFinish()).toEqual(finish('tool_calls', { inputTokens: 0, outputTokens: 0 }));
  });

  it('plain content chunks after tool chunks still read as text', () => {
    const text = '{"id":"chatcmpl-9","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"done"},"logprobs":null,"finish_reason":null}]}';
    expect(readStream([chunk({ tool_calls: [{ index: 0, id: 'call_a', function: { name: 'f', arguments: '{}' } }] }), text]).events.at(-1)).toEqual({ type: 'text', text: 'done' });
  });
});

describe('tool calls written by the gateway and read back by a gateway in front of it', () => {
  function roundTrip(events: readonly ChatEvent[]): ChatEvent[] {
    const writer = openaiDialect.createStreamWriter({ includeUsage: true, created: 1 });
    const frames = events.map((event) => writer.write(event)).join('');
    const chunks = frames.split('\n\n').filter((frame) => frame !== '').map((frame) => frame.slice('data: '.length));
    return readStream(chunks).events;
  }

  it('reads back the same events', () => {
    const events: ChatEvent[] = [
      { type: 'start', id: 'chatcmpl-5', model: 'm', inputTokens: 0 },
      { type: 'text', text: 'Checking both.' },
      { type: 'tool_call', index: 0, id: 'call_1', name: 'get_weather' },
      { type: 'tool_arguments', index: 0, text: '{"city":' },
      { type: 'tool_arguments', index: 0, text: '"Paris"}' },
      { type: 'tool_call', index: 1, id: 'toolu_01A', name: 'get_time' },
      { type: 'tool_arguments', index: 1, text: '{}' },
      { type: 'finish', finishReason: 'tool_calls', usage: { inputTokens: 12, outputTokens: 30 } },
    ];
    expect(roundTrip(events)).toEqual(events);
  });

  it("a call written without arguments reads back with OpenAI's '{}'", () => {
    const events: ChatEvent[] = [
      { type: 'start', id: 'chatcmpl-5', model: 'm', inputTokens: 0 },
      { type: 'tool_call', index: 0, id: 'call_1', name: 'get_time' },
      { type: 'finish', finishReason: 'tool_calls', usage: { inputTokens: 1, outputTokens: 2 } },
    ];
    expect(roundTrip(events)).toEqual([events[0], events[1], { type: 'tool_arguments', index: 0, text: '{}' }, events[2]]);
  });

  it("calls written without arguments read back with '{}' each, before the next call; after a 'length' finish the last one has none", () => {
    const events: ChatEvent[] = [
      { type: 'start', id: 'chatcmpl-5', model: 'm', inputTokens: 0 },
      { type: 'tool_call', index: 0, id: 'call_1', name: 'get_time' },
      { type: 'tool_call', index: 1, id: 'call_2', name: 'get_date' },
    ];
    const noArguments = (index: number): ChatEvent => ({ type: 'tool_arguments', index, text: '{}' });
    const finished = (finishReason: 'tool_calls' | 'length'): ChatEvent => ({ type: 'finish', finishReason, usage: { inputTokens: 1, outputTokens: 2 } });
    expect(roundTrip([...events, finished('tool_calls')])).toEqual([events[0], events[1], noArguments(0), events[2], noArguments(1), finished('tool_calls')]);
    expect(roundTrip([...events, finished('length')])).toEqual([events[0], events[1], noArguments(0), events[2], finished('length')]);
  });
});

describe('interleaved tool calls', () => {
  it('arguments for a call after the next one began are a malformed stream: they cannot be carried (an Anthropic block for it is closed)', () => {
    const reader = openaiDialect.createStreamReader();
    const chunk = (delta: object): string => JSON.stringify({ id: 'c', model: 'm', choices: [{ index: 0, delta, finish_reason: null }] });
    reader.read(undefined, chunk({ role: 'assistant', content: null }));
    reader.read(undefined, chunk({ tool_calls: [{ index: 0, id: 'call_a', type: 'function', function: { name: 'f', arguments: '' } }, { index: 1, id: 'call_b', type: 'function', function: { name: 'g', arguments: '' } }] }));
    const interleaved = reader.read(undefined, chunk({ tool_calls: [{ index: 0, function: { arguments: '{"x":1}' } }] }));
    expect(interleaved.done).toBe(true);
    expect(interleaved.events.at(-1)).toEqual({ type: 'error', kind: 'api_error', message: 'upstream interleaved the arguments of two tool calls' });
  });
});

it("a caller's call id longer than OpenAI takes (an Anthropic caller may send 256 characters) reaches an OpenAI-dialect upstream shortened, alike in the call and its result", () => {
  const long = `toolu_${'a'.repeat(100)}`;
  const other = `toolu_${'a'.repeat(99)}b`;
  const request: ChatRequest = {
    model: 'm',
    messages: [
      { role: 'user', content: 'weather?' },
      { role: 'assistant', content: '', toolCalls: [{ id: long, name: 'get_weather', arguments: '{}' }, { id: other, name: 'get_weather', arguments: '{}' }, { id: 'call_short', name: 'get_weather', arguments: '{}' }] },
      { role: 'tool', content: 'sunny', toolCallId: long },
      { role: 'tool', content: 'rainy', toolCallId: other },
      { role: 'tool', content: 'windy', toolCallId: 'call_short' },
    ],
    tools: [{ name: 'get_weather', parameters: { type: 'object' } }],
    maxTokens: 10,
    temperature: undefined,
    topP: undefined,
    stop: [],
    stream: false,
    includeUsage: false,
    finalAssistant: 'answer',
  };
  const wire = openaiDialect.encodeRequest(request) as { messages: { tool_calls?: { id: string }[]; tool_call_id?: string }[] };
  const ids = wire.messages[1]?.tool_calls?.map((call) => call.id) ?? [];
  expect(ids.every((id) => id.length <= 40)).toBe(true);
  expect(new Set(ids).size).toBe(3);
  expect(ids[2]).toBe('call_short');
  expect(wire.messages.slice(2).map((message) => message.tool_call_id)).toEqual(ids);
});
