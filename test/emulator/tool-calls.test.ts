import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { corruptPlan, eventsOfToken, planCompletion, promptRandom, startEmulator, vocabulary, type CompletionPlan, type RunningEmulator } from '../../src/emulator/index.js';
import { promptText, type ChatMessage, type ChatRequest, type ToolCall, type ToolChoice, type ToolDefinition } from '../../src/protocol/chat.js';
import { dialects } from '../../src/protocol/dialects.js';
import { seededRandom } from '../../src/random/seeded-random.js';
import { readUntilEnd } from './read-until-end.js';

const weather: ToolDefinition = {
  name: 'get_weather',
  description: 'The weather in a city',
  parameters: {
    type: 'object',
    properties: { city: { type: 'string' }, unit: { type: 'string', enum: ['celsius', 'fahrenheit'] }, days: { type: 'integer' }, detailed: { type: 'boolean' } },
    required: ['city', 'unit', 'days'],
  },
};
// No `required`: every property is written.
const search: ToolDefinition = {
  name: 'search_docs',
  parameters: { type: 'object', properties: { query: { type: ['string', 'null'] }, limit: { type: 'number' }, tags: { type: 'array', items: { type: 'string' } }, filters: { type: 'object' }, strict: { type: 'boolean' }, anything: {} } },
};
const clock: ToolDefinition = { name: 'get_time', parameters: { type: 'object', properties: {} } };
const tools = [weather, search, clock];

const callIdPattern = /^call_[0-9a-f]{24}$/;

function request(messages: readonly ChatMessage[], extra: Partial<ChatRequest> = {}): ChatRequest {
  return { model: 'm', messages, maxTokens: undefined, temperature: undefined, topP: undefined, stop: [], stream: false, includeUsage: false, finalAssistant: 'answer', ...extra };
}

function ask(question: string, extra: Partial<ChatRequest> = {}): ChatRequest {
  return request([{ role: 'user', content: question }], { tools, ...extra });
}

const options = { seed: 11, meanOutputTokens: 20 };

/** The calls a plan's token events stream, put back together as a client would. */
function streamedCalls(plan: CompletionPlan): ToolCall[] {
  const calls: { id: string; name: string; arguments: string }[] = [];
  for (let index = 0; index < plan.tokens.length; index += 1) {
    for (const event of eventsOfToken(plan, index)) {
      if (event.type === 'tool_call') calls[event.index] = { id: event.id, name: event.name, arguments: '' };
      else if (event.type === 'tool_arguments') {
        const call = calls[event.index];
        if (call === undefined) throw new Error(`arguments for call ${event.index} before its start`);
        call.arguments += event.text;
      } else throw new Error('text in an answer calling tools');
    }
  }
  return calls;
}

/** Checks the invariants every answer calling tools keeps, and returns its calls. */
function checkedCalls(plan: CompletionPlan): readonly ToolCall[] {
  const calls = plan.toolCalls ?? [];
  expect(calls.length).toBeGreaterThan(0);
  expect(plan.text).toBe('');
  expect(plan.tokenEvents).toHaveLength(plan.tokens.length);
  expect(plan.usage.outputTokens).toBe(plan.tokens.length);
  expect(streamedCalls(plan)).toEqual(calls);
  for (const token of plan.tokens) expect(token.length).toBeLessThanOrEqual(4);
  for (const call of calls) expect(call.id).toMatch(callIdPattern);
  if (plan.finishReason === 'tool_calls') {
    expect(plan.tokens.length).toBe(calls.reduce((sum, call) => sum + Math.ceil(call.arguments.length / 4), 0));
    for (const call of calls) expect(JSON.parse(call.arguments)).toBeTypeOf('object');
  }
  return calls;
}

describe('planCompletion with tools: arguments in any script', () => {
  it('a whole call of non-ASCII arguments ends with tool_calls, and so does a whole JSON answer (finish by pieces streamed, not by the token estimate)', () => {
    const city: ToolDefinition = { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string', enum: ['北京', 'Zürich'] } }, required: ['city'] } };
    for (let seed = 0; seed < 10; seed += 1) {
      const plan = planCompletion(request([{ role: 'user', content: '天气' }], { tools: [city], toolChoice: { type: 'required' } }), { ...options, seed });
      expect(plan.finishReason).toBe('tool_calls');
      expect(checkedCalls(plan).map((call) => JSON.parse(call.arguments) as unknown)).toEqual([{ city: expect.stringMatching(/^(北京|Zürich)$/) }]);
    }
    const json = planCompletion(request([{ role: 'user', content: '天气' }], { responseFormat: { type: 'json_schema', name: 'w', strict: true, schema: { type: 'object', properties: { city: { type: 'string', const: '北京' } }, required: ['city'] } } }), options);
    expect(JSON.parse(json.text)).toEqual({ city: '北京' });
    expect(json.finishReason).toBe('stop');
  });
});

describe('planCompletion with tools: when it calls', () => {
  it("'required' always calls an offered tool, whatever the conversation ends with", () => {
    const endings: ChatMessage[][] = [
      [{ role: 'user', content: 'What is the weather?' }],
      [{ role: 'user', content: 'q' }, { role: 'assistant', content: '', toolCalls: [{ id: 'call_1', name: 'get_time', arguments: '{}' }] }, { role: 'tool', content: 'noon', toolCallId: 'call_1' }],
      [{ role: 'user', content: 'q' }, { role: 'assistant', content: 'the fleet' }],
    ];
    for (const [index, messages] of endings.entries()) {
      const plan = planCompletion(request(messages, { tools, toolChoice: { type: 'required' } }), { ...options, seed: index });
      expect(plan.finishReason).toBe('tool_calls');
      for (const call of checkedCalls(plan)) expect(tools.map((tool) => tool.name)).toContain(call.name);
    }
  });

  it('a named tool is the one called, once, even where parallel calls are allowed', () => {
    for (let seed = 0; seed < 40; seed += 1) {
      const plan = planCompletion(ask(`weather ${seed}`, { toolChoice: { type: 'tool', name: 'search_docs' }, parallelToolCalls: true }), { ...options, seed });
      expect(checkedCalls(plan).map((call) => call.name)).toEqual(['search_docs']);
    }
  });

  it("'auto' (or no choice) calls after a user's question, answers with text after a tool's result: the agent loop", () => {
    for (const toolChoice of [{ type: 'auto' }, undefined] satisfies (ToolChoice | undefined)[]) {
      const choice = toolChoice === undefined ? {} : { toolChoice };
      const question: ChatMessage[] = [{ role: 'system', content: 'be brief' }, { role: 'user', content: 'What is the weather in Oslo?' }, { role: 'system', content: 'a late system note' }];
      const first = planCompletion(request(question, { tools, ...choice }), options);
      expect(first.finishReason).toBe('tool_calls');
      const calls = checkedCalls(first);
      const results: ChatMessage[] = [...question, { role: 'assistant', content: '', toolCalls: calls }, ...calls.map((call) => ({ role: 'tool' as const, content: 'sunny', toolCallId: call.id }))];
      const answer = planCompletion(request(results, { tools, ...choice }), options);
      expect(answer.finishReason).not.toBe('tool_calls');
      expect(answer.toolCalls).toBeUndefined();
      expect(answer.tokenEvents).toBeUndefined();
      expect(answer.text.split(' ').every((word) => vocabulary.includes(word))).toBe(true);
      expect(answer.text).not.toBe('');
    }
  });

  it("'auto' continues a trailing assistant turn with text; 'none' and an empty tool list always answer with text", () => {
    const prefill = request([{ role: 'user', content: 'q' }, { role: 'assistant', content: 'the fleet' }], { tools, finalAssistant: 'continue' });
    expect(planCompletion(prefill, options).toolCalls).toBeUndefined();
    expect(planCompletion(prefill, options).text.startsWith(' ')).toBe(true);
    for (let seed = 0; seed < 20; seed += 1) {
      expect(planCompletion(ask('q', { toolChoice: { type: 'none' } }), { ...options, seed }).toolCalls).toBeUndefined();
      expect(planCompletion(ask('q', { tools: [] }), { ...options, seed }).toolCalls).toBeUndefined();
      expect(planCompletion(ask('q', { tools: [], toolChoice: { type: 'required' } }), { ...options, seed }).toolCalls).toBeUndefined();
    }
  });

  it("a text answer to a request offering tools is the one 'none' gives: the same draws as without tools", () => {
    const messages: ChatMessage[] = [
      { role: 'user', content: 'q' },
      { role: 'assistant', content: '', toolCalls: [{ id: 'call_1', name: 'get_time', arguments: '{}' }] },
      { role: 'tool', content: 'noon', toolCallId: 'call_1' },
    ];
    const after = planCompletion(request(messages, { tools }), options);
    expect(after).toEqual(planCompletion(request(messages, { tools, toolChoice: { type: 'none' } }), options));
    expect(Object.keys(after).sort()).toEqual(['finishReason', 'text', 'tokens', 'usage']);
  });
});

describe('planCompletion with tools: the calls', () => {
  it('arguments: the required properties by type and enum (every property without `required`), compact JSON', () => {
    for (let seed = 0; seed < 30; seed += 1) {
      const forecast = planCompletion(ask(`forecast ${seed}`, { toolChoice: { type: 'tool', name: 'get_weather' } }), { ...options, seed });
      const call = checkedCalls(forecast)[0];
      expect(call?.arguments).toBe(JSON.stringify(JSON.parse(call?.arguments ?? '')));
      const values = JSON.parse(call?.arguments ?? '') as Record<string, unknown>;
      expect(Object.keys(values)).toEqual(['city', 'unit', 'days']);
      expect(vocabulary).toContain(values.city);
      expect(values.unit).toBe('celsius');
      expect(Number.isInteger(values.days) && (values.days as number) >= 1 && (values.days as number) <= 100).toBe(true);

      const found = planCompletion(ask(`find ${seed}`, { toolChoice: { type: 'tool', name: 'search_docs' } }), { ...options, seed });
      const searched = JSON.parse(checkedCalls(found)[0]?.arguments ?? '') as Record<string, unknown>;
      expect(Object.keys(searched)).toEqual(['query', 'limit', 'tags', 'filters', 'strict', 'anything']);
      expect(vocabulary).toContain(searched.query);
      expect(Number.isInteger(searched.limit) && (searched.limit as number) >= 1 && (searched.limit as number) <= 100).toBe(true);
      expect(searched).toMatchObject({ tags: [], filters: {}, anything: null });
      expect(typeof searched.strict).toBe('boolean');

      const time = planCompletion(ask(`time ${seed}`, { toolChoice: { type: 'tool', name: 'get_time' } }), { ...options, seed });
      expect(checkedCalls(time)[0]?.arguments).toBe('{}');
      expect(time.tokens).toEqual(['{}']);
    }
  });

  it('the draws cover the ranges: whole numbers over all of 1..100 and no further, booleans both values', () => {
    const limits = new Set<unknown>();
    const stricts = new Set<unknown>();
    for (let seed = 0; seed < 2000; seed += 1) {
      const plan = planCompletion(ask('find it', { toolChoice: { type: 'tool', name: 'search_docs' } }), { ...options, seed });
      const values = JSON.parse(plan.toolCalls?.[0]?.arguments ?? '') as Record<string, unknown>;
      limits.add(values.limit);
      stricts.add(values.strict);
    }
    expect(limits).toEqual(new Set(Array.from({ length: 100 }, (_, index) => index + 1)));
    expect(stricts).toEqual(new Set([true, false]));
  });

  it('a required name the schema does not describe is null; a property named __proto__ is written like any other', () => {
    const odd: ToolDefinition = { name: 'odd', parameters: JSON.parse('{"type":"object","properties":{"__proto__":{"type":"integer"}},"required":["__proto__","ghost"]}') as Record<string, unknown> };
    const plan = planCompletion(request([{ role: 'user', content: 'q' }], { tools: [odd], toolChoice: { type: 'required' } }), options);
    expect(plan.toolCalls?.[0]?.arguments).toMatch(/^\{"__proto__":\d{1,3},"ghost":null\}$/);
  });

  it('the start of each call rides with its first piece of arguments; pieces are four characters', () => {
    const plan = planCompletion(ask('weather please', { toolChoice: { type: 'tool', name: 'get_weather' } }), options);
    const call = plan.toolCalls?.[0];
    expect(plan.tokenEvents?.[0]).toEqual([
      { type: 'tool_call', index: 0, id: call?.id, name: 'get_weather' },
      { type: 'tool_arguments', index: 0, text: call?.arguments.slice(0, 4) },
    ]);
    expect(plan.tokenEvents?.slice(1)).toEqual(plan.tokens.slice(1).map((text) => [{ type: 'tool_arguments', index: 0, text }]));
    expect(plan.tokens.slice(0, -1).every((token) => token.length === 4)).toBe(true);
  });

  it('deterministic per seed and prompt: ids, tools and arguments; another seed gives other ids', () => {
    const a = planCompletion(ask('weather in Oslo', { toolChoice: { type: 'required' } }), options);
    expect(planCompletion(ask('weather in Oslo', { toolChoice: { type: 'required' } }), options)).toEqual(a);
    const other = planCompletion(ask('weather in Oslo', { toolChoice: { type: 'required' } }), { ...options, seed: 12 });
    expect(other.toolCalls?.[0]?.id).not.toBe(a.toolCalls?.[0]?.id);
    const ids = new Set(Array.from({ length: 50 }, (_, seed) => planCompletion(ask('same question', { toolChoice: { type: 'required' } }), { ...options, seed }).toolCalls?.[0]?.id));
    expect(ids.size).toBe(50);
  });

  it('two calls of different tools happen, one call too; never two with parallel calls off or one tool offered', () => {
    const counts = new Map<number, number>();
    for (let seed = 0; seed < 100; seed += 1) {
      const calls = checkedCalls(planCompletion(ask(`busy ${seed}`), { ...options, seed }));
      counts.set(calls.length, (counts.get(calls.length) ?? 0) + 1);
      if (calls.length === 2) {
        expect(calls[0]?.name).not.toBe(calls[1]?.name);
        expect(calls[0]?.id).not.toBe(calls[1]?.id);
      }
      expect(planCompletion(ask(`busy ${seed}`, { parallelToolCalls: false }), { ...options, seed }).toolCalls).toHaveLength(1);
      expect(planCompletion(ask(`busy ${seed}`, { tools: [weather] }), { ...options, seed }).toolCalls).toHaveLength(1);
    }
    expect(counts.get(1)).toBeGreaterThan(20);
    expect(counts.get(2)).toBeGreaterThan(20);
    expect([...counts.keys()].sort()).toEqual([1, 2]);
  });

  it('the second call streams after the first, numbered 1', () => {
    const plan = Array.from({ length: 50 }, (_, seed) => planCompletion(ask(`pair ${seed}`), { ...options, seed })).find((candidate) => candidate.toolCalls?.length === 2);
    expect(plan).toBeDefined();
    const events = plan?.tokenEvents?.flat() ?? [];
    const starts = events.filter((event) => event.type === 'tool_call');
    expect(starts.map((event) => event.index)).toEqual([0, 1]);
    const secondStart = events.findIndex((event) => event.type === 'tool_call' && event.index === 1);
    expect(secondStart).toBeGreaterThan(0);
    expect(events.slice(0, secondStart).every((event) => (event.type === 'tool_call' || event.type === 'tool_arguments') && event.index === 0)).toBe(true);
    expect(events.slice(secondStart).every((event) => (event.type === 'tool_call' || event.type === 'tool_arguments') && event.index === 1)).toBe(true);
  });

  it('max_tokens cuts the arguments with finish length; a budget that fits them all finishes tool_calls', () => {
    const full = planCompletion(ask('weather please', { toolChoice: { type: 'tool', name: 'get_weather' } }), options);
    const needed = full.tokens.length;
    expect(needed).toBeGreaterThan(3);
    const cut = planCompletion(ask('weather please', { toolChoice: { type: 'tool', name: 'get_weather' }, maxTokens: 3 }), options);
    expect(cut.finishReason).toBe('length');
    expect(cut.tokens).toEqual(full.tokens.slice(0, 3));
    expect(cut.tokenEvents).toEqual(full.tokenEvents?.slice(0, 3));
    expect(cut.toolCalls).toEqual([{ ...full.toolCalls?.[0], arguments: full.tokens.slice(0, 3).join('') }]);
    expect(cut.usage.outputTokens).toBe(3);
    expect(streamedCalls(cut)).toEqual(cut.toolCalls);
    const exact = planCompletion(ask('weather please', { toolChoice: { type: 'tool', name: 'get_weather' }, maxTokens: needed }), options);
    expect(exact).toEqual(full);
  });

  it('max_tokens ending within the first of two calls leaves the second out', () => {
    const plan = Array.from({ length: 50 }, (_, seed) => ({ seed, plan: planCompletion(ask(`pair ${seed}`), { ...options, seed }) })).find((candidate) => candidate.plan.toolCalls?.length === 2);
    const first = plan?.plan.toolCalls?.[0];
    expect(first).toBeDefined();
    const within = planCompletion(ask(`pair ${plan?.seed}`, { maxTokens: Math.ceil((first?.arguments.length ?? 0) / 4) }), { ...options, seed: plan?.seed ?? 0 });
    expect(within.toolCalls).toEqual([first]);
    expect(within.finishReason).toBe('length');
  });

  it('stop sequences do not apply to arguments', () => {
    const plan = planCompletion(ask('weather please', { toolChoice: { type: 'tool', name: 'get_weather' }, stop: ['"', '{', 'celsius'] }), options);
    expect(plan.finishReason).toBe('tool_calls');
    expect(plan.stopSequence).toBeUndefined();
    expect(plan.toolCalls?.[0]?.arguments).toContain('"unit":"celsius"');
  });

  it('the corrupt-output fault leaves arguments alone (corrupt JSON would be another fault); text is still corrupted', () => {
    const plan = planCompletion(ask('weather please', { toolChoice: { type: 'required' } }), options);
    expect(corruptPlan(plan, 1, seededRandom(1))).toBe(plan);
    const text = planCompletion(ask('weather please', { toolChoice: { type: 'none' } }), options);
    expect(corruptPlan(text, 1, seededRandom(1)).text).not.toBe(text.text);
  });
});

/** The arguments the emulator writes for a tool of these parameters (it is the only tool, and required). */
function argumentsOf(parameters: Record<string, unknown>, seed = 11, prompt = 'probe'): Record<string, unknown> {
  const plan = planCompletion(request([{ role: 'user', content: prompt }], { tools: [{ name: 'probe', parameters }], toolChoice: { type: 'required' } }), { ...options, seed });
  return JSON.parse(checkedCalls(plan)[0]?.arguments ?? '') as Record<string, unknown>;
}

/** The value written for one property of this schema, for seeds 0 to count - 1. */
function valuesOf(property: Record<string, unknown>, count = 200): unknown[] {
  return Array.from({ length: count }, (_, seed) => argumentsOf({ type: 'object', properties: { value: property } }, seed).value);
}

/** A chain of `levels` objects, each holding the next under `next`. */
function chain(levels: number): Record<string, unknown> {
  return levels === 0 ? { type: 'integer' } : { type: 'object', properties: { next: chain(levels - 1) } };
}

describe('planCompletion with tools: arguments within the schema', () => {
  it('a nested object gets its required properties, every property without `required`, none for `required: []`', () => {
    const values = argumentsOf({
      type: 'object',
      properties: {
        address: { type: 'object', properties: { street: { type: 'string' }, zip: { type: 'integer' }, note: { type: 'string' } }, required: ['zip', 'street'] },
        meta: { type: 'object', properties: { flag: { type: 'boolean' }, inner: { type: 'object', properties: { deep: { type: 'integer', minimum: 3, maximum: 3 } } } } },
        none: { type: 'object', properties: { skipped: { type: 'string' } }, required: [] },
      },
    });
    expect(Object.keys(values)).toEqual(['address', 'meta', 'none']);
    const address = values.address as Record<string, unknown>;
    expect(Object.keys(address)).toEqual(['zip', 'street']);
    expect(vocabulary).toContain(address.street);
    expect(Number.isInteger(address.zip)).toBe(true);
    expect(values.meta).toEqual({ flag: expect.any(Boolean) as unknown, inner: { deep: 3 } });
    expect(values.none).toEqual({});
    expect(argumentsOf({ type: 'object', properties: { skipped: { type: 'string' } }, required: [] })).toEqual({});
  });

  it('an array gets minItems items of its `items` schema (none without minItems, at most 100)', () => {
    for (const value of valuesOf({ type: 'array', minItems: 3, items: { type: 'integer', minimum: 5, maximum: 7 } }, 50)) {
      expect(value).toHaveLength(3);
      for (const item of value as unknown[]) expect([5, 6, 7]).toContain(item);
    }
    const [objects] = valuesOf({ type: 'array', minItems: 2, items: { type: 'object', properties: { id: { const: 'x' } } } }, 1);
    expect(objects).toEqual([{ id: 'x' }, { id: 'x' }]);
    expect(valuesOf({ type: 'array', items: { type: 'string' } }, 1)).toEqual([[]]);
    expect(valuesOf({ type: 'array', minItems: 2 }, 1)).toEqual([[null, null]]);
    expect(valuesOf({ type: 'array', minItems: 1000, items: { const: 0 } }, 1)[0]).toHaveLength(100);
  });

  it('`const` is written as given, whatever the type', () => {
    const values = argumentsOf({ type: 'object', properties: { a: { const: 'fixed' }, b: { type: 'integer', const: 7 }, c: { const: { nested: [1, 2] } }, d: { type: 'string', const: null } } });
    expect(values).toEqual({ a: 'fixed', b: 7, c: { nested: [1, 2] }, d: null });
  });

  it('`anyOf` and `oneOf` take their first branch', () => {
    const values = argumentsOf({
      type: 'object',
      properties: {
        any: { anyOf: [{ type: 'integer', minimum: 500, maximum: 500 }, { type: 'string' }] },
        one: { oneOf: [{ type: 'string', format: 'email' }, { type: 'null' }] },
        nullable: { anyOf: [{ type: 'null' }, { type: 'string' }] },
      },
    });
    expect(values).toEqual({ any: 500, one: 'user@example.com', nullable: null });
  });

  it('`allOf` merges its branches: properties and required lists joined, in nested objects and the parameters themselves', () => {
    const merged = { allOf: [{ type: 'object', properties: { a: { const: 1 }, b: { const: 2 } }, required: ['a'] }, { properties: { c: { const: 3 } }, required: ['c'] }] };
    expect(argumentsOf({ type: 'object', properties: { merged } })).toEqual({ merged: { a: 1, c: 3 } });
    expect(argumentsOf(merged)).toEqual({ a: 1, c: 3 });
    // No branch lists `required`: every property, the first branch's schema winning a clash.
    expect(argumentsOf({ type: 'object', properties: { merged: { allOf: [{ type: 'object', properties: { a: { const: 1 } } }, { properties: { a: { const: 9 }, b: { const: 2 } } }] } } })).toEqual({ merged: { a: 1, b: 2 } });
    expect(argumentsOf({ type: 'object', properties: { n: { allOf: [{ type: 'integer' }, { minimum: 40, maximum: 40 }] } } })).toEqual({ n: 40 });
  });

  it("a `$ref` to the schema's own definitions is followed; any other is null", () => {
    expect(argumentsOf({ type: 'object', properties: { ref: { $ref: '#/$defs/thing' } }, $defs: { thing: { type: 'string', const: 'x' } } })).toEqual({ ref: 'x' });
    expect(argumentsOf({ type: 'object', properties: { ref: { $ref: '#/$defs/missing' }, far: { $ref: 'other.json#/x' } }, $defs: {} })).toEqual({ ref: null, far: null });
  });

  it('integers and numbers stay within minimum/maximum and their exclusive forms, still drawn by the seed', () => {
    expect(new Set(valuesOf({ type: 'integer', minimum: 10, maximum: 12 }))).toEqual(new Set([10, 11, 12]));
    expect(new Set(valuesOf({ type: 'integer', exclusiveMinimum: 0, exclusiveMaximum: 3 }))).toEqual(new Set([1, 2]));
    // Draft 4: exclusiveMinimum/exclusiveMaximum as booleans beside minimum/maximum.
    expect(new Set(valuesOf({ type: 'integer', minimum: 0, exclusiveMinimum: true, maximum: 2.5 }))).toEqual(new Set([1, 2]));
    expect(new Set(valuesOf({ type: 'number', minimum: -2, maximum: 2, exclusiveMaximum: true }))).toEqual(new Set([-2, -1, 0, 1]));
    const above = valuesOf({ type: 'integer', minimum: 1000 }) as number[];
    expect(Math.min(...above)).toBeGreaterThanOrEqual(1000);
    expect(Math.max(...above)).toBeLessThanOrEqual(1099);
    expect(new Set(above).size).toBeGreaterThan(50);
    const below = valuesOf({ type: 'integer', maximum: -5 }) as number[];
    expect(Math.max(...below)).toBeLessThanOrEqual(-5);
    expect(Math.min(...below)).toBeGreaterThanOrEqual(-104);
    // A range holding no whole number: a fraction strictly inside it, varying with the seed.
    const fractions = valuesOf({ type: 'number', exclusiveMinimum: 0, exclusiveMaximum: 1 }) as number[];
    for (const fraction of fractions) expect(fraction > 0 && fraction < 1).toBe(true);
    expect(new Set(fractions).size).toBeGreaterThan(100);
    expect(valuesOf({ type: 'number', minimum: 0.5, maximum: 0.5 }, 3)).toEqual([0.5, 0.5, 0.5]);
    expect(valuesOf({ type: 'integer', minimum: 3, maximum: 9 }, 20)).toEqual(valuesOf({ type: 'integer', minimum: 3, maximum: 9 }, 20));
  });

  it('strings: minLength padded with words, cut to maxLength; known formats a fixed value; `pattern` ignored', () => {
    for (const value of valuesOf({ type: 'string', minLength: 40 }, 50) as string[]) {
      expect(value.length).toBeGreaterThanOrEqual(40);
      for (const word of value.split(' ')) expect(vocabulary).toContain(word);
    }
    for (const value of valuesOf({ type: 'string', maxLength: 2 }, 50) as string[]) expect(value.length).toBeLessThanOrEqual(2);
    expect(argumentsOf({ type: 'object', properties: { at: { type: 'string', format: 'date-time' }, day: { type: 'string', format: 'date' }, mail: { type: ['string', 'null'], format: 'email' }, link: { type: 'string', format: 'uri' } } })).toEqual({
      at: '2025-01-01T12:00:00Z',
      day: '2025-01-01',
      mail: 'user@example.com',
      link: 'https://example.com/',
    });
    expect(Number.isNaN(Date.parse('2025-01-01T12:00:00Z'))).toBe(false);
    // Documented limit: a pattern is not followed.
    expect(vocabulary).toContain(argumentsOf({ type: 'object', properties: { code: { type: 'string', pattern: '^[0-9]+$' } } }).code);
  });

  it('values nested more than 8 levels down are null: deep and cyclic schemas end', () => {
    let value: unknown = argumentsOf(chain(20));
    for (let level = 1; level <= 8; level += 1) {
      value = (value as Record<string, unknown>).next;
      expect(value).toBeTypeOf('object');
    }
    expect(value).toEqual({ next: null });
    expect(argumentsOf(chain(7))).toEqual(argumentsOf(chain(7)));
    expect(JSON.stringify(argumentsOf(chain(8)))).toMatch(/^(\{"next":){8}\d+\}{8}$/);
    // A schema built in memory can refer to itself (one from JSON cannot; its `$ref`s are not
    // followed); toJSON lets the prompt text, which holds the tools, be written.
    const loop: { anyOf: unknown[] } = { anyOf: [] };
    loop.anyOf.push(loop);
    const cyclic: Record<string, unknown> = { type: 'object', properties: {} };
    cyclic.properties = { self: cyclic, loop };
    Object.defineProperty(cyclic, 'toJSON', { value: () => 'cyclic' });
    const written = JSON.stringify(argumentsOf(cyclic));
    expect(written.startsWith('{"self":{"self":')).toBe(true);
    expect(written).toContain('"loop":null');
  });

  it('draws: after the tool pick and the id, values in order; const, enum and format draw nothing, a padded string one draw a word', () => {
    const parameters = { type: 'object', properties: { when: { type: 'string', format: 'date-time' }, kind: { type: 'string', enum: ['a'] }, one: { const: 1 }, n: { type: 'integer', minimum: 0, maximum: 9 }, s: { type: 'string', minLength: 30 }, b: { type: 'boolean' } } };
    for (let seed = 0; seed < 20; seed += 1) {
      const random = promptRandom(seed, promptText(request([{ role: 'user', content: 'probe' }], { tools: [{ name: 'probe', parameters }] })));
      for (let draw = 0; draw < 4; draw += 1) random(); // the tool picked, then the id's three
      const word = (): string => vocabulary[Math.floor(random() * vocabulary.length)] ?? '';
      const n = Math.floor(random() * 10);
      let s = word();
      while (s.length < 30) s += ` ${word()}`;
      expect(argumentsOf(parameters, seed)).toEqual({ when: '2025-01-01T12:00:00Z', kind: 'a', one: 1, n, s, b: random() < 0.5 });
    }
  });
});

describe('planCompletion without tools: unchanged', () => {
  // Recorded from the planner before tool calls existed: its draws must not move.
  const GOLDEN_FRESH: CompletionPlan = { tokens: ['fleet', ' mountain', ' fleet', ' signal'], text: 'fleet mountain fleet signal', finishReason: 'stop', usage: { inputTokens: 4, outputTokens: 4 } };
  const GOLDEN_CUT: CompletionPlan = { tokens: ['fleet', ' mountain'], text: 'fleet mountain', finishReason: 'length', usage: { inputTokens: 4, outputTokens: 2 } };
  const GOLDEN_CONTINUED: CompletionPlan = { tokens: [' runs', ' scales', ' stone', ' weight'], text: ' runs scales stone weight', finishReason: 'stop', usage: { inputTokens: 6, outputTokens: 4 } };

  it('the same tokens as before for a fresh question, a cut answer and a continued turn', () => {
    const base = request([{ role: 'user', content: 'golden prompt' }], { finalAssistant: 'continue' });
    expect(planCompletion(base, { seed: 42, meanOutputTokens: 6 })).toEqual(GOLDEN_FRESH);
    expect(planCompletion({ ...base, maxTokens: 2 }, { seed: 42, meanOutputTokens: 6 })).toEqual(GOLDEN_CUT);
    expect(planCompletion({ ...base, messages: [...base.messages, { role: 'assistant', content: 'the fleet' }] }, { seed: 3, meanOutputTokens: 4 })).toEqual(GOLDEN_CONTINUED);
    expect(eventsOfToken(GOLDEN_FRESH, 1)).toEqual([{ type: 'text', text: GOLDEN_FRESH.tokens[1] }]);
  });
});

// Wire tests: the emulator over HTTP in both dialects.
const model = 'llama-3.1-8b';
const seed = 7;
const meanOutputTokens = 500;
type Json = Record<string, unknown>;

let emu: RunningEmulator;

beforeAll(async () => {
  emu = await startEmulator({ model, chip: 'h100', seed, speed: 200, log: () => undefined });
});

afterEach(() => {
  emu.setFaults({ cutAfterTokens: null, corruptRate: 0 });
});

afterAll(async () => {
  await emu.close();
});

const openaiTools = tools.map((tool) => ({ type: 'function', function: { name: tool.name, ...(tool.description === undefined ? {} : { description: tool.description }), parameters: tool.parameters } }));
const anthropicTools = tools.map((tool) => ({ name: tool.name, ...(tool.description === undefined ? {} : { description: tool.description }), input_schema: tool.parameters }));

function openaiBody(content: string, extra: Json = {}): Json {
  return { model, max_tokens: 200, messages: [{ role: 'user', content }], tools: openaiTools, ...extra };
}

function anthropicBody(content: string, extra: Json = {}): Json {
  return { model, max_tokens: 200, messages: [{ role: 'user', content }], tools: anthropicTools, ...extra };
}

async function post(path: string, body: Json): Promise<Response> {
  return fetch(`${emu.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
}

/** The plan the emulator answers a body with, read through the dialect as the emulator reads it. */
function expectedPlan(dialect: 'openai' | 'anthropic', body: Json): CompletionPlan {
  const parsed = dialects[dialect].parseRequest(body, { asServer: true });
  if (!parsed.ok) throw new Error(`the ${dialect} dialect refused the body: ${parsed.problem.message}`);
  return planCompletion(parsed.value, { seed, meanOutputTokens });
}

/** The JSON data of each SSE frame but OpenAI's [DONE]. */
function frameData(text: string): Json[] {
  return text
    .split('\n\n')
    .filter((frame) => frame !== '')
    .map((frame) => /^data: (.*)$/m.exec(frame)?.[1] ?? '')
    .filter((data) => data !== '[DONE]')
    .map((data) => JSON.parse(data) as Json);
}

interface OpenaiDelta {
  tool_calls?: { index: number; id?: string; type?: string; function?: { name?: string; arguments?: string } }[];
  content?: string | null;
}

/** Tool calls of an OpenAI stream, put together by index as the SDKs do, and its finish reason. */
function openaiStreamCalls(chunks: readonly Json[]): { calls: ToolCall[]; finish: unknown; text: string } {
  const calls: { id: string; name: string; arguments: string }[] = [];
  let finish: unknown = null;
  let text = '';
  for (const chunk of chunks) {
    const choice = (chunk.choices as { delta: OpenaiDelta; finish_reason: unknown }[] | undefined)?.[0];
    if (choice === undefined) continue;
    text += choice.delta.content ?? '';
    for (const part of choice.delta.tool_calls ?? []) {
      if (part.id !== undefined) {
        expect(part.type).toBe('function');
        calls[part.index] = { id: part.id, name: part.function?.name ?? '', arguments: part.function?.arguments ?? '' };
      } else {
        const call = calls[part.index];
        if (call === undefined) throw new Error(`arguments for tool call ${part.index} before its start`);
        call.arguments += part.function?.arguments ?? '';
      }
    }
    if (choice.finish_reason !== null) finish = choice.finish_reason;
  }
  return { calls, finish, text };
}

/** Tool uses of an Anthropic stream, by content block, and its stop reason. */
function anthropicStreamCalls(events: readonly Json[]): { calls: ToolCall[]; stop: unknown; blocks: number } {
  const calls = new Map<number, { id: string; name: string; arguments: string }>();
  let stop: unknown = null;
  let blocks = 0;
  for (const event of events) {
    if (event.type === 'content_block_start') {
      blocks += 1;
      const block = event.content_block as { type: string; id: string; name: string; input: unknown };
      expect(block.type).toBe('tool_use');
      expect(block.input).toEqual({});
      calls.set(event.index as number, { id: block.id, name: block.name, arguments: '' });
    } else if (event.type === 'content_block_delta') {
      const delta = event.delta as { type: string; partial_json: string };
      expect(delta.type).toBe('input_json_delta');
      const call = calls.get(event.index as number);
      if (call === undefined) throw new Error(`input for block ${String(event.index)} before its start`);
      call.arguments += delta.partial_json;
    } else if (event.type === 'message_delta') {
      stop = (event.delta as { stop_reason: unknown }).stop_reason;
    }
  }
  return { calls: [...calls.entries()].sort(([a], [b]) => a - b).map(([, call]) => call), stop, blocks };
}

/** A request whose answer calls two tools (the first seed-free prompt found), so the wire tests cover parallel calls. */
function twoCallPrompt(dialect: 'openai' | 'anthropic', body: (content: string) => Json): string {
  for (let index = 0; index < 100; index += 1) {
    if (expectedPlan(dialect, body(`plan a trip ${index}`)).toolCalls?.length === 2) return `plan a trip ${index}`;
  }
  throw new Error('no prompt found whose answer calls two tools');
}

describe('emulator over HTTP: OpenAI tool calls', () => {
  it('non-stream: message.tool_calls as planned, content null, finish tool_calls, usage counting argument tokens', async () => {
    const content = twoCallPrompt('openai', (text) => openaiBody(text, { tool_choice: 'required' }));
    const body = openaiBody(content, { tool_choice: 'required' });
    const expected = expectedPlan('openai', body);
    const response = await post('/v1/chat/completions', body);
    expect(response.status).toBe(200);
    const answer = (await response.json()) as Json;
    const calls = expected.toolCalls ?? [];
    expect(calls).toHaveLength(2);
    expect(answer).toMatchObject({
      choices: [{ index: 0, message: { role: 'assistant', content: null, tool_calls: calls.map((call) => ({ id: call.id, type: 'function', function: { name: call.name, arguments: call.arguments } })) }, finish_reason: 'tool_calls' }],
      usage: { completion_tokens: expected.tokens.length },
    });
    for (const call of calls) expect(JSON.parse(call.arguments)).toBeTypeOf('object');
  });

  it('stream: a tool_calls delta per call start, argument deltas after it, finish tool_calls, usage', async () => {
    const content = twoCallPrompt('openai', (text) => openaiBody(text));
    const body = openaiBody(content, { stream: true, stream_options: { include_usage: true } });
    const expected = expectedPlan('openai', body);
    const chunks = frameData(await (await post('/v1/chat/completions', body)).text());
    const { calls, finish, text } = openaiStreamCalls(chunks);
    expect(calls).toEqual(expected.toolCalls);
    expect(calls).toHaveLength(2);
    expect(text).toBe('');
    expect(finish).toBe('tool_calls');
    expect(chunks.at(-1)).toMatchObject({ usage: { completion_tokens: expected.tokens.length } });
    // One chunk of arguments per token: the scheduler timed each.
    const argumentChunks = chunks.filter((chunk) => JSON.stringify(chunk).includes('"arguments":"') && !JSON.stringify(chunk).includes('"arguments":""'));
    expect(argumentChunks).toHaveLength(expected.tokens.length);
  });

  it('the agent loop: tool results sent back get a text answer', async () => {
    const first = (await (await post('/v1/chat/completions', openaiBody('weather in Oslo?', { tool_choice: 'auto' }))).json()) as { choices: { message: { tool_calls: { id: string; type: string; function: { name: string; arguments: string } }[] } }[] };
    const toolCalls = first.choices[0]?.message.tool_calls ?? [];
    expect(toolCalls.length).toBeGreaterThan(0);
    const results = toolCalls.map((call) => ({ role: 'tool', tool_call_id: call.id, content: 'sunny, 21 degrees' }));
    const body = { ...openaiBody('weather in Oslo?'), messages: [{ role: 'user', content: 'weather in Oslo?' }, { role: 'assistant', content: null, tool_calls: toolCalls }, ...results] };
    const expected = expectedPlan('openai', body);
    expect(expected.toolCalls).toBeUndefined();
    const answer = (await (await post('/v1/chat/completions', body)).json()) as Json;
    expect(answer).toMatchObject({ choices: [{ message: { role: 'assistant', content: expected.text }, finish_reason: expected.finishReason }] });
    expect(JSON.stringify(answer)).not.toContain('tool_calls');
  });

  it('max_tokens cuts the arguments: finish length, the arguments as far as written', async () => {
    const body = openaiBody('weather please', { tool_choice: { type: 'function', function: { name: 'get_weather' } }, max_tokens: 3 });
    const expected = expectedPlan('openai', body);
    expect(expected.finishReason).toBe('length');
    const answer = (await (await post('/v1/chat/completions', body)).json()) as Json;
    const call = expected.toolCalls?.[0];
    expect(call?.arguments).toHaveLength(12);
    expect(answer).toMatchObject({ choices: [{ message: { tool_calls: [{ id: call?.id, function: { name: 'get_weather', arguments: call?.arguments } }] }, finish_reason: 'length' }], usage: { completion_tokens: 3 } });
    const streamed = frameData(await (await post('/v1/chat/completions', { ...body, stream: true })).text());
    expect(openaiStreamCalls(streamed)).toMatchObject({ calls: expected.toolCalls, finish: 'length' });
  });

  it('parallel_tool_calls false: one call', async () => {
    const content = twoCallPrompt('openai', (text) => openaiBody(text));
    const answer = (await (await post('/v1/chat/completions', openaiBody(content, { parallel_tool_calls: false }))).json()) as { choices: { message: { tool_calls: unknown[] } }[] };
    expect(answer.choices[0]?.message.tool_calls).toHaveLength(1);
  });
});

describe('emulator over HTTP: Anthropic tool use', () => {
  it('non-stream: tool_use content blocks with the planned input, stop_reason tool_use', async () => {
    const content = twoCallPrompt('anthropic', (text) => anthropicBody(text, { tool_choice: { type: 'any' } }));
    const body = anthropicBody(content, { tool_choice: { type: 'any' } });
    const expected = expectedPlan('anthropic', body);
    const calls = expected.toolCalls ?? [];
    expect(calls).toHaveLength(2);
    const answer = (await (await post('/v1/messages', body)).json()) as Json;
    expect(answer).toMatchObject({
      type: 'message',
      content: calls.map((call) => ({ type: 'tool_use', id: call.id, name: call.name, input: JSON.parse(call.arguments) as unknown })),
      stop_reason: 'tool_use',
      usage: { output_tokens: expected.tokens.length },
    });
    expect(answer.content).toHaveLength(2);
  });

  it('stream: content_block_start tool_use, input_json_delta per token, stop_reason tool_use', async () => {
    const content = twoCallPrompt('anthropic', (text) => anthropicBody(text));
    const body = anthropicBody(content, { stream: true });
    const expected = expectedPlan('anthropic', body);
    const events = frameData(await (await post('/v1/messages', body)).text());
    const { calls, stop, blocks } = anthropicStreamCalls(events);
    expect(calls).toEqual(expected.toolCalls);
    expect(blocks).toBe(2);
    expect(stop).toBe('tool_use');
    expect(events.filter((event) => event.type === 'content_block_delta')).toHaveLength(expected.tokens.length);
    expect(events.at(-1)).toEqual({ type: 'message_stop' });
  });

  it('a named tool, parallel use disabled, and the answer after a tool_result is text', async () => {
    const body = anthropicBody('what time is it', { tool_choice: { type: 'tool', name: 'get_time', disable_parallel_tool_use: true } });
    const answer = (await (await post('/v1/messages', body)).json()) as { content: { type: string; id: string; name: string; input: unknown }[]; stop_reason: string };
    expect(answer.content).toEqual([{ type: 'tool_use', id: expect.stringMatching(callIdPattern) as unknown, name: 'get_time', input: {} }]);
    expect(answer.stop_reason).toBe('tool_use');
    const use = answer.content[0];
    const followUp = anthropicBody('what time is it', {
      messages: [
        { role: 'user', content: 'what time is it' },
        { role: 'assistant', content: answer.content },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: use?.id, content: 'noon' }] },
      ],
    });
    const expected = expectedPlan('anthropic', followUp);
    const reply = (await (await post('/v1/messages', followUp)).json()) as Json;
    expect(reply).toMatchObject({ content: [{ type: 'text', text: expected.text }] });
    expect(reply.stop_reason).not.toBe('tool_use');
  });

  it('max_tokens cuts the streamed input: stop_reason max_tokens', async () => {
    const body = anthropicBody('weather please', { tool_choice: { type: 'tool', name: 'get_weather' }, max_tokens: 2, stream: true });
    const expected = expectedPlan('anthropic', body);
    const { calls, stop } = anthropicStreamCalls(frameData(await (await post('/v1/messages', body)).text()));
    expect(calls).toEqual(expected.toolCalls);
    expect(calls[0]?.arguments).toHaveLength(8);
    expect(stop).toBe('max_tokens');
  });
});

describe('emulator over HTTP: faults and metrics over tool calls', () => {
  it('cut after N tokens cuts within the arguments, with no finish', async () => {
    emu.setFaults({ cutAfterTokens: 2 });
    const body = openaiBody('weather please', { tool_choice: { type: 'function', function: { name: 'get_weather' } }, stream: true });
    const expected = expectedPlan('openai', body);
    const { text, broken } = await readUntilEnd(await post('/v1/chat/completions', body));
    expect(broken).toBe(true);
    const { calls, finish } = openaiStreamCalls(frameData(text));
    expect(finish).toBeNull();
    expect(text).not.toContain('[DONE]');
    expect(calls).toEqual([{ ...expected.toolCalls?.[0], arguments: expected.tokens.slice(0, 2).join('') }]);
  });

  it('corrupt rate 1 leaves arguments valid; metrics count the answer as a stop and its argument tokens', async () => {
    const own = await startEmulator({ model, chip: 'h100', seed, speed: 200, log: () => undefined, faults: { corruptRate: 1 } });
    try {
      const body = openaiBody('weather please', { tool_choice: 'required' });
      const expected = expectedPlan('openai', body);
      const answer = (await (await fetch(`${own.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })).json()) as { choices: { message: { tool_calls: { function: { arguments: string } }[] } }[] };
      expect(answer.choices[0]?.message.tool_calls.map((call) => call.function.arguments)).toEqual(expected.toolCalls?.map((call) => call.arguments));
      const metrics = await (await fetch(`${own.url}/metrics`)).text();
      const value = (pattern: string): number => Number(new RegExp(`^${pattern} (\\S+)$`, 'm').exec(metrics)?.[1]);
      expect(value('switchyard_emulator_faults_total\\{[^}]*fault="corrupt"\\}')).toBe(0);
      expect(value('vllm:request_success_total\\{[^}]*finished_reason="stop"\\}')).toBe(1);
      expect(metrics).not.toContain('finished_reason="tool_calls"');
      expect(value('vllm:generation_tokens_total\\{[^}]*\\}')).toBe(expected.tokens.length);
    } finally {
      await own.close();
    }
  });
});
