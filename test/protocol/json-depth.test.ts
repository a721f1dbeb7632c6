import { describe, expect, it } from 'vitest';
import { anthropicDialect } from '../../src/protocol/anthropic/anthropic-dialect.js';
import { maxJsonDepth, pathTooDeep } from '../../src/protocol/json-depth.js';
import { openaiDialect } from '../../src/protocol/openai/openai-dialect.js';
import { readRequest, refusalOf } from './read-request.js';

/** An object nesting `levels` objects (itself included) under key `k`, ending in {}. */
function nested(levels: number): Record<string, unknown> {
  let value: Record<string, unknown> = {};
  for (let level = 1; level < levels; level++) value = { k: value };
  return value;
}

describe('how deeply a request may nest', () => {
  it('counts the value itself as one level and names the first container past the limit', () => {
    expect(pathTooDeep(nested(3), 3)).toBeUndefined();
    expect(pathTooDeep(nested(4), 3)).toEqual(['k', 'k', 'k']);
    expect(pathTooDeep([1, [2, [3, []]]], 3)).toEqual([1, 1, 1]);
    expect(pathTooDeep('text', 0)).toBeUndefined();
  });

  it('a body just under the limit is read; one level more is a 400 naming where, in both dialects', () => {
    // The body is level 1; its metadata holds the rest.
    const openai = (levels: number): unknown => refusalOf(openaiDialect, { model: 'm', messages: [{ role: 'user', content: 'hi' }], metadata: nested(levels - 1) });
    expect(openai(maxJsonDepth)).toBe('accepted');
    expect(openai(maxJsonDepth + 1)).toMatchObject({ param: `metadata${'.k'.repeat(maxJsonDepth - 1)}`, message: expect.stringMatching(/: objects and arrays nested more than 128 levels deep; flatten it/) });
  });

  // Each once overflowed the stack: a 500, or (encoding for the upstream) the endpoint's failure.
  const deep = nested(5000);
  it.each([
    ['an OpenAI tool schema', openaiDialect, { model: 'm', messages: [{ role: 'user', content: 'hi' }], tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object', properties: { a: deep } } } }] }, /^tools\.0\.function\.parameters\.properties\.a(\.k)+$/],
    ['an OpenAI response format', openaiDialect, { model: 'm', messages: [{ role: 'user', content: 'JSON' }], response_format: { type: 'json_schema', json_schema: { name: 'x', schema: deep } } }, /^response_format\.json_schema\.schema(\.k)+$/],
    ['an Anthropic tool schema', anthropicDialect, { model: 'm', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }], tools: [{ name: 'f', input_schema: { type: 'object', properties: { a: deep } } }] }, /^tools\.0\.input_schema\.properties\.a(\.k)+$/],
    ['an Anthropic tool call', anthropicDialect, { model: 'm', max_tokens: 5, tools: [{ name: 'f', input_schema: { type: 'object' } }], messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: [{ type: 'tool_use', id: 'c1', name: 'f', input: deep }] }, { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'c1', content: 'ok' }] }] }, /^messages\.1\.content\.0\.input(\.k)+$/],
  ])('%s nested thousands deep is refused, not thrown', (_name, dialect, body, param) => {
    expect(refusalOf(dialect, body)).toMatchObject({ param: expect.stringMatching(param) });
  });

  it("an OpenAI tool call's arguments, JSON inside a string, are held to the same depth", () => {
    const call = (levels: number): unknown =>
      refusalOf(openaiDialect, {
        model: 'm',
        tools: [{ type: 'function', function: { name: 'f' } }],
        messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'f', arguments: `${'{"k":'.repeat(levels - 1)}{}${'}'.repeat(levels - 1)}` } }] }, { role: 'tool', tool_call_id: 'c1', content: 'ok' }],
      });
    expect(call(maxJsonDepth)).toBe('accepted');
    expect(call(maxJsonDepth + 1)).toEqual({ param: 'messages.1.tool_calls.0.function.arguments', message: 'messages.1.tool_calls.0.function.arguments: must be nested at most 128 levels deep' });
    expect(call(5000)).toMatchObject({ param: 'messages.1.tool_calls.0.function.arguments' });
  });

  it('what the gateway sends for a request at the limit, a few levels deeper in the other dialect, a model server takes', () => {
    const argumentsText = `${'{"k":'.repeat(maxJsonDepth - 1)}{}${'}'.repeat(maxJsonDepth - 1)}`;
    const fromOpenAI = readRequest(openaiDialect, {
      model: 'm',
      tools: [{ type: 'function', function: { name: 'f' } }],
      messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'f', arguments: argumentsText } }] }, { role: 'tool', tool_call_id: 'c1', content: 'ok' }],
    });
    expect(anthropicDialect.parseRequest(anthropicDialect.encodeRequest(fromOpenAI), { asServer: true }).ok).toBe(true);
    const fromAnthropic = readRequest(anthropicDialect, { model: 'm', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }], tools: [{ name: 'f', input_schema: nested(maxJsonDepth - 3) }] });
    expect(openaiDialect.parseRequest(openaiDialect.encodeRequest(fromAnthropic), { asServer: true }).ok).toBe(true);
  });
});
