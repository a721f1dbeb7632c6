import { describe, expect, it } from 'vitest';
import { anthropicDialect } from '../../src/protocol/anthropic/anthropic-dialect.js';
import { anthropicTokenCounting } from '../../src/protocol/anthropic/anthropic-token-counting.js';
import { openaiDialect } from '../../src/protocol/openai/openai-dialect.js';
import type { ChatEvent, ChatMessage, ChatRequest, ChatResult, RequestProblem } from '../../src/protocol/chat.js';

/** Tool use in the Anthropic Messages dialect: requests both ways, answers both ways, streams both ways. */

const weatherTool = { name: 'get_weather', description: 'Weather of a city', input_schema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } };
const timeTool = { name: 'get_time', input_schema: { type: 'object' } };

function body(extra: object): Record<string, unknown> {
  return { model: 'm', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }], ...extra };
}

function parsed(request: unknown): ChatRequest {
  const result = anthropicDialect.parseRequest(request);
  if (!result.ok) throw new Error(result.problem.message);
  return result.value;
}

function refusal(request: unknown): RequestProblem {
  const result = anthropicDialect.parseRequest(request);
  if (result.ok) throw new Error('expected a refusal');
  return result.problem;
}

/** A conversation where the model called a tool and got its result. */
const answeredCall = [
  { role: 'user', content: 'Weather in Paris?' },
  { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } }] },
  { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: '18C' }] },
];

describe('anthropic tools: images a tool returns', () => {
  const png = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==';
  const screenshot = { type: 'image', source: { type: 'base64', media_type: 'image/png', data: png } };
  const request = parsed(body({ tools: [weatherTool], messages: [answeredCall[0], answeredCall[1], { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: [{ type: 'text', text: 'the map:' }, screenshot] }, { type: 'text', text: 'what does it show?' }] }] }));

  it('are read into the tool result, text and image in order', () => {
    expect(request.messages[2]).toEqual({ role: 'tool', content: 'the map:', toolCallId: 'toolu_1', parts: [{ type: 'text', text: 'the map:' }, { type: 'image', source: { type: 'base64', mediaType: 'image/png', data: png } }] });
  });

  it('go back inside the tool result to an Anthropic-dialect upstream', () => {
    const encoded = anthropicDialect.encodeRequest(request) as { messages: unknown[] };
    expect(encoded.messages[2]).toEqual({ role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: [{ type: 'text', text: 'the map:' }, screenshot] }, { type: 'text', text: 'what does it show?' }] });
  });

  it('follow the tool results, labelled with their call, at the start of the next user message to an OpenAI-dialect upstream, whose tool messages hold text only', () => {
    const encoded = openaiDialect.encodeRequest(request) as { messages: unknown[] };
    expect(encoded.messages.slice(2)).toEqual([
      { role: 'tool', tool_call_id: 'toolu_1', content: 'the map:' },
      { role: 'user', content: [{ type: 'text', text: 'Returned by tool call toolu_1:' }, { type: 'image_url', image_url: { url: `data:image/png;base64,${png}` } }, { type: 'text', text: 'what does it show?' }] },
    ]);
    // Several results with images, and no user turn after them: a user message of their own, each group labelled.
    const two = parsed(body({ tools: [weatherTool], messages: [answeredCall[0], { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_a', name: 'get_weather', input: {} }, { type: 'tool_use', id: 'toolu_b', name: 'get_weather', input: {} }] }, { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_a', content: [screenshot] }, { type: 'tool_result', tool_use_id: 'toolu_b', content: [{ type: 'text', text: 'cloudy' }, screenshot] }] }] }));
    const wire = (openaiDialect.encodeRequest(two) as { messages: unknown[] }).messages.slice(2);
    expect(wire).toHaveLength(3);
    expect(wire[2]).toEqual({ role: 'user', content: [{ type: 'text', text: 'Returned by tool call toolu_a:' }, { type: 'image_url', image_url: { url: `data:image/png;base64,${png}` } }, { type: 'text', text: 'Returned by tool call toolu_b:' }, { type: 'image_url', image_url: { url: `data:image/png;base64,${png}` } }] });
  });
});

describe('anthropic tools: parsing the tools offered', () => {
  it("a caller's tools become canonical tools: input_schema is the parameters; type 'custom' is accepted and cache_control kept as a breakpoint", () => {
    const request = parsed(body({ tools: [weatherTool, { ...timeTool, type: 'custom', cache_control: { type: 'ephemeral' } }] }));
    expect(request.tools).toEqual([
      { name: 'get_weather', description: 'Weather of a city', parameters: weatherTool.input_schema },
      { name: 'get_time', parameters: { type: 'object' }, cache: {} },
    ]);
    expect(request).not.toHaveProperty('toolChoice');
    expect(request).not.toHaveProperty('parallelToolCalls');
  });

  it("type null is a custom tool, as the SDK's Tool type allows; strict false or null, eager_input_streaming, no input examples and defer_loading false pass, not forwarded", () => {
    const request = parsed(body({ tools: [{ ...weatherTool, type: null, strict: false, eager_input_streaming: true, input_examples: [] }, { ...timeTool, strict: null, defer_loading: false, input_examples: null }] }));
    expect(request.tools).toEqual([
      { name: 'get_weather', description: 'Weather of a city', parameters: weatherTool.input_schema },
      { name: 'get_time', parameters: { type: 'object' } },
    ]);
    expect(anthropicDialect.encodeRequest(request)).toMatchObject({ tools: [{ name: 'get_weather', description: 'Weather of a city', input_schema: weatherTool.input_schema }, { name: 'get_time', input_schema: { type: 'object' } }] });
    expect((anthropicDialect.encodeRequest(request) as { tools: object[] }).tools.flatMap(Object.keys)).toEqual(['name', 'description', 'input_schema', 'name', 'input_schema']);
  });

  it('an empty list of tools is no tools, as leaving the field out is', () => {
    expect(parsed(body({ tools: [] }))).not.toHaveProperty('tools');
    expect(parsed(body({}))).not.toHaveProperty('tools');
  });

  it.each([
    ['a server tool, named by its type', { tools: [{ type: 'web_search_20250305', name: 'web_search', max_uses: 3 }] }, 'tools.0.type', "server tools ('web_search_20250305') are not supported by Switchyard: offer your own tools, each with a name and an input_schema"],
    ['a server tool among custom ones', { tools: [weatherTool, { type: 'bash_20250124', name: 'bash' }] }, 'tools.1.type', "server tools ('bash_20250124') are not supported by Switchyard: offer your own tools, each with a name and an input_schema"],
    ['a server tool whose type is not a plain name, not quoted', { tools: [{ type: 'text editor <2025>', name: 'x' }] }, 'tools.0.type', 'server tools are not supported by Switchyard: offer your own tools, each with a name and an input_schema'],
    ['a tool name with a space', { tools: [{ ...weatherTool, name: 'get weather' }] }, 'tools.0.name', "a tool name is 1 to 64 ASCII letters, digits, '_' or '-'"],
    ['a tool name too long', { tools: [{ ...weatherTool, name: 'x'.repeat(65) }] }, 'tools.0.name', "a tool name is 1 to 64 ASCII letters, digits, '_' or '-'"],
    ['a tool without input_schema', { tools: [{ name: 'f' }] }, 'tools.0.input_schema', "is required: a JSON Schema object of the tool's input"],
    ['an input_schema that is no object', { tools: [{ name: 'f', input_schema: [] }] }, 'tools.0.input_schema', "is required: a JSON Schema object of the tool's input"],
    ['strict that is no boolean', { tools: [timeTool, { ...weatherTool, strict: 'yes' }] }, 'tools.1.strict', 'must be a boolean, got a string'],
    ['two tools of one name', { tools: [weatherTool, weatherTool] }, 'tools', "two tools are named 'get_weather': tool names must be unique"],
    ['tools that are no list', { tools: 'all' }, 'tools', 'must be an array, got a string'],
    ['a tool with input examples (dropped, the model would not see them)', { tools: [{ ...weatherTool, input_examples: [{ city: 'Paris' }] }] }, 'tools.0.input_examples', "tool use examples are an Anthropic beta Switchyard does not forward (a caller's anthropic-beta header is not passed on): put the examples in the tool's description"],
    ['a tool to be loaded by tool search', { tools: [timeTool, { ...weatherTool, defer_loading: true }] }, 'tools.1.defer_loading', "deferred loading is for Anthropic's tool search, a server tool Switchyard does not run: leave defer_loading out, and the tool is loaded with the others"],
  ])('%s is refused', (_name, extra, param, text) => {
    expect(refusal(body(extra))).toEqual({ status: 400, kind: 'invalid_request', param, message: `${param}: ${text}` });
  });

  it('MCP servers stay refused', () => {
    expect(refusal(body({ mcp_servers: [{ type: 'url', url: 'https://example.com', name: 'x' }] }))).toMatchObject({ param: 'mcp_servers', message: 'mcp_servers: MCP servers (tools) are not supported by Switchyard yet' });
  });
});

describe('anthropic tools: parsing tool_choice', () => {
  it.each([
    [{ type: 'auto' }, { type: 'auto' }],
    [{ type: 'any' }, { type: 'required' }],
    [{ type: 'tool', name: 'get_weather' }, { type: 'tool', name: 'get_weather' }],
    [{ type: 'none' }, { type: 'none' }],
  ])('%j is %j', (choice, canonical) => {
    expect(parsed(body({ tools: [weatherTool], tool_choice: choice })).toolChoice).toEqual(canonical);
  });

  it('disable_parallel_tool_use: true allows one call per answer; false is the default, left out', () => {
    expect(parsed(body({ tools: [weatherTool], tool_choice: { type: 'any', disable_parallel_tool_use: true } }))).toMatchObject({ toolChoice: { type: 'required' }, parallelToolCalls: false });
    expect(parsed(body({ tools: [weatherTool], tool_choice: { type: 'auto', disable_parallel_tool_use: false } }))).not.toHaveProperty('parallelToolCalls');
  });

  it("without tools, 'auto' and 'none' choose nothing and are left out", () => {
    for (const type of ['auto', 'none']) {
      const request = parsed(body({ tool_choice: { type, disable_parallel_tool_use: true } }));
      expect(request).not.toHaveProperty('toolChoice');
      expect(request).not.toHaveProperty('parallelToolCalls');
    }
  });

  it.each([
    ['any without tools', { tool_choice: { type: 'any' } }, 'tool_choice', 'a tool choice that requires a tool needs tools: send tools, or leave tool_choice out'],
    ['a named tool without tools', { tool_choice: { type: 'tool', name: 'get_weather' } }, 'tool_choice', 'a tool choice that requires a tool needs tools: send tools, or leave tool_choice out'],
    ['a tool not offered', { tools: [weatherTool], tool_choice: { type: 'tool', name: 'get_time' } }, 'tool_choice', "names a tool ('get_time') that is not among the tools offered"],
    ['type tool without a name', { tools: [weatherTool], tool_choice: { type: 'tool' } }, 'tool_choice.name', "is required with type 'tool': the name of the tool to call"],
    ['an unknown type', { tools: [weatherTool], tool_choice: { type: 'sometimes' } }, 'tool_choice.type', "tool_choice.type must be 'auto', 'any', 'tool' or 'none'"],
    ["OpenAI's forced-tool form", { tools: [weatherTool], tool_choice: { type: 'function', function: { name: 'get_weather' } } }, 'tool_choice.type', `tool_choice.type must be 'auto', 'any', 'tool' or 'none': {"type": "function", "function": {"name": ...}} is the OpenAI Chat Completions form: here, send {"type": "tool", "name": ...}`],
    ["OpenAI's required", { tools: [weatherTool], tool_choice: { type: 'required' } }, 'tool_choice.type', `tool_choice.type must be 'auto', 'any', 'tool' or 'none': 'required' is the OpenAI Chat Completions API's: here, send {"type": "any"}`],
  ])('%s is refused', (_name, extra, param, text) => {
    expect(refusal(body(extra))).toEqual({ status: 400, kind: 'invalid_request', param, message: `${param}: ${text}` });
  });
});

describe('anthropic tools: parsing tool_use and tool_result blocks', () => {
  it("an assistant turn is one message, text then calls; a user turn's results come first, its text after them", () => {
    const request = parsed(
      body({
        system: 'be terse',
        tools: [weatherTool, timeTool],
        messages: [
          { role: 'user', content: 'Weather and time in Paris?' },
          {
            role: 'assistant',
            content: [
              { type: 'text', text: 'Let me look.' },
              { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } },
              { type: 'text', text: 'And the time.' },
              { type: 'tool_use', id: 'toolu_2', name: 'get_time', input: {}, cache_control: { type: 'ephemeral' } },
            ],
          },
          {
            role: 'user',
            content: [
              { type: 'tool_result', tool_use_id: 'toolu_1', content: '18C' },
              { type: 'tool_result', tool_use_id: 'toolu_2', content: [{ type: 'text', text: 'clock' }, { type: 'text', text: 'broken' }], is_error: true },
              { type: 'text', text: 'Thanks.' },
              { type: 'text', text: 'Summarise.' },
            ],
          },
        ],
      }),
    );
    expect(request.messages).toStrictEqual([
      { role: 'system', content: 'be terse' },
      { role: 'user', content: 'Weather and time in Paris?' },
      {
        role: 'assistant',
        content: 'Let me look.\nAnd the time.',
        toolCalls: [
          { id: 'toolu_1', name: 'get_weather', arguments: '{"city":"Paris"}' },
          { id: 'toolu_2', name: 'get_time', arguments: '{}' },
        ],
        cache: {},
      },
      { role: 'tool', content: '18C', toolCallId: 'toolu_1' },
      // Several blocks are kept as parts too (their cache breakpoints stay where they are, R39); the text joined for OpenAI-dialect upstreams.
      { role: 'tool', content: 'clock\nbroken', toolCallId: 'toolu_2', isError: true, parts: [{ type: 'text', text: 'clock' }, { type: 'text', text: 'broken' }] },
      { role: 'user', content: 'Thanks.\nSummarise.', parts: [{ type: 'text', text: 'Thanks.' }, { type: 'text', text: 'Summarise.' }] },
    ]);
  });

  it('a turn of tool blocks alone is not empty: calls without text, results without text (or content) and no user message', () => {
    const request = parsed(
      body({
        tools: [weatherTool],
        messages: [
          ...answeredCall.slice(0, 2),
          { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', is_error: false }] },
          { role: 'assistant', content: 'It is mild.' },
          { role: 'user', content: 'Thanks' },
        ],
      }),
    );
    // Strict: a result that is no error has no isError key at all.
    expect(request.messages).toStrictEqual([
      { role: 'user', content: 'Weather in Paris?' },
      { role: 'assistant', content: '', toolCalls: [{ id: 'toolu_1', name: 'get_weather', arguments: '{"city":"Paris"}' }] },
      { role: 'tool', content: '', toolCallId: 'toolu_1' },
      { role: 'assistant', content: 'It is mild.' },
      { role: 'user', content: 'Thanks' },
    ]);
  });

  it('the emulator (asServer) reads tools the same way', () => {
    const request = body({ tools: [weatherTool], tool_choice: { type: 'any' }, messages: answeredCall });
    expect(anthropicDialect.parseRequest(request, { asServer: true })).toEqual(anthropicDialect.parseRequest(request));
    expect(parsed(request).messages).toHaveLength(3);
  });

  it.each([
    ['a tool_use block in a user turn', [{ role: 'user', content: [{ type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: {} }] }], 'messages.0.content.0', 'tool_use blocks are calls the model made: they belong in assistant turns'],
    ['a tool_use block in a system turn', [{ role: 'user', content: 'hi' }, { role: 'system', content: [{ type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: {} }] }], 'messages.1.content.0', 'tool_use blocks are calls the model made: they belong in assistant turns'],
    ['a tool_result block in an assistant turn', [{ role: 'user', content: 'hi' }, { role: 'assistant', content: [{ type: 'text', text: 'ok' }, { type: 'tool_result', tool_use_id: 'toolu_1' }] }], 'messages.1.content.1', 'tool_result blocks answer the tool calls of the assistant turn before: they belong in user turns'],
    ['text before a tool result', [answeredCall[0], answeredCall[1], { role: 'user', content: [{ type: 'text', text: 'here' }, { type: 'tool_result', tool_use_id: 'toolu_1' }] }], 'messages.2.content.1', 'tool_result blocks come first in a user turn, before any text, as the Messages API requires'],
    ['a tool_use id with a space', [answeredCall[0], { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu 1', name: 'get_weather', input: {} }] }], 'messages.1.content.0.id', "a tool call id is 1 to 256 letters, digits, '_' or '-'"],
    ['a tool_use without an id', [answeredCall[0], { role: 'assistant', content: [{ type: 'tool_use', name: 'get_weather', input: {} }] }], 'messages.1.content.0.id', 'is required: a string'],
    ['a tool_use name with a dot', [answeredCall[0], { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'get.weather', input: {} }] }], 'messages.1.content.0.name', "a tool name is 1 to 64 ASCII letters, digits, '_' or '-'"],
    ['a tool_use input that is a list', [answeredCall[0], { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: ['Paris'] }] }], 'messages.1.content.0.input', 'must be an object: the arguments the tool was called with'],
    ['a tool_use without input', [answeredCall[0], { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'get_weather' }] }], 'messages.1.content.0.input', 'must be an object: the arguments the tool was called with'],
    ['a tool_result id with a slash', [answeredCall[0], answeredCall[1], { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'a/b' }] }], 'messages.2.content.0.tool_use_id', "a tool call id is 1 to 256 letters, digits, '_' or '-'"],
    [
      'an image without a source in a tool result',
      [answeredCall[0], answeredCall[1], { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: [{ type: 'image', source: {} }] }] }],
      'messages.2.content.0.content.0.source.type',
      'an image\'s source is {"type": "base64", "media_type": ..., "data": ...} or {"type": "url", "url": ...} (files uploaded to Anthropic are not supported by Switchyard)',
    ],
    [
      'a search result in a tool result',
      [answeredCall[0], answeredCall[1], { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: [{ type: 'search_result', source: 'x' }] }] }],
      'messages.2.content.0.content',
      'content must be a string or an array of text, image and document blocks ({"type": "text", "text": "..."}): \'search_result\' blocks are not supported by Switchyard yet',
    ],
    ['a tool result whose content is null', [answeredCall[0], answeredCall[1], { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: null }] }], 'messages.2.content.0.content', 'content must be a string or an array of text, image and document blocks ({"type": "text", "text": "..."}); got null'],
    ['an is_error that is no boolean', [answeredCall[0], answeredCall[1], { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', is_error: 'yes' }] }], 'messages.2.content.0.is_error', 'must be a boolean, got a string'],
    ['a search result beside a tool result', [answeredCall[0], answeredCall[1], { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1' }, { type: 'search_result', source: 'x' }] }], 'messages.2.content', 'content must be a string or an array of text, image and document blocks ({"type": "text", "text": "..."}): \'search_result\' blocks are not supported by Switchyard yet'],
    ['a thinking block in a user turn', [{ role: 'user', content: [{ type: 'thinking', thinking: 'hm', signature: 's' }] }], 'messages.0.content.0', "thinking blocks are the model's own: they belong in assistant turns"],
    ['a thinking block without its signature', [answeredCall[0], { role: 'assistant', content: [{ type: 'thinking', thinking: 'hm' }] }], 'messages.1.content.0.signature', 'is required: a string'],
    ['a block of a type that is no plain name', [{ role: 'user', content: [{ type: 'my secret prompt' }] }], 'messages.0.content', 'content must be a string or an array of text, image and document blocks ({"type": "text", "text": "..."}): blocks of that type are not supported by Switchyard yet'],
    ['a block without a type', [{ role: 'user', content: [{ text: 'hi' }] }], 'messages.0.content', 'content must be a string or an array of text, image and document blocks ({"type": "text", "text": "..."}); each block needs a "type"'],
    ['a text block without text', [{ role: 'user', content: [{ type: 'text' }] }], 'messages.0.content.0.text', 'is required: a string'],
    ['content that is a number', [{ role: 'user', content: 42 }], 'messages.0.content', 'content must be a string or an array of text, image and document blocks ({"type": "text", "text": "..."}); got number'],
  ])('%s is refused, naming it', (_name, messages, param, text) => {
    expect(refusal(body({ tools: [weatherTool], messages }))).toEqual({ status: 400, kind: 'invalid_request', param, message: `${param}: ${text}` });
  });

  it.each([
    ['a call left unanswered, after a system prompt (which shifts canonical indexes)', { system: 'be terse', messages: [answeredCall[0], answeredCall[1], { role: 'user', content: 'well?' }] }, 'messages.1', "its tool calls ('toolu_1') have no results: each call needs a tool result right after the assistant turn"],
    [
      'a result for no call, after a turn split into a result and text',
      {
        messages: [
          ...answeredCall.slice(0, 2),
          { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1' }, { type: 'text', text: 'and again' }] },
          { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_2', name: 'get_weather', input: { city: 'Rome' } }] },
          { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_2' }, { type: 'tool_result', tool_use_id: 'toolu_9' }] },
        ],
      },
      'messages.4',
      "a tool result for 'toolu_9', which is no unanswered tool call of the assistant turn before it",
    ],
    ['a conversation that ends with calls (a prefill cannot continue one)', { messages: answeredCall.slice(0, 2) }, 'messages.1', "the conversation ends with tool calls ('toolu_1') that have no results: send a result for each after it (an answer cannot continue a tool call)"],
    [
      'two calls of one id',
      { messages: [answeredCall[0], { role: 'assistant', content: [answeredCall[1]?.content[0], answeredCall[1]?.content[0]] }, answeredCall[2]] },
      'messages.1',
      "calls two tools with the same id 'toolu_1': tool call ids must be unique",
    ],
    ['a result at the start', { messages: [{ role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1' }] }] }, 'messages.0', "a tool result for 'toolu_1', which is no unanswered tool call of the assistant turn before it"],
  ])('%s is refused, naming the caller’s message', (_name, extra, param, text) => {
    expect(refusal(body({ tools: [weatherTool], ...extra }))).toEqual({ status: 400, kind: 'invalid_request', param, message: `${param}: ${text}` });
  });

  it('a turn with no tool block and no visible text is still refused', () => {
    expect(refusal(body({ tools: [weatherTool], messages: [...answeredCall, { role: 'assistant', content: [] }, { role: 'user', content: 'hi' }] }))).toEqual({
      status: 400,
      kind: 'invalid_request',
      param: 'messages.3.content',
      message: 'messages.3.content: all messages must have non-empty content except for the optional final assistant message',
    });
  });
});

describe('anthropic tools: encoding a canonical request', () => {
  const base: ChatRequest = { model: 'm', messages: [{ role: 'user', content: 'hi' }], maxTokens: 5, temperature: undefined, topP: undefined, stop: [], stream: false, includeUsage: false, finalAssistant: 'answer' };
  const tools: ChatRequest['tools'] = [{ name: 'get_weather', description: 'Weather of a city', parameters: { type: 'object', properties: {} } }, { name: 'get_time', parameters: {} }];

  it('tools are name, description and input_schema; a schema without a type is an object schema, as Anthropic requires', () => {
    expect(anthropicDialect.encodeRequest({ ...base, tools })).toMatchObject({
      tools: [
        { name: 'get_weather', description: 'Weather of a city', input_schema: { type: 'object', properties: {} } },
        { name: 'get_time', input_schema: { type: 'object' } },
      ],
    });
    expect(anthropicDialect.encodeRequest({ ...base, tools })).not.toHaveProperty('tool_choice');
  });

  it.each([
    [{ type: 'auto' }, undefined, { type: 'auto' }],
    [{ type: 'required' }, undefined, { type: 'any' }],
    [{ type: 'tool', name: 'get_time' }, undefined, { type: 'tool', name: 'get_time' }],
    [{ type: 'none' }, undefined, { type: 'none' }],
    [{ type: 'auto' }, false, { type: 'auto', disable_parallel_tool_use: true }],
    [{ type: 'required' }, false, { type: 'any', disable_parallel_tool_use: true }],
    [{ type: 'tool', name: 'get_time' }, false, { type: 'tool', name: 'get_time', disable_parallel_tool_use: true }],
    [{ type: 'none' }, false, { type: 'none' }],
    [undefined, false, { type: 'auto', disable_parallel_tool_use: true }],
    [{ type: 'auto' }, true, { type: 'auto' }],
  ] as const)('tool choice %j with parallel calls %j is %j', (toolChoice, parallelToolCalls, expected) => {
    const request: ChatRequest = { ...base, tools, ...(toolChoice === undefined ? {} : { toolChoice }), ...(parallelToolCalls === undefined ? {} : { parallelToolCalls }) };
    expect((anthropicDialect.encodeRequest(request) as { tool_choice?: unknown }).tool_choice).toEqual(expected);
  });

  it('without tools no tool field is sent, whatever the choice says', () => {
    const encoded = anthropicDialect.encodeRequest({ ...base, toolChoice: { type: 'none' }, parallelToolCalls: false });
    expect(Object.keys(encoded as object).sort()).toEqual(['max_tokens', 'messages', 'model', 'stream']);
  });

  it('tool results and the user message after them are one user turn, results first; calls are tool_use blocks after the text', () => {
    const messages: ChatMessage[] = [
      { role: 'system', content: 'be terse' },
      { role: 'user', content: 'Weather and time?' },
      {
        role: 'assistant',
        content: 'Looking.',
        toolCalls: [
          { id: 'toolu_1', name: 'get_weather', arguments: '{"city":"Paris"}' },
          { id: 'toolu_2', name: 'get_time', arguments: '' },
        ],
      },
      { role: 'tool', content: '18C', toolCallId: 'toolu_1' },
      { role: 'system', content: 'mind the units' },
      { role: 'tool', content: '', toolCallId: 'toolu_2', isError: true },
      { role: 'user', content: 'Thanks' },
      { role: 'assistant', content: ' ', toolCalls: [{ id: 'toolu_3', name: 'get_time', arguments: '{}' }] },
      { role: 'tool', content: 'noon', toolCallId: 'toolu_3', isError: false },
      { role: 'assistant', content: 'Noon.' },
    ];
    expect(anthropicDialect.encodeRequest({ ...base, tools, messages })).toMatchObject({
      system: 'be terse\nmind the units',
      messages: [
        { role: 'user', content: 'Weather and time?' },
        {
          role: 'assistant',
          content: [
            { type: 'text', text: 'Looking.' },
            { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } },
            { type: 'tool_use', id: 'toolu_2', name: 'get_time', input: {} },
          ],
        },
        {
          role: 'user',
          content: [
            { type: 'tool_result', tool_use_id: 'toolu_1', content: '18C' },
            { type: 'tool_result', tool_use_id: 'toolu_2', is_error: true },
            { type: 'text', text: 'Thanks' },
          ],
        },
        // Whitespace is no text block (Anthropic refuses one), and a result that is no error has no is_error.
        { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_3', name: 'get_time', input: {} }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_3', content: 'noon' }] },
        { role: 'assistant', content: 'Noon.' },
      ],
    });
    const encoded = anthropicDialect.encodeRequest({ ...base, tools, messages }) as { messages: { content: unknown }[] };
    expect(encoded.messages[2]?.content).toEqual([{ type: 'tool_result', tool_use_id: 'toolu_1', content: '18C' }, { type: 'tool_result', tool_use_id: 'toolu_2', is_error: true }, { type: 'text', text: 'Thanks' }]);
    expect(encoded.messages[4]?.content).toEqual([{ type: 'tool_result', tool_use_id: 'toolu_3', content: 'noon' }]);
  });

  it('a user message without visible text after results is left out, as it always was', () => {
    const messages: ChatMessage[] = [
      { role: 'user', content: 'hi' },
      { role: 'assistant', content: '', toolCalls: [{ id: 'toolu_1', name: 'get_time', arguments: '{}' }] },
      { role: 'tool', content: 'noon', toolCallId: 'toolu_1' },
      { role: 'user', content: ' ' },
    ];
    expect((anthropicDialect.encodeRequest({ ...base, tools, messages }) as { messages: unknown[] }).messages).toEqual([
      { role: 'user', content: 'hi' },
      { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'get_time', input: {} }] },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: 'noon' }] },
    ]);
  });

  it('an Anthropic request with tools reaches an Anthropic upstream as it was sent', () => {
    const sent = {
      model: 'm',
      max_tokens: 5,
      messages: [
        ...answeredCall,
        { role: 'assistant', content: [{ type: 'text', text: 'And Rome?' }, { type: 'tool_use', id: 'toolu_2', name: 'get_weather', input: { city: 'Rome', units: ['C'] } }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_2', content: 'boom', is_error: true }, { type: 'text', text: 'Try again' }] },
      ],
      tools: [weatherTool],
      tool_choice: { type: 'any', disable_parallel_tool_use: true },
      stream: true,
    };
    expect(anthropicDialect.encodeRequest(parsed(sent))).toEqual({ ...sent, max_tokens: 5 });
  });
});

describe('anthropic tools: complete answers', () => {
  const usage = { inputTokens: 3, outputTokens: 9, cache: { readTokens: 0, writeTokens: 0 } };
  const calls = [
    { id: 'toolu_1', name: 'get_weather', arguments: '{"city":"Paris"}' },
    { id: 'toolu_2', name: 'get_time', arguments: '' },
  ];

  it("an answer's text, then its calls as tool_use blocks, stopping for tool_use", () => {
    expect(anthropicDialect.formatResult({ id: 'msg_1', model: 'm', text: 'Looking.', finishReason: 'tool_calls', toolCalls: calls, usage }, 0)).toEqual({
      id: 'msg_1',
      type: 'message',
      role: 'assistant',
      model: 'm',
      content: [
        { type: 'text', text: 'Looking.' },
        { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } },
        { type: 'tool_use', id: 'toolu_2', name: 'get_time', input: {} },
      ],
      stop_reason: 'tool_use',
      stop_sequence: null,
      usage: { input_tokens: 3, output_tokens: 9, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 },
    });
  });

  it('an answer of calls alone has no text block; arguments that are no JSON object are written as {} rather than throw', () => {
    const body = anthropicDialect.formatResult({ id: 'msg_1', model: 'm', text: '', finishReason: 'tool_calls', toolCalls: [{ id: 'toolu_1', name: 'f', arguments: '[1]' }, { id: 'toolu_2', name: 'f', arguments: '{"a":' }], usage }, 0);
    expect(body).toMatchObject({ content: [{ type: 'tool_use', id: 'toolu_1', name: 'f', input: {} }, { type: 'tool_use', id: 'toolu_2', name: 'f', input: {} }] });
  });

  it("an answer cut short (finish 'length') writes a call's unfinished arguments as {}, its stop_reason max_tokens saying it was cut", () => {
    const body = anthropicDialect.formatResult({ id: 'msg_1', model: 'm', text: '', finishReason: 'length', toolCalls: [{ id: 'toolu_1', name: 'get_weather', arguments: '{"city":"Par' }], usage }, 0);
    expect(body).toMatchObject({ content: [{ type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: {} }], stop_reason: 'max_tokens', stop_sequence: null });
  });

  it("stop_reason tool_use without a tool_use block reads as 'stop': there is no call to wait for", () => {
    const message = { id: 'msg_1', type: 'message', role: 'assistant', model: 'm', content: [{ type: 'text', text: 'Done.' }], stop_reason: 'tool_use', stop_sequence: null, usage: { input_tokens: 1, output_tokens: 2 } };
    expect(anthropicDialect.parseResult(message)).toEqual({ ok: true, value: { id: 'msg_1', model: 'm', text: 'Done.', finishReason: 'stop', usage: { inputTokens: 1, outputTokens: 2 } } });
    expect(anthropicDialect.parseResult({ ...message, content: [] })).toMatchObject({ ok: true, value: { text: '', finishReason: 'stop' } });
  });

  it('an upstream message with tool_use blocks is read back as calls, stop_reason tool_use as tool_calls', () => {
    const result: ChatResult = { id: 'msg_1', model: 'm', text: 'Looking.', finishReason: 'tool_calls', toolCalls: [{ id: 'toolu_1', name: 'get_weather', arguments: '{"city":"Paris"}' }], usage };
    expect(anthropicDialect.parseResult(anthropicDialect.formatResult(result, 0))).toEqual({ ok: true, value: result });
    const message = { id: 'msg_2', type: 'message', role: 'assistant', model: 'm', content: [{ type: 'tool_use', id: 'toolu_9', name: 'get_time', input: {} }], stop_reason: 'tool_use', stop_sequence: null, usage: { input_tokens: 1, output_tokens: 2 } };
    expect(anthropicDialect.parseResult(message)).toEqual({ ok: true, value: { id: 'msg_2', model: 'm', text: '', finishReason: 'tool_calls', toolCalls: [{ id: 'toolu_9', name: 'get_time', arguments: '{}' }], usage: { inputTokens: 1, outputTokens: 2 } } });
    // An answer without calls has no toolCalls at all.
    expect(anthropicDialect.parseResult({ ...message, content: [{ type: 'text', text: 'hi' }], stop_reason: 'end_turn' })).toEqual({ ok: true, value: { id: 'msg_2', model: 'm', text: 'hi', finishReason: 'stop', usage: { inputTokens: 1, outputTokens: 2 } } });
  });

  it.each([
    ['without an id', { type: 'tool_use', name: 'f', input: {} }],
    ['without a name', { type: 'tool_use', id: 'toolu_1', input: {} }],
    ['with an input that is no object', { type: 'tool_use', id: 'toolu_1', name: 'f', input: 'x' }],
  ])('a tool_use block %s is a malformed message, naming the block', (_name, block) => {
    const message = { id: 'msg_1', model: 'm', content: [block], stop_reason: 'tool_use', usage: { input_tokens: 1, output_tokens: 2 } };
    expect(anthropicDialect.parseResult(message)).toEqual({ ok: false, problem: { status: 502, kind: 'api_error', message: 'upstream returned a malformed message: content.0: a tool_use block needs an id, a name and an input object' } });
  });

  it('a malformed answer or count names its first bad field in both dialects, never its value', () => {
    expect(openaiDialect.parseResult({ id: 'x', model: 'm', choices: [{ index: 0, message: { role: 'assistant', content: 42 }, finish_reason: 'stop' }], usage: { prompt_tokens: 1, completion_tokens: 1 } })).toEqual({ ok: false, problem: { status: 502, kind: 'api_error', message: 'upstream returned a malformed chat completion: choices.0.message.content: must be a string, or a list of content parts' } });
    expect(anthropicTokenCounting.parseResult({ input_tokens: 'secret words' })).toEqual({ ok: false, problem: { status: 502, kind: 'api_error', message: 'upstream returned a malformed token count: input_tokens: must be a number, got a string' } });
    expect(anthropicDialect.parseResult('not json at all')).toEqual({ ok: false, problem: { status: 502, kind: 'api_error', message: 'upstream returned a malformed message: the body: must be an object, got a string' } });
  });
});

describe('anthropic tools: streaming answers', () => {
  const usage = { inputTokens: 3, outputTokens: 9 };
  const start: ChatEvent = { type: 'start', id: 'msg_1', model: 'm', inputTokens: 3 };
  const frame = (payload: { type: string }): string => `event: ${payload.type}\ndata: ${JSON.stringify(payload)}\n\n`;
  const written = (events: readonly ChatEvent[]): string => {
    const writer = anthropicDialect.createStreamWriter({ includeUsage: true, created: 0 });
    return events.map((event) => writer.write(event)).join('');
  };
  const finishFrames = frame({ type: 'message_delta', delta: { stop_reason: 'tool_use', stop_sequence: null }, usage: { input_tokens: 3, output_tokens: 9 } } as { type: string }) + frame({ type: 'message_stop' });

  it('text then two calls: a text block, then a tool_use block per call, each closed before the next opens', () => {
    const events: ChatEvent[] = [
      { type: 'text', text: 'Looking.' },
      { type: 'tool_call', index: 0, id: 'toolu_1', name: 'get_weather' },
      { type: 'tool_arguments', index: 0, text: '{"city":' },
      { type: 'tool_arguments', index: 0, text: '' },
      { type: 'tool_arguments', index: 0, text: '"Paris"}' },
      { type: 'tool_call', index: 1, id: 'toolu_2', name: 'get_time' },
      { type: 'finish', finishReason: 'tool_calls', usage },
    ];
    expect(written(events)).toBe(
      [
        { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } },
        { type: 'ping' },
        { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Looking.' } },
        { type: 'content_block_stop', index: 0 },
        { type: 'content_block_start', index: 1, content_block: { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: {} } },
        { type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: '{"city":' } },
        { type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: '"Paris"}' } },
        { type: 'content_block_stop', index: 1 },
        { type: 'content_block_start', index: 2, content_block: { type: 'tool_use', id: 'toolu_2', name: 'get_time', input: {} } },
        { type: 'content_block_stop', index: 2 },
      ]
        .map(frame)
        .join('') + finishFrames,
    );
  });

  it('calls alone: the first tool_use block is block 0, followed by the ping', () => {
    const events: ChatEvent[] = [start, { type: 'tool_call', index: 0, id: 'toolu_1', name: 'get_time' }, { type: 'tool_arguments', index: 0, text: '{}' }, { type: 'finish', finishReason: 'tool_calls', usage }];
    const startFrame = written([start]);
    expect(startFrame).toMatch(/^event: message_start\n/);
    expect(written(events)).toBe(
      startFrame +
        [
          { type: 'content_block_start', index: 0, content_block: { type: 'tool_use', id: 'toolu_1', name: 'get_time', input: {} } },
          { type: 'ping' },
          { type: 'content_block_delta', index: 0, delta: { type: 'input_json_delta', partial_json: '{}' } },
          { type: 'content_block_stop', index: 0 },
        ]
          .map(frame)
          .join('') +
        finishFrames,
    );
  });

  it('text after a call opens a new text block; arguments of a call never begun are not written', () => {
    const frames = written([{ type: 'tool_call', index: 0, id: 'toolu_1', name: 'f' }, { type: 'text', text: 'so' }, { type: 'text', text: ' there' }, { type: 'tool_arguments', index: 5, text: '{}' }]);
    expect(frames).toBe(
      [
        { type: 'content_block_start', index: 0, content_block: { type: 'tool_use', id: 'toolu_1', name: 'f', input: {} } },
        { type: 'ping' },
        { type: 'content_block_stop', index: 0 },
        { type: 'content_block_start', index: 1, content_block: { type: 'text', text: '' } },
        { type: 'content_block_delta', index: 1, delta: { type: 'text_delta', text: 'so' } },
        { type: 'content_block_delta', index: 1, delta: { type: 'text_delta', text: ' there' } },
      ]
        .map(frame)
        .join(''),
    );
  });

  it("an upstream's call id the gateway would not take back is made one it takes, streamed and whole; none is made up (E50)", () => {
    const reader = anthropicDialect.createStreamReader();
    const read = (payload: { type: string }): ChatEvent[] => reader.read(payload.type, JSON.stringify(payload)).events;
    read({ type: 'message_start', message: { id: 'msg_7', model: 'm', usage: { input_tokens: 3 } } } as { type: string });
    const kimi = read({ type: 'content_block_start', index: 0, content_block: { type: 'tool_use', id: 'functions.get_weather:0', name: 'get_weather', input: {} } } as { type: string });
    read({ type: 'content_block_stop', index: 0 } as { type: string });
    const empty = read({ type: 'content_block_start', index: 1, content_block: { type: 'tool_use', id: '', name: 'get_time', input: {} } } as { type: string });
    expect([kimi[0], empty[0]]).toEqual([
      { type: 'tool_call', index: 0, id: 'sy-functions-2eget_weather-3a0', name: 'get_weather' },
      { type: 'tool_call', index: 1, id: 'call_msg_7_1', name: 'get_time' },
    ]);
    const long = `toolu_${'x'.repeat(60)}`;
    const whole = anthropicDialect.parseResult({ id: 'msg_8', type: 'message', role: 'assistant', model: 'm', content: [{ type: 'tool_use', id: 'functions.get_weather:0', name: 'get_weather', input: {} }, { type: 'tool_use', id: long, name: 'get_time', input: {} }], stop_reason: 'tool_use', stop_sequence: null, usage: { input_tokens: 1, output_tokens: 2 } });
    const ids = whole.ok ? (whole.value.toolCalls ?? []).map((call) => call.id) : [];
    expect(ids[0]).toBe('sy-functions-2eget_weather-3a0');
    expect(ids[1]).toMatch(/^toolu_x{25}_[0-9a-f]{8}$/);
  });

  it("reads Anthropic's tool_use blocks as calls numbered in order, with their arguments split as streamed", () => {
    const reader = anthropicDialect.createStreamReader();
    const read = (payload: { type: string }): ChatEvent[] => reader.read(payload.type, JSON.stringify(payload)).events;
    const events = [
      read({ type: 'message_start', message: { id: 'msg_1', model: 'm', usage: { input_tokens: 3 } } } as { type: string }),
      read({ type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } } as { type: string }),
      read({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Looking.' } } as { type: string }),
      read({ type: 'content_block_stop', index: 0 } as { type: string }),
      read({ type: 'content_block_start', index: 1, content_block: { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: {} } } as { type: string }),
      read({ type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: '' } } as { type: string }),
      read({ type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: '{"ci' } } as { type: string }),
      read({ type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: 'ty": "Paris"}' } } as { type: string }),
      read({ type: 'content_block_stop', index: 1 } as { type: string }),
      // A server that sends the input whole at the start.
      read({ type: 'content_block_start', index: 2, content_block: { type: 'tool_use', id: 'toolu_2', name: 'get_time', input: { zone: 'CET' } } } as { type: string }),
      read({ type: 'content_block_stop', index: 2 } as { type: string }),
      read({ type: 'message_delta', delta: { stop_reason: 'tool_use', stop_sequence: null }, usage: { output_tokens: 9 } } as { type: string }),
      read({ type: 'message_stop' }),
    ].flat();
    expect(events).toEqual([
      start,
      { type: 'text', text: 'Looking.' },
      { type: 'tool_call', index: 0, id: 'toolu_1', name: 'get_weather' },
      { type: 'tool_arguments', index: 0, text: '{"ci' },
      { type: 'tool_arguments', index: 0, text: 'ty": "Paris"}' },
      // A tool_use block's stop says its call is whole (a text block's says nothing).
      { type: 'tool_call_end', index: 0 },
      { type: 'tool_call', index: 1, id: 'toolu_2', name: 'get_time' },
      { type: 'tool_arguments', index: 1, text: '{"zone":"CET"}' },
      { type: 'tool_call_end', index: 1 },
      { type: 'finish', finishReason: 'tool_calls', usage },
    ]);
  });

  it('a block whose start carried its input whole: deltas that follow for it are ignored, not added to the arguments', () => {
    const reader = anthropicDialect.createStreamReader();
    const read = (payload: { type: string }): ChatEvent[] => reader.read(payload.type, JSON.stringify(payload)).events;
    const events = [
      read({ type: 'content_block_start', index: 0, content_block: { type: 'tool_use', id: 'toolu_1', name: 'f', input: { a: 1 } } } as { type: string }),
      read({ type: 'content_block_delta', index: 0, delta: { type: 'input_json_delta', partial_json: '{"a":' } } as { type: string }),
      read({ type: 'content_block_delta', index: 0, delta: { type: 'input_json_delta', partial_json: '1}' } } as { type: string }),
      read({ type: 'content_block_stop', index: 0 } as { type: string }),
      // A later block that starts empty still gets its deltas.
      read({ type: 'content_block_start', index: 1, content_block: { type: 'tool_use', id: 'toolu_2', name: 'g', input: {} } } as { type: string }),
      read({ type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: '{"b":2}' } } as { type: string }),
    ].flat();
    expect(events).toEqual([
      // No message_start came: one is made up (see 'a message without its message_start').
      { type: 'start', id: '', model: '', inputTokens: 0 },
      { type: 'tool_call', index: 0, id: 'toolu_1', name: 'f' },
      { type: 'tool_arguments', index: 0, text: '{"a":1}' },
      { type: 'tool_call_end', index: 0 },
      { type: 'tool_call', index: 1, id: 'toolu_2', name: 'g' },
      { type: 'tool_arguments', index: 1, text: '{"b":2}' },
    ]);
  });

  it("stop_reason tool_use without a tool_use block reads as 'stop', finished or only announced", () => {
    const reader = anthropicDialect.createStreamReader();
    const read = (payload: { type: string }): ChatEvent[] => reader.read(payload.type, JSON.stringify(payload)).events;
    read({ type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } } as { type: string });
    read({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Done.' } } as { type: string });
    read({ type: 'content_block_stop', index: 0 } as { type: string });
    read({ type: 'message_delta', delta: { stop_reason: 'tool_use', stop_sequence: null }, usage: { output_tokens: 9 } } as { type: string });
    expect(reader.announcedFinish()).toEqual({ type: 'finish', finishReason: 'stop', usage: { inputTokens: 0, outputTokens: 9 } });
    expect(read({ type: 'message_stop' })).toEqual([{ type: 'finish', finishReason: 'stop', usage: { inputTokens: 0, outputTokens: 9 } }]);
  });

  it('a tool_use block without an id or a name, or whose input is no object, is a malformed stream', () => {
    // An input that is no object, too (R38: served as a call with {} as its arguments).
    for (const block of [{ type: 'tool_use', name: 'f', input: {} }, { type: 'tool_use', id: 'toolu_1', input: {} }, { type: 'tool_use', id: 'toolu_1', name: 'f', input: 'notanobject' }, { type: 'tool_use', id: 'toolu_1', name: 'f', input: [1] }]) {
      const reader = anthropicDialect.createStreamReader();
      reader.read('message_start', JSON.stringify({ type: 'message_start', message: { id: 'msg_1', model: 'm', usage: { input_tokens: 3 } } }));
      expect(reader.read('content_block_start', JSON.stringify({ type: 'content_block_start', index: 0, content_block: block }))).toEqual({ events: [{ type: 'error', kind: 'api_error', message: 'upstream sent a malformed tool_use block' }], done: true });
    }
  });

  it('what the writer writes, the reader reads back', () => {
    // Anthropic always sends its cache counts, so what is written is read back with them.
    const cache = { readTokens: 0, writeTokens: 0 };
    const events: ChatEvent[] = [
      { ...start, cache },
      { type: 'text', text: 'Let me ' },
      { type: 'text', text: 'look.' },
      { type: 'tool_call', index: 0, id: 'toolu_1', name: 'get_weather' },
      { type: 'tool_arguments', index: 0, text: '{"city":' },
      { type: 'tool_arguments', index: 0, text: '"Paris"}' },
      { type: 'tool_call', index: 1, id: 'toolu_2', name: 'get_time' },
      { type: 'tool_arguments', index: 1, text: '{}' },
      { type: 'finish', finishReason: 'tool_calls', usage: { ...usage, cache } },
    ];
    const reader = anthropicDialect.createStreamReader();
    const read: ChatEvent[] = [];
    for (const part of written(events).split('\n\n')) {
      const name = /^event: (.*)$/m.exec(part)?.[1];
      const data = /^data: (.*)$/m.exec(part)?.[1];
      if (data !== undefined) read.push(...reader.read(name, data).events);
    }
    // The writer closes each call's block, which the reader reads as the call's end.
    expect(read).toEqual([...events.slice(0, 6), { type: 'tool_call_end', index: 0 }, ...events.slice(6, 8), { type: 'tool_call_end', index: 1 }, events[8]]);
  });
});

describe('anthropic tools: interleaved calls', () => {
  it('input for a call after the next one began is a malformed stream: it cannot be carried (that block is closed)', () => {
    const reader = anthropicDialect.createStreamReader();
    const read = (type: string, body: object): { events: unknown[]; done: boolean } => reader.read(type, JSON.stringify({ type, ...body }));
    read('message_start', { message: { id: 'msg_1', model: 'm', usage: { input_tokens: 3 } } });
    read('content_block_start', { index: 0, content_block: { type: 'tool_use', id: 'toolu_a', name: 'f', input: {} } });
    read('content_block_delta', { index: 0, delta: { type: 'input_json_delta', partial_json: '{"city":' } });
    // Block 0 is still open upstream.
    read('content_block_start', { index: 1, content_block: { type: 'tool_use', id: 'toolu_b', name: 'g', input: {} } });
    expect(read('content_block_delta', { index: 1, delta: { type: 'input_json_delta', partial_json: '{}' } })).toEqual({ events: [{ type: 'tool_arguments', index: 1, text: '{}' }], done: false });
    expect(read('content_block_delta', { index: 0, delta: { type: 'input_json_delta', partial_json: '"Paris"}' } })).toEqual({ events: [{ type: 'error', kind: 'api_error', message: 'upstream interleaved the input of two tool calls' }], done: true });
  });

});

