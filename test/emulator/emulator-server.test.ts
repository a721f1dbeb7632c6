import { Agent, Client, fetch as undiciFetch } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { corruptMarker, emulatorProfile, planCompletion, startEmulator, vocabulary, type RunningEmulator } from '../../src/emulator/index.js';
import type { ChatRequest } from '../../src/protocol/chat.js';
import { dialects } from '../../src/protocol/dialects.js';
import { modelPresets } from '../../src/catalog/models.js';
import { readUntilEnd } from './read-until-end.js';

const model = 'llama-3.1-8b';
const speed = 200;

type Json = Record<string, unknown>;

function openaiBody(content: string, extra: Json = {}): Json {
  return { model, messages: [{ role: 'user', content }], ...extra };
}

function anthropicBody(content: string, extra: Json = {}): Json {
  return { model, max_tokens: 1024, messages: [{ role: 'user', content }], ...extra };
}

function post(base: string, path: string, body: unknown, init: RequestInit = {}): Promise<Response> {
  return fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body), ...init });
}

async function json(response: Response): Promise<Json> {
  return (await response.json()) as Json;
}

/** Frames of an SSE body, exactly as written (without the blank line that ends each). */
function frames(text: string): string[] {
  return text.split('\n\n').filter((frame) => frame !== '');
}

/** The canonical request the dialects produce for a one-message prompt (for the expected text). */
function canonical(content: string, maxTokens?: number): ChatRequest {
  return { model, messages: [{ role: 'user', content }], maxTokens, temperature: undefined, topP: undefined, stop: [], stream: false, includeUsage: false, finalAssistant: 'continue' };
}

async function waitFor(condition: () => boolean, what: string, timeoutMs = 3_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

let emu: RunningEmulator;
const extra: RunningEmulator[] = [];

beforeAll(async () => {
  emu = await startEmulator({ model, chip: 'h100', seed: 7, speed, log: () => undefined });
});

afterEach(() => {
  emu.setFaults({ errorRate: 0, errorStatus: 500, addedLatencyMs: 0, hangMs: 0, cutAfterTokens: null, corruptRate: 0, refuse: false });
});

afterAll(async () => {
  await Promise.all([emu.close(), ...extra.map((e) => e.close())]);
});

async function another(options: Partial<Parameters<typeof startEmulator>[0]> = {}): Promise<RunningEmulator> {
  const started = await startEmulator({ model, chip: 'h100', speed, log: () => undefined, ...options });
  extra.push(started);
  return started;
}

describe('emulator: OpenAI Chat Completions', () => {
  it('non-stream: a chat.completion with the deterministic text and usage', async () => {
    const content = 'What is a switchyard?';
    const response = await post(emu.url, '/v1/chat/completions', openaiBody(content, { max_tokens: 8 }));
    expect(response.status).toBe(200);
    const body = await json(response);
    const expected = planCompletion(canonical(content, 8), { seed: 7, meanOutputTokens: 500 });
    expect(body).toMatchObject({
      object: 'chat.completion',
      model,
      choices: [{ index: 0, message: { role: 'assistant', content: expected.text }, finish_reason: expected.finishReason }],
      usage: { prompt_tokens: Math.ceil(content.length / 4), completion_tokens: expected.usage.outputTokens, total_tokens: Math.ceil(content.length / 4) + expected.usage.outputTokens },
    });
    expect(String(body.id)).toMatch(/^chatcmpl-/);
  });

  it("honours vLLM's ignore_eos and min_tokens, and refuses them malformed as vLLM does", async () => {
    const content = 'a benchmark prompt';
    const ignoring = await json(await post(emu.url, '/v1/chat/completions', openaiBody(content, { max_tokens: 300, ignore_eos: true })));
    expect(ignoring).toMatchObject({ choices: [{ finish_reason: 'length' }], usage: { completion_tokens: 300 } });
    const atLeast = await json(await post(emu.url, '/v1/chat/completions', openaiBody(content, { max_tokens: 1000, min_tokens: 900 })));
    expect((atLeast.usage as { completion_tokens: number }).completion_tokens).toBeGreaterThanOrEqual(900);
    const tooMany = await post(emu.url, '/v1/chat/completions', openaiBody(content, { max_tokens: 10, min_tokens: 20 }));
    expect(tooMany.status).toBe(400);
    expect(JSON.stringify(await json(tooMany))).toContain('min_tokens must be less than or equal to max_tokens=10, got 20');
    expect((await post(emu.url, '/v1/chat/completions', openaiBody(content, { ignore_eos: 'yes' }))).status).toBe(400);
    // What the emulator does not serve is said of Switchyard, not of a gateway it is not (E52, E54).
    const logprobs = await post(emu.url, '/v1/chat/completions', openaiBody(content, { logprobs: true }));
    expect([logprobs.status, JSON.stringify(await json(logprobs))]).toEqual([400, expect.stringContaining('logprobs are not supported by Switchyard')]);
    const functions = await post(emu.url, '/v1/chat/completions', openaiBody(content, { functions: [{ name: 'f', parameters: {} }] }));
    expect([functions.status, JSON.stringify(await json(functions))]).toEqual([400, expect.stringContaining('functions are legacy function calling, which Switchyard does not support')]);
  });

  it("takes back tool call ids of any characters, as vLLM does (Kimi's 'functions.get_weather:0'); the Anthropic API's are held to Anthropic's rule (R45)", async () => {
    const tool = { type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: {} } } };
    const conversation = (id: string): Json => openaiBody('Weather?', { max_tokens: 4, tools: [tool], messages: [{ role: 'user', content: 'Weather?' }, { role: 'assistant', content: null, tool_calls: [{ id, type: 'function', function: { name: 'get_weather', arguments: '{}' } }] }, { role: 'tool', tool_call_id: id, content: 'sunny' }] });
    for (const id of ['functions.get_weather:0', `functions.${'mcp__github__'.repeat(3)}create:1`]) expect((await post(emu.url, '/v1/chat/completions', conversation(id))).status).toBe(200);
    const anthropic = await post(emu.url, '/v1/messages', anthropicBody('Weather?', { messages: [{ role: 'user', content: 'Weather?' }, { role: 'assistant', content: [{ type: 'tool_use', id: 'functions.get_weather:0', name: 'get_weather', input: {} }] }, { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'functions.get_weather:0', content: 'sunny' }] }] }));
    expect(anthropic.status).toBe(400);
    expect(JSON.stringify(await json(anthropic))).toContain("a tool call id is 1 to 256 letters, digits, '_' or '-'");
  });

  it('stream with include_usage: the exact frame sequence, usage chunk, then [DONE]', async () => {
    const content = 'Say three words';
    const response = await post(emu.url, '/v1/chat/completions', openaiBody(content, { max_tokens: 3, stream: true, stream_options: { include_usage: true } }));
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/event-stream');
    // The idle keep-alive hint, so a client's pool retires the connection before the server closes it.
    expect(response.headers.get('keep-alive')).toMatch(/^timeout=\d+$/);
    const got = frames(await response.text());
    const first = JSON.parse((got[0] ?? '').slice('data: '.length)) as { id: string; created: number };
    const { id, created } = first;
    const words = planCompletion(canonical(content, 3), { seed: 7, meanOutputTokens: 500 }).tokens;
    expect(words).toHaveLength(3);
    // Byte for byte what the project's OpenAI adapter writes for start, the words and finish...
    const writer = dialects.openai.createStreamWriter({ includeUsage: true, created });
    const wire = [writer.write({ type: 'start', id, model, inputTokens: 4 }), ...words.map((text) => writer.write({ type: 'text', text })), writer.write({ type: 'finish', finishReason: 'length', usage: { inputTokens: 4, outputTokens: 3 } })].join('');
    expect(got).toEqual(frames(wire));
    // ...which is: a role chunk, one chunk per word, the finish chunk, the usage chunk, [DONE].
    const chunk = (choices: unknown[], more: Json = {}): Json => ({ id, object: 'chat.completion.chunk', created, model, choices, ...more });
    expect(got).toHaveLength(7);
    expect(got.at(-1)).toBe('data: [DONE]');
    expect(got.slice(0, -1).map((f) => JSON.parse(f.slice('data: '.length)) as Json)).toMatchObject([
      chunk([{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }]),
      ...words.map((word) => chunk([{ index: 0, delta: { content: word }, finish_reason: null }])),
      chunk([{ index: 0, delta: {}, finish_reason: 'length' }]),
      chunk([], { usage: { prompt_tokens: 4, completion_tokens: 3, total_tokens: 7 } }),
    ]);
  });

  it('stream without include_usage has no usage chunk; a short natural answer finishes with stop', async () => {
    const short = await another({ seed: 7, outputTokens: 4 });
    const response = await post(short.url, '/v1/chat/completions', openaiBody('hello', { max_tokens: 100, stream: true }));
    const got = frames(await response.text());
    expect(got.at(-1)).toBe('data: [DONE]');
    expect(got.some((frame) => frame.includes('"usage"'))).toBe(false);
    expect(got.at(-2)).toContain('"finish_reason":"stop"');
    expect(got.length - 3).toBeLessThanOrEqual(7);
  });

  it('GET /v1/models lists the served model in the OpenAI shape', async () => {
    const body = await json(await fetch(`${emu.url}/v1/models`));
    expect(body).toMatchObject({ object: 'list', data: [{ id: model, object: 'model' }] });
    // Anthropic's SDK sends anthropic-version: the list in Anthropic's shape, as the gateway answers it (E52).
    const anthropic = await json(await fetch(`${emu.url}/v1/models`, { headers: { 'anthropic-version': '2023-06-01' } }));
    expect(anthropic).toMatchObject({ data: [{ type: 'model', id: model, display_name: expect.any(String), created_at: expect.any(String) }], has_more: false, first_id: model, last_id: model });
    const bad = await fetch(`${emu.url}/v1/models?limit=0`, { headers: { 'anthropic-version': '2023-06-01' } });
    expect(bad.status).toBe(400);
    expect(await json(bad)).toMatchObject({ type: 'error', error: { type: 'invalid_request_error' } });
  });
});

describe('emulator: Anthropic Messages', () => {
  it('non-stream: a message with content, stop_reason and usage', async () => {
    const content = 'Describe a rail yard';
    const response = await post(emu.url, '/v1/messages', anthropicBody(content, { max_tokens: 5 }));
    expect(response.status).toBe(200);
    const body = await json(response);
    const expected = planCompletion(canonical(content, 5), { seed: 7, meanOutputTokens: 500 });
    expect(body).toMatchObject({ type: 'message', role: 'assistant', model, content: [{ type: 'text', text: expected.text }], stop_reason: 'max_tokens', usage: { input_tokens: 5, output_tokens: 5 } });
    expect(String(body.id)).toMatch(/^msg_/);
  });

  it('stream: message_start, content_block_start, ping, deltas, content_block_stop, message_delta, message_stop', async () => {
    const content = 'Two words please';
    const response = await post(emu.url, '/v1/messages', anthropicBody(content, { max_tokens: 2, stream: true }));
    expect(response.status).toBe(200);
    const got = frames(await response.text());
    const id = (JSON.parse((got[0] ?? '').split('\ndata: ')[1] ?? '{}') as { message?: { id?: string } }).message?.id;
    expect(id).toMatch(/^msg_/);
    const words = planCompletion(canonical(content, 2), { seed: 7, meanOutputTokens: 500 }).tokens;
    // Byte for byte what the project's Anthropic adapter writes for start, the words and finish...
    const writer = dialects.anthropic.createStreamWriter({ includeUsage: true, created: 0 });
    const wire = [
      writer.write({ type: 'start', id: id ?? '', model, inputTokens: 4 }),
      ...words.map((text) => writer.write({ type: 'text', text })),
      writer.write({ type: 'finish', finishReason: 'length', usage: { inputTokens: 4, outputTokens: 2 } }),
    ].join('');
    expect(got).toEqual(frames(wire));
    // ...which is this sequence of events.
    expect(got.map((f) => /^event: (\w+)/.exec(f)?.[1])).toEqual(['message_start', 'content_block_start', 'ping', 'content_block_delta', 'content_block_delta', 'content_block_stop', 'message_delta', 'message_stop']);
    const data = got.map((f) => JSON.parse(f.split('\ndata: ')[1] ?? '{}') as Json);
    expect(data[0]).toEqual({ type: 'message_start', message: { id, type: 'message', role: 'assistant', model, content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 4, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 0 } } });
    expect(data.slice(3, 5)).toEqual(words.map((text) => ({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text } })));
    expect(data[6]).toMatchObject({ type: 'message_delta', delta: { stop_reason: 'max_tokens', stop_sequence: null }, usage: { output_tokens: 2 } });
    expect(data[7]).toEqual({ type: 'message_stop' });
  });
});

describe('emulator: Anthropic token counting', () => {
  it("counts the input tokens the same request is charged in an answer's usage, without max_tokens", async () => {
    const conversation = { system: 'be brief', messages: [{ role: 'user', content: 'count these words please' }, { role: 'assistant', content: 'sure' }, { role: 'user', content: 'and these too' }], tools: [{ name: 'lookup', input_schema: { type: 'object', properties: { q: { type: 'string' } } } }] };
    const counted = await post(emu.url, '/v1/messages/count_tokens', { model, ...conversation });
    expect(counted.status).toBe(200);
    const body = await json(counted);
    expect(Object.keys(body)).toEqual(['input_tokens']);
    const answered = await json(await post(emu.url, '/v1/messages', { model, max_tokens: 16, ...conversation }));
    expect(body.input_tokens).toBe((answered.usage as Json).input_tokens);
    // A longer conversation counts more.
    const longer = await json(await post(emu.url, '/v1/messages/count_tokens', { model, ...conversation, system: 'be brief '.repeat(50) }));
    expect(longer.input_tokens as number).toBeGreaterThan(body.input_tokens as number);
  });

  it('refuses as Anthropic does: another model 404, a bad body 400, GET 405, all in Anthropic\'s shape; faults apply', async () => {
    const otherModel = await post(emu.url, '/v1/messages/count_tokens', { model: 'other', messages: [{ role: 'user', content: 'hi' }] });
    expect(otherModel.status).toBe(404);
    expect(await json(otherModel)).toMatchObject({ type: 'error', error: { type: 'not_found_error' } });
    const noMessages = await post(emu.url, '/v1/messages/count_tokens', { model });
    expect(noMessages.status).toBe(400);
    expect(await json(noMessages)).toMatchObject({ type: 'error', error: { type: 'invalid_request_error' } });
    const wrongMethod = await fetch(`${emu.url}/v1/messages/count_tokens`);
    expect(wrongMethod.status).toBe(405);
    emu.setFaults({ errorRate: 1, errorStatus: 529 });
    const failed = await post(emu.url, '/v1/messages/count_tokens', { model, messages: [{ role: 'user', content: 'hi' }] });
    expect(failed.status).toBe(529);
    // The fault's own figure, a real second whatever the speed.
    expect(failed.headers.get('retry-after')).toBe('1');
    expect(failed.headers.get('retry-after-ms')).toBeNull();
  });
});

describe('emulator: determinism and limits', () => {
  it('a profile given as is serves under a model name the catalog does not list, with its own prefill', async () => {
    const profile = emulatorProfile({ model: 'llama-3.1-8b', chip: 'h100' });
    const finetune = await startEmulator({ model: 'my-finetune', chip: 'h100', profile, servedModelName: 'my-finetune', speed: 500, log: () => undefined });
    try {
      const answer = await json(await post(finetune.url, '/v1/chat/completions', openaiBody('hi', { model: 'my-finetune', max_tokens: 3 })));
      expect(answer).toMatchObject({ model: 'my-finetune', usage: { completion_tokens: 3 } });
    } finally {
      await finetune.close();
    }
  });

  it('same seed gives byte-identical text across servers and dialects; another seed differs', async () => {
    const twin = await another({ seed: 7 });
    const other = await another({ seed: 8 });
    const ask = async (base: string): Promise<string> => {
      const body = await json(await post(base, '/v1/chat/completions', openaiBody('determinism check', { max_tokens: 40 })));
      return (body as { choices: { message: { content: string } }[] }).choices[0]?.message.content ?? '';
    };
    const [a, b, c] = await Promise.all([ask(emu.url), ask(twin.url), ask(other.url)]);
    expect(a.split(' ')).toHaveLength(40);
    expect(b).toBe(a);
    expect(c).not.toBe(a);
    const viaAnthropic = await json(await post(emu.url, '/v1/messages', anthropicBody('determinism check', { max_tokens: 40 })));
    expect((viaAnthropic as { content: { text: string }[] }).content[0]?.text).toBe(a);
  });

  it("a request's own seed (OpenAI's seed, which vLLM honours) picks another answer, as deterministic", async () => {
    const ask = async (extra: object): Promise<string> => {
      const body = await json(await post(emu.url, '/v1/chat/completions', openaiBody('determinism check', { max_tokens: 40, ...extra })));
      return (body as { choices: { message: { content: string } }[] }).choices[0]?.message.content ?? '';
    };
    const [unseeded, five, fiveAgain, six, large] = await Promise.all([ask({}), ask({ seed: 5 }), ask({ seed: 5 }), ask({ seed: 6 }), ask({ seed: 5 + 2 ** 32 })]);
    expect(five).toBe(fiveAgain);
    expect(new Set([unseeded, five, six, large]).size).toBe(4);
  });

  it('max_tokens is honoured with finish length, streamed or not', async () => {
    const body = await json(await post(emu.url, '/v1/chat/completions', openaiBody('limit me', { max_completion_tokens: 6 })));
    expect(body).toMatchObject({ choices: [{ finish_reason: 'length' }], usage: { completion_tokens: 6 } });
    const stream = frames(await (await post(emu.url, '/v1/messages', anthropicBody('limit me', { max_tokens: 6, stream: true }))).text());
    expect(stream.filter((f) => f.startsWith('event: content_block_delta'))).toHaveLength(6);
  });

  it('a prompt and output budget beyond the context window are a 400 in the caller dialect, as vLLM answers', async () => {
    // Llama 3.1 8B: 131,072 tokens; the emulator counts a token per 4 characters.
    const long = 'word '.repeat(4 * 33_000);
    const openai = await post(emu.url, '/v1/chat/completions', openaiBody(long));
    expect(openai.status).toBe(400);
    expect(await json(openai)).toMatchObject({ error: { type: 'invalid_request_error', param: 'messages' } });
    const budget = await post(emu.url, '/v1/messages', anthropicBody('short', { max_tokens: 200_000 }));
    expect(budget.status).toBe(400);
    const anthropic = await json(budget);
    expect(anthropic).toMatchObject({ type: 'error', error: { type: 'invalid_request_error' } });
    expect(JSON.stringify(anthropic)).toContain('maximum context length is 131072 tokens');
    // Within the window it is served.
    expect((await post(emu.url, '/v1/messages', anthropicBody('short', { max_tokens: 100_000 }))).status).toBe(200);
  });

  it("a window longer than the KV cache holds is served cut to it, as vLLM will not start with it; a model naming none gets up's default (E25)", async () => {
    const { contextWindow: _window, ...llama } = modelPresets.find((preset) => preset.id === 'llama-3.1-70b') ?? expect.fail('preset');
    const long = await startEmulator({ model: { ...llama, id: 'long-70b', contextWindow: 10_000_000 }, chip: 'h100', speed: 500, log: () => undefined });
    const unnamed = await startEmulator({ model: { ...llama, id: 'no-window-70b' }, chip: 'h100', speed: 500, log: () => undefined });
    try {
      const kvTokens = long.kvTokens ?? expect.fail('a modelled profile has a KV cache');
      expect(kvTokens).toBeLessThan(10_000_000);
      expect([long.contextWindow, long.modelContextWindow]).toEqual([kvTokens, 10_000_000]);
      expect(await json(await fetch(`${long.url}/v1/models`))).toMatchObject({ data: [{ max_model_len: kvTokens }] });
      // A prompt and answer its cache could never hold are refused for the window, not admitted alone.
      const refused = await post(long.url, '/v1/chat/completions', { model: 'long-70b', messages: [{ role: 'user', content: 'short' }], max_tokens: kvTokens });
      expect(refused.status).toBe(400);
      expect(JSON.stringify(await json(refused))).toContain(`maximum context length is ${String(kvTokens)} tokens`);
      expect((await post(long.url, '/v1/chat/completions', { model: 'long-70b', messages: [{ role: 'user', content: 'short' }], max_tokens: 5 })).status).toBe(200);
      // No window named: 32,768, as up gives its endpoints (it was none at all: any prompt was taken).
      expect([unnamed.contextWindow, unnamed.modelContextWindow]).toEqual([32_768, 32_768]);
      expect((await post(unnamed.url, '/v1/chat/completions', { model: 'no-window-70b', messages: [{ role: 'user', content: 'short' }], max_tokens: 40_000 })).status).toBe(400);
    } finally {
      await Promise.all([long.close(), unnamed.close()]);
    }
  });

  it('without max_tokens the answer takes at most what the window leaves, ending with length; a prompt that fills it is a 400', async () => {
    // 131,072 tokens; the prompt leaves room for 3.
    const prompt = 'x'.repeat(4 * (131_072 - 3));
    const answer = await json(await post(emu.url, '/v1/chat/completions', openaiBody(prompt)));
    expect(answer).toMatchObject({ choices: [{ finish_reason: 'length' }], usage: { prompt_tokens: 131_069, completion_tokens: 3 } });
    const full = await post(emu.url, '/v1/chat/completions', openaiBody('x'.repeat(4 * 131_072)));
    expect(full.status).toBe(400);
    await full.body?.cancel();
  });

  it('an empty answer (a stop sequence at the first word) still counts its prompt and its time to first token', async () => {
    const fresh = await another({ seed: 7 });
    const first = (await json(await post(fresh.url, '/v1/chat/completions', openaiBody('12345678', { max_tokens: 3 })))) as { choices: { message: { content: string } }[] };
    const word = first.choices[0]?.message.content.split(' ')[0] ?? '';
    const empty = (await json(await post(fresh.url, '/v1/chat/completions', openaiBody('12345678', { max_tokens: 3, stop: [word] })))) as { choices: { message: { content: string } }[] };
    expect(empty.choices[0]?.message.content).toBe('');
    const text = await (await fetch(`${fresh.url}/metrics`)).text();
    const value = (name: string): number => Number(new RegExp(`^${name}\\{[^}]*\\} (\\S+)$`, 'm').exec(text)?.[1]);
    expect(value('vllm:prompt_tokens_total')).toBe(4);
    expect(value('vllm:time_to_first_token_seconds_count')).toBe(2);
  });

  it('errors on an Anthropic path come in Anthropic\'s shape; a long model name is quoted cut', async () => {
    const wrongMethod = await fetch(`${emu.url}/v1/messages`);
    expect(wrongMethod.status).toBe(405);
    expect(await json(wrongMethod)).toMatchObject({ type: 'error', error: { type: 'invalid_request_error' } });
    const unknown = await post(emu.url, '/v1/messages/batches', anthropicBody('hi'));
    expect(unknown.status).toBe(404);
    expect(await json(unknown)).toMatchObject({ type: 'error', error: { type: 'not_found_error' } });
    const longName = await post(emu.url, '/v1/chat/completions', { ...openaiBody('hi'), model: 'm'.repeat(3000) });
    expect(longName.status).toBe(404);
    expect((await longName.text()).length).toBeLessThan(400);
  });

  it('429 with Retry-After when the answers held would pass the output tokens the emulator holds at once; a disconnect frees them (E52)', async () => {
    const held = await another({ maxHeldOutputTokens: 50, faults: { hangMs: -1 } });
    const ask = (content: string, maxTokens: number, signal?: AbortSignal): Promise<Response> => post(held.url, '/v1/chat/completions', openaiBody(content, { max_tokens: maxTokens, ignore_eos: true }), signal === undefined ? {} : { signal });
    const first = new AbortController();
    const pending = ask('hold 1', 30, first.signal).catch((error: unknown) => error);
    await waitFor(() => held.stats().running === 1, 'the first request running');
    const refused = await ask('hold 2', 30);
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    const message = ((await json(refused)) as { error: { message: string } }).error.message;
    expect(message).toMatch(/^replica full: the answers of its 1 request hold 30 output tokens, and this one's 30 would pass the 50 the emulator holds at once \(it plans each answer whole on arrival\); retry after \d+ ms$/);
    // The wait is until the first request's answer ends and frees its tokens, not the queue's (none here: 0, R46).
    const waitMs = Number(refused.headers.get('retry-after-ms'));
    const ending = held.tpotMs * 29;
    expect(waitMs).toBeGreaterThan(ending * 0.5);
    // Hung (hangMs -1), it has no projected end: an emulated second at least.
    expect(waitMs).toBeGreaterThanOrEqual(1000 / speed);
    // One that fits is taken beside it.
    const second = new AbortController();
    const fits = ask('hold 3', 20, second.signal).catch((error: unknown) => error);
    await waitFor(() => held.stats().running === 2, 'a second request that fits');
    first.abort();
    second.abort();
    await Promise.all([pending, fits]);
    await waitFor(() => held.stats().running === 0, 'both gone');
    held.setFaults({ hangMs: 0 });
    expect((await ask('hold 4', 50)).status).toBe(200);
    // A request alone is taken though its answer passes the bound by itself: it would never fit (R46).
    expect((await ask('hold 5', 80)).status).toBe(200);
  });

  it('429 with Retry-After when the running slots and the queue are full; FIFO admission; disconnects free slots', async () => {
    // DeepSeek-V3 on H100 at a 5 ms TPOT target: 4 running sequences per replica.
    const small = await another({ model: 'deepseek-v3', tpotMs: 5, maxQueue: 1, faults: { hangMs: -1 } });
    expect(small.stats()).toMatchObject({ capacity: small.profile.concurrentSequences, maxQueue: 1 });
    const capacity = small.stats().capacity;
    expect(capacity).toBe(4);
    const aborts = Array.from({ length: capacity + 1 }, () => new AbortController());
    const pending = aborts.map((abort, i) =>
      post(small.url, '/v1/chat/completions', { model: 'deepseek-v3', messages: [{ role: 'user', content: `hold ${i}` }] }, { signal: abort.signal }).catch((error: unknown) => error),
    );
    await waitFor(() => small.stats().running === capacity && small.stats().waiting === 1, 'a full replica');
    const rejected = await post(small.url, '/v1/messages', { model: 'deepseek-v3', max_tokens: 5, messages: [{ role: 'user', content: 'one more' }] });
    expect(rejected.status).toBe(429);
    expect(Number(rejected.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    // The wait is emulated time divided by the speed, as every delay is: finer than a second, in retry-after-ms.
    const waitMs = Number(rejected.headers.get('retry-after-ms'));
    expect(waitMs).toBeGreaterThanOrEqual(1);
    expect(waitMs).toBeLessThan(1000);
    const refusal = (await json(rejected)) as { type: string; error: { type: string; message: string } };
    expect(refusal).toMatchObject({ type: 'error', error: { type: 'rate_limit_error' } });
    // Said in the counts /metrics gives, which a router reads: a slot awaiting its prefill is waiting there.
    const said = /^replica full: its 4 slots taken \((\d+) running, (\d+) awaiting their prefill\) and 1 of 1 queue places; retry after \d+ ms$/.exec(refusal.error.message);
    expect(said, refusal.error.message).not.toBeNull();
    const scraped = await (await fetch(`${small.url}/metrics`)).text();
    const gauge = (name: string): number => Number(new RegExp(`^vllm:${name}\\{[^}]*\\} (\\S+)$`, 'm').exec(scraped)?.[1]);
    expect(Number(said?.[1])).toBe(gauge('num_requests_running'));
    expect(Number(said?.[2]) + 1).toBe(gauge('num_requests_waiting'));
    expect(Number(said?.[1]) + Number(said?.[2])).toBe(capacity);
    // A disconnect frees a slot and the waiting request takes it.
    aborts[0]?.abort();
    await waitFor(() => small.stats().running === capacity && small.stats().waiting === 0, 'the queued request admitted');
    // Stop hanging for new requests: one queued now runs to completion as soon as a slot frees.
    small.setFaults({ hangMs: 0 });
    const queued = post(small.url, '/v1/chat/completions', { model: 'deepseek-v3', max_tokens: 3, messages: [{ role: 'user', content: 'x' }] });
    await waitFor(() => small.stats().waiting === 1, 'the new request queued');
    aborts[1]?.abort();
    expect((await queued).status).toBe(200);
    for (const abort of aborts) abort.abort();
    await Promise.all(pending);
    await waitFor(() => small.stats().running === 0 && small.stats().waiting === 0, 'all slots free');
  });
});

describe('emulator: faults', () => {
  it('error rate 1 answers every chat request with the error status, in the caller dialect', async () => {
    emu.setFaults({ errorRate: 1, errorStatus: 503 });
    const openai = await post(emu.url, '/v1/chat/completions', openaiBody('hi'));
    expect(openai.status).toBe(503);
    expect(await json(openai)).toMatchObject({ error: { type: 'server_error', message: expect.stringContaining('injected') } });
    const anthropic = await post(emu.url, '/v1/messages', anthropicBody('hi', { stream: true }));
    expect(anthropic.status).toBe(503);
    expect(await json(anthropic)).toMatchObject({ type: 'error', error: { type: 'overloaded_error' } });
    emu.setFaults({ errorStatus: 500 });
    expect((await post(emu.url, '/v1/messages', anthropicBody('hi'))).status).toBe(500);
    // A 4xx without a kind of its own is about the request, not the server's failure.
    emu.setFaults({ errorStatus: 451 });
    expect(await json(await post(emu.url, '/v1/chat/completions', openaiBody('hi')))).toMatchObject({ error: { type: 'invalid_request_error' } });
    expect(await json(await post(emu.url, '/v1/messages', anthropicBody('hi')))).toMatchObject({ error: { type: 'invalid_request_error' } });
  });

  it('added latency delays the first byte (divided by the speed)', async () => {
    emu.setFaults({ addedLatencyMs: 30_000 });
    const started = performance.now();
    const response = await post(emu.url, '/v1/chat/completions', openaiBody('late', { max_tokens: 1 }));
    expect(response.status).toBe(200);
    expect(performance.now() - started).toBeGreaterThanOrEqual((30_000 / speed) * 0.9);
  });

  it('hang -1 holds the request until the client aborts, which frees its batch slot', async () => {
    emu.setFaults({ hangMs: -1 });
    const abort = new AbortController();
    const request = post(emu.url, '/v1/chat/completions', openaiBody('hang'), { signal: abort.signal });
    await waitFor(() => emu.stats().running === 1, 'the hung request running');
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(emu.stats().running).toBe(1);
    abort.abort();
    await expect(request).rejects.toThrow();
    await waitFor(() => emu.stats().running === 0, 'the slot freed');
    // A finite hang delays the first token.
    emu.setFaults({ hangMs: 20_000 });
    const started = performance.now();
    const stream = await post(emu.url, '/v1/messages', anthropicBody('hang a bit', { max_tokens: 2, stream: true }));
    expect(stream.status).toBe(200);
    expect(frames(await stream.text()).at(-1)).toContain('message_stop');
    expect(performance.now() - started).toBeGreaterThanOrEqual((20_000 / speed) * 0.9);
  });

  it('delays past Node\'s longest timer (2^31 ms) hold, instead of firing at once or spinning', async () => {
    const warnings: string[] = [];
    const onWarning = (warning: Error): void => {
      warnings.push(warning.name);
    };
    process.on('warning', onWarning);
    try {
      for (const faults of [{ hangMs: 3e9 * speed }, { addedLatencyMs: 3e9 * speed }]) {
        emu.setFaults({ hangMs: 0, addedLatencyMs: 0, ...faults });
        const abort = new AbortController();
        const request = post(emu.url, '/v1/chat/completions', openaiBody('hold'), { signal: abort.signal });
        const settled = await Promise.race([request.then(() => 'answered', () => 'failed'), new Promise((resolve) => setTimeout(() => resolve('held'), 200))]);
        expect(settled).toBe('held');
        abort.abort();
        await request.catch(() => undefined);
      }
      expect(warnings.filter((name) => name === 'TimeoutOverflowWarning')).toEqual([]);
    } finally {
      process.off('warning', onWarning);
      emu.setFaults({ hangMs: 0, addedLatencyMs: 0 });
    }
  });

  it('cut after N tokens: the connection ends with no [DONE] and no message_stop', async () => {
    emu.setFaults({ cutAfterTokens: 2 });
    const openai = await post(emu.url, '/v1/chat/completions', openaiBody('cut me', { max_tokens: 10, stream: true, stream_options: { include_usage: true } }));
    expect(openai.status).toBe(200);
    const a = await readUntilEnd(openai);
    expect(a.broken).toBe(true);
    expect(a.text).not.toContain('[DONE]');
    expect(a.text).not.toContain('finish_reason":"');
    expect(frames(a.text).filter((f) => f.includes('"content":"') && !f.includes('"content":""'))).toHaveLength(2);
    const anthropic = await post(emu.url, '/v1/messages', anthropicBody('cut me', { max_tokens: 10, stream: true }));
    const b = await readUntilEnd(anthropic);
    expect(b.broken).toBe(true);
    expect(b.text).not.toContain('message_stop');
    expect(frames(b.text).filter((f) => f.startsWith('event: content_block_delta'))).toHaveLength(2);
    await waitFor(() => emu.stats().running === 0, 'cut sequences to leave the batch');
    // Answers no longer than N are not cut.
    const whole = await post(emu.url, '/v1/chat/completions', openaiBody('short', { max_tokens: 2, stream: true }));
    expect(frames(await whole.text()).at(-1)).toBe('data: [DONE]');
  });

  it('corrupt rate 1 replaces every token with the marker, usage unchanged', async () => {
    emu.setFaults({ corruptRate: 1 });
    const body = await json(await post(emu.url, '/v1/chat/completions', openaiBody('corrupt', { max_tokens: 5 })));
    expect(body).toMatchObject({ choices: [{ message: { content: Array.from({ length: 5 }, () => corruptMarker).join(' ') } }], usage: { completion_tokens: 5 } });
    emu.setFaults({ corruptRate: 0 });
    const clean = await json(await post(emu.url, '/v1/chat/completions', openaiBody('corrupt', { max_tokens: 5 })));
    const text = (clean as { choices: { message: { content: string } }[] }).choices[0]?.message.content ?? '';
    for (const word of text.split(' ')) expect(vocabulary).toContain(word);
  });

  it('refuse: chat requests on any connection are dropped unanswered, /health says 503 and /admin/faults turns it off, also on fresh connections', async () => {
    const admin = new Client(emu.url);
    const fresh = new Agent({ pipelining: 0 });
    try {
      const toggle = async (refuse: boolean): Promise<void> => {
        const response = await admin.request({ path: '/admin/faults', method: 'POST', body: JSON.stringify({ refuse }), headers: { 'content-type': 'application/json' } });
        expect(response.statusCode).toBe(200);
        expect(await response.body.json()).toMatchObject({ refuse });
      };
      await toggle(true);
      const health = await admin.request({ path: '/health', method: 'GET' });
      expect(health.statusCode).toBe(503);
      await health.body.dump();
      await expect(undiciFetch(`${emu.url}/v1/chat/completions`, { method: 'POST', body: JSON.stringify(openaiBody('hi')), dispatcher: fresh })).rejects.toThrow();
      await expect(undiciFetch(`${emu.url}/v1/messages`, { method: 'POST', body: '{}', dispatcher: fresh })).rejects.toThrow();
      // The control endpoints answer on fresh connections too: refusing can be turned off at run time.
      const freshHealth = await undiciFetch(`${emu.url}/health`, { dispatcher: fresh });
      expect(freshHealth.status).toBe(503);
      expect(await freshHealth.json()).toEqual({ status: 'refusing' });
      const off = await undiciFetch(`${emu.url}/admin/faults`, { method: 'POST', body: JSON.stringify({ refuse: false }), headers: { 'content-type': 'application/json' }, dispatcher: fresh });
      expect(off.status).toBe(200);
      expect(await off.json()).toMatchObject({ refuse: false });
      await toggle(false);
      const ok = await undiciFetch(`${emu.url}/health`, { dispatcher: fresh });
      expect(ok.status).toBe(200);
      expect(await ok.json()).toEqual({ status: 'ok' });
    } finally {
      await admin.close();
      await fresh.close();
    }
  });

  it('counts every fault it injects in /metrics, per request touched, and logs each change of faults', async () => {
    const lines: string[] = [];
    const own = await startEmulator({ model: 'llama-3.1-8b', chip: 'h100', speed: 200, servedModelName: model, log: (line) => lines.push(line) });
    try {
      const injected = async (): Promise<Record<string, number>> => {
        const text = await (await fetch(`${own.url}/metrics`)).text();
        return Object.fromEntries([...text.matchAll(/^switchyard_emulator_faults_total\{model_name="[^"]*",engine="0",fault="(\w+)"\} (\d+)$/gm)].map((match) => [match[1], Number(match[2])]));
      };
      expect(await injected()).toEqual({ error: 0, latency: 0, hang: 0, cut: 0, corrupt: 0, refuse: 0 });
      expect((await post(own.url, '/admin/faults', { errorRate: 1 })).status).toBe(200);
      for (let i = 0; i < 2; i += 1) expect((await post(own.url, '/v1/chat/completions', openaiBody('hi'))).status).toBe(500);
      await post(own.url, '/admin/faults', { errorRate: 0, cutAfterTokens: 2 });
      expect((await readUntilEnd(await post(own.url, '/v1/chat/completions', openaiBody('a long answer', { stream: true, max_tokens: 50 })))).broken).toBe(true);
      // Generated is what was sent: the two tokens before the cut, and none when cut before the first.
      const generated = async (): Promise<[number, number, number]> => {
        const text = await (await fetch(`${own.url}/metrics`)).text();
        const value = (name: string): number => Number(new RegExp(`^${name}\\{[^}]*\\} (\\d+)$`, 'm').exec(text)?.[1] ?? Number.NaN);
        return [value('vllm:generation_tokens_total'), value('vllm:time_to_first_token_seconds_count'), value('vllm:prompt_tokens_total')];
      };
      const [generatedBefore, firstTokensBefore, promptBefore] = await generated();
      expect([generatedBefore, firstTokensBefore]).toEqual([2, 1]);
      await post(own.url, '/admin/faults', { cutAfterTokens: 0 });
      const before = await readUntilEnd(await post(own.url, '/v1/chat/completions', openaiBody('a long answer', { stream: true, max_tokens: 50 })));
      expect([before.broken, before.text]).toEqual([true, '']);
      // The prompt was read (its prefill done): its tokens count, as every prefill's do.
      expect(await generated()).toEqual([2, 1, 2 * promptBefore]);
      await post(own.url, '/admin/faults', { cutAfterTokens: null, refuse: true });
      await post(own.url, '/v1/chat/completions', openaiBody('hi'), { headers: { 'content-type': 'application/json', connection: 'close' } }).catch(() => undefined);
      expect(await injected()).toEqual({ error: 2, latency: 0, hang: 0, cut: 2, corrupt: 0, refuse: 1 });
      expect(lines.filter((line) => line.includes('faults now'))).toHaveLength(4);
      expect(lines[0]).toContain('"errorRate":1');
      // Corrupt counts a request that got a corrupted token: not one cut before its first, nor one refused or hung.
      await post(own.url, '/admin/faults', { refuse: false, corruptRate: 1, cutAfterTokens: 0 });
      expect((await readUntilEnd(await post(own.url, '/v1/chat/completions', openaiBody('a long answer', { stream: true, max_tokens: 50 })))).text).toBe('');
      expect((await injected())['corrupt']).toBe(0);
      await post(own.url, '/admin/faults', { cutAfterTokens: null });
      expect((await post(own.url, '/v1/chat/completions', openaiBody('hi'))).status).toBe(200);
      expect((await readUntilEnd(await post(own.url, '/v1/chat/completions', openaiBody('hi', { stream: true })))).text).toContain('<corrupt>');
      expect(await injected()).toEqual({ error: 2, latency: 0, hang: 0, cut: 3, corrupt: 2, refuse: 1 });
      // A cut is the fault's, not a client that left: no request counted finished by abort.
      expect(/^vllm:request_success_total\{[^}]*finished_reason="abort"\} (\d+)$/m.exec(await (await fetch(`${own.url}/metrics`)).text())?.[1]).toBe('0');
    } finally {
      await own.close();
    }
  });

  it('/admin/faults: GET shows them, POST updates partially, a bad body gets 400 with a clear message', async () => {
    const update = await post(emu.url, '/admin/faults', { errorRate: 0.25, cutAfterTokens: 3 });
    expect(update.status).toBe(200);
    const shown = await fetch(`${emu.url}/admin/faults`);
    expect(await json(shown)).toEqual({ errorRate: 0.25, errorStatus: 500, addedLatencyMs: 0, hangMs: 0, cutAfterTokens: 3, corruptRate: 0, refuse: false });
    // HEAD as GET: its headers, no body (it was read as a POST with an empty body: a 400).
    const head = await fetch(`${emu.url}/admin/faults`, { method: 'HEAD' });
    expect([head.status, head.headers.get('content-length'), await head.text()]).toEqual([200, shown.headers.get('content-length'), '']);
    const tooLarge = await fetch(`${emu.url}/admin/faults`, { method: 'POST', body: ' '.repeat(64 * 1024 + 1) });
    expect([tooLarge.status, ((await json(tooLarge)) as { error: { message: string } }).error.message]).toEqual([413, 'body too large: /admin/faults takes at most 65536 bytes']);
    const cases: [unknown, RegExp][] = [
      [{ errorRate: 2 }, /errorRate must be between 0 and 1/],
      [{ hangMs: -5 }, /hangMs must be >= 0, or -1/],
      [{ errorStatus: 200 }, /errorStatus must be 400\.\.599/],
      [{ refuse: 'yes' }, /refuse must be true or false/],
      [{ erorRate: 1 }, /unknown field 'erorRate'/],
      [[1], /JSON object/],
      ['{not json', /not valid JSON/],
    ];
    for (const [body, message] of cases) {
      const response = await post(emu.url, '/admin/faults', body);
      expect(response.status).toBe(400);
      expect(((await json(response)) as { error: { message: string } }).error.message).toMatch(message);
    }
    expect(emu.faults()).toMatchObject({ errorRate: 0.25, cutAfterTokens: 3 });
    expect(() => emu.setFaults({ corruptRate: -1 })).toThrow(/corruptRate/);
    // A web page's post (a simple request: text/plain, no preflight) is refused; the faults stay.
    const fromPage = await fetch(`${emu.url}/admin/faults`, { method: 'POST', headers: { origin: 'http://evil.example', 'content-type': 'text/plain' }, body: '{"refuse": true}' });
    expect(fromPage.status).toBe(403);
    expect(((await json(fromPage)) as { error: { message: string } }).error.message).toMatch(/no requests from web pages/);
    expect(emu.faults()).toMatchObject({ refuse: false, errorRate: 0.25 });
  });
});

describe('emulator: bad requests, health and metrics', () => {
  it("serves, as vLLM does, fields the gateway refuses because it cannot carry them (engine extensions, another API's)", async () => {
    const response = await post(emu.url, '/v1/chat/completions', openaiBody('hi', { max_tokens: 3, skip_special_tokens: false, truncate_prompt_tokens: 100, system: 'ignored, as vLLM ignores it', thinking: { type: 'enabled' } }));
    expect(response.status).toBe(200);
    expect(await json(response)).toMatchObject({ object: 'chat.completion' });
  });

  it('bad bodies get 400 (unknown model 404) in the caller dialect, and the server keeps serving', async () => {
    const badJson = await post(emu.url, '/v1/chat/completions', '{"model":');
    expect(badJson.status).toBe(400);
    expect(await json(badJson)).toMatchObject({ error: { type: 'invalid_request_error', message: 'request body is not valid JSON' } });
    const noMessages = await post(emu.url, '/v1/chat/completions', { model });
    expect(noMessages.status).toBe(400);
    expect(await json(noMessages)).toMatchObject({ error: { type: 'invalid_request_error', param: 'messages' } });
    const noMaxTokens = await post(emu.url, '/v1/messages', { model, messages: [{ role: 'user', content: 'hi' }] });
    expect(noMaxTokens.status).toBe(400);
    expect(await json(noMaxTokens)).toMatchObject({ type: 'error', error: { type: 'invalid_request_error', message: expect.stringContaining('max_tokens') } });
    const anthropicBadJson = await post(emu.url, '/v1/messages', 'nope');
    expect(await json(anthropicBadJson)).toMatchObject({ type: 'error', error: { type: 'invalid_request_error' } });
    const unknownModel = await post(emu.url, '/v1/messages', anthropicBody('hi', { model: 'claude-x' }));
    expect(unknownModel.status).toBe(404);
    expect(await json(unknownModel)).toMatchObject({ type: 'error', error: { type: 'not_found_error', message: expect.stringContaining(model) } });
    expect((await fetch(`${emu.url}/v1/chat/completions`)).status).toBe(405);
    expect((await fetch(`${emu.url}/nowhere`)).status).toBe(404);
    expect((await post(emu.url, '/v1/chat/completions', openaiBody('still up', { max_tokens: 1 }))).status).toBe(200);
  });

  it('/metrics counts prompts in a slot whose prefill has not begun as waiting, as vLLM does, not running', async () => {
    // Slow enough that three 8,000-character prompts queue for their prefill steps one after another.
    const slow = await another({ speed: 0.02, capacity: 8 });
    const aborts = [new AbortController(), new AbortController(), new AbortController()];
    const requests = aborts.map((abort) => post(slow.url, '/v1/chat/completions', openaiBody('word '.repeat(1600), { max_tokens: 2 }), { signal: abort.signal }).catch(() => undefined));
    await waitFor(() => slow.stats().running === 3, 'admission');
    const text = await (await fetch(`${slow.url}/metrics`)).text();
    const gauge = (name: string): number => Number(new RegExp(`^${name}\\{[^}]*\\} (\\S+)$`, 'm').exec(text)?.[1]);
    expect(gauge('vllm:num_requests_running')).toBe(1);
    expect(gauge('vllm:num_requests_waiting')).toBe(2);
    for (const abort of aborts) abort.abort();
    await Promise.all(requests);
  });

  it('/health is 200 ok', async () => {
    const response = await fetch(`${emu.url}/health`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'ok' });
  });

  it('/metrics has the vLLM names with sane values, including running, waiting and KV usage under load', async () => {
    const fresh = await another({ seed: 1, capacity: 2, maxQueue: 4, faults: { hangMs: -1 } });
    const read = async (): Promise<Map<string, number>> => {
      const response = await fetch(`${fresh.url}/metrics`);
      expect(response.headers.get('content-type')).toContain('text/plain');
      const values = new Map<string, number>();
      for (const line of (await response.text()).split('\n')) {
        const match = /^(vllm:[a-z0-9_]+)(\{[^}]*\})? (\S+)$/.exec(line);
        // vLLM V1's labels on every series: the model and the engine.
        if (match?.[2] !== undefined) expect(match[2]).toMatch(/[{,]model_name="[^"]+",engine="0"[,}]/);
        const reason = /finished_reason="(\w+)"/.exec(match?.[2] ?? '')?.[1];
        if (match?.[1] !== undefined && match[3] !== undefined) values.set(`${match[1]}${reason !== undefined ? `:${reason}` : match[2]?.includes('le=') ? `:${/le="([^"]+)"/.exec(match[2])?.[1]}` : ''}`, Number(match[3]));
      }
      return values;
    };
    const aborts = [new AbortController(), new AbortController(), new AbortController()];
    const hung = aborts.map((abort) => post(fresh.url, '/v1/chat/completions', openaiBody('hold'), { signal: abort.signal }).catch(() => undefined));
    await waitFor(() => fresh.stats().waiting === 1, 'load');
    const loaded = await read();
    expect(loaded.get('vllm:num_requests_running')).toBe(2);
    expect(loaded.get('vllm:num_requests_waiting')).toBe(1);
    // Both slots taken, by two short prompts: the KV cache, sized by the performance model, is nearly empty.
    const usage = loaded.get('vllm:kv_cache_usage_perc') ?? -1;
    expect(usage).toBeGreaterThan(0);
    expect(usage).toBeLessThan(0.001);
    expect(loaded.get('vllm:gpu_cache_usage_perc')).toBe(usage);
    for (const abort of aborts) abort.abort();
    await Promise.all(hung);
    fresh.setFaults({ hangMs: 0 });
    await waitFor(() => fresh.stats().running === 0 && fresh.stats().waiting === 0, 'idle');
    await post(fresh.url, '/v1/chat/completions', openaiBody('12345678', { max_tokens: 4 }));
    await (await post(fresh.url, '/v1/messages', anthropicBody('12345678', { max_tokens: 3, stream: true }))).text();
    const values = await read();
    expect(values.get('vllm:num_requests_running')).toBe(0);
    expect(values.get('vllm:num_requests_waiting')).toBe(0);
    expect(values.get('vllm:gpu_cache_usage_perc')).toBe(0);
    expect(values.get('vllm:kv_cache_usage_perc')).toBe(0);
    expect(values.get('vllm:prompt_tokens_total')).toBe(4);
    expect(values.get('vllm:generation_tokens_total')).toBe(7);
    expect(values.get('vllm:request_success_total:length')).toBe(2);
    // The three clients that left their hung requests, as vLLM counts them; none stopped.
    expect(values.get('vllm:request_success_total:abort')).toBe(3);
    expect(values.get('vllm:request_success_total:stop')).toBe(0);
    // vLLM V1's buckets: TPOT from 10 ms, TTFT to 2,560 s, end-to-end to 7,680 s.
    expect(values.get('vllm:time_per_output_token_seconds_bucket:0.01')).toBe(5);
    expect(values.has('vllm:time_per_output_token_seconds_bucket:0.001')).toBe(false);
    expect(values.get('vllm:time_to_first_token_seconds_bucket:2560')).toBe(2);
    expect(values.get('vllm:e2e_request_latency_seconds_bucket:7680')).toBe(2);
    expect(values.get('vllm:time_to_first_token_seconds_count')).toBe(2);
    expect(values.get('vllm:time_per_output_token_seconds_count')).toBe(5);
    const tpotSum = values.get('vllm:time_per_output_token_seconds_sum') ?? 0;
    // Wall seconds: one decode step at batch one, divided by the speed.
    expect(tpotSum / 5).toBeCloseTo(fresh.profile.tpotAtBatchOneMs / speed / 1000, 6);
    expect(values.get('vllm:time_to_first_token_seconds_sum')).toBeGreaterThan(0);
  });
});
