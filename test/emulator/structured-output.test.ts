import { describe, expect, it } from 'vitest';
import { eventsOfToken, planCompletion, vocabulary } from '../../src/emulator/index.js';
import type { ChatRequest, ResponseFormat, ToolDefinition } from '../../src/protocol/chat.js';

/** The emulator's structured answers: JSON for a response format, deterministic per seed and prompt. */

const schema = {
  type: 'object',
  properties: { city: { type: 'string' }, celsius: { type: 'integer', minimum: -50, maximum: 50 }, raining: { type: 'boolean' }, unit: { type: 'string', enum: ['celsius', 'fahrenheit'] } },
  required: ['city', 'celsius', 'raining', 'unit'],
  additionalProperties: false,
};
const weatherFormat: ResponseFormat = { type: 'json_schema', name: 'weather', schema, strict: true };

function request(extra: Partial<ChatRequest> = {}): ChatRequest {
  return { model: 'm', messages: [{ role: 'user', content: 'The weather in Paris, as JSON.' }], maxTokens: undefined, temperature: undefined, topP: undefined, stop: [], stream: false, includeUsage: false, finalAssistant: 'answer', ...extra };
}

const options = { seed: 5, meanOutputTokens: 20 };

describe('a JSON schema response format', () => {
  it('is answered with JSON following the schema, streamed as text four characters a token, the same for the same seed and prompt', () => {
    const plan = planCompletion(request({ responseFormat: weatherFormat }), options);
    const value = JSON.parse(plan.text) as Record<string, unknown>;
    expect(Object.keys(value)).toEqual(['city', 'celsius', 'raining', 'unit']);
    expect(vocabulary).toContain(value.city);
    expect(Number.isInteger(value.celsius) && (value.celsius as number) >= -50 && (value.celsius as number) <= 50).toBe(true);
    expect(typeof value.raining).toBe('boolean');
    expect(value.unit).toBe('celsius');
    expect(plan.finishReason).toBe('stop');
    expect(plan.tokens.every((token) => token.length <= 4)).toBe(true);
    expect(plan.tokens.join('')).toBe(plan.text);
    expect(plan.usage.outputTokens).toBe(Math.ceil(plan.text.length / 4));
    expect(plan.tokens.map((_token, index) => eventsOfToken(plan, index))).toEqual(plan.tokens.map((token) => [{ type: 'text', text: token }]));
    expect(planCompletion(request({ responseFormat: weatherFormat }), options)).toEqual(plan);
    // Another seed draws other values.
    const others = new Set([1, 2, 3, 4, 6, 7, 8].map((seed) => planCompletion(request({ responseFormat: weatherFormat }), { ...options, seed }).text));
    expect(others.size).toBeGreaterThan(1);
  });

  it('max_tokens cuts the JSON (finish length, no longer JSON), and a stop sequence cuts it where it occurs', () => {
    const cut = planCompletion(request({ responseFormat: weatherFormat, maxTokens: 3 }), options);
    expect(cut.finishReason).toBe('length');
    // Three tokens of four characters: the start of the whole answer.
    expect(cut.text).toBe(planCompletion(request({ responseFormat: weatherFormat }), options).text.slice(0, 12));
    expect(cut.usage.outputTokens).toBe(3);
    expect(() => JSON.parse(cut.text) as unknown).toThrow();

    const stopped = planCompletion(request({ responseFormat: weatherFormat, stop: ['"celsius"'] }), options);
    expect(stopped).toMatchObject({ finishReason: 'stop', stopSequence: '"celsius"' });
    expect(stopped.text).toMatch(/^\{"city":"[a-z]+",$/);
  });
});

describe('JSON mode (json_object)', () => {
  it('is answered with an object whose answer holds as many words as a text answer would', () => {
    const plan = planCompletion(request({ responseFormat: { type: 'json_object' } }), options);
    const value = JSON.parse(plan.text) as { answer: string };
    expect(Object.keys(value)).toEqual(['answer']);
    const words = value.answer.split(' ');
    expect(words.every((word) => vocabulary.includes(word))).toBe(true);
    expect(words.length).toBeGreaterThanOrEqual(1);
    expect(words.length).toBeLessThanOrEqual(2 * options.meanOutputTokens - 1);
  });
});

describe('with tools', () => {
  const tool: ToolDefinition = { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } };

  it('a call comes first when the model calls; after the tool result the answer is the JSON', () => {
    const calling = planCompletion(request({ responseFormat: weatherFormat, tools: [tool], toolChoice: { type: 'required' } }), options);
    expect(calling.finishReason).toBe('tool_calls');
    expect(calling.text).toBe('');
    const answered = planCompletion(
      request({
        responseFormat: weatherFormat,
        tools: [tool],
        messages: [{ role: 'user', content: 'Weather in Paris?' }, { role: 'assistant', content: '', toolCalls: [{ id: 'call_1', name: 'get_weather', arguments: '{"city":"Paris"}' }] }, { role: 'tool', content: '18 degrees', toolCallId: 'call_1' }],
      }),
      options,
    );
    expect(answered.finishReason).toBe('stop');
    expect(Object.keys(JSON.parse(answered.text) as object)).toEqual(['city', 'celsius', 'raining', 'unit']);
  });
});

it('a plan without a response format draws as before: the format changes nothing else', () => {
  const plain = planCompletion(request(), options);
  expect(plain.text.split(' ').every((word) => vocabulary.includes(word))).toBe(true);
  expect(() => JSON.parse(plain.text) as unknown).toThrow();
});

it("follows a reference to the schema's own definitions, as zod writes them, and ends a recursive one at the depth limit", () => {
  const referring = {
    type: 'object',
    properties: { tags: { type: 'array', items: { $ref: '#/$defs/tag' }, minItems: 1 }, tree: { $ref: '#/definitions/node' }, elsewhere: { $ref: 'https://example.com/x.json' } },
    required: ['tags', 'tree', 'elsewhere'],
    $defs: { tag: { type: 'string', enum: ['urgent'] } },
    definitions: { node: { type: 'object', properties: { child: { $ref: '#/definitions/node' } }, required: ['child'] } },
  };
  const plan = planCompletion(request({ responseFormat: { type: 'json_schema', name: 'r', schema: referring, strict: false } }), options);
  const value = JSON.parse(plan.text) as { tags: unknown[]; tree: unknown; elsewhere: unknown };
  expect(value.tags).toEqual(['urgent']);
  expect(value.elsewhere).toBeNull();
  // Each reference is a level deeper: the recursion ends in null within the depth limit.
  let depth = 0;
  for (let node = value.tree as { child?: unknown } | null; node !== null; node = node.child as { child?: unknown } | null) depth += 1;
  expect(depth).toBeGreaterThan(1);
  expect(depth).toBeLessThanOrEqual(8);
});
