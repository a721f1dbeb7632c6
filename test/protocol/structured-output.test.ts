import { describe, expect, it } from 'vitest';
import { anthropicDialect } from '../../src/protocol/anthropic/anthropic-dialect.js';
import { promptText } from '../../src/protocol/chat.js';
import { anthropicSchema } from '../../src/protocol/json-schema-limits.js';
import { openaiDialect } from '../../src/protocol/openai/openai-dialect.js';
import { readRequest, refusalOf } from './read-request.js';

/** Structured output (response formats, strict tools) in both dialects: read, written, and carried from one to the other. */

const schema = { type: 'object', properties: { city: { type: 'string' }, celsius: { type: 'integer' } }, required: ['city', 'celsius'], additionalProperties: false };
const asks = [{ role: 'user', content: 'The weather in Paris, as JSON.' }];


const openai = (extra: object): Record<string, unknown> => ({ model: 'm', messages: asks, ...extra });
const anthropic = (extra: object): Record<string, unknown> => ({ model: 'm', max_tokens: 100, messages: asks, ...extra });

describe('OpenAI response_format', () => {
  it('json_schema becomes a canonical format with its name, description and strictness; text asks for nothing', () => {
    const format = { type: 'json_schema', json_schema: { name: 'weather', description: 'Weather now', schema, strict: true } };
    expect(readRequest(openaiDialect, openai({ response_format: format })).responseFormat).toEqual({ type: 'json_schema', name: 'weather', description: 'Weather now', schema, strict: true });
    // strict left out (or null) is OpenAI's default, false.
    expect(readRequest(openaiDialect, openai({ response_format: { type: 'json_schema', json_schema: { name: 'w', schema, strict: null } } })).responseFormat).toEqual({ type: 'json_schema', name: 'w', schema, strict: false });
    expect(readRequest(openaiDialect, openai({ response_format: { type: 'json_object' } })).responseFormat).toEqual({ type: 'json_object' });
    // JSON mode with a schema (Fireworks', Together's and Instructor's form): the schema, not any JSON object.
    expect(readRequest(openaiDialect, openai({ response_format: { type: 'json_object', schema } })).responseFormat).toEqual({ type: 'json_schema', name: 'response', schema, strict: false });
    expect(readRequest(openaiDialect, openai({ response_format: { type: 'json_object', schema: null } })).responseFormat).toEqual({ type: 'json_object' });
    expect(readRequest(openaiDialect, openai({ response_format: { type: 'text' } }))).not.toHaveProperty('responseFormat');
    expect(readRequest(openaiDialect, openai({ response_format: null }))).not.toHaveProperty('responseFormat');
  });

  it.each([
    [{ response_format: { type: 'xml' } }, 'response_format.type', "response_format.type must be 'text', 'json_object' or 'json_schema'"],
    [{ response_format: { type: 'json_schema', json_schema: { name: 'bad name', schema } } }, 'response_format.json_schema.name', "a response format's name is 1 to 64 ASCII letters, digits, '_' or '-'"],
    [{ response_format: { type: 'json_schema', json_schema: { name: 'w' } } }, 'response_format.json_schema.schema', 'is required: the JSON Schema the answer must match'],
    [{ response_format: { type: 'json_schema', json_schema: { name: 'w', schema: { type: 'array', items: {} } } } }, 'response_format.json_schema.schema.type', "the answer is a JSON object: schema.type must be 'object'"],
    [{ response_format: { type: 'json_schema', json_schema: { name: 'w', schema, strict: 'yes' } } }, 'response_format.json_schema.strict', 'must be a boolean, got a string'],
    [{ response_format: { type: 'json_object', schema: { type: 'array', items: {} } } }, 'response_format.schema.type', "the answer is a JSON object: schema.type must be 'object'"],
    // OpenAI's own rule for JSON mode, kept for every upstream.
    [{ response_format: { type: 'json_object' }, messages: [{ role: 'user', content: 'hi' }] }, 'messages', "with response_format of type 'json_object', some message must ask for JSON (contain the word 'JSON'), or the model may write whitespace until its budget runs out"],
  ])('%j is refused at %s', (extra, param, text) => {
    expect(refusalOf(openaiDialect, openai(extra))).toEqual({ param, message: `${param}: ${text}` });
  });

  it('is written to OpenAI-dialect upstreams as read, strict tools with it', () => {
    const format = { type: 'json_schema', json_schema: { name: 'weather', description: 'Weather now', schema, strict: true } };
    const tools = [{ type: 'function', function: { name: 'f', parameters: schema, strict: true } }, { type: 'function', function: { name: 'g', parameters: schema } }];
    const wire = openaiDialect.encodeRequest(readRequest(openaiDialect, openai({ response_format: format, tools }))) as Record<string, unknown>;
    expect(wire.response_format).toEqual(format);
    expect(wire.tools).toEqual([...tools.slice(0, 1), { type: 'function', function: { name: 'g', parameters: schema } }]);
    const jsonMode = openaiDialect.encodeRequest(readRequest(openaiDialect, openai({ response_format: { type: 'json_object' } }))) as Record<string, unknown>;
    expect(jsonMode.response_format).toEqual({ type: 'json_object' });
    const withSchema = openaiDialect.encodeRequest(readRequest(openaiDialect, openai({ response_format: { type: 'json_object', schema } }))) as Record<string, unknown>;
    expect(withSchema.response_format).toEqual({ type: 'json_schema', json_schema: { name: 'response', schema, strict: false } });
    expect((anthropicDialect.encodeRequest(readRequest(openaiDialect, openai({ response_format: { type: 'json_object', schema } }))) as Record<string, unknown>).output_config).toEqual({ format: { type: 'json_schema', schema } });
    expect(openaiDialect.encodeRequest(readRequest(openaiDialect, openai({})))).not.toHaveProperty('response_format');
  });

  it('is written to Anthropic-dialect upstreams as output_config.format, with strict tools', () => {
    const request = readRequest(openaiDialect, openai({ response_format: { type: 'json_schema', json_schema: { name: 'weather', schema } }, tools: [{ type: 'function', function: { name: 'f', parameters: schema, strict: true } }] }));
    const wire = anthropicDialect.encodeRequest(request) as Record<string, unknown>;
    expect(wire.output_config).toEqual({ format: { type: 'json_schema', schema } });
    expect(wire.tools).toEqual([{ name: 'f', input_schema: schema, strict: true }]);
    // The format's description, which OpenAI's model reads as instructions, goes into the schema's own (unless it has one).
    const describedRequest = readRequest(openaiDialect, openai({ response_format: { type: 'json_schema', json_schema: { name: 'weather', description: 'Celsius, one decimal', schema } } }));
    expect((anthropicDialect.encodeRequest(describedRequest) as { output_config: unknown }).output_config).toEqual({ format: { type: 'json_schema', schema: { ...schema, description: 'Celsius, one decimal' } } });
    const ownDescription = readRequest(openaiDialect, openai({ response_format: { type: 'json_schema', json_schema: { name: 'weather', description: 'ignored', schema: { ...schema, description: 'its own' } } } }));
    expect((anthropicDialect.encodeRequest(ownDescription) as { output_config: { format: { schema: { description: string } } } }).output_config.format.schema.description).toBe('its own');
    // Before what the rewrite moved into the description (a keyword Anthropic does not take).
    const withMoved = readRequest(openaiDialect, openai({ response_format: { type: 'json_schema', json_schema: { name: 'weather', description: 'Celsius, one decimal', schema: { ...schema, minProperties: 1 } } } }));
    expect((anthropicDialect.encodeRequest(withMoved) as { output_config: { format: { schema: { description: string } } } }).output_config.format.schema.description).toMatch(/^Celsius, one decimal\n.*minProperties/);
    // JSON mode has no Anthropic form: routing keeps it away; should one get here it is refused upstream, never dropped.
    expect((anthropicDialect.encodeRequest(readRequest(openaiDialect, openai({ response_format: { type: 'json_object' } }))) as Record<string, unknown>).output_config).toEqual({ format: { type: 'json_schema', schema: { type: 'object' } } });
  });
});

describe('Anthropic output_config.format and output_format', () => {
  it('become a strict canonical format named for OpenAI, which requires a name', () => {
    const expected = { type: 'json_schema', name: 'response', schema, strict: true };
    expect(readRequest(anthropicDialect, anthropic({ output_config: { format: { type: 'json_schema', schema } } })).responseFormat).toEqual(expected);
    // The structured-outputs beta's name for the same field.
    expect(readRequest(anthropicDialect, anthropic({ output_format: { type: 'json_schema', schema } })).responseFormat).toEqual(expected);
    expect(readRequest(anthropicDialect, anthropic({ output_config: { format: null } }))).not.toHaveProperty('responseFormat');
    expect(readRequest(anthropicDialect, anthropic({ tools: [{ name: 'f', input_schema: schema, strict: true }] })).tools).toEqual([{ name: 'f', parameters: schema, strict: true }]);
  });

  it.each([
    [{ output_config: { format: { type: 'json_schema', schema } }, output_format: { type: 'json_schema', schema } }, 'output_format', 'output_format is the beta name of output_config.format: send one of them'],
    [{ output_config: { format: { type: 'json_object' } } }, 'output_config.format.type', "the output format's type must be 'json_schema'"],
    [{ output_config: { format: { type: 'json_schema' } } }, 'output_config.format.schema', 'is required: the JSON Schema the answer must match'],
    [{ output_format: { type: 'json_schema', schema: { type: 'string' } } }, 'output_format.schema.type', "the answer is a JSON object: schema.type must be 'object'"],
  ])('%j is refused at %s', (extra, param, text) => {
    expect(refusalOf(anthropicDialect, anthropic(extra))).toEqual({ param, message: `${param}: ${text}` });
  });

  it('is written back to Anthropic-dialect upstreams as output_config.format, and to OpenAI-dialect ones as a strict json_schema', () => {
    const request = readRequest(anthropicDialect, anthropic({ output_format: { type: 'json_schema', schema } }));
    expect((anthropicDialect.encodeRequest(request) as Record<string, unknown>).output_config).toEqual({ format: { type: 'json_schema', schema } });
    expect((openaiDialect.encodeRequest(request) as Record<string, unknown>).response_format).toEqual({ type: 'json_schema', json_schema: { name: 'response', schema, strict: true } });
  });
});

it("a schema is part of the prompt's text, as upstreams write it into the prompt (token estimates, the emulator's seed)", () => {
  const plain = readRequest(openaiDialect, openai({}));
  const structured = readRequest(openaiDialect, openai({ response_format: { type: 'json_schema', json_schema: { name: 'w', schema } } }));
  expect(promptText(structured)).toBe(`${JSON.stringify(schema)}\n${promptText(plain)}`);
  expect(promptText(readRequest(openaiDialect, openai({ response_format: { type: 'json_object' } })))).toBe(promptText(plain));
  // A tool's strict and cache flags are the gateway's, not prompt text.
  const tool = { type: 'function', function: { name: 'f', parameters: schema } };
  expect(promptText(readRequest(openaiDialect, openai({ tools: [{ ...tool, function: { ...tool.function, strict: true } }] })))).toBe(promptText(readRequest(openaiDialect, openai({ tools: [tool] }))));
});

describe("an OpenAI-dialect upstream's refusal (the model declined a structured answer)", () => {
  const refusalText = "I'm sorry, I cannot help with that.";

  it('is its words as the text and a content_filter finish, whole and streamed, never an empty answer that ended well', () => {
    const whole = openaiDialect.parseResult({ id: 'c1', model: 'm', choices: [{ message: { role: 'assistant', content: null, refusal: refusalText }, finish_reason: 'stop' }], usage: { prompt_tokens: 9, completion_tokens: 8 } });
    expect(whole.ok ? whole.value : undefined).toMatchObject({ text: refusalText, finishReason: 'content_filter', refusal: true });

    const reader = openaiDialect.createStreamReader();
    const chunk = (delta: object, finish: string | null = null): string => JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created: 0, model: 'm', choices: [{ index: 0, delta, finish_reason: finish }] });
    const events = [chunk({ role: 'assistant', content: null, refusal: '' }), chunk({ refusal: "I'm sorry, " }), chunk({ refusal: 'I cannot help with that.' }), chunk({}, 'stop'), JSON.stringify({ id: 'c1', choices: [], usage: { prompt_tokens: 9, completion_tokens: 8 } })].flatMap((data) => reader.read(undefined, data).events);
    expect(events.filter((event) => event.type === 'text')).toEqual([
      { type: 'text', text: "I'm sorry, ", refusal: true },
      { type: 'text', text: 'I cannot help with that.', refusal: true },
    ]);
    expect(events.at(-1)).toEqual({ type: 'finish', finishReason: 'content_filter', usage: { inputTokens: 9, outputTokens: 8 } });
  });

  it('reaches an Anthropic caller as Anthropic tells a refusal (stop_reason refusal)', () => {
    const whole = openaiDialect.parseResult({ id: 'c1', model: 'm', choices: [{ message: { role: 'assistant', content: null, refusal: refusalText }, finish_reason: 'stop' }] });
    if (!whole.ok) throw new Error('not read');
    expect(anthropicDialect.formatResult({ ...whole.value, id: 'msg_1' }, 0)).toMatchObject({ content: [{ type: 'text', text: refusalText }], stop_reason: 'refusal' });
  });
});

describe('schemas where the two APIs differ', () => {
  const bounded = {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    type: 'object',
    properties: {
      celsius: { type: 'integer', minimum: -50, maximum: 50, description: 'Temperature' },
      note: { type: 'string', maxLength: 20, format: 'email' },
      tags: { type: 'array', items: { type: 'object', properties: { name: { type: 'string', pattern: '^[a-z]+$' } }, required: ['name'], additionalProperties: false }, minItems: 1, maxItems: 3 },
      kind: { oneOf: [{ type: 'string', enum: ['a', 'b'] }, { type: 'null' }] },
    },
    required: ['celsius', 'note', 'tags', 'kind'],
    additionalProperties: false,
  };

  it("reach Anthropic-dialect upstreams rewritten to the subset Anthropic takes: bounds moved to the description, objects closed, oneOf as anyOf", () => {
    const rewritten = {
      type: 'object',
      properties: {
        celsius: { type: 'integer', description: 'Temperature\n\n{minimum: -50, maximum: 50}' },
        note: { type: 'string', format: 'email', description: '{maxLength: 20}' },
        tags: { type: 'array', items: { type: 'object', properties: { name: { type: 'string', description: '{pattern: "^[a-z]+$"}' } }, required: ['name'], additionalProperties: false }, minItems: 1, description: '{maxItems: 3}' },
        kind: { anyOf: [{ type: 'string', enum: ['a', 'b'] }, { type: 'null' }] },
      },
      required: ['celsius', 'note', 'tags', 'kind'],
      additionalProperties: false,
    };
    const request = readRequest(openaiDialect, openai({ response_format: { type: 'json_schema', json_schema: { name: 'w', schema: bounded, strict: true } }, tools: [{ type: 'function', function: { name: 'f', parameters: bounded, strict: true } }, { type: 'function', function: { name: 'g', parameters: bounded } }] }));
    const wire = anthropicDialect.encodeRequest(request) as { output_config: { format: { schema: unknown } }; tools: { input_schema: unknown }[] };
    expect(wire.output_config.format.schema).toEqual(rewritten);
    expect(wire.tools[0]?.input_schema).toEqual(rewritten);
    // A tool that is not strict is not held to the schema: it goes as written.
    expect(wire.tools[1]?.input_schema).toEqual(bounded);
    // An open object is closed, as Anthropic requires.
    const open = readRequest(openaiDialect, openai({ response_format: { type: 'json_schema', json_schema: { name: 'w', schema: { type: 'object', properties: { a: { type: 'string' } } } } } }));
    expect((anthropicDialect.encodeRequest(open) as { output_config: unknown }).output_config).toEqual({ format: { type: 'json_schema', schema: { type: 'object', properties: { a: { type: 'string' } }, additionalProperties: false } } });
  });

  it('Anthropic takes primitive literals only, closed objects only (a map is described, not allowed), and reads an object without a type as one', () => {
    const loose = {
      type: 'object',
      properties: {
        point: { enum: [{ x: 1 }, 'origin'] },
        mode: { const: 'fast', default: 'fast' },
        scores: { type: 'object', additionalProperties: { type: 'number' } },
        bare: { properties: { a: { type: 'string' } } },
        noted: { type: 'string', description: 42 },
      },
    };
    expect(anthropicSchema(loose).schema).toEqual({
      type: 'object',
      properties: {
        point: { description: '{enum: [{"x":1},"origin"]}' },
        mode: { const: 'fast', description: '{default: "fast"}' },
        scores: { type: 'object', description: '{additionalProperties: {"type":"number"}}', additionalProperties: false },
        bare: { properties: { a: { type: 'string' } }, additionalProperties: false },
        noted: { type: 'string', description: '{description: 42}' },
      },
      additionalProperties: false,
    });
    // Rewriting twice changes nothing more.
    expect(anthropicSchema(anthropicSchema(loose).schema).changes).toEqual([]);
    // The caller's names are quoted only when plain.
    expect(anthropicSchema({ type: 'object', properties: { ['x'.repeat(100_000)]: { type: 'string', minLength: 1 } }, additionalProperties: false }).changes).toEqual(['properties.<key>.minLength moved to the description']);
  });

  it('are refused by the emulator, as an Anthropic server, when the gateway has not rewritten them', () => {
    const body = anthropic({ output_config: { format: { type: 'json_schema', schema: bounded } } });
    const refused = anthropicDialect.parseRequest(body, { asServer: true });
    expect(refused.ok ? 'accepted' : refused.problem.message).toMatch(/^output_config\.format\.schema: not a schema Anthropic's structured output takes: \$schema dropped; properties\.celsius\.minimum moved to the description; properties\.celsius\.maximum moved to the description$/);
    const strictTool = anthropicDialect.parseRequest(anthropic({ tools: [{ name: 'f', input_schema: { type: 'object', properties: {} }, strict: true }] }), { asServer: true });
    expect(strictTool.ok ? 'accepted' : strictTool.problem.param).toBe('tools.0.input_schema');
    expect(anthropicDialect.parseRequest(body).ok).toBe(true);
  });

  it("are refused from OpenAI callers with strict when OpenAI's strict mode would refuse them, naming the object", () => {
    const optional = { type: 'object', properties: { a: { type: 'string' }, b: { type: 'object', properties: { c: { type: 'string' } }, required: [] , additionalProperties: false } }, required: ['a', 'b'], additionalProperties: false };
    expect(refusalOf(openaiDialect, openai({ response_format: { type: 'json_schema', json_schema: { name: 'w', schema: optional, strict: true } } }))).toEqual({
      param: 'response_format.json_schema.schema.properties.b.required',
      message: 'response_format.json_schema.schema.properties.b.required: strict schemas must close every object (additionalProperties: false) and list all its properties in required (write an optional one as nullable)',
    });
    expect(refusalOf(openaiDialect, openai({ tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object', properties: {} }, strict: true } }] }))).toMatchObject({ param: 'tools.0.function.parameters.additionalProperties' });
    // Without a type too: it is sent as the object schema it is (else strict was dropped for one upstream dialect and kept for the other).
    expect(refusalOf(openaiDialect, openai({ tools: [{ type: 'function', function: { name: 'f', parameters: { properties: { a: { type: 'string' } }, required: ['a'] }, strict: true } }] }))).toMatchObject({ param: 'tools.0.function.parameters.additionalProperties' });
    // The caller's names are quoted only when plain: a megabyte of name is neither echoed nor logged.
    const huge = 'x'.repeat(1_000_000);
    const named = { type: 'object', properties: { [huge]: { type: 'object', properties: {}, required: [] }, 'a b': { type: 'object' } }, required: [huge, 'a b'], additionalProperties: false, $defs: { Fine: { type: 'object', additionalProperties: true } } };
    expect(refusalOf(openaiDialect, openai({ response_format: { type: 'json_schema', json_schema: { name: 'w', schema: named, strict: true } } }))).toMatchObject({ param: 'response_format.json_schema.schema.properties.<key>.additionalProperties' });
    expect(refusalOf(openaiDialect, openai({ response_format: { type: 'json_schema', json_schema: { name: 'w', schema: { ...named, properties: { 'a b': { type: 'object' } }, required: ['a b'] }, strict: true } } }))).toMatchObject({ param: 'response_format.json_schema.schema.properties.<key>.additionalProperties' });
    expect(refusalOf(openaiDialect, openai({ response_format: { type: 'json_schema', json_schema: { name: 'w', schema: { ...named, properties: {}, required: [] }, strict: true } } }))).toMatchObject({ param: 'response_format.json_schema.schema.$defs.Fine.additionalProperties' });
    // A strict tool without parameters is a function of no arguments, closed as strict mode needs.
    expect(readRequest(openaiDialect, openai({ tools: [{ type: 'function', function: { name: 'now', strict: true } }] })).tools).toEqual([{ name: 'now', parameters: { type: 'object', properties: {}, required: [], additionalProperties: false }, strict: true }]);
    // Not strict: any schema.
    expect(readRequest(openaiDialect, openai({ response_format: { type: 'json_schema', json_schema: { name: 'w', schema: optional } } })).responseFormat).toMatchObject({ strict: false });
  });

  it("from Anthropic callers reach OpenAI-dialect upstreams strict only where OpenAI's strict mode takes them", () => {
    const optional = { type: 'object', properties: { city: { type: 'string' }, note: { type: 'string' } }, required: ['city'], additionalProperties: false };
    const request = readRequest(anthropicDialect, anthropic({ output_config: { format: { type: 'json_schema', schema: optional } }, tools: [{ name: 'f', input_schema: optional, strict: true }, { name: 'g', input_schema: schema, strict: true }] }));
    const wire = openaiDialect.encodeRequest(request) as { response_format: unknown; tools: unknown[] };
    expect(wire.response_format).toEqual({ type: 'json_schema', json_schema: { name: 'response', schema: optional, strict: false } });
    expect(wire.tools).toEqual([
      { type: 'function', function: { name: 'f', parameters: optional } },
      { type: 'function', function: { name: 'g', parameters: schema, strict: true } },
    ]);
  });

  it("a refusal reaches an OpenAI caller in its own field, as OpenAI sends it: content null and finish stop, whole and streamed", () => {
    const refusalText = "I'm sorry, I cannot help with that.";
    const whole = openaiDialect.formatResult({ id: 'c1', model: 'm', text: refusalText, finishReason: 'content_filter', refusal: true, usage: { inputTokens: 9, outputTokens: 8 } }, 0) as { choices: unknown[] };
    expect(whole.choices[0]).toMatchObject({ message: { role: 'assistant', content: null, refusal: refusalText }, finish_reason: 'stop' });
    const writer = openaiDialect.createStreamWriter({ includeUsage: false, created: 0 });
    const frames = [
      writer.write({ type: 'start', id: 'c1', model: 'm', inputTokens: 0 }),
      writer.write({ type: 'text', text: refusalText, refusal: true }),
      writer.write({ type: 'finish', finishReason: 'content_filter', usage: { inputTokens: 9, outputTokens: 8 } }),
    ].join('');
    const chunks = frames.split('\n\n').filter((frame) => frame.startsWith('data: {')).map((frame) => JSON.parse(frame.slice(6)) as { choices: { delta: object; finish_reason: string | null }[] });
    expect(chunks.map((chunk) => chunk.choices[0])).toEqual([
      // content null, as in the whole answer: a client summing deltas ends with no content beside the refusal.
      { index: 0, delta: { role: 'assistant', content: null }, logprobs: null, finish_reason: null },
      { index: 0, delta: { refusal: refusalText }, logprobs: null, finish_reason: null },
      { index: 0, delta: {}, logprobs: null, finish_reason: 'stop' },
    ]);
  });
});

describe('reasoning effort', () => {
  it("OpenAI's reasoning_effort and Anthropic's output_config.effort are carried both ways, each to the other's nearest level", () => {
    const fromOpenAI = readRequest(openaiDialect, openai({ reasoning_effort: 'minimal' }));
    expect(fromOpenAI.effort).toBe('minimal');
    // To OpenAI-dialect upstreams, the nearest of low, medium and high (vLLM takes only those).
    expect((openaiDialect.encodeRequest(fromOpenAI) as Record<string, unknown>).reasoning_effort).toBe('low');
    expect((openaiDialect.encodeRequest(readRequest(openaiDialect, openai({ reasoning_effort: 'medium' }))) as Record<string, unknown>).reasoning_effort).toBe('medium');
    expect((anthropicDialect.encodeRequest(fromOpenAI) as Record<string, unknown>).output_config).toEqual({ effort: 'low' });
    const fromAnthropic = readRequest(anthropicDialect, anthropic({ output_config: { effort: 'max', format: { type: 'json_schema', schema } } }));
    expect(fromAnthropic.effort).toBe('max');
    expect((anthropicDialect.encodeRequest(fromAnthropic) as Record<string, unknown>).output_config).toEqual({ format: { type: 'json_schema', schema }, effort: 'max' });
    expect((openaiDialect.encodeRequest(fromAnthropic) as Record<string, unknown>).reasoning_effort).toBe('high');
    expect(openaiDialect.encodeRequest(readRequest(openaiDialect, openai({})))).not.toHaveProperty('reasoning_effort');
  });

  it('an effort neither API has is refused, naming the field', () => {
    expect(refusalOf(openaiDialect, openai({ reasoning_effort: 'ultra' }))).toMatchObject({ param: 'reasoning_effort' });
    expect(refusalOf(anthropicDialect, anthropic({ output_config: { effort: 'minimal' } }))).toMatchObject({ param: 'output_config.effort' });
  });
});
