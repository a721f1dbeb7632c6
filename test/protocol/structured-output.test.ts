import { describe, expect, it } from 'vitest';
import { anthropicDialect } from '../../src/protocol/anthropic-dialect.js';
import { promptText, type ChatRequest } from '../../src/protocol/chat.js';
import type { Dialect } from '../../src/protocol/dialect.js';
import { openaiDialect } from '../../src/protocol/openai-dialect.js';

/** Structured output (response formats, strict tools) in both dialects: read, written, and carried from one to the other. */

const schema = { type: 'object', properties: { city: { type: 'string' }, celsius: { type: 'integer' } }, required: ['city', 'celsius'], additionalProperties: false };
const asks = [{ role: 'user', content: 'The weather in Paris, as JSON.' }];

function read(dialect: Dialect, body: Record<string, unknown>): ChatRequest {
  const parsed = dialect.parseRequest(body);
  if (!parsed.ok) throw new Error(parsed.problem.message);
  return parsed.value;
}

function refusal(dialect: Dialect, body: Record<string, unknown>): unknown {
  const parsed = dialect.parseRequest(body);
  return parsed.ok ? 'accepted' : { param: parsed.problem.param, message: parsed.problem.message };
}

const openai = (extra: object): Record<string, unknown> => ({ model: 'm', messages: asks, ...extra });
const anthropic = (extra: object): Record<string, unknown> => ({ model: 'm', max_tokens: 100, messages: asks, ...extra });

describe('OpenAI response_format', () => {
  it('json_schema becomes a canonical format with its name, description and strictness; text asks for nothing', () => {
    const format = { type: 'json_schema', json_schema: { name: 'weather', description: 'Weather now', schema, strict: true } };
    expect(read(openaiDialect, openai({ response_format: format })).responseFormat).toEqual({ type: 'json_schema', name: 'weather', description: 'Weather now', schema, strict: true });
    // strict left out (or null) is OpenAI's default, false.
    expect(read(openaiDialect, openai({ response_format: { type: 'json_schema', json_schema: { name: 'w', schema, strict: null } } })).responseFormat).toEqual({ type: 'json_schema', name: 'w', schema, strict: false });
    expect(read(openaiDialect, openai({ response_format: { type: 'json_object' } })).responseFormat).toEqual({ type: 'json_object' });
    expect(read(openaiDialect, openai({ response_format: { type: 'text' } }))).not.toHaveProperty('responseFormat');
    expect(read(openaiDialect, openai({ response_format: null }))).not.toHaveProperty('responseFormat');
  });

  it.each([
    [{ response_format: { type: 'xml' } }, 'response_format.type', "response_format.type must be 'text', 'json_object' or 'json_schema'"],
    [{ response_format: { type: 'json_schema', json_schema: { name: 'bad name', schema } } }, 'response_format.json_schema.name', "a response format's name is 1 to 64 letters, digits, '_' or '-'"],
    [{ response_format: { type: 'json_schema', json_schema: { name: 'w' } } }, 'response_format.json_schema.schema', 'is required: the JSON Schema the answer must match'],
    [{ response_format: { type: 'json_schema', json_schema: { name: 'w', schema: { type: 'array', items: {} } } } }, 'response_format.json_schema.schema.type', "the answer is a JSON object: schema.type must be 'object'"],
    [{ response_format: { type: 'json_schema', json_schema: { name: 'w', schema, strict: 'yes' } } }, 'response_format.json_schema.strict', 'must be a boolean, got a string'],
    // OpenAI's own rule for JSON mode, kept for every upstream.
    [{ response_format: { type: 'json_object' }, messages: [{ role: 'user', content: 'hi' }] }, 'messages', "with response_format of type 'json_object', some message must ask for JSON (contain the word 'JSON'), or the model may write whitespace until its budget runs out"],
  ])('%j is refused at %s', (extra, param, text) => {
    expect(refusal(openaiDialect, openai(extra))).toEqual({ param, message: `${param}: ${text}` });
  });

  it('is written to OpenAI-dialect upstreams as read, strict tools with it', () => {
    const format = { type: 'json_schema', json_schema: { name: 'weather', description: 'Weather now', schema, strict: true } };
    const tools = [{ type: 'function', function: { name: 'f', parameters: schema, strict: true } }, { type: 'function', function: { name: 'g', parameters: schema } }];
    const wire = openaiDialect.encodeRequest(read(openaiDialect, openai({ response_format: format, tools }))) as Record<string, unknown>;
    expect(wire.response_format).toEqual(format);
    expect(wire.tools).toEqual([...tools.slice(0, 1), { type: 'function', function: { name: 'g', parameters: schema } }]);
    const jsonMode = openaiDialect.encodeRequest(read(openaiDialect, openai({ response_format: { type: 'json_object' } }))) as Record<string, unknown>;
    expect(jsonMode.response_format).toEqual({ type: 'json_object' });
    expect(openaiDialect.encodeRequest(read(openaiDialect, openai({})))).not.toHaveProperty('response_format');
  });

  it('is written to Anthropic-dialect upstreams as output_config.format, with strict tools', () => {
    const request = read(openaiDialect, openai({ response_format: { type: 'json_schema', json_schema: { name: 'weather', schema } }, tools: [{ type: 'function', function: { name: 'f', parameters: schema, strict: true } }] }));
    const wire = anthropicDialect.encodeRequest(request) as Record<string, unknown>;
    expect(wire.output_config).toEqual({ format: { type: 'json_schema', schema } });
    expect(wire.tools).toEqual([{ name: 'f', input_schema: schema, strict: true }]);
    // JSON mode has no Anthropic form: routing keeps it away; should one get here it is refused upstream, never dropped.
    expect((anthropicDialect.encodeRequest(read(openaiDialect, openai({ response_format: { type: 'json_object' } }))) as Record<string, unknown>).output_config).toEqual({ format: { type: 'json_schema', schema: { type: 'object' } } });
  });
});

describe('Anthropic output_config.format and output_format', () => {
  it('become a strict canonical format named for OpenAI, which requires a name', () => {
    const expected = { type: 'json_schema', name: 'response', schema, strict: true };
    expect(read(anthropicDialect, anthropic({ output_config: { format: { type: 'json_schema', schema } } })).responseFormat).toEqual(expected);
    // The structured-outputs beta's name for the same field.
    expect(read(anthropicDialect, anthropic({ output_format: { type: 'json_schema', schema } })).responseFormat).toEqual(expected);
    expect(read(anthropicDialect, anthropic({ output_config: { format: null } }))).not.toHaveProperty('responseFormat');
    expect(read(anthropicDialect, anthropic({ tools: [{ name: 'f', input_schema: schema, strict: true }] })).tools).toEqual([{ name: 'f', parameters: schema, strict: true }]);
  });

  it.each([
    [{ output_config: { format: { type: 'json_schema', schema } }, output_format: { type: 'json_schema', schema } }, 'output_format', 'output_format is the beta name of output_config.format: send one of them'],
    [{ output_config: { format: { type: 'json_object' } } }, 'output_config.format.type', "the output format's type must be 'json_schema'"],
    [{ output_config: { format: { type: 'json_schema' } } }, 'output_config.format.schema', 'is required: the JSON Schema the answer must match'],
    [{ output_format: { type: 'json_schema', schema: { type: 'string' } } }, 'output_format.schema.type', "the answer is a JSON object: schema.type must be 'object'"],
  ])('%j is refused at %s', (extra, param, text) => {
    expect(refusal(anthropicDialect, anthropic(extra))).toEqual({ param, message: `${param}: ${text}` });
  });

  it('is written back to Anthropic-dialect upstreams as output_config.format, and to OpenAI-dialect ones as a strict json_schema', () => {
    const request = read(anthropicDialect, anthropic({ output_format: { type: 'json_schema', schema } }));
    expect((anthropicDialect.encodeRequest(request) as Record<string, unknown>).output_config).toEqual({ format: { type: 'json_schema', schema } });
    expect((openaiDialect.encodeRequest(request) as Record<string, unknown>).response_format).toEqual({ type: 'json_schema', json_schema: { name: 'response', schema, strict: true } });
  });
});

it("a schema is part of the prompt's text, as upstreams write it into the prompt (token estimates, the emulator's seed)", () => {
  const plain = read(openaiDialect, openai({}));
  const structured = read(openaiDialect, openai({ response_format: { type: 'json_schema', json_schema: { name: 'w', schema } } }));
  expect(promptText(structured)).toBe(`${JSON.stringify(schema)}\n${promptText(plain)}`);
  expect(promptText(read(openaiDialect, openai({ response_format: { type: 'json_object' } })))).toBe(promptText(plain));
});

describe("an OpenAI-dialect upstream's refusal (the model declined a structured answer)", () => {
  const refusalText = "I'm sorry, I cannot help with that.";

  it('is its words as the text and a content_filter finish, whole and streamed, never an empty answer that ended well', () => {
    const whole = openaiDialect.parseResult({ id: 'c1', model: 'm', choices: [{ message: { role: 'assistant', content: null, refusal: refusalText }, finish_reason: 'stop' }], usage: { prompt_tokens: 9, completion_tokens: 8 } });
    expect(whole.ok ? whole.value : undefined).toMatchObject({ text: refusalText, finishReason: 'content_filter' });

    const reader = openaiDialect.createStreamReader();
    const chunk = (delta: object, finish: string | null = null): string => JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created: 0, model: 'm', choices: [{ index: 0, delta, finish_reason: finish }] });
    const events = [chunk({ role: 'assistant', content: null, refusal: '' }), chunk({ refusal: "I'm sorry, " }), chunk({ refusal: 'I cannot help with that.' }), chunk({}, 'stop'), JSON.stringify({ id: 'c1', choices: [], usage: { prompt_tokens: 9, completion_tokens: 8 } })].flatMap((data) => reader.read(undefined, data).events);
    expect(events.filter((event) => event.type === 'text').map((event) => (event.type === 'text' ? event.text : '')).join('')).toBe(refusalText);
    expect(events.at(-1)).toEqual({ type: 'finish', finishReason: 'content_filter', usage: { inputTokens: 9, outputTokens: 8 } });
  });

  it('reaches an Anthropic caller as Anthropic tells a refusal (stop_reason refusal)', () => {
    const whole = openaiDialect.parseResult({ id: 'c1', model: 'm', choices: [{ message: { role: 'assistant', content: null, refusal: refusalText }, finish_reason: 'stop' }] });
    if (!whole.ok) throw new Error('not read');
    expect(anthropicDialect.formatResult({ ...whole.value, id: 'msg_1' })).toMatchObject({ content: [{ type: 'text', text: refusalText }], stop_reason: 'refusal' });
  });
});
