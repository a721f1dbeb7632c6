import type { ServerResponse } from 'node:http';
import Anthropic from '@anthropic-ai/sdk';
import { describe, expect, it } from 'vitest';
import { createGateway } from '../../src/gateway/gateway-server.js';
import { cheapestFirstConfig, closedAfterEach, metricValue, readSse, scrape, singleEndpointConfig, startScriptedUpstream, type ScriptedUpstream } from './helpers/fleet.js';

// Upstreams report a prompt served mostly from their prompt cache: Anthropic counts the cached
// parts apart from input_tokens, OpenAI counts them inside prompt_tokens. Callers of either dialect
// get the whole prompt and its parts; limits and metrics count the whole prompt.
const { cleanups } = closedAfterEach();
const apiKey = 'sk-prompt-cache';
const event = (type: string, data: object): string => `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;
type Respond = (res: ServerResponse) => void;
const start = (usage: object): string => event('message_start', { message: { id: 'msg_1', type: 'message', role: 'assistant', model: 'm', content: [], stop_reason: null, stop_sequence: null, usage } });
/** A start whose prompt was mostly read from the cache (10 after the breakpoint, 2,000 written, 30,000 read). */
const cachedStart = start({ input_tokens: 10, cache_creation_input_tokens: 2000, cache_read_input_tokens: 30000, output_tokens: 1 });
const anthropicAnswer =
  cachedStart +
  event('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }) +
  event('content_block_delta', { index: 0, delta: { type: 'text_delta', text: 'Hello.' } }) +
  event('content_block_stop', { index: 0 }) +
  // The delta repeats input_tokens alone: the cache parts are message_start's.
  event('message_delta', { delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { input_tokens: 10, output_tokens: 3 } }) +
  event('message_stop', {});
const openaiAnswer = (prompt: number, cached: number): string =>
  `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created: 0, model: 'm', choices: [{ index: 0, delta: { role: 'assistant', content: 'Hello.' }, finish_reason: null }] })}\n\n` +
  `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created: 0, model: 'm', choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] })}\n\n` +
  `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created: 0, model: 'm', choices: [], usage: { prompt_tokens: prompt, completion_tokens: 3, total_tokens: prompt + 3, prompt_tokens_details: { cached_tokens: cached } } })}\n\n` +
  'data: [DONE]\n\n';
const question = { model: 'm', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] };
const asAnthropic = (url: string, body: object = {}): Promise<Response> => fetch(`${url}/v1/messages`, { method: 'POST', headers: { 'x-api-key': apiKey, 'anthropic-version': '2023-06-01', 'content-type': 'application/json' }, body: JSON.stringify({ ...question, ...body }) });
const asOpenai = (url: string, body: object = {}): Promise<Response> => fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ ...question, ...body }) });

const textBlock = (text: string): string => event('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }) + event('content_block_delta', { index: 0, delta: { type: 'text_delta', text } });
/** An upstream that writes `frames` and then drops the connection. */
const breaksAfter =
  (frames: string): Respond =>
  (res) => {
    res.write(frames);
    setTimeout(() => res.destroy(), 30);
  };
const anthropicBreaksAfterWhitespace = breaksAfter(cachedStart + textBlock('\n\n'));
/** anthropicAnswer from an endpoint that had nothing cached: it wrote the whole prefix to its cache. */
const nothingCachedAnswer = anthropicAnswer.replace('"cache_creation_input_tokens":2000,"cache_read_input_tokens":30000', '"cache_creation_input_tokens":32000,"cache_read_input_tokens":0');

/** A gateway over scripted upstreams, cheapest first (e0, e1, ...), resuming and retrying once. */
async function gatewayOverEach(upstreams: readonly (readonly [Respond, 'openai' | 'anthropic'])[]): Promise<{ url: string; upstreams: ScriptedUpstream[] }> {
  const started: ScriptedUpstream[] = [];
  for (const [respond] of upstreams) {
    const upstream = await startScriptedUpstream(respond);
    cleanups.push(() => upstream.close());
    started.push(upstream);
  }
  const gateway = createGateway({ config: cheapestFirstConfig(started.map((upstream, index) => [upstream.url, upstreams[index]?.[1] ?? 'openai'] as const), apiKey, '{ retries: 1, resumeStreams: true, backoffMs: 1, maxBackoffMs: 5, ttftTimeoutMs: 5000, deadlineMs: 10000 }'), logger: false });
  const url = await gateway.listen(0, '127.0.0.1');
  cleanups.push(() => gateway.close());
  return { url, upstreams: started };
}

async function gatewayOver(answer: string, dialect: 'openai' | 'anthropic'): Promise<string> {
  const upstream = await startScriptedUpstream((res) => res.end(answer));
  cleanups.push(() => upstream.close());
  const gateway = createGateway({ config: singleEndpointConfig(upstream.url, apiKey, '', dialect, { tokensPerMinute: 100_000 }), logger: false });
  const url = await gateway.listen(0, '127.0.0.1');
  cleanups.push(() => gateway.close());
  return url;
}

describe('prompt cache usage', () => {
  it("an Anthropic upstream's cache parts reach Anthropic callers as sent, and OpenAI callers inside prompt_tokens", async () => {
    const url = await gatewayOver(anthropicAnswer, 'anthropic');
    const whole = (await (await asAnthropic(url)).json()) as { usage: unknown };
    expect(whole.usage).toEqual({ input_tokens: 10, output_tokens: 3, cache_creation_input_tokens: 2000, cache_read_input_tokens: 30000 });
    const streamed = await readSse(await asAnthropic(url, { stream: true }), 'anthropic');
    expect(streamed.ending).toBe('complete');
    expect(streamed.raw).toContain('"usage":{"input_tokens":10,"cache_creation_input_tokens":2000,"cache_read_input_tokens":30000,"output_tokens":0}');
    expect(streamed.raw).toContain('"usage":{"input_tokens":10,"cache_creation_input_tokens":2000,"cache_read_input_tokens":30000,"output_tokens":3}');
    const openai = (await (await asOpenai(url)).json()) as { usage: unknown };
    expect(openai.usage).toEqual({ prompt_tokens: 32010, completion_tokens: 3, total_tokens: 32013, prompt_tokens_details: { cached_tokens: 30000, cache_write_tokens: 2000 } });
    const streamedOpenai = await readSse(await asOpenai(url, { stream: true, stream_options: { include_usage: true } }), 'openai');
    expect(streamedOpenai.raw).toContain('"usage":{"prompt_tokens":32010,"completion_tokens":3,"total_tokens":32013,"prompt_tokens_details":{"cached_tokens":30000,"cache_write_tokens":2000}}');
  });

  it("an upstream's hour-long cache writes and reasoning tokens reach callers of both dialects, streamed and whole", async () => {
    // Anthropic's split of the write by how long it is kept, and its thinking tokens (message_delta's output details).
    const split = { ephemeral_5m_input_tokens: 500, ephemeral_1h_input_tokens: 1500 };
    const anthropicUpstream = anthropicAnswer
      .replace('"cache_read_input_tokens":30000,"output_tokens":1', `"cache_read_input_tokens":30000,"cache_creation":${JSON.stringify(split)},"output_tokens":1`)
      .replace('"usage":{"input_tokens":10,"output_tokens":3}', '"usage":{"input_tokens":10,"output_tokens":3,"output_tokens_details":{"thinking_tokens":2}}');
    const fromAnthropic = await gatewayOver(anthropicUpstream, 'anthropic');
    const whole = (await (await asAnthropic(fromAnthropic)).json()) as { usage: unknown };
    expect(whole.usage).toEqual({ input_tokens: 10, cache_creation_input_tokens: 2000, cache_read_input_tokens: 30000, cache_creation: split, output_tokens: 3, output_tokens_details: { thinking_tokens: 2 } });
    const streamed = await readSse(await asAnthropic(fromAnthropic, { stream: true }), 'anthropic');
    expect(streamed.raw).toContain(`"usage":{"input_tokens":10,"cache_creation_input_tokens":2000,"cache_read_input_tokens":30000,"cache_creation":${JSON.stringify(split)},"output_tokens":0}`);
    expect(streamed.raw).toContain(`"usage":{"input_tokens":10,"cache_creation_input_tokens":2000,"cache_read_input_tokens":30000,"cache_creation":${JSON.stringify(split)},"output_tokens":3,"output_tokens_details":{"thinking_tokens":2}}`);
    const openai = (await (await asOpenai(fromAnthropic)).json()) as { usage: unknown };
    expect(openai.usage).toEqual({ prompt_tokens: 32010, completion_tokens: 3, total_tokens: 32013, prompt_tokens_details: { cached_tokens: 30000, cache_write_tokens: 2000 }, completion_tokens_details: { reasoning_tokens: 2 } });
    // OpenAI's reasoning tokens and cache writes, to both.
    const openaiUpstream = openaiAnswer(500, 100).replace('"cached_tokens":100}', '"cached_tokens":100,"cache_write_tokens":300},"completion_tokens_details":{"reasoning_tokens":2}');
    const fromOpenai = await gatewayOver(openaiUpstream, 'openai');
    const streamedOpenai = await readSse(await asOpenai(fromOpenai, { stream: true, stream_options: { include_usage: true } }), 'openai');
    expect(streamedOpenai.raw).toContain('"usage":{"prompt_tokens":500,"completion_tokens":3,"total_tokens":503,"prompt_tokens_details":{"cached_tokens":100,"cache_write_tokens":300},"completion_tokens_details":{"reasoning_tokens":2}}');
    const toAnthropic = (await (await asAnthropic(fromOpenai)).json()) as { usage: unknown };
    expect(toAnthropic.usage).toEqual({ input_tokens: 100, cache_creation_input_tokens: 300, cache_read_input_tokens: 100, output_tokens: 3, output_tokens_details: { thinking_tokens: 2 } });
  });

  it('the whole prompt, cached parts included, is what the tenant is charged and the metrics count', async () => {
    const url = await gatewayOver(anthropicAnswer, 'anthropic');
    expect((await asAnthropic(url)).status).toBe(200);
    // A whole answer's headers go out once it is settled: 2 x 32,013 of the tenant's 100,000
    // tokens a minute are spent (give or take the refill since).
    const next = await asAnthropic(url);
    expect(next.status).toBe(200);
    const remaining = Number(next.headers.get('anthropic-ratelimit-tokens-remaining'));
    expect(remaining).toBeGreaterThanOrEqual(100_000 - 2 * 32_013);
    expect(remaining).toBeLessThan(100_000 - 2 * 32_013 + 1000);
    const metrics = await scrape(url);
    expect(metricValue(metrics, 'switchyard_tokens_total', { endpoint: 'up', direction: 'input' })).toBe(2 * 32_010);
    // The third is admitted on its small estimate and settled at 32,013 too; the fourth still fits
    // its estimate into what is left; after it the minute is spent, and the fifth waits.
    expect((await asAnthropic(url)).status).toBe(200);
    expect((await asAnthropic(url)).status).toBe(200);
    expect((await asAnthropic(url)).status).toBe(429);
  });

  it("an OpenAI upstream's cached tokens reach OpenAI callers as sent, and Anthropic callers as the cache read apart from input_tokens", async () => {
    const url = await gatewayOver(openaiAnswer(500, 400), 'openai');
    const openai = (await (await asOpenai(url)).json()) as { usage: unknown };
    expect(openai.usage).toEqual({ prompt_tokens: 500, completion_tokens: 3, total_tokens: 503, prompt_tokens_details: { cached_tokens: 400 } });
    const anthropic = (await (await asAnthropic(url)).json()) as { usage: unknown };
    expect(anthropic.usage).toEqual({ input_tokens: 100, output_tokens: 3, cache_creation_input_tokens: 0, cache_read_input_tokens: 400 });
    const streamed = await readSse(await asAnthropic(url, { stream: true }), 'anthropic');
    // The prompt's count comes only at the end from an OpenAI upstream: message_delta carries it, with its parts.
    expect(streamed.raw).toContain('"usage":{"input_tokens":100,"cache_creation_input_tokens":0,"cache_read_input_tokens":400,"output_tokens":3}');
  });

  it("a resumed answer reports the first start's prompt with its parts, so that a stream's start and end agree", async () => {
    // The continuation's upstream counts its own, longer prompt.
    const { url } = await gatewayOverEach([
      [breaksAfter(cachedStart + textBlock('Hello there, ')), 'anthropic'],
      [(res) => res.end(anthropicAnswer.replace('"input_tokens":10,"cache_creation', '"input_tokens":15,"cache_creation').replace('"output_tokens":3}', '"output_tokens":3,"output_tokens_details":{"thinking_tokens":1}}')), 'anthropic'],
    ]);
    // The SDK keeps message_start's parts unless message_delta gives its own: the sum is the whole prompt, once.
    const streamed = await new Anthropic({ apiKey, baseURL: url, maxRetries: 0 }).messages.stream({ model: 'm', max_tokens: 64, messages: [{ role: 'user', content: 'hi' }] }).finalMessage();
    expect(streamed.content).toEqual([{ type: 'text', text: 'Hello there, Hello.' }]);
    expect(streamed.usage).toMatchObject({ input_tokens: 10, cache_creation_input_tokens: 2000, cache_read_input_tokens: 30000 });
    const whole = (await (await asAnthropic(url)).json()) as { usage: unknown };
    // No reasoning part: the continuation's upstream counted its own tokens only.
    expect(whole.usage).toEqual({ input_tokens: 10, output_tokens: expect.any(Number) as unknown, cache_creation_input_tokens: 2000, cache_read_input_tokens: 30000 });
  });

  it("an answer started over elsewhere reports the endpoint that served it: its count and its parts", async () => {
    // The first endpoint breaks inside a tool call, which cannot be continued: the whole request goes
    // again, to one that had nothing cached.
    const { url, upstreams } = await gatewayOverEach([
      [breaksAfter(cachedStart + event('content_block_start', { index: 0, content_block: { type: 'tool_use', id: 'toolu_1', name: 'get', input: {} } }) + event('content_block_delta', { index: 0, delta: { type: 'input_json_delta', partial_json: '{"city": "Pa' } })), 'anthropic'],
      [(res) => res.end(nothingCachedAnswer), 'anthropic'],
    ]);
    const tools = [{ name: 'get', description: 'd', input_schema: { type: 'object', properties: { city: { type: 'string' } } } }];
    const whole = (await (await asAnthropic(url, { tools })).json()) as { content: unknown; usage: unknown };
    expect(whole.content).toEqual([{ type: 'text', text: 'Hello.' }]);
    expect(whole.usage).toEqual({ input_tokens: 10, output_tokens: 3, cache_creation_input_tokens: 32000, cache_read_input_tokens: 0 });
    expect(upstreams[1]?.arrivals()).toBe(1);
  });

  it('an answer whose first attempt sent only whitespace, sent again as it came, reports the endpoint that served it', async () => {
    const { url, upstreams } = await gatewayOverEach([
      [anthropicBreaksAfterWhitespace, 'anthropic'],
      [(res) => res.end(nothingCachedAnswer), 'anthropic'],
    ]);
    const whole = (await (await asAnthropic(url)).json()) as { usage: unknown };
    expect(whole.usage).toEqual({ input_tokens: 10, output_tokens: 3, cache_creation_input_tokens: 32000, cache_read_input_tokens: 0 });
    expect(upstreams[1]?.arrivals()).toBe(1);
    // The serving endpoint's prompt is the caller's, once; the one that broke counted its own.
    expect(metricValue(await scrape(url), 'switchyard_tokens_total', { endpoint: 'e1', direction: 'input' })).toBe(32_010);
  });

  describe('after a first attempt that sent only whitespace (the request sent again as it came)', () => {
    const oaChunk = (content: string): string => `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created: 0, model: 'm', choices: [{ index: 0, delta: { role: 'assistant', content }, finish_reason: null }] })}\n\n`;
    const serving = (texts: readonly string[], output: number): string =>
      start({ input_tokens: 10, cache_creation_input_tokens: 32000, cache_read_input_tokens: 0, output_tokens: 1 }) +
      event('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }) +
      texts.map((text) => event('content_block_delta', { index: 0, delta: { type: 'text_delta', text } })).join('') +
      event('content_block_stop', { index: 0 }) +
      event('message_delta', { delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { input_tokens: 10, output_tokens: output } }) +
      event('message_stop', {});
    const openaiBreaksAfter = (text: string): Respond => breaksAfter(oaChunk(text));
    const gatewayOf = async (upstreams: Parameters<typeof gatewayOverEach>[0]): Promise<string> => (await gatewayOverEach(upstreams)).url;

    it('streams report the serving endpoint, to OpenAI callers and to Anthropic callers told only the estimate', async () => {
      const url = await gatewayOf([
        [openaiBreaksAfter('\n\n'), 'openai'],
        [(res) => res.end(serving(['\n\nHello.'], 3)), 'anthropic'],
      ]);
      const openai = await readSse(await asOpenai(url, { stream: true, stream_options: { include_usage: true } }), 'openai');
      expect(openai.raw).toContain('"usage":{"prompt_tokens":32010,"completion_tokens":3,"total_tokens":32013,"prompt_tokens_details":{"cached_tokens":0,"cache_write_tokens":32000}}');
      const anthropic = await readSse(await asAnthropic(url, { stream: true }), 'anthropic');
      expect(anthropic.raw).toContain('"usage":{"input_tokens":10,"cache_creation_input_tokens":32000,"cache_read_input_tokens":0,"output_tokens":3}');
    });

    it("an Anthropic stream told the broken endpoint's parts is told the serving endpoint's, all three", async () => {
      const url = await gatewayOf([
        [anthropicBreaksAfterWhitespace, 'anthropic'],
        [(res) => res.end(serving(['\n\nHello.'], 3)), 'anthropic'],
      ]);
      const streamed = await new Anthropic({ apiKey, baseURL: url, maxRetries: 0 }).messages.stream({ model: 'm', max_tokens: 64, messages: [{ role: 'user', content: 'hi' }] }).finalMessage();
      expect(streamed.usage).toMatchObject({ input_tokens: 10, cache_creation_input_tokens: 32000, cache_read_input_tokens: 0 });
    });

    it('OpenAI callers get cached_tokens only from an upstream that said, not from an endpoint that broke', async () => {
      const openaiWhole = `${oaChunk('\n\nHello.')}data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created: 0, model: 'm', choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] })}\n\ndata: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created: 0, model: 'm', choices: [], usage: { prompt_tokens: 40, completion_tokens: 3, total_tokens: 43 } })}\n\ndata: [DONE]\n\n`;
      const url = await gatewayOf([
        [anthropicBreaksAfterWhitespace, 'anthropic'],
        [(res) => res.end(openaiWhole), 'openai'],
      ]);
      const whole = (await (await asOpenai(url)).json()) as { usage: unknown };
      expect(whole.usage).toEqual({ prompt_tokens: 40, completion_tokens: 3, total_tokens: 43 });
      const streamed = await readSse(await asOpenai(url, { stream: true, stream_options: { include_usage: true } }), 'openai');
      expect(streamed.raw).toContain('"usage":{"prompt_tokens":40,"completion_tokens":3,"total_tokens":43}');
    });

    it('a count of the caller\'s prompt is not given up for the estimate when the next attempt counts nothing', async () => {
      const url = await gatewayOf([
        [anthropicBreaksAfterWhitespace, 'anthropic'],
        [openaiBreaksAfter('\n\nHello '), 'openai'],
        [(res) => res.end(serving(['there.'], 2)), 'anthropic'],
      ]);
      const whole = (await (await asAnthropic(url)).json()) as { usage: { input_tokens: number; cache_creation_input_tokens: number; cache_read_input_tokens: number } };
      // The broken endpoint's count of the caller's prompt, with its own cache parts.
      expect(whole.usage).toMatchObject({ input_tokens: 10, cache_creation_input_tokens: 2000, cache_read_input_tokens: 30000 });
    });
  });
});
