import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningEmulator } from '../../src/emulator/index.js';
import { createGateway } from '../../src/gateway/gateway-server.js';
import { hashApiKey } from '../../src/gateway/tenant-auth.js';
import { anthropicDialect } from '../../src/protocol/anthropic/anthropic-dialect.js';
import { gatewayConfig, metricValue, openAIChunk, scrape, singleEndpointConfig, startBothDialects, startScriptedUpstream, waitFor, type BothDialects } from './helpers/fleet.js';

/**
 * Translation edge cases end to end, through an emulated replica spoken to in
 * either dialect. Stop sequences: an Anthropic caller is told which sequence stopped
 * the answer when the upstream said so (an Anthropic-dialect upstream does, and vLLM
 * in its stop_reason, as the emulator does; OpenAI's own finish_reason "stop" cannot
 * tell a stop sequence from a natural end).
 */

const apiKey = 'sk-stop-test';
const prompt = 'tell me about stop sequences';
let fleet: BothDialects;
let replica: RunningEmulator;
let url: string;

beforeAll(async () => {
  fleet = await startBothDialects('m-stop', apiKey);
  ({ replica, url } = fleet);
});

afterAll(() => fleet.close());

/** A gateway for one test over openai-dialect endpoints `[id, url, served model]`, cheapest first, all on one route. */
async function routeGateway(model: string, endpoints: readonly (readonly [string, string, string])[], tokensPerMinute = 100_000_000, resilience = ''): Promise<{ url: string; close(): Promise<void> }> {
  const lines = endpoints.map(([id, endpointUrl, served], index) => `  - { id: ${id}, url: "${endpointUrl}", dialect: openai, model: ${served}, provider: p${index}, region: r1, jurisdiction: us, contextWindow: 131072, marginalCostPerMillionTokens: ${index}, capacity: 8 }`);
  const started = createGateway({
    config: gatewayConfig(
      ['version: 1', 'endpoints:', ...lines, 'routes:', `  - { model: ${model}, endpoints: [${endpoints.map(([id]) => id).join(', ')}], policy: [cost] }`, 'tenants:', `  - { id: t1, apiKeySha256: ${hashApiKey(apiKey)}, jurisdictions: [us], requestsPerMinute: 100000, tokensPerMinute: ${tokensPerMinute} }`, resilience].join('\n'),
    ),
    logger: false,
  });
  return { url: await started.listen(0, '127.0.0.1'), close: () => started.close() };
}

/** The answer without stops (deterministic for the prompt), and a stop sequence that occurs in it. */
async function stopInAnswer(client: Anthropic): Promise<{ full: string; stop: string; before: string }> {
  const whole = await client.messages.create({ model: 'anthropic-upstream', max_tokens: 40, messages: [{ role: 'user', content: prompt }] });
  const full = whole.content[0]?.type === 'text' ? whole.content[0].text : '';
  const words = full.split(' ');
  expect(words.length).toBeGreaterThan(3);
  const stop = ` ${words[2] ?? ''}`;
  return { full, stop, before: full.slice(0, full.indexOf(stop)) };
}

describe('stop sequences', () => {
  it('an Anthropic caller gets stop_reason stop_sequence and the sequence, streamed and not', async () => {
    const client = new Anthropic({ apiKey, baseURL: url, maxRetries: 0 });
    const { stop, before } = await stopInAnswer(client);
    const message = await client.messages.create({ model: 'anthropic-upstream', max_tokens: 40, stop_sequences: ['never-occurs', stop], messages: [{ role: 'user', content: prompt }] });
    expect(message.content[0]?.type === 'text' ? message.content[0].text : '').toBe(before);
    expect(message.stop_reason).toBe('stop_sequence');
    expect(message.stop_sequence).toBe(stop);
    const streamed = await client.messages.stream({ model: 'anthropic-upstream', max_tokens: 40, stop_sequences: [stop], messages: [{ role: 'user', content: prompt }] }).finalMessage();
    expect(streamed.stop_reason).toBe('stop_sequence');
    expect(streamed.stop_sequence).toBe(stop);
  });

  it("an OpenAI caller gets finish_reason stop; through an OpenAI upstream an Anthropic caller gets the sequence vLLM's stop_reason names, streamed and not", async () => {
    const client = new Anthropic({ apiKey, baseURL: url, maxRetries: 0 });
    const { stop, before } = await stopInAnswer(client);
    const openai = new OpenAI({ apiKey, baseURL: `${url}/v1`, maxRetries: 0 });
    const completion = await openai.chat.completions.create({ model: 'anthropic-upstream', max_tokens: 40, stop: [stop], messages: [{ role: 'user', content: prompt }] });
    expect(completion.choices[0]?.finish_reason).toBe('stop');
    expect(completion.choices[0]?.message.content).toBe(before);
    const viaOpenAI = await client.messages.create({ model: 'openai-upstream', max_tokens: 40, stop_sequences: [stop], messages: [{ role: 'user', content: prompt }] });
    expect(viaOpenAI.content[0]?.type === 'text' ? viaOpenAI.content[0].text : '').toBe(before);
    expect(viaOpenAI.stop_reason).toBe('stop_sequence');
    expect(viaOpenAI.stop_sequence).toBe(stop);
    const streamed = await client.messages.stream({ model: 'openai-upstream', max_tokens: 40, stop_sequences: [stop], messages: [{ role: 'user', content: prompt }] }).finalMessage();
    expect([streamed.stop_reason, streamed.stop_sequence]).toEqual(['stop_sequence', stop]);
  });

  it.each([
    ['names no stop sequence (OpenAI\'s own API)', {}],
    ['names one the caller did not ask for (its chat template\'s)', { stop_reason: '<|im_end|>' }],
  ])("through an upstream that %s an Anthropic caller gets end_turn, the text still cut", async (_case, named) => {
    const upstream = await startScriptedUpstream((res) => res.end(openAIChunk({ role: 'assistant', content: 'Hello' }) + `data: ${JSON.stringify({ id: 'c', model: 'm', choices: [{ index: 0, delta: {}, finish_reason: 'stop', ...named }] })}\n\n` + 'data: [DONE]\n\n'));
    const scripted = await routeGateway('plain', [['plain', upstream.url, 'm']]);
    try {
      const message = await new Anthropic({ apiKey, baseURL: scripted.url, maxRetries: 0 }).messages.create({ model: 'plain', max_tokens: 40, stop_sequences: [' world'], messages: [{ role: 'user', content: prompt }] });
      expect([message.stop_reason, message.stop_sequence]).toEqual(['end_turn', null]);
    } finally {
      await scripted.close();
      await upstream.close();
    }
  });
});

describe('requests that fit one dialect and must be fitted to the other', () => {
  it('an OpenAI request of system messages alone reaches an Anthropic upstream as one user turn', async () => {
    const openai = new OpenAI({ apiKey, baseURL: `${url}/v1`, maxRetries: 0 });
    const completion = await openai.chat.completions.create({ model: 'anthropic-upstream', max_tokens: 5, messages: [{ role: 'system', content: 'you are terse' }] });
    expect(completion.choices[0]?.message.content?.length ?? 0).toBeGreaterThan(0);
    // The same answer as the same text sent as a user turn: the emulator saw one turn, no system prompt.
    const asUser = await openai.chat.completions.create({ model: 'anthropic-upstream', max_tokens: 5, messages: [{ role: 'user', content: 'you are terse' }] });
    expect(completion.choices[0]?.message.content).toBe(asUser.choices[0]?.message.content);
  });

  it('an OpenAI caller\'s whitespace stop sequence and empty turns reach an Anthropic upstream in a form it accepts, and the stop still cuts', async () => {
    // An upstream that, like a real one given no such stop sequence, writes past the newline.
    const writer = anthropicDialect.createStreamWriter({ includeUsage: true, created: 0 });
    const frames = [{ type: 'start', id: 'msg_1', model: 'm', inputTokens: 3 }, { type: 'text', text: 'line one' }, { type: 'text', text: '\nline two' }, { type: 'finish', finishReason: 'stop', usage: { inputTokens: 3, outputTokens: 4 } }] as const;
    const upstream = await startScriptedUpstream((res) => res.end(frames.map((event) => writer.write(event)).join('')));
    const started = createGateway({ config: singleEndpointConfig(upstream.url, apiKey, '', 'anthropic'), logger: false });
    try {
      const openai = new OpenAI({ apiKey, baseURL: `${await started.listen(0, '127.0.0.1')}/v1`, maxRetries: 0 });
      const completion = await openai.chat.completions.create({ model: 'm', stop: ['\n', 'END'], messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: '' }, { role: 'user', content: 'two lines please' }] });
      expect(completion.choices[0]?.message.content).toBe('line one');
      expect(completion.choices[0]?.finish_reason).toBe('stop');
      expect(upstream.bodies[0]).toMatchObject({ stop_sequences: ['END'], messages: [{ role: 'user', content: 'hi' }, { role: 'user', content: 'two lines please' }] });
    } finally {
      await started.close();
      await upstream.close();
    }
  });

  it("an empty stop string and a top_p of 0, which OpenAI takes and vLLM refuses, are served through a vLLM-like upstream in either caller's dialect", async () => {
    const openai = new OpenAI({ apiKey, baseURL: `${url}/v1`, maxRetries: 0 });
    const anthropic = new Anthropic({ apiKey, baseURL: url, maxRetries: 0 });
    // The emulator refuses both as vLLM does: asked directly, it answers 400.
    const direct = new OpenAI({ apiKey: 'none', baseURL: `${replica.url}/v1`, maxRetries: 0 });
    await expect(direct.chat.completions.create({ model: 'm-stop', max_tokens: 5, stop: ['', 'END'], messages: [{ role: 'user', content: prompt }] })).rejects.toMatchObject({ status: 400 });
    await expect(direct.chat.completions.create({ model: 'm-stop', max_tokens: 5, top_p: 0, messages: [{ role: 'user', content: prompt }] })).rejects.toMatchObject({ status: 400 });
    for (const model of ['openai-upstream', 'anthropic-upstream']) {
      const completion = await openai.chat.completions.create({ model, max_tokens: 5, stop: ['', 'never-occurs'], top_p: 0, messages: [{ role: 'user', content: prompt }] });
      expect(completion.choices[0]?.message.content?.length ?? 0).toBeGreaterThan(0);
      // top_p is a Messages API field the SDK's 1.x types leave out; the SDK sends it as given.
      const topP = { top_p: 0 };
      const message = await anthropic.messages.create({ model, max_tokens: 5, stop_sequences: [''], ...topP, messages: [{ role: 'user', content: prompt }] });
      expect(message.content.length).toBe(1);
    }
  });
});

describe('long prompts', () => {
  it('reach the upstream whole, with their byte length, streamed or not, and again on failover', async () => {
    const busy = await startScriptedUpstream((res) => res.end('{"error": {"message": "busy"}}'), { status: 503, contentType: 'application/json' });
    const upstream = await startScriptedUpstream((res) => res.end(openAIChunk({ role: 'assistant', content: 'ok' }) + openAIChunk({}, 'stop') + 'data: [DONE]\n\n'));
    // The cheaper endpoint refuses every request after reading it: each is sent twice.
    const gateway = await routeGateway('long', [['busy', busy.url, 'm'], ['long', upstream.url, 'm']]);
    try {
      // Past the size sent as a one-shot iterable, with multi-byte characters: length is in bytes.
      const prompt = `${'déjà vu 🚀 '.repeat(12_000)}end`;
      const openai = new OpenAI({ apiKey, baseURL: `${gateway.url}/v1`, maxRetries: 0 });
      const answer = await openai.chat.completions.create({ model: 'long', max_tokens: 5, messages: [{ role: 'system', content: prompt }, { role: 'user', content: prompt }] });
      expect(answer.choices[0]?.message.content).toBe('ok');
      const stream = await openai.chat.completions.create({ model: 'long', max_tokens: 5, stream: true, messages: [{ role: 'user', content: prompt }] });
      let streamed = '';
      for await (const chunk of stream) streamed += chunk.choices[0]?.delta.content ?? '';
      expect(streamed).toBe('ok');
      expect(upstream.bodies).toHaveLength(2);
      expect(upstream.bodies[0]).toMatchObject({ messages: [{ role: 'system', content: prompt }, { role: 'user', content: prompt }] });
      expect(upstream.bodies[1]).toMatchObject({ messages: [{ role: 'user', content: prompt }] });
      expect(busy.bodies).toEqual(upstream.bodies);
      for (const received of [busy, upstream]) {
        for (const [index, headers] of received.headers.entries()) {
          expect(Number(headers['content-length'])).toBe(Buffer.byteLength(JSON.stringify(received.bodies[index])));
          expect(headers['transfer-encoding']).toBeUndefined();
        }
      }
    } finally {
      await gateway.close();
      await upstream.close();
      await busy.close();
    }
  });
});

describe('an answer that breaks with nowhere to resume', () => {
  it("is an error in the caller's dialect, with the request id in an Anthropic body as in its header", async () => {
    const breaking = await startScriptedUpstream((res) => {
      res.write(openAIChunk({ role: 'assistant', content: 'one' }), () => setTimeout(() => res.socket?.destroy(), 20));
    });
    const gateway = await routeGateway('breaking', [['breaking', breaking.url, 'm']]);
    try {
      const anthropic = new Anthropic({ apiKey, baseURL: gateway.url, maxRetries: 0 });
      const failure: unknown = await anthropic.messages.create({ model: 'breaking', max_tokens: 30, messages: [{ role: 'user', content: 'hello' }] }).catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(Anthropic.APIError);
      const error = failure as InstanceType<typeof Anthropic.APIError>;
      expect(error.status).toBe(502);
      expect(error.requestID).toBeTruthy();
      expect(error.error).toMatchObject({ type: 'error', error: { type: 'api_error' }, request_id: error.requestID });
    } finally {
      await gateway.close();
      await breaking.close();
    }
  });
});

describe('an upstream overloaded mid-answer, with nowhere to resume', () => {
  it("reaches the caller as overload in its dialect (Anthropic's overloaded_error event, which its clients retry), not as an unknown error", async () => {
    const writer = anthropicDialect.createStreamWriter({ includeUsage: true, created: 0 });
    const frames = [{ type: 'start', id: 'msg_1', model: 'm', inputTokens: 3 }, { type: 'text', text: 'one' }] as const;
    const overloaded = `event: error\ndata: ${JSON.stringify({ type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } })}\n\n`;
    // Written once: a writer keeps state (its open block), so a second answer written by it would lack the block's start.
    const answer = frames.map((event) => writer.write(event)).join('') + overloaded;
    const upstream = await startScriptedUpstream((res) => res.end(answer));
    const started = createGateway({ config: singleEndpointConfig(upstream.url, apiKey, '{ retries: 0, resumeStreams: false }', 'anthropic'), logger: false });
    try {
      const url = await started.listen(0, '127.0.0.1');
      const ask = (path: string, body: object): Promise<Response> => fetch(`${url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' }, body: JSON.stringify({ model: 'm', max_tokens: 20, messages: [{ role: 'user', content: 'hi' }], ...body }) });
      const streamed = await (await ask('/v1/messages', { stream: true })).text();
      expect(streamed.trimEnd().split('\n\n').at(-1)).toMatch(/^event: error\ndata: \{"type":"error","error":\{"type":"overloaded_error","message":"the answer was cut after 1 token and could not be resumed: the upstream was overloaded"\}\}$/);
      const whole = await ask('/v1/messages', {});
      expect(whole.status).toBe(529);
      // Node knows no reason phrase for 529 and would write 'unknown'.
      expect(whole.statusText).toBe('Overloaded');
      expect(await whole.json()).toMatchObject({ type: 'error', error: { type: 'overloaded_error' } });
      expect((await ask('/v1/chat/completions', {})).status).toBe(503);
    } finally {
      await started.close();
      await upstream.close();
    }
  });
});

describe('an upstream overloaded before its first token, with nowhere else to go', () => {
  it("its overloaded_error event is told as its HTTP 529 would have been (529 overloaded_error; 503 to OpenAI callers), not as a 502", async () => {
    const writer = anthropicDialect.createStreamWriter({ includeUsage: true, created: 0 });
    const refusal = `event: error\ndata: ${JSON.stringify({ type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } })}\n\n`;
    const upstream = await startScriptedUpstream((res) => res.end(writer.write({ type: 'start', id: 'msg_1', model: 'm', inputTokens: 3 }) + refusal));
    const started = createGateway({ config: singleEndpointConfig(upstream.url, apiKey, '{ retries: 0 }', 'anthropic'), logger: false });
    try {
      const url = await started.listen(0, '127.0.0.1');
      const ask = (path: string, body: object): Promise<Response> => fetch(`${url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' }, body: JSON.stringify({ model: 'm', max_tokens: 20, messages: [{ role: 'user', content: 'hi' }], ...body }) });
      for (const stream of [false, true]) {
        const anthropic = await ask('/v1/messages', { stream });
        expect(anthropic.status).toBe(529);
        expect(await anthropic.json()).toMatchObject({ type: 'error', error: { type: 'overloaded_error' } });
      }
      expect((await ask('/v1/chat/completions', {})).status).toBe(503);
      // Counted as the upstream's HTTP 529 would be.
      expect(metricValue(await scrape(url), 'switchyard_upstream_errors_total', { endpoint: 'up', status: '529' })).toBe(3);
    } finally {
      await started.close();
      await upstream.close();
    }
  });
});

describe('an answer that breaks before its first token, with nowhere else to go', () => {
  it("is a 502 in the gateway's words: the HTTP client's network detail is for the log only", async () => {
    const breaking = await startScriptedUpstream((res) => {
      res.write(': ok\n\n', () => setTimeout(() => res.socket?.destroy(), 20));
    });
    const gateway = await routeGateway('breaking', [['breaking', breaking.url, 'm']], 100_000_000, 'resilience: { retries: 0 }');
    try {
      const response = await fetch(`${gateway.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'breaking', messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 }) });
      expect(response.status).toBe(502);
      expect(((await response.json()) as { error: { message: string } }).error.message).toBe('upstream breaking failed: the upstream stream broke before the first token');
    } finally {
      await gateway.close();
      await breaking.close();
    }
  });
});

describe('prefills from OpenAI callers', () => {
  it("vLLM's continue_final_message asks an OpenAI upstream to continue the caller's assistant turn; without it the turn is answered after", async () => {
    const upstream = await startScriptedUpstream((res) => res.end(openAIChunk({ role: 'assistant', content: ' more' }) + openAIChunk({}, 'stop') + 'data: [DONE]\n\n'));
    const gateway = await routeGateway('prefill', [['prefill', upstream.url, 'm']]);
    try {
      const ask = (extra: object): Promise<Response> =>
        fetch(`${gateway.url}/v1/chat/completions`, {
          method: 'POST',
          headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
          body: JSON.stringify({ model: 'prefill', max_tokens: 5, messages: [{ role: 'user', content: 'q' }, { role: 'assistant', content: 'The answer is' }], ...extra }),
        });
      expect((await ask({ continue_final_message: true, add_generation_prompt: false })).status).toBe(200);
      expect((await ask({})).status).toBe(200);
      expect(upstream.bodies[0]).toMatchObject({ continue_final_message: true, add_generation_prompt: false, messages: [{ role: 'user', content: 'q' }, { role: 'assistant', content: 'The answer is' }] });
      expect(upstream.bodies[1]).not.toHaveProperty('continue_final_message');
    } finally {
      await gateway.close();
      await upstream.close();
    }
  });
});

describe('an upstream Retry-After passed on to the caller', () => {
  it.each([
    ['99999999999', '86400'],
    ['soon, maybe <script>', null],
    ['2.5', '3'],
  ])('%j reaches the caller as %j: whole seconds, at most a day, never the upstream\'s own text', async (sent, relayed) => {
    const busy = createServer((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(503, { 'content-type': 'application/json', 'retry-after': sent }).end('{"error":{"message":"busy"}}'));
    });
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    const started = await routeGateway('busy', [['busy', `http://127.0.0.1:${(busy.address() as AddressInfo).port}`, 'm']], 100_000_000, 'resilience: { retries: 0 }');
    try {
      const response = await fetch(`${started.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'busy', messages: [{ role: 'user', content: 'hello' }] }),
      });
      expect(response.status).toBe(503);
      expect(response.headers.get('retry-after')).toBe(relayed);
      await response.body?.cancel();
    } finally {
      await started.close();
      busy.closeAllConnections();
      busy.close();
    }
  });
});

describe('an upstream 400 about the caller\'s request', () => {
  it('keeps the field and the known code it names, which OpenAI clients switch on; not arbitrary text', async () => {
    let error: object = {};
    let status = 400;
    const refusing = createServer((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ error })));
    });
    await new Promise<void>((resolve) => refusing.listen(0, '127.0.0.1', resolve));
    const started = await routeGateway('refusing', [['refusing', `http://127.0.0.1:${(refusing.address() as AddressInfo).port}`, 'm']]);
    const openai = new OpenAI({ apiKey, baseURL: `${started.url}/v1`, maxRetries: 0 });
    const ask = (): Promise<unknown> => openai.chat.completions.create({ model: 'refusing', messages: [{ role: 'user', content: 'hello' }] }).catch((caught: unknown) => caught);
    try {
      error = { message: "This model's maximum context length is 8192 tokens.", type: 'invalid_request_error', param: 'messages', code: 'context_length_exceeded' };
      expect(await ask()).toMatchObject({ status: 400, param: 'messages', code: 'context_length_exceeded' });
      error = { message: 'no', type: 'invalid_request_error', param: 'a b <c>', code: 'something_else' };
      expect(await ask()).toMatchObject({ status: 400, param: null, code: null });
      // About the gateway's own key, not the caller's request: a 502, never the caller's invalid_api_key.
      status = 401;
      error = { message: 'Incorrect API key provided', type: 'invalid_request_error', param: null, code: 'invalid_api_key' };
      expect(await ask()).toMatchObject({ status: 502, code: null });
    } finally {
      await started.close();
      refusing.closeAllConnections();
      refusing.close();
    }
  });
});

describe('an upstream 400 in the error shape of another server', () => {
  it.each([
    ['older vLLM (flat)', { object: 'error', message: "This model's maximum context length is 8192 tokens. However, you requested 9000 tokens.", type: 'BadRequestError', param: null, code: 400 }, "This model's maximum context length is 8192 tokens", 'context_length_exceeded'],
    ['FastAPI validation', { detail: [{ loc: ['body', 'temperature'], msg: 'Input should be less than or equal to 2', input: 5 }] }, 'body.temperature: Input should be less than or equal to 2', null],
  ])('%s: the caller gets its words, and the code clients switch on', async (_server, body, words, code) => {
    const refusing = await startScriptedUpstream((res) => res.end(JSON.stringify(body)), { status: 400, contentType: 'application/json' });
    const started = await routeGateway('refusing', [['refusing', refusing.url, 'm']]);
    const openai = new OpenAI({ apiKey, baseURL: `${started.url}/v1`, maxRetries: 0 });
    try {
      const error = await openai.chat.completions.create({ model: 'refusing', messages: [{ role: 'user', content: 'hello' }] }).catch((caught: unknown) => caught);
      expect(error).toMatchObject({ status: 400, code });
      expect((error as Error).message).toContain(words);
    } finally {
      await started.close();
      await refusing.close();
    }
  });
});

describe('usage an upstream reports that cannot be true', () => {
  it.each([
    ['a prompt past the context window, a negative completion', { prompt_tokens: 1e15, completion_tokens: -5 }],
    ['counts that are not whole numbers', { prompt_tokens: 'abc', completion_tokens: 2.5 }],
    // Within the window, past the budget of 10 the upstream was sent (E45: charged 5,000).
    ['a completion past the budget it was sent', { prompt_tokens: 'abc', completion_tokens: 5000 }],
  ])('%s: neither passed on nor charged; the estimate and the tokens sent are', async (_case, usage) => {
    const lying = await startScriptedUpstream((res) =>
      res.end(openAIChunk({ role: 'assistant', content: 'one' }) + openAIChunk({ content: ' two' }) + openAIChunk({}, 'stop') + `data: ${JSON.stringify({ id: 'x', object: 'chat.completion.chunk', created: 0, model: 'm', choices: [], usage })}\n\ndata: [DONE]\n\n`),
    );
    const limited = await routeGateway('lying', [['lying', lying.url, 'm']], 3000);
    try {
      const openai = new OpenAI({ apiKey, baseURL: `${limited.url}/v1`, maxRetries: 0 });
      const ask = (): Promise<OpenAI.ChatCompletion> => openai.chat.completions.create({ model: 'lying', max_tokens: 10, messages: [{ role: 'user', content: 'x'.repeat(400) }] });
      const completion = await ask();
      expect(completion.usage).toEqual({ prompt_tokens: 100, completion_tokens: 2, total_tokens: 102 });
      // Charged what was served: 3,000 tokens a minute still hold more requests.
      for (let index = 0; index < 5; index += 1) expect((await ask()).usage?.prompt_tokens).toBe(100);
    } finally {
      await limited.close();
      await lying.close();
    }
  });
});

describe('usage with reasoning past the budget', () => {
  const usage = { prompt_tokens: 100, completion_tokens: 2905, completion_tokens_details: { reasoning_tokens: 2900 } };
  const answered = (shown: string) => async (): Promise<OpenAI.CompletionUsage | undefined> => {
    const reasoner = await startScriptedUpstream((res) =>
      res.end(
        (shown === '' ? '' : openAIChunk({ role: 'assistant', reasoning_content: shown })) +
          openAIChunk({ content: 'one' }) +
          openAIChunk({ content: ' two' }) +
          openAIChunk({}, 'stop') +
          `data: ${JSON.stringify({ id: 'x', object: 'chat.completion.chunk', created: 0, model: 'm', choices: [], usage })}\n\ndata: [DONE]\n\n`,
      ),
    );
    const limited = await routeGateway('reasoner', [['reasoner', reasoner.url, 'm']], 30_000);
    try {
      const openai = new OpenAI({ apiKey, baseURL: `${limited.url}/v1`, maxRetries: 0 });
      // A budget of 100: room for the reasoning's text (the gateway cuts an answer's text, reasoning
      // included, at 256 characters a token of it), not for its 2,905 tokens.
      return (await openai.chat.completions.create({ model: 'reasoner', max_tokens: 100, messages: [{ role: 'user', content: 'x'.repeat(400) }] })).usage;
    } finally {
      await limited.close();
      await reasoner.close();
    }
  };

  it("is taken as far as the reasoning shown: DeepSeek's reasoner counts it in the output, and its max_tokens bounds only the answer (R36)", async () => {
    // About 1,500 tokens by the estimate (UTF-8 bytes / 4): the 2,900 named are within twice that.
    expect(await answered('think '.repeat(1000))()).toMatchObject({ prompt_tokens: 100, completion_tokens: 2905, completion_tokens_details: { reasoning_tokens: 2900 } });
  });

  it('is held to the budget when the reasoning it names was never shown (R37: any count passed so)', async () => {
    expect(await answered('')()).toMatchObject({ prompt_tokens: 100, completion_tokens: 2 });
  });
});

describe('usage from an upstream that reports none', () => {
  it('an OpenAI-dialect upstream ignoring include_usage: the prompt is reported and charged at the gateway\'s estimate, never 0', async () => {
    // Sends three words and [DONE], with no usage chunk, whatever it is asked.
    const silent = await startScriptedUpstream((res) => res.end(openAIChunk({ role: 'assistant', content: 'one' }) + openAIChunk({ content: ' two' }) + openAIChunk({ content: ' three' }) + openAIChunk({}, 'stop') + 'data: [DONE]\n\n'));
    const limited = await routeGateway('silent', [['silent', silent.url, 'm']], 3000);
    const limitedUrl = limited.url;
    try {
      const prompt = 'x'.repeat(2000); // 500 tokens by the estimate
      const openai = new OpenAI({ apiKey, baseURL: `${limitedUrl}/v1`, maxRetries: 0 });
      const completion = await openai.chat.completions.create({ model: 'silent', max_tokens: 10, messages: [{ role: 'user', content: prompt }] });
      expect(completion.usage).toMatchObject({ prompt_tokens: 500, completion_tokens: 3 });
      const anthropic = new Anthropic({ apiKey, baseURL: limitedUrl, maxRetries: 0 });
      const message = await anthropic.messages.create({ model: 'silent', max_tokens: 10, messages: [{ role: 'user', content: prompt }] });
      expect(message.usage).toMatchObject({ input_tokens: 500, output_tokens: 3 });
      // 3,000 tokens a minute hold five such requests (503 each, charged at the estimate), not eight.
      const statuses: number[] = [];
      for (let index = 0; index < 6; index += 1) {
        const response = await fetch(`${limitedUrl}/v1/chat/completions`, {
          method: 'POST',
          headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
          body: JSON.stringify({ model: 'silent', max_tokens: 10, messages: [{ role: 'user', content: prompt }] }),
        });
        statuses.push(response.status);
        await response.body?.cancel();
      }
      expect(statuses.filter((status) => status === 429).length).toBeGreaterThanOrEqual(2);
      // OpenAI's code for a rate limit, through the official SDK.
      await expect(openai.chat.completions.create({ model: 'silent', max_tokens: 10, messages: [{ role: 'user', content: prompt }] })).rejects.toMatchObject({ status: 429, code: 'rate_limit_exceeded' });
    } finally {
      await limited.close();
      await silent.close();
    }
  });
});

describe('an answer the upstream withheld', () => {
  it('reaches each caller as its own content-filter finish, never as a normal stop, streamed and not', async () => {
    const filtered = await startScriptedUpstream((res) => {
      res.end(openAIChunk({ role: 'assistant', content: 'I can' }) + openAIChunk({}, 'content_filter') + `data: ${JSON.stringify({ id: 'x', object: 'chat.completion.chunk', created: 0, model: 'm', choices: [], usage: { prompt_tokens: 3, completion_tokens: 2 } })}\n\ndata: [DONE]\n\n`);
    });
    const started = await routeGateway('filtered', [['filtered', filtered.url, 'm']]);
    try {
      const openai = new OpenAI({ apiKey, baseURL: `${started.url}/v1`, maxRetries: 0 });
      const completion = await openai.chat.completions.create({ model: 'filtered', messages: [{ role: 'user', content: 'hello' }] });
      expect(completion.choices[0]?.finish_reason).toBe('content_filter');
      const reasons: (string | null | undefined)[] = [];
      for await (const part of await openai.chat.completions.create({ model: 'filtered', stream: true, messages: [{ role: 'user', content: 'hello' }] })) reasons.push(part.choices[0]?.finish_reason);
      expect(reasons.filter((reason) => reason != null)).toEqual(['content_filter']);
      const anthropic = new Anthropic({ apiKey, baseURL: started.url, maxRetries: 0 });
      const message = await anthropic.messages.create({ model: 'filtered', max_tokens: 30, messages: [{ role: 'user', content: 'hello' }] });
      expect(message.stop_reason).toBe('refusal');
      const streamed = await anthropic.messages.stream({ model: 'filtered', max_tokens: 30, messages: [{ role: 'user', content: 'hello' }] }).finalMessage();
      expect(streamed.stop_reason).toBe('refusal');
    } finally {
      await started.close();
      await filtered.close();
    }
  });
});

describe('a stream that breaks after its upstream announced the finish', () => {
  it('is a complete answer (its text and finish are known), not a resume past its end nor an error', async () => {
    // Sends the whole answer and its finish_reason, then drops the connection before usage and [DONE].
    const abrupt = await startScriptedUpstream((res) => {
      res.write(openAIChunk({ role: 'assistant', content: 'one' }) + openAIChunk({ content: ' two' }) + openAIChunk({}, 'stop'), () => setTimeout(() => res.socket?.destroy(), 20));
    });
    // resumeStreams is on by default: a resume would reach the emulator behind.
    const cutting = await routeGateway('abrupt', [['abrupt', abrupt.url, 'm'], ['whole', replica.url, 'm-stop']]);
    const cuttingUrl = cutting.url;
    try {
      const openai = new OpenAI({ apiKey, baseURL: `${cuttingUrl}/v1`, maxRetries: 0 });
      const completion = await openai.chat.completions.create({ model: 'abrupt', max_tokens: 30, messages: [{ role: 'user', content: 'hello' }] });
      expect(completion.choices[0]?.message.content).toBe('one two');
      expect(completion.choices[0]?.finish_reason).toBe('stop');
      expect(completion.usage?.completion_tokens).toBe(2);
      let streamed = '';
      for await (const part of await openai.chat.completions.create({ model: 'abrupt', max_tokens: 30, stream: true, messages: [{ role: 'user', content: 'hello' }] })) streamed += part.choices[0]?.delta.content ?? '';
      expect(streamed).toBe('one two');
      // Nothing was resumed elsewhere.
      expect(abrupt.arrivals()).toBe(2);
    } finally {
      await cutting.close();
      await abrupt.close();
    }
  });

  it('or that goes quiet after announcing it, is complete when the stall sweep cuts it, not extended', async () => {
    // The whole answer and its finish_reason, then silence on an open connection.
    const quiet = await startScriptedUpstream((res) => res.write(openAIChunk({ role: 'assistant', content: 'one' }) + openAIChunk({ content: ' two' }) + openAIChunk({}, 'stop')));
    const gateway = await routeGateway('quiet', [['quiet', quiet.url, 'm'], ['whole', replica.url, 'm-stop']], 100_000_000, 'resilience: { tokenIdleTimeoutMs: 200 }');
    try {
      const openai = new OpenAI({ apiKey, baseURL: `${gateway.url}/v1`, maxRetries: 0 });
      const completion = await openai.chat.completions.create({ model: 'quiet', max_tokens: 30, messages: [{ role: 'user', content: 'hello' }] });
      expect(completion.choices[0]?.message.content).toBe('one two');
      expect(completion.choices[0]?.finish_reason).toBe('stop');
      expect(quiet.arrivals()).toBe(1);
    } finally {
      await gateway.close();
      await quiet.close();
    }
  });
});

describe('token limits charge what was served', () => {
  /** A chat request to `model` with a 100-token prompt by the gateway's estimate; `body` overrides fields. */
  const chat = (url: string, model: string, body: object = {}, signal?: AbortSignal): Promise<Response> =>
    fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ model, messages: [{ role: 'user', content: 'x'.repeat(400) }], ...body }), ...(signal === undefined ? {} : { signal }) });
  /** The tenant's tokens left, as a request refused at routing (no endpoint in eu) shows them, its own charge refunded. */
  const tokensLeft = async (url: string, model: string): Promise<number> => {
    const refused = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json', 'x-switchyard-jurisdiction': 'eu' }, body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 }) });
    expect(refused.status).toBe(503);
    return Number(refused.headers.get('x-ratelimit-remaining-tokens'));
  };

  it('a request refused before reaching any upstream is not charged its estimate', async () => {
    const gateway = await routeGateway('small', [['whole', replica.url, 'm-stop']], 1000);
    try {
      const ask = (headers: Record<string, string>, body: object): Promise<Response> =>
        fetch(`${gateway.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json', ...headers }, body: JSON.stringify({ model: 'small', messages: [{ role: 'user', content: 'hi' }], ...body }) });
      // Admitted at 1 + 900 tokens from the full 1,000-token bucket, then refused.
      const refused = await ask({ 'x-switchyard-jurisdiction': 'eu' }, { max_tokens: 900 });
      expect(refused.status).toBe(503);
      // Its own headers already show the refund: the bucket is full again.
      expect(refused.headers.get('x-ratelimit-remaining-tokens')).toBe('1000');
      // Refunded in full: a small request right after is admitted, and served.
      const next = await ask({}, { max_tokens: 5 });
      expect(next.status).toBe(200);
      expect(Number(next.headers.get('x-ratelimit-remaining-tokens'))).toBeGreaterThan(900);
    } finally {
      await gateway.close();
    }
  });

  it('a complete answer that breaks with nowhere to resume delivers nothing: it is charged nothing, and its 502 shows the refund', async () => {
    const breaking = await startScriptedUpstream((res) => {
      res.write(openAIChunk({ role: 'assistant', content: 'one' }) + openAIChunk({ content: ' two' }) + openAIChunk({ content: ' three' }), () => setTimeout(() => res.socket?.destroy(), 20));
    });
    const gateway = await routeGateway('breaking', [['breaking', breaking.url, 'm']], 1000, 'resilience: { resumeStreams: false }');
    try {
      const ask = (body: object): Promise<Response> => chat(gateway.url, 'breaking', { max_tokens: 700, ...body });
      const failed = await ask({});
      expect(failed.status).toBe(502);
      // Admitted at 800 of 1,000, then refunded whole before the 502 was written.
      expect(failed.headers.get('x-ratelimit-remaining-tokens')).toBe('1000');
      // A stream delivered its three tokens before the break: it is charged them and its prompt.
      const streamed = await ask({ stream: true });
      expect(await streamed.text()).toContain('the answer was cut after 3 tokens');
      const again = await ask({});
      expect(again.status).toBe(502);
      // 103 charged for the stream; the bucket refills about 17 tokens a second meanwhile.
      const remaining = Number(again.headers.get('x-ratelimit-remaining-tokens'));
      expect(remaining).toBeGreaterThanOrEqual(1000 - 103);
      expect(remaining).toBeLessThan(1000 - 103 + 50);
    } finally {
      await gateway.close();
      await breaking.close();
    }
  });

  it('a complete answer whose client leaves before it ends is still charged what was generated: leaving is no way around the limit', async () => {
    const slow = await startScriptedUpstream((res) => {
      let sent = 0;
      res.write(openAIChunk({ role: 'assistant', content: 'one' }));
      const timer = setInterval(() => {
        sent += 1;
        if (sent > 200 || res.destroyed) clearInterval(timer);
        else res.write(openAIChunk({ content: ' more' }));
      }, 10);
    });
    const gateway = await routeGateway('slow', [['slow', slow.url, 'm']], 1000);
    try {
      const ask = (body: object, signal?: AbortSignal): Promise<Response> => chat(gateway.url, 'slow', { max_tokens: 500, ...body }, signal);
      const abort = new AbortController();
      const leaving = ask({}, abort.signal).catch(() => undefined);
      await new Promise((resolve) => setTimeout(resolve, 300));
      abort.abort();
      await leaving;
      await new Promise((resolve) => setTimeout(resolve, 100));
      // Charged its 100-token prompt and the tokens generated before it left, not refunded to 1,000.
      const next = await ask({ max_tokens: 5, stream: true });
      await next.body?.cancel();
      expect(Number(next.headers.get('x-ratelimit-remaining-tokens'))).toBeLessThan(1000 - 100 - 105 + 30);
    } finally {
      await gateway.close();
      await slow.close();
    }
  });

  it("a whole answer's limit headers show the charge settled at its usage, not the admission estimate", async () => {
    const gateway = await routeGateway('small', [['whole', replica.url, 'm-stop']], 1000);
    try {
      const answer = await chat(gateway.url, 'small', { messages: [{ role: 'user', content: 'hi' }], max_tokens: 500 });
      const { usage } = (await answer.json()) as { usage: { total_tokens: number } };
      // Admitted at 501 (1 prompt token, 500 output); settled at what the answer used.
      expect(usage.total_tokens).toBeLessThan(400);
      const remaining = Number(answer.headers.get('x-ratelimit-remaining-tokens'));
      expect(remaining).toBeGreaterThanOrEqual(1000 - usage.total_tokens);
      expect(remaining).toBeLessThan(1000 - usage.total_tokens + 10);
    } finally {
      await gateway.close();
    }
  });

  it('a client that leaves before the first token is charged its prompt, which an upstream read: many such are no way around the limit', async () => {
    const silent = await startScriptedUpstream(() => undefined);
    const gateway = await routeGateway('silent', [['silent', silent.url, 'm']], 1000);
    try {
      const abort = new AbortController();
      const leaving = chat(gateway.url, 'silent', { max_tokens: 500 }, abort.signal).catch(() => undefined);
      await waitFor(() => silent.arrivals() === 1, 2000);
      abort.abort();
      await leaving;
      await new Promise((resolve) => setTimeout(resolve, 100));
      // Its 100-token prompt stays charged (the bucket refills about 17 tokens a second meanwhile).
      const remaining = await tokensLeft(gateway.url, 'silent');
      expect(remaining).toBeLessThan(1000 - 100 + 20);
      expect(remaining).toBeGreaterThan(1000 - 100 - 20);
    } finally {
      await gateway.close();
      await silent.close();
    }
  });

  it('a deadline that passes before the first token (hung endpoints), or a client that leaves between attempts, is not charged the prompt: no upstream was reading it', async () => {
    const silent = await startScriptedUpstream(() => undefined);
    const busy = await startScriptedUpstream((res) => res.end('{"error":{"message":"busy"}}'), { status: 503, contentType: 'application/json', headers: { 'retry-after': '2' } });
    const hung = await routeGateway('hung', [['silent', silent.url, 'm']], 1000, 'resilience: { retries: 0, ttftTimeoutMs: 300, deadlineMs: 500 }');
    const backingOff = await routeGateway('busy', [['busy', busy.url, 'm']], 1000, 'resilience: { retries: 1, backoffMs: 1000, maxBackoffMs: 2000 }');
    try {
      const timedOut = await chat(hung.url, 'hung', { max_tokens: 100 });
      expect(timedOut.status).toBe(504);
      expect(Number(timedOut.headers.get('x-ratelimit-remaining-tokens'))).toBeGreaterThan(990);
      const abort = new AbortController();
      const leaving = chat(backingOff.url, 'busy', { max_tokens: 100 }, abort.signal).catch(() => undefined);
      await waitFor(() => busy.arrivals() === 1, 2000);
      await new Promise((resolve) => setTimeout(resolve, 200));
      abort.abort();
      await leaving;
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(await tokensLeft(backingOff.url, 'busy')).toBeGreaterThan(990);
    } finally {
      await hung.close();
      await backingOff.close();
      await silent.close();
      await busy.close();
    }
  });

  it('a whole answer its deadline cut is charged what was generated: asking for more than the deadline allows is no way around the limit', async () => {
    const slow = await startScriptedUpstream((res) => {
      res.write(openAIChunk({ role: 'assistant', content: 'one' }));
      const timer = setInterval(() => (res.destroyed ? clearInterval(timer) : res.write(openAIChunk({ content: ' more' }))), 10);
    });
    const gateway = await routeGateway('slow', [['slow', slow.url, 'm']], 1000, 'resilience: { deadlineMs: 500, ttftTimeoutMs: 400 }');
    try {
      const cut = await chat(gateway.url, 'slow', { max_tokens: 800 });
      expect(cut.status).toBe(504);
      await cut.text();
      // Its own headers show the charge settled, not the admission estimate (100 + 800).
      expect(Number(cut.headers.get('x-ratelimit-remaining-tokens'))).toBeGreaterThan(1000 - 100 - 400);
      // The 100-token prompt and some 40 tokens generated in the half second stay charged.
      expect(await tokensLeft(gateway.url, 'slow')).toBeLessThan(1000 - 100 - 20);
    } finally {
      await gateway.close();
      await slow.close();
    }
  });

  it('an output budget past the whole limit waits for a full bucket (no dead end); a prompt past it is refused at once, told not to retry; past every window too, the context refusal comes first', async () => {
    const gateway = await routeGateway('small', [['whole', replica.url, 'm-stop']], 1000);
    try {
      const openai = new OpenAI({ apiKey, baseURL: `${gateway.url}/v1`, maxRetries: 0 });
      // max_tokens 4,096, more than the 1,000 a minute: lowered to what the limit leaves after the
      // prompt, it is served from a full bucket, as Claude Code's 64,000 would be, and can use no
      // more than the limit...
      const served = await openai.chat.completions.create({ model: 'small', max_tokens: 4096, messages: [{ role: 'user', content: 'hi' }] });
      expect(served.choices[0]?.message.content?.length ?? 0).toBeGreaterThan(0);
      expect(served.usage?.prompt_tokens ?? 0).toBeGreaterThan(0);
      expect((served.usage?.prompt_tokens ?? 0) + (served.usage?.completion_tokens ?? 0)).toBeLessThanOrEqual(1000);
      // ...and the next waits for the bucket to fill again: a 429 a client may retry, with the wait.
      const waiting: unknown = await openai.chat.completions.create({ model: 'small', messages: [{ role: 'user', content: 'hi' }], max_tokens: 990 }).catch((error: unknown) => error);
      expect(waiting).toBeInstanceOf(OpenAI.RateLimitError);
      const wait = waiting as InstanceType<typeof OpenAI.RateLimitError>;
      expect(wait.headers?.get('x-should-retry')).toBeNull();
      expect(Number(wait.headers?.get('retry-after'))).toBeGreaterThan(0);
      // Another lowered one is told why it waits though tokens remain: it needs the whole limit.
      const lowered: unknown = await openai.chat.completions.create({ model: 'small', max_tokens: 4096, messages: [{ role: 'user', content: 'hi' }] }).catch((error: unknown) => error);
      expect(lowered).toMatchObject({ status: 429, message: expect.stringMatching(/^429 tenant t1 is over its tokens-per-minute limit \(this request needs all 1000 tokens of it at once: its max_tokens was lowered to what the limit leaves after the prompt; a smaller max_tokens waits less\); retry after \d+ s$/) });
      // No max_tokens: the gateway's default (4,096) is kept, for its window fallbacks, and no wait helps.
      const unset: unknown = await openai.chat.completions.create({ model: 'small', messages: [{ role: 'user', content: 'hi' }] }).catch((error: unknown) => error);
      expect(unset).toMatchObject({ status: 429, message: expect.stringMatching(/plus the default 4096 output\), more than tenant t1's whole limit of 1000 tokens per minute: send max_tokens \(the limit leaves about \d+ tokens for the answer; a larger max_tokens is lowered to that\)$/) });
      expect((unset as InstanceType<typeof OpenAI.RateLimitError>).headers?.get('x-should-retry')).toBe('false');
      // A prompt over the whole limit: no wait helps.
      const failure: unknown = await openai.chat.completions.create({ model: 'small', messages: [{ role: 'user', content: 'fleet '.repeat(1000) }], max_tokens: 5 }).catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(OpenAI.RateLimitError);
      const error = failure as InstanceType<typeof OpenAI.RateLimitError>;
      expect(error.message).toMatch(/the prompt alone is about \d+ tokens, which leaves no room for an answer in tenant t1's whole limit of 1000 tokens per minute: shorten the prompt/);
      expect(error.headers?.get('x-should-retry')).toBe('false');
      expect(error.headers?.get('retry-after')).toBeNull();
      // A prompt over every window (131,072) as well: the context refusal, which clients act on.
      const huge: unknown = await openai.chat.completions.create({ model: 'small', messages: [{ role: 'user', content: 'fleet '.repeat(100_000) }], max_tokens: 5 }).catch((error: unknown) => error);
      expect(huge).toMatchObject({ status: 400, code: 'context_length_exceeded', message: expect.stringContaining("This model's maximum context length is 131072 tokens. However, your messages resulted in") });
    } finally {
      await gateway.close();
    }
  });

  it('a max_tokens that fits no window even lowered to the limit is refused in the figures the caller sent', async () => {
    // 200,000 tokens a minute, a window of 131,072: 1,000,000,000 is lowered to about 199,990, which fits no window either.
    const gateway = await routeGateway('small', [['whole', replica.url, 'm-stop']], 200_000);
    try {
      const openai = new OpenAI({ apiKey, baseURL: `${gateway.url}/v1`, maxRetries: 0 });
      const pastWindow: unknown = await openai.chat.completions.create({ model: 'small', messages: [{ role: 'user', content: 'hi' }], max_tokens: 1_000_000_000 }).catch((error: unknown) => error);
      expect(pastWindow).toMatchObject({ status: 400, code: 'context_length_exceeded', message: expect.stringMatching(/This model's maximum context length is 131072 tokens\. However, you requested 100000000\d tokens \(\d in the messages, 1000000000 in the completion\)/) });
    } finally {
      await gateway.close();
    }
    // 100,000 a minute: 150,000, past the window as asked, is lowered to about 99,990, which fits: served.
    const lowerLimit = await routeGateway('small', [['whole', replica.url, 'm-stop']], 100_000);
    try {
      const openai = new OpenAI({ apiKey, baseURL: `${lowerLimit.url}/v1`, maxRetries: 0 });
      const served = await openai.chat.completions.create({ model: 'small', messages: [{ role: 'user', content: 'hi' }], max_tokens: 150_000 });
      expect(served.choices[0]?.message.content?.length ?? 0).toBeGreaterThan(0);
    } finally {
      await lowerLimit.close();
    }
  });

  it('the upstream is sent the lowered budget, so one answer can use no more than the whole limit', async () => {
    const recording = await startScriptedUpstream((res) => res.end(openAIChunk({ role: 'assistant', content: 'ok' }) + openAIChunk({}, 'stop') + 'data: [DONE]\n\n'));
    const gateway = await routeGateway('small', [['rec', recording.url, 'm']], 1000);
    try {
      const openai = new OpenAI({ apiKey, baseURL: `${gateway.url}/v1`, maxRetries: 0 });
      await openai.chat.completions.create({ model: 'small', max_tokens: 64_000, messages: [{ role: 'user', content: 'fleet '.repeat(400) }] });
      const sent = recording.bodies[0] as { max_tokens: number };
      // The prompt is about 600 tokens by the gateway's estimate: the rest of the 1,000 is the budget.
      expect(sent.max_tokens).toBeGreaterThan(300);
      expect(sent.max_tokens).toBeLessThan(500);
    } finally {
      await gateway.close();
      await recording.close();
    }
  });

  it('a tenant over its tokens per minute gets each SDK\'s own 429: the limit named, the exact wait, and the limit headers of its dialect', async () => {
    const gateway = await routeGateway('small', [['whole', replica.url, 'm-stop']], 1000);
    try {
      const openai = new OpenAI({ apiKey, baseURL: `${gateway.url}/v1`, maxRetries: 0 });
      await openai.chat.completions.create({ model: 'small', messages: [{ role: 'user', content: 'hi' }], max_tokens: 900 });
      const failure: unknown = await openai.chat.completions.create({ model: 'small', messages: [{ role: 'user', content: 'hi' }], max_tokens: 900 }).catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(OpenAI.RateLimitError);
      const error = failure as InstanceType<typeof OpenAI.RateLimitError>;
      // OpenAI names the limit in `type`.
      expect(error).toMatchObject({ type: 'tokens', code: 'rate_limit_exceeded', param: null });
      expect(Number(error.headers?.get('retry-after-ms'))).toBeGreaterThan(1000);
      expect(Number(error.headers?.get('retry-after'))).toBe(Math.ceil(Number(error.headers?.get('retry-after-ms')) / 1000));
      expect(error.headers?.get('x-ratelimit-limit-tokens')).toBe('1000');
      expect(error.headers?.get('x-ratelimit-reset-tokens')).toMatch(/^\d+(\.\d+)?s$|^\d+ms$/);

      const anthropic = new Anthropic({ apiKey, baseURL: gateway.url, maxRetries: 0 });
      const refused: unknown = await anthropic.messages.create({ model: 'small', max_tokens: 900, messages: [{ role: 'user', content: 'hi' }] }).catch((caught: unknown) => caught);
      expect(refused).toBeInstanceOf(Anthropic.RateLimitError);
      const anthropicError = refused as InstanceType<typeof Anthropic.RateLimitError>;
      // The body repeats the request id the header carries, as the Anthropic API does.
      expect(anthropicError.error).toMatchObject({ type: 'error', error: { type: 'rate_limit_error' }, request_id: anthropicError.requestID });
      expect(anthropicError.requestID).toBeTruthy();
      expect(anthropicError.headers?.get('anthropic-ratelimit-tokens-limit')).toBe('1000');
      expect(Date.parse(anthropicError.headers?.get('anthropic-ratelimit-tokens-reset') ?? '')).toBeGreaterThan(Date.now());
      expect(anthropicError.headers?.get('x-ratelimit-limit-tokens')).toBeNull();
    } finally {
      await gateway.close();
    }
  });
});


describe('an upstream that sends several tokens in one chunk', () => {
  it.each([
    ['the 20 tokens it reports, not its 5 chunks', 20],
    ['the tokens it streamed, not the 1,000 it reports (a reasoning model counts tokens it never streams)', 1000],
  ])('has its TPOT taken over %s', async (_case, completionTokens) => {
    const chunky = await startScriptedUpstream((res) => {
      res.write(openAIChunk({ role: 'assistant', content: 'one two three four' }));
      let chunks = 1;
      const timer = setInterval(() => {
        if (chunks === 5) {
          clearInterval(timer);
          res.end(`${openAIChunk({}, 'stop')}data: ${JSON.stringify({ id: 'x', object: 'chat.completion.chunk', created: 0, model: 'm', choices: [], usage: { prompt_tokens: 2, completion_tokens: completionTokens } })}\n\ndata: [DONE]\n\n`);
          return;
        }
        chunks += 1;
        res.write(openAIChunk({ content: ' five six seven eight' }));
      }, 40);
    });
    const started = await routeGateway('chunky', [['chunky', chunky.url, 'm']]);
    try {
      const openai = new OpenAI({ apiKey, baseURL: `${started.url}/v1`, maxRetries: 0 });
      expect((await openai.chat.completions.create({ model: 'chunky', messages: [{ role: 'user', content: 'hi' }] })).usage?.completion_tokens).toBe(completionTokens);
      const metrics = await (await fetch(`${started.url}/metrics`)).text();
      const sum = Number(/^switchyard_tpot_seconds_sum\{[^}]*\} (\S+)$/m.exec(metrics)?.[1]);
      // Four gaps of 40 ms or more (timers never fire early) over 19 token gaps: about 8 ms a token
      // (a little less when the gateway sees the first chunk late); per chunk it would read 40 ms at least.
      expect(sum).toBeGreaterThan(0.004);
      expect(sum).toBeLessThan(0.035);
    } finally {
      await started.close();
      await chunky.close();
    }
  });
});

describe('the output budget field an OpenAI-dialect upstream reads', () => {
  it("is max_tokens unless the endpoint names max_completion_tokens (OpenAI's reasoning models refuse max_tokens), whichever field the caller used", async () => {
    const answer = (res: ServerResponse): void => {
      res.end(openAIChunk({ role: 'assistant', content: 'ok' }) + openAIChunk({}, 'stop') + 'data: [DONE]\n\n');
    };
    const [plain, reasoning] = [await startScriptedUpstream(answer), await startScriptedUpstream(answer)];
    const started = createGateway({
      config: gatewayConfig(`
version: 1
endpoints:
  - { id: plain, url: "${plain.url}", dialect: openai, model: m, provider: p1, region: r1, jurisdiction: us, contextWindow: 131072, marginalCostPerMillionTokens: 0, capacity: 8 }
  - { id: reasoning, url: "${reasoning.url}", dialect: openai, model: m, provider: p2, region: r1, jurisdiction: us, contextWindow: 131072, marginalCostPerMillionTokens: 0, capacity: 8, maxTokensField: max_completion_tokens }
routes:
  - { model: plain, endpoints: [plain] }
  - { model: reasoning, endpoints: [reasoning] }
tenants:
  - { id: t1, apiKeySha256: ${hashApiKey(apiKey)}, jurisdictions: [us], requestsPerMinute: 100000, tokensPerMinute: 100000000 }
`),
      logger: false,
    });
    try {
      const base = await started.listen(0, '127.0.0.1');
      const openai = new OpenAI({ apiKey, baseURL: `${base}/v1`, maxRetries: 0 });
      const anthropic = new Anthropic({ apiKey, baseURL: base, maxRetries: 0 });
      for (const model of ['plain', 'reasoning']) {
        await openai.chat.completions.create({ model, max_completion_tokens: 7, messages: [{ role: 'user', content: 'hi' }] });
        await openai.chat.completions.create({ model, messages: [{ role: 'user', content: 'hi' }] });
        await anthropic.messages.create({ model, max_tokens: 9, messages: [{ role: 'user', content: 'hi' }] });
      }
      const budgets = (bodies: readonly unknown[]): unknown[] => bodies.map((body) => {
        const { max_tokens, max_completion_tokens } = body as { max_tokens?: number; max_completion_tokens?: number };
        return { max_tokens, max_completion_tokens };
      });
      expect(budgets(plain.bodies)).toEqual([{ max_tokens: 7 }, { max_tokens: 4096 }, { max_tokens: 9 }]);
      expect(budgets(reasoning.bodies)).toEqual([{ max_completion_tokens: 7 }, { max_completion_tokens: 4096 }, { max_completion_tokens: 9 }]);
    } finally {
      await started.close();
      await plain.close();
      await reasoning.close();
    }
  });
});

describe('an upstream that sends far more than was asked', () => {
  it('an answer running past its max_tokens budget is cut there, ending with length, the gateway holding no more of it', async () => {
    // 1,000 characters a chunk, without end: the budget of 5 tokens allows at most 5 x 256 characters.
    const flooding = await startScriptedUpstream((res) => {
      res.write(openAIChunk({ role: 'assistant', content: '' }));
      const timer = setInterval(() => res.write(openAIChunk({ content: 'x'.repeat(1000) })), 1);
      res.on('close', () => clearInterval(timer));
    });
    const gateway = await routeGateway('flooding', [['flooding', flooding.url, 'm']]);
    try {
      const openai = new OpenAI({ apiKey, baseURL: `${gateway.url}/v1`, maxRetries: 0 });
      const answer = await openai.chat.completions.create({ model: 'flooding', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] });
      expect(answer.choices[0]?.finish_reason).toBe('length');
      expect(answer.choices[0]?.message.content?.length).toBe(5 * 256);
    } finally {
      await gateway.close();
      await flooding.close();
    }
  });

  it('one chunk far past the budget is cut to it too, and charged its budget, what the text holds past it being the endpoint\'s fault', async () => {
    const oneChunk = await startScriptedUpstream((res) => res.end(openAIChunk({ role: 'assistant', content: 'z'.repeat(100_000) }) + openAIChunk({}, 'stop') + 'data: [DONE]\n\n'));
    const gateway = await routeGateway('one-chunk', [['one-chunk', oneChunk.url, 'm']]);
    try {
      const openai = new OpenAI({ apiKey, baseURL: `${gateway.url}/v1`, maxRetries: 0 });
      const answer = await openai.chat.completions.create({ model: 'one-chunk', max_tokens: 2, messages: [{ role: 'user', content: 'hi' }] });
      expect(answer.choices[0]?.finish_reason).toBe('length');
      expect(answer.choices[0]?.message.content).toBe('z'.repeat(512));
      expect(answer.usage?.completion_tokens).toBe(2);
    } finally {
      await gateway.close();
      await oneChunk.close();
    }
  });

  it('many small chunks past the budget are charged the budget too, not one token a chunk', async () => {
    const chatty = await startScriptedUpstream((res) => res.end(openAIChunk({ role: 'assistant', content: 'z' }) + openAIChunk({ content: 'z' }).repeat(1200) + openAIChunk({}, 'stop') + 'data: [DONE]\n\n'));
    const gateway = await routeGateway('chatty', [['chatty', chatty.url, 'm']]);
    try {
      const openai = new OpenAI({ apiKey, baseURL: `${gateway.url}/v1`, maxRetries: 0 });
      const answer = await openai.chat.completions.create({ model: 'chatty', max_tokens: 2, messages: [{ role: 'user', content: 'hi' }] });
      expect(answer.choices[0]?.finish_reason).toBe('length');
      expect(answer.usage?.completion_tokens).toBe(2);
    } finally {
      await gateway.close();
      await chatty.close();
    }
  });

  it("so is a larger one, whose estimate passes the endpoint's window: charged its budget, not one token (the gateway's own count is not an upstream's to doubt)", async () => {
    const huge = await startScriptedUpstream((res) => res.end(openAIChunk({ role: 'assistant', content: 'z'.repeat(2 * 1024 * 1024) }) + openAIChunk({}, 'stop') + 'data: [DONE]\n\n'));
    const gateway = await routeGateway('huge', [['huge', huge.url, 'm']]);
    try {
      const openai = new OpenAI({ apiKey, baseURL: `${gateway.url}/v1`, maxRetries: 0 });
      const answer = await openai.chat.completions.create({ model: 'huge', max_tokens: 4096, messages: [{ role: 'user', content: 'hi' }] });
      expect(answer.choices[0]?.message.content?.length).toBe(4096 * 256);
      // 262,144 tokens of text by the estimate, above the 131,072-token window: once charged as 1 token.
      expect(answer.usage?.completion_tokens).toBe(4096);
    } finally {
      await gateway.close();
      await huge.close();
    }
  });

  it('an SSE line that never ends is a failed upstream response once past 16 Mi characters, not buffered without bound', async () => {
    const endless = await startScriptedUpstream((res) => {
      res.write('data: {"choices":[{"delta":{"content":"');
      const block = 'y'.repeat(1024 * 1024);
      let sent = 0;
      const more = (): void => {
        while (sent < 20 && res.write(block)) sent += 1;
        if (sent < 20) res.once('drain', more);
      };
      more();
    });
    const gateway = await routeGateway('endless', [['endless', endless.url, 'm']]);
    try {
      const response = await fetch(`${gateway.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'endless', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] }) });
      expect(response.status).toBe(502);
      expect(await response.text()).toContain('longer than 16777216 characters');
    } finally {
      await gateway.close();
      await endless.close();
    }
  });
});

describe("a caller's prefill that ends in whitespace", () => {
  it('is sent without it (Anthropic refuses it) to either upstream dialect, and the answer written again from it comes back once', async () => {
    const anthropicFrames = (): string => {
      const writer = anthropicDialect.createStreamWriter({ includeUsage: true, created: 0 });
      return [writer.write({ type: 'start', id: 'msg_1', model: 'm', inputTokens: 5 }), writer.write({ type: 'text', text: ' a' }), writer.write({ type: 'text', text: ' time' }), writer.write({ type: 'finish', finishReason: 'stop', usage: { inputTokens: 5, outputTokens: 2 } })].join('');
    };
    const viaAnthropic = await startScriptedUpstream((res) => res.end(anthropicFrames()));
    const viaOpenAI = await startScriptedUpstream((res) => res.end(openAIChunk({ role: 'assistant', content: ' a' }) + openAIChunk({ content: ' time' }) + openAIChunk({}, 'stop') + 'data: [DONE]\n\n'));
    const started = createGateway({
      config: gatewayConfig(`
version: 1
endpoints:
  - { id: a, url: "${viaAnthropic.url}", dialect: anthropic, model: m, provider: p1, region: r1, jurisdiction: us, contextWindow: 131072, marginalCostPerMillionTokens: 0, capacity: 8 }
  - { id: o, url: "${viaOpenAI.url}", dialect: openai, model: m, provider: p2, region: r1, jurisdiction: us, contextWindow: 131072, marginalCostPerMillionTokens: 0, capacity: 8 }
routes:
  - { model: via-anthropic, endpoints: [a] }
  - { model: via-openai, endpoints: [o] }
tenants:
  - { id: t1, apiKeySha256: ${hashApiKey(apiKey)}, jurisdictions: [us], requestsPerMinute: 100000, tokensPerMinute: 100000000 }
`),
      logger: false,
    });
    try {
      const base = await started.listen(0, '127.0.0.1');
      const anthropic = new Anthropic({ apiKey, baseURL: base, maxRetries: 0 });
      for (const model of ['via-anthropic', 'via-openai']) {
        const answer = await anthropic.messages.create({ model, max_tokens: 10, messages: [{ role: 'user', content: 'Tell a story' }, { role: 'assistant', content: 'Once upon ' }] });
        expect(answer.content).toEqual([{ type: 'text', text: 'a time' }]);
        const streamed = await anthropic.messages.stream({ model, max_tokens: 10, messages: [{ role: 'user', content: 'Tell a story' }, { role: 'assistant', content: 'Once upon ' }] }).finalText();
        expect(streamed).toBe('a time');
      }
      for (const body of [...viaAnthropic.bodies, ...viaOpenAI.bodies]) expect((body as { messages: { content: string }[] }).messages.at(-1)?.content).toBe('Once upon');
    } finally {
      await started.close();
      await viaAnthropic.close();
      await viaOpenAI.close();
    }
  });
});
