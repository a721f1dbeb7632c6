import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { gzipSync } from 'node:zlib';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { request as undiciRequest } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMockUpstream, type MockUpstream } from '../../bench/mock-upstream.js';
import { parseGatewayConfig, type GatewayConfig } from '../../src/gateway/gateway-config.js';
import { createGateway, type Gateway } from '../../src/gateway/gateway-server.js';
import { hashApiKey } from '../../src/gateway/tenant-auth.js';
import { metricValue, scrape, singleEndpointConfig } from './helpers/fleet.js';

const usKey = 'sk-test-us-only';
const globalKey = 'sk-test-global';

function config(openaiUrl: string, anthropicUrl: string, extra = ''): GatewayConfig {
  const yaml = `
version: 1
endpoints:
  - { id: dead-us, url: "http://127.0.0.1:9", dialect: openai, model: m-upstream, provider: aws, region: us-east-1, jurisdiction: us, contextWindow: 32768, marginalCostPerMillionTokens: 0, capacity: 64 }
  - { id: oai-us, url: "${openaiUrl}", dialect: openai, model: m-upstream, provider: gcp, region: us-central1, jurisdiction: us, contextWindow: 32768, marginalCostPerMillionTokens: 1, capacity: 64 }
  - { id: ant-eu, url: "${anthropicUrl}", dialect: anthropic, model: m-upstream, provider: azure, region: westeurope, jurisdiction: eu, contextWindow: 32768, marginalCostPerMillionTokens: 2, capacity: 64 }
routes:
  - { model: frontier, endpoints: [dead-us, oai-us, ant-eu], policy: [cost, least-load] }
  - { model: frontier-eu, endpoints: [ant-eu], policy: [cost] }
tenants:
  - { id: us-corp, apiKeySha256: ${hashApiKey(usKey)}, jurisdictions: [us], requestsPerMinute: 100000, tokensPerMinute: 100000000 }
  - { id: global-corp, apiKeySha256: ${hashApiKey(globalKey)}, jurisdictions: [us, eu], requestsPerMinute: 100000, tokensPerMinute: 100000000 }
resilience: { retries: 2, backoffMs: 1, maxBackoffMs: 5, ttftTimeoutMs: 2000, deadlineMs: 10000 }
limits: { maxBodyBytes: 4096 }
${extra}`;
  const parsed = parseGatewayConfig(yaml, 'test-gateway.yaml');
  if (!parsed.ok) throw new Error(parsed.problems.map((p) => p.message).join('\n'));
  return parsed.value;
}

let openaiUpstream: MockUpstream;
let anthropicUpstream: MockUpstream;
let gateway: Gateway;
let url: string;

beforeAll(async () => {
  openaiUpstream = await startMockUpstream({ words: 5 });
  anthropicUpstream = await startMockUpstream({ words: 5 });
  gateway = createGateway({ config: config(openaiUpstream.url, anthropicUpstream.url), logger: false, now: () => 1_700_000_000_000, generateId: () => 'test' });
  url = await gateway.listen(0, '127.0.0.1');
});

afterAll(async () => {
  await gateway.close();
  await openaiUpstream.close();
  await anthropicUpstream.close();
});

describe('official SDK clients against the gateway', () => {
  it('OpenAI SDK, non-stream, to an OpenAI upstream (after failing over from a dead one)', async () => {
    const client = new OpenAI({ apiKey: usKey, baseURL: `${url}/v1`, maxRetries: 0 });
    const completion = await client.chat.completions.create({ model: 'frontier', messages: [{ role: 'user', content: 'hello' }], max_tokens: 20 });
    expect(completion.choices[0]?.message.content).toBe('mock token token token token');
    expect(completion.model).toBe('frontier');
    expect(completion.usage?.completion_tokens).toBe(5);
    expect(openaiUpstream.received.get('/v1/chat/completions')).toBeGreaterThan(0);
  });

  it('OpenAI SDK, stream with usage, translated from an Anthropic upstream', async () => {
    const client = new OpenAI({ apiKey: globalKey, baseURL: `${url}/v1`, maxRetries: 0 });
    const stream = await client.chat.completions.create({ model: 'frontier-eu', messages: [{ role: 'user', content: 'hello' }], max_tokens: 20, stream: true, stream_options: { include_usage: true } });
    let text = '';
    let usage: number | undefined;
    let finish: string | null | undefined;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      if (chunk.choices[0]?.finish_reason) finish = chunk.choices[0].finish_reason;
      if (chunk.usage) usage = chunk.usage.completion_tokens;
    }
    expect(text).toBe('mock token token token token');
    expect(finish).toBe('stop');
    expect(usage).toBe(5);
  });

  it('Anthropic SDK, non-stream, translated from an OpenAI upstream', async () => {
    const client = new Anthropic({ apiKey: usKey, baseURL: url, maxRetries: 0 });
    const message = await client.messages.create({ model: 'frontier', max_tokens: 20, messages: [{ role: 'user', content: 'hello' }] });
    expect(message.content[0]?.type).toBe('text');
    expect(message.content[0]?.type === 'text' ? message.content[0].text : '').toBe('mock token token token token');
    expect(message.stop_reason).toBe('end_turn');
    expect(message.usage.output_tokens).toBe(5);
  });

  it('ids, request ids and created are in the caller\'s dialect, whichever dialect the upstream spoke', async () => {
    const anthropic = new Anthropic({ apiKey: usKey, baseURL: url, maxRetries: 0 });
    const message = await anthropic.messages.create({ model: 'frontier', max_tokens: 5, messages: [{ role: 'user', content: 'hello' }] });
    expect(message.id).toBe('msg_test');
    // The Anthropic SDK reads `request-id`, the OpenAI SDK `x-request-id`.
    expect(message._request_id).toMatch(/^[0-9a-f-]{36}$/);
    const openai = new OpenAI({ apiKey: globalKey, baseURL: `${url}/v1`, maxRetries: 0 });
    const completion = await openai.chat.completions.create({ model: 'frontier-eu', messages: [{ role: 'user', content: 'hello' }], max_tokens: 5 });
    expect(completion.id).toBe('chatcmpl-test');
    expect(completion._request_id).toMatch(/^[0-9a-f-]{36}$/);
    // `created` is the gateway's clock (injected), streamed or not.
    expect(completion.created).toBe(1_700_000_000);
    const ids = new Set<string>();
    const created = new Set<number>();
    for await (const chunk of await openai.chat.completions.create({ model: 'frontier-eu', messages: [{ role: 'user', content: 'hello' }], max_tokens: 5, stream: true })) {
      ids.add(chunk.id);
      created.add(chunk.created);
    }
    expect([...ids]).toEqual(['chatcmpl-test']);
    expect([...created]).toEqual([1_700_000_000]);
  });

  it('Anthropic SDK, stream, to an Anthropic upstream', async () => {
    const client = new Anthropic({ apiKey: globalKey, baseURL: url, maxRetries: 0 });
    const stream = client.messages.stream({ model: 'frontier-eu', max_tokens: 20, messages: [{ role: 'user', content: 'hello' }] });
    const final = await stream.finalMessage();
    expect(final.content[0]?.type === 'text' ? final.content[0].text : '').toBe('mock token token token token');
    expect(final.usage.output_tokens).toBe(5);
  });

  it('both SDKs list and retrieve the public models, each in its own format; an unknown model is a 404 in that format', async () => {
    const openai = new OpenAI({ apiKey: globalKey, baseURL: `${url}/v1`, maxRetries: 0 });
    const openaiIds: string[] = [];
    for await (const model of openai.models.list()) openaiIds.push(model.id);
    expect(openaiIds).toEqual(['frontier', 'frontier-eu']);
    expect(await openai.models.retrieve('frontier')).toMatchObject({ id: 'frontier', object: 'model' });
    // OpenAI's own shape: an unknown model is an invalid_request_error with code model_not_found.
    await expect(openai.models.retrieve('nope')).rejects.toMatchObject({ status: 404, type: 'invalid_request_error', code: 'model_not_found' });
    await expect(openai.chat.completions.create({ model: 'nope', messages: [{ role: 'user', content: 'x' }] })).rejects.toMatchObject({ status: 404, code: 'model_not_found', param: null });
    // A huge model name is quoted cut short, in the answer as in the log.
    const huge = 'm'.repeat(3_000);
    const refused = (await openai.chat.completions.create({ model: huge, messages: [{ role: 'user', content: 'x' }] }).catch((error: unknown) => error)) as { status: number; message: string };
    expect(refused.status).toBe(404);
    expect(refused.message).toContain(`model '${'m'.repeat(64)}...' is not served here`);
    expect(refused.message.length).toBeLessThan(200);

    const anthropic = new Anthropic({ apiKey: globalKey, baseURL: url, maxRetries: 0 });
    const anthropicModels = [];
    for await (const model of anthropic.models.list()) anthropicModels.push(model);
    expect(anthropicModels.map((model) => [model.type, model.id, model.display_name])).toEqual([
      ['model', 'frontier', 'frontier'],
      ['model', 'frontier-eu', 'frontier-eu'],
    ]);
    expect(await anthropic.models.retrieve('frontier-eu')).toMatchObject({ type: 'model', id: 'frontier-eu' });
    // The SDK's auto-pagination walks pages of one.
    const paged: string[] = [];
    for await (const model of anthropic.models.list({ limit: 1 })) paged.push(model.id);
    expect(paged).toEqual(['frontier', 'frontier-eu']);
    const firstPage = await anthropic.models.list({ limit: 1 });
    expect(firstPage.data.map((model) => model.id)).toEqual(['frontier']);
    expect(firstPage.has_more).toBe(true);
    await expect(anthropic.models.retrieve('nope')).rejects.toMatchObject({ status: 404, error: { type: 'error', error: { type: 'not_found_error' } } });
  });

  it('the model list needs a key and shows only models the caller can be routed to (its jurisdictions, narrowed by the header)', async () => {
    expect((await fetch(`${url}/v1/models`)).status).toBe(401);
    const usOnly = new OpenAI({ apiKey: usKey, baseURL: `${url}/v1`, maxRetries: 0 });
    const usIds: string[] = [];
    for await (const model of usOnly.models.list()) usIds.push(model.id);
    expect(usIds).toEqual(['frontier']);
    await expect(usOnly.models.retrieve('frontier-eu')).rejects.toMatchObject({ status: 404 });
    const narrowed = (await (await fetch(`${url}/v1/models`, { headers: { authorization: `Bearer ${globalKey}`, 'x-switchyard-jurisdiction': 'eu' } })).json()) as { data: { id: string }[] };
    // frontier has an EU endpoint too, so both remain; a header naming no jurisdiction of the tenant leaves nothing.
    expect(narrowed.data.map((model) => model.id)).toEqual(['frontier', 'frontier-eu']);
    const nothing = (await (await fetch(`${url}/v1/models`, { headers: { authorization: `Bearer ${globalKey}`, 'x-switchyard-jurisdiction': 'jp' } })).json()) as { data: { id: string }[] };
    expect(nothing.data).toEqual([]);
  });
});

describe('exact SSE frames', () => {
  it('OpenAI dialect, from an OpenAI upstream, with usage', async () => {
    const response = await fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${usKey}`, 'content-type': 'application/json', 'x-switchyard-jurisdiction': 'us' },
      body: JSON.stringify({ model: 'frontier', messages: [{ role: 'user', content: 'hi' }], stream: true, stream_options: { include_usage: true }, max_tokens: 5 }),
    });
    expect(response.headers.get('content-type')).toContain('text/event-stream');
    // A proxy in front (nginx by default) must not buffer the stream (E29: tokens came 4 KB at a time, pings held).
    expect([response.headers.get('cache-control'), response.headers.get('x-accel-buffering')]).toEqual(['no-cache', 'no']);
    // The idle keep-alive hint, so a client's pool retires the connection before the server closes it.
    expect(response.headers.get('keep-alive')).toMatch(/^timeout=\d+$/);
    // With include_usage every chunk carries usage, null until the last (OpenAI's stream_options docs).
    const frame = (choices: unknown[], extra: object = { usage: null }): string => `data: ${JSON.stringify({ id: 'chatcmpl-test', object: 'chat.completion.chunk', created: 1_700_000_000, model: 'frontier', choices, ...extra })}\n\n`;
    const delta = (content: string): string => frame([{ index: 0, delta: { content }, logprobs: null, finish_reason: null }]);
    expect(await response.text()).toBe(
      frame([{ index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }]) +
        delta('mock') +
        delta(' token').repeat(4) +
        frame([{ index: 0, delta: {}, logprobs: null, finish_reason: 'stop' }]) +
        frame([], { usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 } }) +
        'data: [DONE]\n\n',
    );
  });

  it('Anthropic dialect, from an OpenAI upstream', async () => {
    const response = await fetch(`${url}/v1/messages`, {
      method: 'POST',
      headers: { 'x-api-key': usKey, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
      body: JSON.stringify({ model: 'frontier', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }], stream: true }),
    });
    const frame = (event: string, data: unknown): string => `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
    const delta = (text: string): string => frame('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text } });
    expect(await response.text()).toBe(
      // An OpenAI upstream counts the prompt only at the end: message_start carries the gateway's estimate ('hi': 1), message_delta the upstream's 10.
      frame('message_start', { type: 'message_start', message: { id: 'msg_test', type: 'message', role: 'assistant', model: 'frontier', content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 1, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 0 } } }) +
        frame('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }) +
        frame('ping', { type: 'ping' }) +
        delta('mock') +
        delta(' token').repeat(4) +
        frame('content_block_stop', { type: 'content_block_stop', index: 0 }) +
        frame('message_delta', { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { input_tokens: 10, output_tokens: 5 } }) +
        frame('message_stop', { type: 'message_stop' }),
    );
  });
});

describe('jurisdiction is hard', () => {
  it('a header can narrow a tenant to nothing: 503 with a JSON reason, never a fallback', async () => {
    const response = await fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${usKey}`, 'content-type': 'application/json', 'x-switchyard-jurisdiction': 'eu' },
      body: JSON.stringify({ model: 'frontier', messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(response.status).toBe(503);
    // Both SDKs retry a 503 unless told not to; no retry can change a jurisdiction refusal.
    expect(response.headers.get('x-should-retry')).toBe('false');
    const body = (await response.json()) as { error: { message: string } };
    expect(body.error.message).toMatch(/jurisdiction/i);
    // An Anthropic caller's type is not overloaded_error, which means "back off and retry".
    const anthropic = await fetch(`${url}/v1/messages`, {
      method: 'POST',
      headers: { 'x-api-key': usKey, 'anthropic-version': '2023-06-01', 'content-type': 'application/json', 'x-switchyard-jurisdiction': 'eu' },
      body: JSON.stringify({ model: 'frontier', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(anthropic.status).toBe(503);
    expect(await anthropic.json()).toMatchObject({ type: 'error', error: { type: 'api_error', message: expect.stringMatching(/jurisdiction/) as unknown } });
  });

  it('a misspelt jurisdiction header is refused, not ignored (the narrowing it asks for would be lost), on every path that reads it', async () => {
    // Other systems' headers that only mention a jurisdiction are theirs, and pass.
    for (const name of ['cf-r2-jurisdiction', 'x-customer-jurisdiction', 'x-data-jurisdiction', 'x-tenant-jurisdiction', 'jurisdiction-id']) {
      const passed = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${globalKey}`, 'content-type': 'application/json', [name]: 'eu' }, body: JSON.stringify({ model: 'frontier', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] }) });
      expect([name, passed.status]).toEqual([name, 200]);
      await passed.arrayBuffer();
    }
    for (const name of ['x-switchyard-jurisdictions', 'X_Switchyard_Jurisdiction', 'x-switchyard-region', 'switchyard-jurisdiction', 'x-swichyard-jurisdiction', 'x-switchyardjurisdiction', 'x-switchyard-jursidiction', 'jurisdiction', 'X-Jurisdictions', 'x-swichyard-jrisdiction', 'x-switchyrd-juisdiction', 'X_Swichyard_Jurisdictions', 'switch-yard-jurisdictions']) {
      const chat = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${globalKey}`, 'content-type': 'application/json', [name]: 'eu' }, body: JSON.stringify({ model: 'frontier', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] }) });
      expect(chat.status).toBe(400);
      expect(chat.headers.get('x-should-retry')).toBe('false');
      expect(((await chat.json()) as { error: { message: string } }).error.message).toBe(`unknown header '${name}': the gateway reads x-switchyard-jurisdiction alone, and would have ignored this one (and the jurisdictions it names); did you mean x-switchyard-jurisdiction?`);
    }
    const messages = await fetch(`${url}/v1/messages`, { method: 'POST', headers: { 'x-api-key': globalKey, 'anthropic-version': '2023-06-01', 'content-type': 'application/json', 'x-switchyard-jurisdictions': 'eu' }, body: JSON.stringify({ model: 'frontier', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] }) });
    expect(messages.status).toBe(400);
    expect(await messages.json()).toMatchObject({ type: 'error', error: { type: 'invalid_request_error' } });
    const count = await fetch(`${url}/v1/messages/count_tokens`, { method: 'POST', headers: { 'x-api-key': globalKey, 'anthropic-version': '2023-06-01', 'content-type': 'application/json', 'x-switchyard-jurisdictions': 'eu' }, body: JSON.stringify({ model: 'frontier', messages: [{ role: 'user', content: 'hi' }] }) });
    expect(count.status).toBe(400);
    expect(((await count.json()) as { error: { message: string } }).error.message).toMatch(/^unknown header 'x-switchyard-jurisdictions'/);
    const models = await fetch(`${url}/v1/models`, { headers: { authorization: `Bearer ${globalKey}`, 'x-switchyard-jurisdictions': 'eu' } });
    expect(models.status).toBe(400);
    expect(((await models.json()) as { error: { message: string } }).error.message).toMatch(/^unknown header 'x-switchyard-jurisdictions'/);
    // Refused before any charge, on every path: a typo costs no quota (a tenant of 2 requests a minute).
    const scarce = createGateway({ config: singleEndpointConfig(anthropicUpstream.url, 'sk-scarce', '', 'anthropic', { requestsPerMinute: 2 }), logger: false });
    try {
      const scarceUrl = await scarce.listen(0, '127.0.0.1');
      const plain = { 'x-api-key': 'sk-scarce', 'anthropic-version': '2023-06-01', 'content-type': 'application/json' };
      const headers = { ...plain, 'x-switchyard-jurisdictions': 'us' };
      for (const path of ['/v1/messages/count_tokens', '/v1/messages', '/v1/messages/count_tokens', '/v1/messages', '/v1/messages/count_tokens']) {
        const refused = await fetch(`${scarceUrl}${path}`, { method: 'POST', headers, body: JSON.stringify({ model: 'm', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] }) });
        expect([path, refused.status]).toEqual([path, 400]);
      }
      const served = await fetch(`${scarceUrl}/v1/messages`, { method: 'POST', headers: plain, body: JSON.stringify({ model: 'm', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] }) });
      expect(served.headers.get('anthropic-ratelimit-requests-remaining')).toBe('1');
    } finally {
      await scarce.close();
    }
    // The header as it is spelt still narrows.
    const narrowed = await fetch(`${url}/v1/models`, { headers: { authorization: `Bearer ${globalKey}`, 'x-switchyard-jurisdiction': 'jp' } });
    expect(((await narrowed.json()) as { data: unknown[] }).data).toEqual([]);
  });

  it('the jurisdiction header sent as a trailer after a chunked body is refused, not ignored; other trailers pass', async () => {
    const withTrailer = (path: string, headers: Record<string, string>, body: object, trailer: Record<string, string>): Promise<{ status: number; text: string; shouldRetry: string | undefined }> =>
      new Promise((resolve, reject) => {
        const sent = httpRequest(`${url}${path}`, { method: 'POST', headers: { ...headers, 'content-type': 'application/json', 'transfer-encoding': 'chunked', trailer: Object.keys(trailer).join(', ') } }, (response) => {
          let text = '';
          response.on('data', (chunk: Buffer) => (text += chunk.toString()));
          response.on('end', () => resolve({ status: response.statusCode ?? 0, text, shouldRetry: response.headers['x-should-retry'] as string | undefined }));
        });
        sent.on('error', reject);
        sent.write(JSON.stringify(body));
        sent.addTrailers(trailer);
        sent.end();
      });
    const chat = { model: 'frontier', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] };
    for (const name of ['x-switchyard-jurisdiction', 'X-Switchyard-Jurisdictions']) {
      const refused = await withTrailer('/v1/chat/completions', { authorization: `Bearer ${globalKey}` }, chat, { [name]: 'eu' });
      expect([refused.status, refused.shouldRetry]).toEqual([400, 'false']);
      expect((JSON.parse(refused.text) as { error: { message: string } }).error.message).toBe(`the x-switchyard-jurisdiction came as a trailer after the body (as '${name}'), where the gateway does not read it: send it among the request's headers`);
    }
    const count = await withTrailer('/v1/messages/count_tokens', { 'x-api-key': globalKey, 'anthropic-version': '2023-06-01' }, { model: 'frontier', messages: [{ role: 'user', content: 'hi' }] }, { 'x-switchyard-jurisdiction': 'eu' });
    expect(count.status).toBe(400);
    expect((await withTrailer('/v1/chat/completions', { authorization: `Bearer ${globalKey}` }, chat, { 'x-checksum': 'abc' })).status).toBe(200);
  });

  it("Anthropic's inference_geo narrows like the header: honoured, never widened, 'global' is any, refused when malformed", async () => {
    const client = (key: string): Anthropic => new Anthropic({ apiKey: key, baseURL: url, maxRetries: 0 });
    const ask = { model: 'frontier', max_tokens: 5, messages: [{ role: 'user' as const, content: 'hi' }] };
    const [openaiBefore, anthropicBefore] = [openaiUpstream.received.get('/v1/chat/completions') ?? 0, anthropicUpstream.received.get('/v1/messages') ?? 0];
    // The tenant may use us and eu; 'EU' sends the request to the one EU endpoint, whatever is cheaper.
    await client(globalKey).messages.create({ ...ask, inference_geo: 'EU' });
    expect([openaiUpstream.received.get('/v1/chat/completions') ?? 0, anthropicUpstream.received.get('/v1/messages') ?? 0]).toEqual([openaiBefore, anthropicBefore + 1]);
    await client(globalKey).messages.create({ ...ask, inference_geo: 'global' });
    expect(openaiUpstream.received.get('/v1/chat/completions') ?? 0).toBe(openaiBefore + 1);
    // A US-only tenant asking for eu gets nothing, with the reason; so does an unknown geography.
    for (const [key, geography] of [[usKey, 'eu'], [globalKey, 'jp']] as const) {
      const refused = await client(key).messages.create({ ...ask, inference_geo: geography }).catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(Anthropic.APIError);
      expect(refused).toMatchObject({ status: 503, error: { error: { type: 'api_error', message: expect.stringContaining(`inference_geo '${geography}'`) as unknown } } });
    }
    const malformed = await fetch(`${url}/v1/messages`, { method: 'POST', headers: { 'x-api-key': globalKey, 'anthropic-version': '2023-06-01', 'content-type': 'application/json' }, body: JSON.stringify({ ...ask, inference_geo: 'us, eu' }) });
    expect(malformed.status).toBe(400);
    expect(await malformed.text()).toContain('inference_geo');
    expect([openaiUpstream.received.get('/v1/chat/completions') ?? 0, anthropicUpstream.received.get('/v1/messages') ?? 0]).toEqual([openaiBefore + 1, anthropicBefore + 1]);
  });

  it('a request too large for every eligible context window is the caller\'s error (400 invalid_request), not an overload', async () => {
    const ask = (path: string, headers: Record<string, string>): Promise<Response> =>
      fetch(`${url}${path}`, {
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'frontier', max_tokens: 40_000, messages: [{ role: 'user', content: 'hi' }] }),
      });
    const openaiAnswer = await ask('/v1/chat/completions', { authorization: `Bearer ${usKey}` });
    expect(openaiAnswer.status).toBe(400);
    const openaiBody = (await openaiAnswer.json()) as { error: { type: string; message: string; code: string; param: string } };
    // OpenAI's own code and param for a prompt too long: clients switch on them to shorten it.
    expect(openaiBody.error).toMatchObject({ type: 'invalid_request_error', code: 'context_length_exceeded', param: 'messages' });
    // In OpenAI's own words first, which clients (LangChain, LiteLLM) read to tell an overflow.
    expect(openaiBody.error.message).toMatch(/^This model's maximum context length is 32768 tokens\. However, you requested 4000\d tokens \(\d+ in the messages, 40000 in the completion\)\. Please reduce the length of the messages or completion\. \(the request needs about/);
    const anthropicAnswer = await ask('/v1/messages', { 'x-api-key': usKey, 'anthropic-version': '2023-06-01' });
    expect(anthropicAnswer.status).toBe(400);
    const anthropicError = ((await anthropicAnswer.json()) as { error: { type: string; message: string } }).error;
    expect(anthropicError.type).toBe('invalid_request_error');
    // In Anthropic's words first: Claude Code reads them, lowers max_tokens to fit, and retries.
    const parsed = /^input length and `max_tokens` exceed context limit: (\d+) \+ (\d+) > (\d+), decrease input length or `max_tokens` and try again \(the request needs about /.exec(anthropicError.message);
    if (parsed === null) throw new Error(`not in Anthropic's words: ${anthropicError.message}`);
    const [, input, output, limit] = parsed.map(Number) as [number, number, number, number];
    expect([output, limit]).toEqual([40_000, 32_768]);
    const retried = await fetch(`${url}/v1/messages`, { method: 'POST', headers: { 'x-api-key': usKey, 'anthropic-version': '2023-06-01', 'content-type': 'application/json' }, body: JSON.stringify({ model: 'frontier', max_tokens: limit - input - 1, messages: [{ role: 'user', content: 'hi' }] }) });
    expect(retried.status).toBe(200);
  });

  it('a US-only tenant cannot reach an EU-only route', async () => {
    const before = anthropicUpstream.received.get('/v1/messages') ?? 0;
    const response = await fetch(`${url}/v1/messages`, {
      method: 'POST',
      headers: { 'x-api-key': usKey, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'frontier-eu', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(response.status).toBe(503);
    expect(((await response.json()) as { type: string; error: { type: string } }).type).toBe('error');
    expect(anthropicUpstream.received.get('/v1/messages') ?? 0).toBe(before);
  });
});

describe('bad requests get clear 4xx errors in the caller dialect, and the gateway keeps serving', () => {
  const post = (path: string, body: string | Uint8Array, headers: Record<string, string> = {}): Promise<Response> =>
    fetch(`${url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${usKey}`, 'content-type': 'application/json', ...headers }, body });

  it.each([
    ['/v1/chat/completions', '{"model": "frontier", "messages": [', 400, /not valid JSON/],
    ['/v1/chat/completions', 'SECRET words from a prompt', 400, /not valid JSON/],
    ['/v1/chat/completions', JSON.stringify({ model: 'nope', messages: [{ role: 'user', content: 'x' }] }), 404, /model 'nope' is not served/],
    ['/v1/chat/completions', JSON.stringify({ model: 'frontier' }), 400, /messages/],
    ['/v1/messages', JSON.stringify({ model: 'frontier', messages: [{ role: 'user', content: 'x' }] }), 400, /max_tokens/],
    ['/v1/chat/completions', JSON.stringify({ model: 'frontier', messages: [{ role: 'user', content: 'x'.repeat(5000) }] }), 413, /exceeds the 4096-byte limit/],
    ['/v1/messages', JSON.stringify({ model: 'frontier', max_tokens: 5, messages: [{ role: 'user', content: 'x'.repeat(5000) }] }), 413, /exceeds the 4096-byte limit/],
    // What the gateway cannot honour is refused by name, never silently dropped.
    ['/v1/chat/completions', JSON.stringify({ model: 'frontier', messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'x' } }] }] }), 400, /^messages\.0\.content\.0\.image_url\.url: an image is an http\(s\) URL or a base64 data URL of a JPEG, PNG, GIF or WebP image/],
    ['/v1/chat/completions', JSON.stringify({ model: 'frontier', messages: [{ role: 'user', content: [{ type: 'input_audio', input_audio: { data: 'x', format: 'wav' } }] }] }), 400, /^messages\.0\.content: content must be a string or an array of text, image_url, file and refusal parts .*: 'input_audio' parts are not supported by Switchyard yet$/],
    ['/v1/chat/completions', JSON.stringify({ model: 'frontier', n: 2, messages: [{ role: 'user', content: 'x' }] }), 400, /^n: n must be 1/],
    ['/v1/chat/completions', JSON.stringify({ model: 'frontier', stop: ['a', 'b', 'c', 'd', 'e'], messages: [{ role: 'user', content: 'x' }] }), 400, /^stop: .*at most 4 strings/],
    ['/v1/chat/completions', JSON.stringify({ model: 'frontier', response_format: { type: 'json_object' }, messages: [{ role: 'user', content: 'x' }] }), 400, /^messages: with response_format of type 'json_object', some message must ask for JSON/],
    ['/v1/chat/completions', JSON.stringify({ model: 'frontier', response_format: { type: 'xml' }, messages: [{ role: 'user', content: 'x' }] }), 400, /^response_format\.type: response_format\.type must be 'text', 'json_object' or 'json_schema'$/],
    ['/v1/chat/completions', JSON.stringify({ model: 'frontier', logprobs: true, messages: [{ role: 'user', content: 'x' }] }), 400, /^logprobs: logprobs are not supported/],
    ['/v1/chat/completions', JSON.stringify({ model: 'frontier', top_logprobs: 3, messages: [{ role: 'user', content: 'x' }] }), 400, /^top_logprobs: top_logprobs are not supported/],
    ['/v1/chat/completions', JSON.stringify({ model: 'frontier', modalities: ['text', 'audio'], audio: { voice: 'alloy', format: 'wav' }, messages: [{ role: 'user', content: 'x' }] }), 400, /^modalities\.1: .*only 'text'/],
    ['/v1/messages', JSON.stringify({ model: 'frontier', max_tokens: 5, stop_sequences: ['a', 'b', 'c', 'd', 'e'], messages: [{ role: 'user', content: 'x' }] }), 400, /at most 4 stop_sequences/],
    ['/v1/messages', JSON.stringify({ model: 'frontier', max_tokens: 5, thinking: { type: 'enabled', budget_tokens: 1024 }, messages: [{ role: 'user', content: 'x' }] }), 400, /^thinking\.budget_tokens: budget_tokens \(1024\) must be below max_tokens \(5\)/],
    ['/v1/messages', JSON.stringify({ model: 'frontier', max_tokens: 5, messages: [{ role: 'user', content: [{ type: 'image', source: {} }] }] }), 400, /^messages\.0\.content\.0\.source\.type: an image's source is/],
    ['/v1/messages', JSON.stringify({ model: 'frontier', max_tokens: 5, messages: [{ role: 'user', content: [{ type: 'search_result', source: 'x' }] }] }), 400, /'search_result' blocks are not supported by Switchyard yet$/],
    // A thinking block is the model's: in a user turn it is named as such, not as an image.
    ['/v1/messages', JSON.stringify({ model: 'frontier', max_tokens: 5, messages: [{ role: 'user', content: [{ type: 'thinking', thinking: 'hmm', signature: 'x' }] }] }), 400, /^messages\.0\.content\.0: thinking blocks are the model's own/],
    ['/v1/messages', JSON.stringify({ model: 'frontier', max_tokens: 5, messages: [{ role: 'user', content: 42 }] }), 400, /content must be a string or an array of text, image and document blocks .*; got number$/],
    ['/v1/messages', JSON.stringify({ model: 'frontier', max_tokens: 5, messages: [{ role: 'user', content: [{ type: 'text', text: 5 }] }] }), 400, /^messages\.0\.content\.0\.text: must be a string, got a number$/],
    // Deep nesting once overflowed the stack in schema checks and encoding: a 500, or the endpoint's failure.
    ['/v1/chat/completions', `{"model": "frontier", "messages": [{"role": "user", "content": "JSON"}], "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": ${'{"k":'.repeat(200)}{}${'}'.repeat(200)}}}}`, 400, /^response_format\.json_schema\.schema(\.k)+: objects and arrays nested more than 128 levels deep/],
    // A type that is not a plain name is not quoted back: messages reach logs.
    ['/v1/messages', JSON.stringify({ model: 'frontier', max_tokens: 5, messages: [{ role: 'user', content: [{ type: 'my secret prompt' }] }] }), 400, /: blocks of that type are not supported by Switchyard yet$/],
  ])('%s %s -> %i', async (path, body, status, message) => {
    const response = await post(path, body);
    expect(response.status).toBe(status);
    const json = (await response.json()) as { error: { message: string }; type?: string };
    expect(json.error.message).toMatch(message);
    // The body's own text is never quoted back (it would reach logs too).
    expect(json.error.message).not.toMatch(/SECRET|"model": "frontier", "messages"/);
    if (path === '/v1/messages') expect(json.type).toBe('error');
    // Anthropic names a too-large request with a type of its own.
    if (path === '/v1/messages' && status === 413) expect((json.error as { type?: string }).type).toBe('request_too_large');
  });

  it("the Anthropic SDK's user_profile_id (sent as a header) is refused, not billed to the gateway's account; a token count takes it", async () => {
    const client = new Anthropic({ apiKey: globalKey, baseURL: url, maxRetries: 0 });
    const asked = { model: 'frontier-eu', max_tokens: 20, messages: [{ role: 'user' as const, content: 'hello' }] };
    await expect(client.messages.create({ ...asked, user_profile_id: 'up_1' })).rejects.toMatchObject({ status: 400, message: expect.stringContaining("anthropic-user-profile-id: billing to a user profile (user_profile_id, a beta of the Messages API) is not supported by Switchyard") as unknown });
    // Asked of the upstream (this test's mock cannot count: a 502), not refused.
    const counted = await client.messages.countTokens({ model: 'frontier-eu', messages: asked.messages, user_profile_id: 'up_1' }).then(
      () => 200,
      (error: { status?: number }) => error.status,
    );
    expect(counted).not.toBe(400);
    // An empty header asks for nothing, nor does one sent twice empty (Node joins them: ', ').
    expect((await client.messages.create(asked, { headers: { 'anthropic-user-profile-id': '' } })).content).toHaveLength(1);
    const twiceEmpty = await fetch(`${url}/v1/messages`, { method: 'POST', headers: { 'x-api-key': globalKey, 'anthropic-version': '2023-06-01', 'content-type': 'application/json', 'anthropic-user-profile-id': ', ' }, body: JSON.stringify(asked) });
    expect(twiceEmpty.status).toBe(200);
  });

  it('an invalid field is named in OpenAI\'s param, as the SDK exposes it', async () => {
    const client = new OpenAI({ apiKey: usKey, baseURL: `${url}/v1`, maxRetries: 0 });
    await expect(client.chat.completions.create({ model: 'frontier', messages: [{ role: 'robot' as 'user', content: 'x' }] })).rejects.toMatchObject({ status: 400, param: 'messages.0.role' });
  });

  it('a jurisdiction header behind a thousand others still narrows: none is dropped, never failing open', async () => {
    const filler = Object.fromEntries(Array.from({ length: 1100 }, (_, index) => [`x-f${index}`, '1']));
    const refused = await post('/v1/chat/completions', JSON.stringify({ model: 'frontier', messages: [{ role: 'user', content: 'x' }], max_tokens: 5 }), { ...filler, 'x-switchyard-jurisdiction': 'jp' });
    expect(refused.status).toBe(503);
    expect(((await refused.json()) as { error: { message: string } }).error.message).toContain('jurisdiction header');
  });

  it('a jurisdiction header sent on two lines narrows to what both name, never to either', async () => {
    const body = JSON.stringify({ model: 'frontier-eu', max_tokens: 5, messages: [{ role: 'user', content: 'x' }] });
    const ask = (lines: string[]): Promise<number> =>
      undiciRequest(`${url}/v1/messages`, {
        method: 'POST',
        headers: ['authorization', `Bearer ${globalKey}`, 'content-type', 'application/json', 'anthropic-version', '2023-06-01', ...lines.flatMap((line) => ['x-switchyard-jurisdiction', line])],
        body,
      }).then(async (response) => {
        await response.body.dump();
        return response.statusCode;
      });
    expect(await ask(['us', 'eu'])).toBe(503);
    expect(await ask(['us, eu', 'eu'])).toBe(200);
  });

  it('a jurisdiction header that is no list of names is refused with how to write one, on every path that reads it, never read as naming nothing', async () => {
    const chat = JSON.stringify({ model: 'frontier', messages: [{ role: 'user', content: 'x' }], max_tokens: 5 });
    const messages = JSON.stringify({ model: 'frontier', max_tokens: 5, messages: [{ role: 'user', content: 'x' }] });
    const anthropic = { 'x-api-key': globalKey, 'anthropic-version': '2023-06-01', 'content-type': 'application/json' };
    const said = "no jurisdiction name (letters, digits, \".\", \"_\", \":\" or \"-\", starting with a letter or digit, at most 64 characters): separate several names with commas, as in 'x-switchyard-jurisdiction: eu, uk'";
    const refusals = [
      await post('/v1/chat/completions', chat, { 'x-switchyard-jurisdiction': 'us eu' }),
      await fetch(`${url}/v1/messages`, { method: 'POST', headers: { ...anthropic, 'x-switchyard-jurisdiction': 'eu, us;uk' }, body: messages }),
      await fetch(`${url}/v1/messages/count_tokens`, { method: 'POST', headers: { ...anthropic, 'x-switchyard-jurisdiction': 'us eu' }, body: JSON.stringify({ model: 'frontier', messages: [{ role: 'user', content: 'x' }] }) }),
      await fetch(`${url}/v1/models`, { headers: { authorization: `Bearer ${globalKey}`, 'x-switchyard-jurisdiction': 'us eu' } }),
    ];
    // No retry can mend a header: both SDKs are told so.
    expect(refusals.map((response) => response.headers.get('x-should-retry'))).toEqual(['false', 'false', 'false', 'false']);
    const bodies = await Promise.all(refusals.map(async (response) => [response.status, ((await response.json()) as { error: { message: string } }).error.message]));
    expect(bodies).toEqual([
      [400, `the x-switchyard-jurisdiction header holds 'us eu', which is ${said}`],
      [400, `the x-switchyard-jurisdiction header holds 'us;uk', which is ${said}`],
      [400, `the x-switchyard-jurisdiction header holds 'us eu', which is ${said}`],
      [400, `the x-switchyard-jurisdiction header holds 'us eu', which is ${said}`],
    ]);
    // Past ASCII is not quoted back (it would come back garbled); a name on a second line is checked too.
    const latin = await undiciRequest(`${url}/v1/chat/completions`, { method: 'POST', headers: ['authorization', `Bearer ${usKey}`, 'content-type', 'application/json', 'x-switchyard-jurisdiction', 'us', 'x-switchyard-jurisdiction', 'z\u00fcrich'], body: chat });
    expect([latin.statusCode, ((await latin.body.json()) as { error: { message: string } }).error.message]).toEqual([400, `the x-switchyard-jurisdiction header holds characters past ASCII, which make ${said}`]);
    // A tab is ASCII, and said as itself (R51: it was called past ASCII).
    const tab = await post('/v1/chat/completions', chat, { 'x-switchyard-jurisdiction': 'us\teu' });
    expect([tab.status, ((await tab.json()) as { error: { message: string } }).error.message]).toEqual([400, `the x-switchyard-jurisdiction header holds a tab or a control character, which makes ${said}`]);
    // Names with dots, underscores and colons are names; empty parts are skipped as before.
    expect((await post('/v1/chat/completions', chat, { 'x-switchyard-jurisdiction': 'us, , eu_west.1:a' })).status).toBe(200);
  });

  it('failed requests are counted under their route; an oversized body is read and dropped and its connection kept; methods get 405 with Allow', async () => {
    const refused = await post('/v1/chat/completions', JSON.stringify({ model: 'frontier', messages: [{ role: 'user', content: 'x' }], max_tokens: 5 }), { 'x-switchyard-jurisdiction': 'jp' });
    expect(refused.status).toBe(503);
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toMatch(/switchyard_requests_total\{route="frontier",endpoint="none",status="503",dialect="openai"\} [1-9]/);
    const huge = await post('/v1/chat/completions', JSON.stringify({ model: 'frontier', messages: [{ role: 'user', content: 'x'.repeat(5000) }] }));
    expect(huge.status).toBe(413);
    expect(huge.headers.get('connection')).toBe('keep-alive');
    const wrongMethod = await fetch(`${url}/v1/chat/completions`, { method: 'GET', headers: { authorization: `Bearer ${usKey}` } });
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get('allow')).toBe('POST');
    const deleteModels = await fetch(`${url}/v1/models`, { method: 'DELETE', headers: { authorization: `Bearer ${usKey}` } });
    expect(deleteModels.status).toBe(405);
    expect(deleteModels.headers.get('allow')).toBe('GET, HEAD');
    const deleteRoot = await fetch(`${url}/`, { method: 'DELETE' });
    expect([deleteRoot.status, deleteRoot.headers.get('allow')]).toEqual([405, 'GET, HEAD']);
    expect((await fetch(`${url}/healthz`, { method: 'HEAD' })).status).toBe(200);
    // A refused request without a body keeps its connection for the next one.
    const unknown = await fetch(`${url}/v1/models/nope`, { headers: { authorization: `Bearer ${usKey}` } });
    expect(unknown.status).toBe(404);
    expect(unknown.headers.get('connection')).not.toBe('close');
    await unknown.text();
  });

  it('a compressed body is a 415 saying so, in the caller\'s dialect, and the gateway keeps serving', async () => {
    const body = gzipSync(JSON.stringify({ model: 'frontier', max_tokens: 5, messages: [{ role: 'user', content: 'x' }] }));
    const refused = await post('/v1/messages', body, { 'content-encoding': 'gzip' });
    expect(refused.status).toBe(415);
    expect(await refused.json()).toMatchObject({ type: 'error', error: { type: 'invalid_request_error', message: "content-encoding 'gzip' is not supported: send the body uncompressed" } });
    const ok = await post('/v1/chat/completions', JSON.stringify({ model: 'frontier', messages: [{ role: 'user', content: 'x' }], max_tokens: 5 }));
    expect(ok.status).toBe(200);
  });

  it('an API this gateway lacks is a 404 in the caller\'s dialect that lists what it serves', async () => {
    const openai = new OpenAI({ apiKey: usKey, baseURL: `${url}/v1`, maxRetries: 0 });
    await expect(openai.responses.create({ model: 'frontier', input: 'hi' })).rejects.toMatchObject({ status: 404, message: expect.stringMatching(/no such path: POST '\/v1\/responses' \(the Responses API is not served: send the conversation as messages to POST \/v1\/chat\/completions\); this gateway serves POST \/v1\/chat\/completions, POST \/v1\/messages/) as unknown });
    const legacy = await post('/v1/complete', JSON.stringify({ model: 'frontier', prompt: '\n\nHuman: hi\n\nAssistant:', max_tokens_to_sample: 5 }), { 'anthropic-version': '2023-06-01' });
    expect(legacy.status).toBe(404);
    expect(await legacy.json()).toMatchObject({ type: 'error', error: { type: 'not_found_error', message: expect.stringMatching(/POST '\/v1\/complete' \(legacy Text Completions are not served: .*\); this gateway serves .*POST \/v1\/messages\/count_tokens/) as unknown } });
    // An Anthropic path answers in Anthropic's shape even without the anthropic-version header.
    const bare = await post('/v1/messages/batches', '{}');
    expect(await bare.json()).toMatchObject({ type: 'error', error: { type: 'not_found_error' } });
  });

  it('caller text is quoted in errors at most 64 characters: a long path, a jurisdiction header; a logit_bias key not at all', async () => {
    const longPath = await fetch(`${url}/${'A'.repeat(12_000)}`, { headers: { authorization: `Bearer ${usKey}` } });
    expect(longPath.status).toBe(404);
    expect((await longPath.text()).length).toBeLessThan(500);
    const longHeader = await post('/v1/chat/completions', JSON.stringify({ model: 'frontier', messages: [{ role: 'user', content: 'x' }], max_tokens: 5 }), { 'x-switchyard-jurisdiction': 'j'.repeat(12_000) });
    expect(longHeader.status).toBe(400);
    expect((await longHeader.text()).length).toBeLessThan(1000);
    const secretKey = await post('/v1/chat/completions', JSON.stringify({ model: 'frontier', messages: [{ role: 'user', content: 'x' }], logit_bias: { 'my password is hunter2': 5 } }));
    expect(secretKey.status).toBe(400);
    const body = await secretKey.text();
    expect(body).not.toContain('hunter2');
    expect(JSON.parse(body)).toMatchObject({ error: { message: 'logit_bias.<key>: logit_bias keys are token ids', param: 'logit_bias.<key>' } });
  });

  it('the read-only paths answer HEAD with their headers and no body', async () => {
    for (const path of ['/v1/models', '/v1/models/frontier', '/metrics', '/healthz', '/']) {
      const response = await fetch(`${url}${path}`, { method: 'HEAD', headers: { authorization: `Bearer ${usKey}` } });
      expect(response.status).toBe(200);
      expect(await response.text()).toBe('');
    }
    // The root (which Claude Code touches at start, without a key) says what is served.
    const root = await fetch(`${url}/`);
    expect(await root.json()).toEqual({ service: 'switchyard gateway', serves: expect.stringContaining('POST /v1/messages/count_tokens') });
  });

  it('a client that leaves in the middle of its body is a 499, never counted as the gateway\'s 500', async () => {
    const { connect } = await import('node:net');
    const target = new URL(url);
    // Nor as a malformed request of its own: its close mid-body is no refusal to count.
    const parserRefusals = async (): Promise<number> => metricValue(await scrape(url), 'switchyard_requests_total', { route: 'none', endpoint: 'none', status: '400', dialect: 'none' }) ?? 0;
    const refusalsBefore = await parserRefusals();
    await new Promise<void>((resolve) => {
      const socket = connect(Number(target.port), target.hostname, () => {
        socket.write(`POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${usKey}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"model":`);
        setTimeout(() => {
          socket.destroy();
          resolve();
        }, 50);
      });
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toMatch(/switchyard_requests_total\{route="none",endpoint="none",status="499",dialect="openai"\} [1-9]/);
    expect(metrics).not.toMatch(/status="500"/);
    expect(await parserRefusals()).toBe(refusalsBefore);
  });

  it("a request Node's HTTP parser refuses (headers over 16 KB, an unknown method) gets a JSON error saying why, and is counted", async () => {
    const { connect } = await import('node:net');
    const target = new URL(url);
    const raw = (head: string): Promise<string> =>
      new Promise((resolve, reject) => {
        let answer = '';
        const socket = connect(Number(target.port), target.hostname, () => socket.write(head));
        socket.on('data', (chunk: Buffer) => (answer += chunk.toString('utf8')));
        socket.on('end', () => resolve(answer));
        socket.on('error', reject);
      });
    const counted = async (status: number): Promise<number> => {
      const scraped = await (await fetch(`${url}/metrics`)).text();
      return Number(new RegExp(`switchyard_requests_total\\{route="none",endpoint="none",status="${status}",dialect="none"\\} (\\d+)`).exec(scraped)?.[1] ?? 0);
    };
    const before = [await counted(431), await counted(400)];
    const oversized = await raw(`POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nx-padding: ${'a'.repeat(20_000)}\r\n\r\n`);
    expect(oversized).toMatch(/^HTTP\/1\.1 431 Request Header Fields Too Large\r\n/);
    expect(JSON.parse(oversized.slice(oversized.indexOf('\r\n\r\n') + 4))).toMatchObject({ error: { type: 'invalid_request_error', message: "the request line and headers are over 16 KB (counting the request line and each header's name and value, as Node's parser does): send fewer or shorter headers" } });
    const unknownMethod = await raw('FOO /v1/models HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(unknownMethod).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(unknownMethod).toContain('malformed HTTP request');
    expect([await counted(431), await counted(400)]).toEqual([(before[0] ?? 0) + 1, (before[1] ?? 0) + 1]);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    // Without Host, which HTTP/1.1 requires: the same JSON error in the caller's dialect, counted
    // (Node's own answer was a bare 400, neither counted nor logged). HTTP/1.0 has no such rule.
    const hostless = async (): Promise<number> => metricValue(await scrape(url), 'switchyard_requests_total', { route: 'none', status: '400', dialect: 'anthropic' }) ?? 0;
    const hostlessBefore = await hostless();
    const noHost = await raw(`POST /v1/messages HTTP/1.1\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}`);
    expect(noHost).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(JSON.parse(noHost.slice(noHost.indexOf('\r\n\r\n') + 4))).toMatchObject({ type: 'error', error: { type: 'invalid_request_error', message: 'an HTTP/1.1 request needs a Host header (RFC 9112): send one' } });
    expect(await hostless()).toBe(hostlessBefore + 1);
    // Two Host lines are a 400 as well (Node keeps the first; a proxy in front may have read the other).
    const twoHosts = await raw('GET /healthz HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n');
    expect(twoHosts).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(twoHosts).toContain('the request has more than one Host header (RFC 9112): send one');
    expect(await raw('GET /healthz HTTP/1.0\r\n\r\n')).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    // A request target in absolute form (RFC 9112, 3.2.2: a server must take it) is served by its path.
    const absolute = await raw('GET http://x/healthz HTTP/1.1\r\nHost: x\r\nconnection: close\r\n\r\n');
    expect(absolute).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(absolute).toContain('{"status":"ok"}');
    // Its path as written: dot segments are not resolved, as an origin-form target's are not (nor by a
    // proxy in front that filters paths).
    for (const dotted of ['http://x/v1/../metrics', 'http://x/v1/%2e%2e/metrics', 'http://x/v1/./../healthz']) {
      expect(await raw(`GET ${dotted} HTTP/1.1\r\nHost: x\r\nconnection: close\r\n\r\n`)).toMatch(/^HTTP\/1\.1 404 /);
      expect(await raw(`GET ${dotted.slice('http://x'.length)} HTTP/1.1\r\nHost: x\r\nconnection: close\r\n\r\n`)).toMatch(/^HTTP\/1\.1 404 /);
    }
    expect(await raw('GET http://x?probe=1 HTTP/1.1\r\nHost: x\r\nconnection: close\r\n\r\n')).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    // An Expect other than 100-continue, and CONNECT: JSON errors saying why, counted (Node's own were a bare 417 and a silent close).
    const unmet = await raw('POST /v1/messages HTTP/1.1\r\nHost: x\r\nExpect: foo\r\ncontent-length: 2\r\n\r\n{}');
    expect(unmet).toMatch(/^HTTP\/1\.1 417 Expectation Failed\r\n/);
    expect(JSON.parse(unmet.slice(unmet.indexOf('\r\n\r\n') + 4))).toMatchObject({ type: 'error', error: { type: 'invalid_request_error', message: expect.stringContaining("Expect: 'foo' is not met here; only 100-continue is") } });
    // As Node reads Expect: HTTP/1.0 has none, and a list naming 100-continue is met (the 100 goes
    // only to a request whose body is read: see expect-continue.test.ts).
    expect(await raw('GET /healthz HTTP/1.0\r\nExpect: foo\r\n\r\n')).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(await raw('GET /healthz HTTP/1.1\r\nHost: x\r\nExpect: 100-continue, foo\r\nconnection: close\r\n\r\n')).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    const tunnel = await raw('CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n');
    expect(tunnel).toMatch(/^HTTP\/1\.1 405 Method Not Allowed\r\n/);
    expect(tunnel).toContain('CONNECT is not served');
    expect(metricValue(await scrape(url), 'switchyard_requests_total', { route: 'none', status: '417', dialect: 'anthropic' })).toBe(1);
    expect(metricValue(await scrape(url), 'switchyard_requests_total', { route: 'none', status: '405', dialect: 'none' })).toBe(1);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
  });

  it('two Authorization headers are a 400, whichever comes first: a proxy in front might read the other one', async () => {
    const ask = (keys: string[]): Promise<number> =>
      undiciRequest(`${url}/v1/chat/completions`, {
        method: 'POST',
        headers: [...keys.flatMap((key) => ['Authorization', `Bearer ${key}`]), 'content-type', 'application/json'],
        body: JSON.stringify({ model: 'frontier', messages: [{ role: 'user', content: 'x' }], max_tokens: 5 }),
      }).then(async (response) => {
        await response.body.dump();
        return response.statusCode;
      });
    expect(await ask([usKey])).toBe(200);
    expect(await ask([usKey, 'sk-other'])).toBe(400);
    expect(await ask(['sk-other', usKey])).toBe(400);
    expect(await ask([usKey, usKey])).toBe(400);
    // So are two different keys in Authorization and x-api-key; the same key in both is one key.
    const both = (bearerKey: string, headerKey: string): Promise<number> =>
      fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${bearerKey}`, 'x-api-key': headerKey, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'frontier', messages: [{ role: 'user', content: 'x' }], max_tokens: 5 }) }).then(async (response) => {
        await response.text();
        return response.status;
      });
    expect(await both(usKey, usKey)).toBe(200);
    expect(await both('sk-other', usKey)).toBe(400);
    expect(await both(usKey, 'sk-other')).toBe(400);
    // Each says what to send, in the caller's dialect.
    const twoLines = await undiciRequest(`${url}/v1/messages`, { method: 'POST', headers: ['Authorization', `Bearer ${usKey}`, 'Authorization', 'Bearer sk-other', 'content-type', 'application/json'], body: '{}' });
    expect(await twoLines.body.json()).toMatchObject({ type: 'error', error: { type: 'invalid_request_error', message: 'the request has more than one Authorization header: send one' } });
    const twoKeys = await post('/v1/chat/completions', '{}', { authorization: `Bearer ${usKey}`, 'x-api-key': 'sk-other' });
    expect(await twoKeys.json()).toMatchObject({ error: { message: 'the request sends two different API keys (Authorization: Bearer and x-api-key): send one' } });
    // Two x-api-key lines (which Node joins into one value) are told as such, the same key twice too.
    for (const keys of [[usKey, usKey], [usKey, 'sk-other']]) {
      const twoHeaderKeys = await undiciRequest(`${url}/v1/messages`, { method: 'POST', headers: [...keys.flatMap((key) => ['x-api-key', key]), 'authorization', `Bearer ${usKey}`, 'content-type', 'application/json'], body: '{}' });
      expect(twoHeaderKeys.statusCode).toBe(400);
      expect(await twoHeaderKeys.body.json()).toMatchObject({ type: 'error', error: { type: 'invalid_request_error', message: 'the request has more than one x-api-key header: send one' } });
    }
  });

  it('a missing or wrong key is 401 and a healthy request still works afterwards', async () => {
    const response = await post('/v1/chat/completions', JSON.stringify({ model: 'frontier', messages: [{ role: 'user', content: 'x' }] }), { authorization: 'Bearer wrong' });
    expect(response.status).toBe(401);
    // OpenAI's own shapes: code invalid_api_key for a bad key, none for a missing one.
    expect(((await response.json()) as { error: unknown }).error).toMatchObject({ type: 'invalid_request_error', code: 'invalid_api_key', param: null, message: expect.stringMatching(/^invalid API key/) as unknown });
    const missing = await post('/v1/chat/completions', JSON.stringify({ model: 'frontier', messages: [{ role: 'user', content: 'x' }] }), { authorization: '' });
    expect(missing.status).toBe(401);
    expect(((await missing.json()) as { error: unknown }).error).toMatchObject({ type: 'invalid_request_error', code: null, message: expect.stringMatching(/^no API key/) as unknown });
    // A key in another scheme is named as such, never echoed.
    const basic = await post('/v1/chat/completions', JSON.stringify({ model: 'frontier', messages: [{ role: 'user', content: 'x' }] }), { authorization: 'Basic c2stc2VjcmV0' });
    expect(basic.status).toBe(401);
    const basicText = await basic.text();
    expect(basicText).toMatch(/the Authorization header is not of the form \\"Bearer <key>\\"/);
    expect(basicText).not.toContain('c2stc2VjcmV0');
    // Only HTTP's own whitespace (space, tab) is taken off, as for x-api-key: a no-break space is part of the key, or no separator.
    const chat = JSON.stringify({ model: 'frontier', messages: [{ role: 'user', content: 'x' }], max_tokens: 5 });
    expect((await post('/v1/chat/completions', chat, { authorization: `Bearer ${usKey}\u00a0` })).status).toBe(401);
    expect((await post('/v1/chat/completions', chat, { authorization: `Bearer\u00a0${usKey}` })).status).toBe(401);
    expect((await post('/v1/chat/completions', chat, { 'x-api-key': `${usKey}\u00a0`, authorization: '' })).status).toBe(401);
    expect((await post('/v1/chat/completions', chat, { authorization: `bEaReR \t ${usKey}` })).status).toBe(200);
    const ok = await post('/v1/chat/completions', JSON.stringify({ model: 'frontier', messages: [{ role: 'user', content: 'x' }], max_tokens: 5 }));
    expect(ok.status).toBe(200);
  });

  it('GET /v1/models lists the public routes; /metrics exposes failovers and circuit state', async () => {
    const models = (await (await fetch(`${url}/v1/models`, { headers: { authorization: `Bearer ${globalKey}` } })).json()) as { data: { id: string }[] };
    expect(models.data.map((m) => m.id)).toEqual(['frontier', 'frontier-eu']);
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toMatch(/switchyard_failovers_total\{route="frontier"\} [1-9]/);
    expect(metrics).toMatch(/switchyard_upstream_errors_total\{endpoint="dead-us",status="0"\} [1-9]/);
    expect(metrics).toContain('switchyard_jurisdiction_rejections_total{tenant="us-corp"}');
  });
});

describe('logs', () => {
  const run = async (logPrompts: boolean): Promise<string> => {
    const lines: string[] = [];
    const { pino } = await import('pino');
    const logger = pino({ base: null }, { write: (line: string) => lines.push(line) });
    const base = config(openaiUpstream.url, anthropicUpstream.url, `logging: { logPrompts: ${logPrompts} }`);
    const logged = createGateway({ config: base, logger });
    const at = await logged.listen(0, '127.0.0.1');
    try {
      const response = await fetch(`${at}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${usKey}`, 'content-type': 'application/json', 'x-request-id': 'req-42' },
        body: JSON.stringify({ model: 'frontier', messages: [{ role: 'user', content: 'a secret prompt about zebras' }], max_tokens: 5, user: 'end-user-7f3a' }),
      });
      expect(response.status).toBe(200);
      expect(response.headers.get('x-request-id')).toBe('req-42');
    } finally {
      await logged.close();
    }
    return lines.join('');
  };

  it('carry the request id and no prompt or completion text by default, and never the API key', async () => {
    const text = await run(false);
    expect(text).toContain('"requestId":"req-42"');
    expect(text).not.toContain('zebras');
    expect(text).not.toContain('mock token');
    expect(text).not.toContain(usKey);
    expect(text).not.toContain('end-user-7f3a');
  });

  it('carry prompt and completion only when logging.logPrompts is on', async () => {
    const text = await run(true);
    expect(text).toContain('zebras');
    expect(text).toContain('mock token');
    expect(text).not.toContain(usKey);
    // The end-user id is for the upstream provider, never for the gateway's logs.
    expect(text).not.toContain('end-user-7f3a');
  });
});

describe('request ids', () => {
  it('echo a plain caller id, and replace one that is not a plain token (it would reach headers and logs)', async () => {
    const send = (id: string) =>
      fetch(`${url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${usKey}`, 'content-type': 'application/json', 'x-request-id': id },
        body: JSON.stringify({ model: 'frontier', messages: [{ role: 'user', content: 'hi' }], max_tokens: 3 }),
      });
    const plain = await send('trace-7f3a:42');
    expect(plain.headers.get('x-request-id')).toBe('trace-7f3a:42');
    // A W3C trace id (32 hex digits) is a plain id, not a key; nor are short words that begin as keys do (R36).
    for (const id of ['4bf92f3577b34da6a3ce929d0e0e4736', 'ASIA-PAC-0001', 'sk-SK-order-17']) expect((await send(id)).headers.get('x-request-id')).toBe(id);
    // A key pasted as the id (a provider's, or the tenant's own, found by its hash) would be echoed,
    // logged on every line and sent upstream (E42).
    for (const odd of ['has space', '"quoted"', 'x'.repeat(129), 'é', 'sk-ant-api03-Xy7Qw2Lm9Pz4Rt6Vb8Nc1Kd3Fg5Hj7Ks9Lq2Wm4Er6Ty8Ui0Op', usKey]) {
      const response = await send(odd);
      expect(response.status).toBe(200);
      expect(response.headers.get('x-request-id')).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      await response.text();
    }
    // Rate-limit headers still reach the client alongside the id.
    expect(plain.headers.get('x-ratelimit-limit-requests')).not.toBeNull();
  });

  it('are made by the injected generator where the caller sent none usable, on answers and socket refusals alike', async () => {
    let made = 0;
    const gateway = createGateway({ config: singleEndpointConfig('http://127.0.0.1:9', 'acme-demo-7', '{ retries: 0 }'), logger: false, generateRequestId: () => `gen-${(made += 1)}` });
    const gatewayUrl = await gateway.listen(0, '127.0.0.1');
    try {
      const send = (headers: Record<string, string>): Promise<Response> => fetch(`${gatewayUrl}/v1/chat/completions`, { method: 'POST', headers: { authorization: 'Bearer acme-demo-7', 'content-type': 'application/json', ...headers }, body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }], max_tokens: 3 }) });
      const ids: (string | null)[] = [];
      for (const headers of [{}, { 'x-request-id': 'has space' }, { 'x-request-id': 'acme-demo-7' }, { 'x-request-id': 'trace-1' }]) {
        const response = await send(headers);
        await response.text();
        ids.push(response.headers.get('x-request-id'));
      }
      expect(ids).toEqual(['gen-1', 'gen-2', 'gen-3', 'trace-1']);
      // A request head the gateway refuses before any handler runs is named by the same generator.
      const refused = await new Promise<string>((resolve, reject) => {
        const socket = connect(Number(new URL(gatewayUrl).port), '127.0.0.1');
        let text = '';
        socket.on('data', (chunk: Buffer) => (text += chunk.toString()));
        socket.on('close', () => resolve(text));
        socket.on('error', reject);
        socket.write('POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n');
      });
      expect(refused).toMatch(/x-request-id: gen-4\r\n/i);
    } finally {
      await gateway.close();
    }
  });

  it("replace a tenant's key of no provider's shape, found by its hash", async () => {
    const plainKey = 'acme-demo-7';
    const gateway = createGateway({ config: singleEndpointConfig('http://127.0.0.1:9', plainKey, '{ retries: 0 }'), logger: false });
    const gatewayUrl = await gateway.listen(0, '127.0.0.1');
    try {
      const send = (id: string): Promise<Response> => fetch(`${gatewayUrl}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${plainKey}`, 'content-type': 'application/json', 'x-request-id': id }, body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }], max_tokens: 3 }) });
      const pasted = await send(plainKey);
      await pasted.text();
      expect(pasted.headers.get('x-request-id')).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      // Glued to other words, still the key (R36: echoed, and sent upstream as 'acme-demo-7.retry1-1').
      // And the request's own key, glued with '-' or '_' too (R37, R38).
      for (const glued of [`${plainKey}.retry1`, `trace:${plainKey}`, `req-${plainKey}`, `${plainKey}_1`, `trace_${plainKey}-retry1`]) {
        const response = await send(glued);
        await response.text();
        expect(response.headers.get('x-request-id')).not.toContain(plainKey);
      }
      const other = await send('acme-demo-8');
      await other.text();
      expect(other.headers.get('x-request-id')).toBe('acme-demo-8');
    } finally {
      await gateway.close();
    }
  });
});
