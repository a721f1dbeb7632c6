import Anthropic from '@anthropic-ai/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { thinkingSignature } from '../../src/emulator/generate.js';
import { createGateway } from '../../src/gateway/gateway-server.js';
import { cheapestFirstConfig, closedAfterEach, openAIChunk, readSse, singleEndpointConfig, startBothDialects, startCountingProxy, startScriptedUpstream, startTestEmulator, type BothDialects } from './helpers/fleet.js';

// Extended thinking through the gateway: Anthropic callers get the model's thinking blocks from
// Anthropic-dialect upstreams, signed, streamed and whole, and send them back unchanged in an
// agent loop (the emulator, as Anthropic does, refuses a block whose signature does not match).

const apiKey = 'sk-thinking';
const { cleanups, scripted } = closedAfterEach();
let fleet: BothDialects;
let client: Anthropic;

beforeAll(async () => {
  fleet = await startBothDialects('thinker', apiKey);
  client = new Anthropic({ apiKey, baseURL: fleet.url, maxRetries: 0 });
});
afterAll(() => fleet.close());

const question = { model: 'anthropic-upstream', max_tokens: 2048, thinking: { type: 'enabled' as const, budget_tokens: 1024 }, messages: [{ role: 'user' as const, content: 'Which pool should serve the EU traffic?' }] };

describe('extended thinking, Anthropic caller, Anthropic-dialect upstream', () => {
  it('a whole answer starts with the signed thinking block, then the text; streamed, the SDK builds the same message', async () => {
    const whole = await client.messages.create(question);
    const [thinking, text] = whole.content;
    if (thinking?.type !== 'thinking' || text?.type !== 'text') throw new Error(`unexpected content: ${JSON.stringify(whole.content)}`);
    expect(thinking.thinking).not.toBe('');
    expect(thinking.signature).toBe(thinkingSignature(thinking.thinking));
    expect(text.text).not.toBe('');
    const streamed = await client.messages.stream(question).finalMessage();
    expect(streamed.content).toEqual(whole.content);
    expect(streamed.usage.output_tokens).toBe(whole.usage.output_tokens);
  });

  it('exact frames: the thinking block (deltas, then its signature) before the text block', async () => {
    const response = await fetch(`${fleet.url}/v1/messages`, { method: 'POST', headers: { 'x-api-key': apiKey, 'anthropic-version': '2023-06-01', 'content-type': 'application/json' }, body: JSON.stringify({ ...question, max_tokens: 1026, stream: true }) });
    const frames = (await response.text()).split('\n\n').filter((frame) => frame !== '');
    const types = frames.map((frame) => /^event: (\S+)/.exec(frame)?.[1]);
    // With max_tokens 1026 the thinking takes its natural 8 to 24 tokens, the answer the rest.
    const blockStarts = frames.filter((frame) => frame.startsWith('event: content_block_start')).map((frame) => JSON.parse(frame.slice(frame.indexOf('data: ') + 6)) as { index: number; content_block: { type: string } });
    expect(blockStarts.map((start) => [start.index, start.content_block.type])).toEqual([[0, 'thinking'], [1, 'text']]);
    expect(frames[1]).toBe('event: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}}');
    expect(types[2]).toBe('ping');
    const signature = frames.findIndex((frame) => frame.includes('"signature_delta"'));
    expect(frames[signature + 1]).toBe('event: content_block_stop\ndata: {"type":"content_block_stop","index":0}');
    expect(types.slice(3, signature).every((type) => type === 'content_block_delta')).toBe(true);
    expect(frames.slice(3, signature).every((frame) => frame.includes('"thinking_delta"'))).toBe(true);
    expect(types.at(-1)).toBe('message_stop');
  });

  it('in an agent loop the thinking goes back with the tool call, unchanged, and a changed block is refused upstream', async () => {
    const tools = [{ name: 'pick_pool', description: 'Picks a pool', input_schema: { type: 'object' as const, properties: { region: { type: 'string' } }, required: ['region'] } }];
    const first = await client.messages.create({ ...question, tools });
    expect(first.content.map((block) => block.type)).toEqual(['thinking', 'tool_use']);
    const call = first.content.find((block) => block.type === 'tool_use');
    if (call?.type !== 'tool_use') throw new Error('no call');
    const loop = (assistant: Anthropic.ContentBlockParam[]): Promise<Anthropic.Message> =>
      client.messages.create({ ...question, tools, messages: [...question.messages, { role: 'assistant', content: assistant }, { role: 'user', content: [{ type: 'tool_result', tool_use_id: call.id, content: 'eu-west-tpu' }] }] });
    const second = await loop(first.content as Anthropic.ContentBlockParam[]);
    expect(second.stop_reason).toBe('end_turn');
    const changed = first.content.map((block) => (block.type === 'thinking' ? { ...block, thinking: `${block.thinking} (edited)` } : block));
    await expect(loop(changed as Anthropic.ContentBlockParam[])).rejects.toMatchObject({ status: 400, message: expect.stringContaining('invalid signature in a thinking block') });
  });

  it('is routed only to Anthropic-dialect endpoints that think: elsewhere a 400 naming thinking', async () => {
    await expect(client.messages.create({ ...question, model: 'openai-upstream' })).rejects.toMatchObject({ status: 400, error: { error: { type: 'invalid_request_error', message: expect.stringContaining('gives extended thinking (Anthropic-dialect endpoints only, not marked thinking: false)') } } });
    // Without thinking the same route serves, and thinking blocks in the history are left out for it.
    const plain = await client.messages.create({ model: 'openai-upstream', max_tokens: 50, messages: [...question.messages, { role: 'assistant', content: [{ type: 'thinking', thinking: 'hmm', signature: 'sig' }, { type: 'text', text: 'Frankfurt.' }] }, { role: 'user', content: 'Why?' }] });
    expect(plain.content[0]?.type).toBe('text');
  });

  it('adaptive thinking (the model decides) is no requirement: an endpoint without thinking answers it, sent no thinking', async () => {
    const adaptive = { ...question, thinking: { type: 'adaptive' as const } };
    // Through an OpenAI-dialect upstream (as Claude Code's default request reaches an open model on vLLM).
    const viaOpenai = await client.messages.create({ ...adaptive, model: 'openai-upstream' });
    expect(viaOpenai.content.map((block) => block.type)).toEqual(['text']);
    // Through an Anthropic-dialect endpoint marked thinking: false, which is sent no thinking field.
    const upstream = await startScriptedUpstream((res) => res.end(JSON.stringify({ id: 'msg_1', type: 'message', role: 'assistant', model: 'm', content: [{ type: 'text', text: 'Frankfurt.' }], stop_reason: 'end_turn', stop_sequence: null, usage: { input_tokens: 12, output_tokens: 3 } })), { status: 200, contentType: 'application/json' });
    cleanups.push(() => upstream.close());
    const gateway = createGateway({ config: cheapestFirstConfig([[upstream.url, 'anthropic']], apiKey, '{}', ', thinking: false'), logger: false });
    cleanups.push(() => gateway.close());
    const noThinking = new Anthropic({ apiKey, baseURL: await gateway.listen(0, '127.0.0.1'), maxRetries: 0 });
    const answer = await noThinking.messages.create({ ...adaptive, model: 'm' });
    expect(answer.content).toEqual([{ type: 'text', text: 'Frankfurt.' }]);
    expect(upstream.bodies[0]).not.toHaveProperty('thinking');
    // Thinking it must get (enabled) is still refused there.
    await expect(noThinking.messages.create({ ...question, model: 'm' })).rejects.toMatchObject({ status: 400, error: { error: { message: expect.stringContaining('send thinking of type adaptive') } } });
  });
});

describe('adaptive thinking the model did not use', () => {
  it('is resumed after a break, without thinking, even on an endpoint that thinks (which takes no prefill with thinking on)', async () => {
    // e0 (cheapest) sends some text, then drops the connection; e1 is an Anthropic-dialect emulator.
    const breaking = await scripted((res) => {
      res.write(openAIChunk({ role: 'assistant', content: 'Frankfurt is the ' }));
      setTimeout(() => res.destroy(), 20);
    });
    const replica = await startTestEmulator({ servedModelName: 'm' });
    const gateway = createGateway({ config: cheapestFirstConfig([[breaking.url, 'openai'], [replica.url, 'anthropic']], apiKey, '{ retries: 1 }'), logger: false });
    cleanups.push(() => replica.close(), () => gateway.close());
    const url = await gateway.listen(0, '127.0.0.1');
    const response = await fetch(`${url}/v1/messages`, { method: 'POST', headers: { 'x-api-key': apiKey, 'anthropic-version': '2023-06-01', 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', max_tokens: 200, stream: true, thinking: { type: 'adaptive' }, messages: [{ role: 'user', content: 'Which pool should serve EU traffic?' }] }) });
    const read = await readSse(response, 'anthropic');
    expect(read.ending).toBe('complete');
    expect(read.text.startsWith('Frankfurt is the ')).toBe(true);
    expect(read.text.length).toBeGreaterThan('Frankfurt is the '.length);
  });
});

describe('a thinking request whose budget a tenant limit lowers', () => {
  it('gets its thinking budget lowered below the output budget, or, with no room for thinking left, a 429 saying so', async () => {
    const replica = await startTestEmulator({ servedModelName: 'm' });
    cleanups.push(() => replica.close());
    const limited = async (tokensPerMinute: number): Promise<Anthropic> => {
      const gateway = createGateway({ config: singleEndpointConfig(replica.url, apiKey, '', 'anthropic', { contextWindow: 131_072, tokensPerMinute }), logger: false });
      cleanups.push(() => gateway.close());
      return new Anthropic({ apiKey, baseURL: await gateway.listen(0, '127.0.0.1'), maxRetries: 0 });
    };
    const ask = { model: 'm', max_tokens: 8000, thinking: { type: 'enabled' as const, budget_tokens: 4000 }, messages: [{ role: 'user' as const, content: 'Which pool?' }] };
    // 2,000 a minute: the budget is lowered to about 1,990, the thinking budget below it (the emulator refuses otherwise).
    const answer = await (await limited(2000)).messages.create(ask);
    expect(answer.content[0]?.type).toBe('thinking');
    expect(answer.usage.input_tokens + answer.usage.output_tokens).toBeLessThanOrEqual(2000);
    // 1,000 a minute leaves no room for thinking's least budget (1,024).
    const refused: unknown = await (await limited(1000)).messages.create(ask).catch((error: unknown) => error);
    expect(refused).toMatchObject({ status: 429, message: expect.stringContaining('too few for extended thinking (at least 1024)') });
    // No retry gives the thinking room: the SDK is told not to.
    expect((refused as InstanceType<typeof Anthropic.APIError>).headers?.get('x-should-retry')).toBe('false');
  });
});

describe('a stream that breaks after thinking began', () => {
  // An Anthropic upstream that sends a little thinking, then drops the connection.
  const breaking = (): ReturnType<typeof scripted> =>
    scripted((res) => {
      const event = (type: string, data: object): string => `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;
      res.write(
        event('message_start', { message: { id: 'msg_1', type: 'message', role: 'assistant', model: 'm', content: [], stop_reason: null, usage: { input_tokens: 5, output_tokens: 0 } } }) +
          event('content_block_start', { index: 0, content_block: { type: 'thinking', thinking: '', signature: '' } }) +
          event('content_block_delta', { index: 0, delta: { type: 'thinking_delta', thinking: 'Let me see' } }),
        () => setTimeout(() => res.socket?.destroy(), 20),
      );
    });

  it('is not continued (no prefill holds thinking): a stream ends with an error event; a whole answer starts over elsewhere', async () => {
    const upstream = await breaking();
    const replica = await startTestEmulator({ servedModelName: 'm' });
    cleanups.push(() => replica.close());
    const counted = await startCountingProxy(replica.url);
    cleanups.push(() => counted.close());
    const gateway = createGateway({ config: cheapestFirstConfig([[upstream.url, 'anthropic'], [counted.url, 'anthropic']], apiKey, '{ retries: 0, backoffMs: 1, maxBackoffMs: 5, ttftTimeoutMs: 5000, deadlineMs: 10000 }'), logger: false });
    const url = await gateway.listen(0, '127.0.0.1');
    cleanups.push(() => gateway.close());
    const body = { ...question, model: 'm' };
    const streamed = await readSse(await fetch(`${url}/v1/messages`, { method: 'POST', headers: { 'x-api-key': apiKey, 'anthropic-version': '2023-06-01', 'content-type': 'application/json' }, body: JSON.stringify({ ...body, stream: true }) }), 'anthropic');
    expect(streamed.ending).toBe('error-event');
    expect(streamed.raw).toContain('"thinking_delta","thinking":"Let me see"');
    expect(streamed.raw).toContain('the upstream stream broke in an answer with extended thinking, which cannot be continued');
    expect(counted.arrivals).toHaveLength(0);
    const whole = await new Anthropic({ apiKey, baseURL: url, maxRetries: 0 }).messages.create(body);
    expect(whole.content.map((block) => block.type)).toEqual(['thinking', 'text']);
    expect(whole.content[0]).toMatchObject({ signature: expect.any(String) });
    expect(JSON.stringify(whole.content)).not.toContain('Let me see');
  });
});

describe('thinking upstreams that stream little, or answer whole', () => {
  const event = (type: string, data: object): string => `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;
  const start = event('message_start', { message: { id: 'msg_1', type: 'message', role: 'assistant', model: 'm', content: [], stop_reason: null, usage: { input_tokens: 5, output_tokens: 0 } } });
  const text = (index: number, words: string): string => event('content_block_start', { index, content_block: { type: 'text', text: '' } }) + event('content_block_delta', { index, delta: { type: 'text_delta', text: words } });
  const end = event('content_block_stop', { index: 1 }) + event('message_delta', { delta: { stop_reason: 'end_turn' }, usage: { output_tokens: 7 } }) + event('message_stop', {});
  const gatewayOver = async (urls: readonly string[], resilience: string): Promise<string> => {
    const gateway = createGateway({ config: cheapestFirstConfig(urls.map((url) => [url, 'anthropic'] as const), apiKey, resilience), logger: false });
    const url = await gateway.listen(0, '127.0.0.1');
    cleanups.push(() => gateway.close());
    return url;
  };
  const post = (url: string, body: object): Promise<Response> => fetch(`${url}/v1/messages`, { method: 'POST', headers: { 'x-api-key': apiKey, 'anthropic-version': '2023-06-01', 'content-type': 'application/json' }, body: JSON.stringify({ ...question, model: 'm', ...body }) });

  it("an empty thinking block's start is a first token, and the silence after it no stall: thinking whose text is not shown (display omitted) outlasts both timeouts; display is forwarded", async () => {
    const quiet = await scripted((res) => {
      res.write(start + event('content_block_start', { index: 0, content_block: { type: 'thinking', thinking: '', signature: '' } }));
      setTimeout(() => res.end(event('content_block_delta', { index: 0, delta: { type: 'signature_delta', signature: 'c2ln' } }) + event('content_block_stop', { index: 0 }) + text(1, 'Frankfurt.') + end), 400);
    });
    // Nor is the silence that follows a stall (the sweep would cut it after 150 ms).
    const url = await gatewayOver([quiet.url], '{ retries: 0, ttftTimeoutMs: 250, tokenIdleTimeoutMs: 150, deadlineMs: 10000 }');
    const answer = (await (await post(url, { thinking: { type: 'enabled', budget_tokens: 1024, display: 'omitted' } })).json()) as { content: unknown[] };
    expect(answer.content).toEqual([{ type: 'thinking', thinking: '', signature: 'c2ln' }, { type: 'text', text: 'Frankfurt.' }]);
    expect(quiet.bodies[0]).toMatchObject({ thinking: { type: 'enabled', budget_tokens: 1024, display: 'omitted' } });
  });

  it('an answer with thinking enabled that broke in its text, before any thinking, is not continued either (no prefill with thinking)', async () => {
    const textOnly = await scripted((res) => res.write(start + text(0, 'Frankfurt, because'), () => setTimeout(() => res.socket?.destroy(), 20)));
    const other = await scripted((res) => res.end(start + text(0, 'x') + end));
    const url = await gatewayOver([textOnly.url, other.url], '{ retries: 0, ttftTimeoutMs: 5000, deadlineMs: 10000 }');
    const streamed = await readSse(await post(url, { thinking: { type: 'enabled', budget_tokens: 1024 }, stream: true }), 'anthropic');
    expect(streamed.ending).toBe('error-event');
    expect(other.arrivals()).toBe(0);
  });

  it('an adaptive answer that had not thought when it broke goes on without thinking (a prefill, which thinking would forbid)', async () => {
    const textOnly = await scripted((res) => res.write(start + text(0, 'Frankfurt, because'), () => setTimeout(() => res.socket?.destroy(), 20)));
    const other = await scripted((res) => res.end(start + text(0, ' it is close.') + end));
    const url = await gatewayOver([textOnly.url, other.url], '{ retries: 0, ttftTimeoutMs: 5000, deadlineMs: 10000 }');
    const streamed = await readSse(await post(url, { thinking: { type: 'adaptive' }, stream: true }), 'anthropic');
    expect(streamed.ending).toBe('complete');
    expect(streamed.text).toBe('Frankfurt, because it is close.');
    expect(other.bodies[0]).not.toHaveProperty('thinking');
    expect((other.bodies[0] as { messages: { role: string }[] }).messages.at(-1)?.role).toBe('assistant');
  });

  it('with display summarized, silence after a block opens is a stall again; either way the block opens for the caller', async () => {
    const stalled = await scripted((res) => res.write(start + event('content_block_start', { index: 0, content_block: { type: 'thinking', thinking: '', signature: '' } })));
    const url = await gatewayOver([stalled.url], '{ retries: 0, ttftTimeoutMs: 1000, tokenIdleTimeoutMs: 150, deadlineMs: 5000 }');
    const started = Date.now();
    const streamed = await readSse(await post(url, { thinking: { type: 'enabled', budget_tokens: 1024, display: 'summarized' }, stream: true }), 'anthropic');
    expect(Date.now() - started).toBeLessThan(2000);
    expect(streamed.ending).toBe('error-event');
    expect(streamed.raw).toContain('"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}');
    expect(streamed.raw).toContain('no token for 150 ms, in an answer with extended thinking, which cannot be continued');
  });

  it('a whole answer cut inside its thinking leaves out the unsigned block, which could never go back', async () => {
    const cut = await scripted((res) =>
      res.end(start + event('content_block_start', { index: 0, content_block: { type: 'thinking', thinking: '', signature: '' } }) + event('content_block_delta', { index: 0, delta: { type: 'thinking_delta', thinking: 'Let me' } }) + event('message_delta', { delta: { stop_reason: 'max_tokens' }, usage: { output_tokens: 2 } }) + event('message_stop', {})),
    );
    const url = await gatewayOver([cut.url], '{ retries: 0, ttftTimeoutMs: 5000, deadlineMs: 10000 }');
    const answer = (await (await post(url, { thinking: { type: 'adaptive', display: 'updates' } })).json()) as { content: unknown[]; stop_reason: string };
    expect(answer).toMatchObject({ content: [], stop_reason: 'max_tokens' });
    // An unknown display is passed on as sent.
    expect(cut.bodies[0]).toMatchObject({ thinking: { type: 'adaptive', display: 'updates' } });
  });

  it('an Anthropic-dialect endpoint marked thinking: false is sent the history without its thinking blocks', async () => {
    const plain = await scripted((res) => res.end(start + text(0, 'Because.') + end));
    const gateway = createGateway({ config: cheapestFirstConfig([[plain.url, 'anthropic']], apiKey, '{ retries: 0, ttftTimeoutMs: 5000, deadlineMs: 10000 }', ', thinking: false'), logger: false });
    const url = await gateway.listen(0, '127.0.0.1');
    cleanups.push(() => gateway.close());
    const history = [...question.messages, { role: 'assistant', content: [{ type: 'thinking', thinking: 'hmm', signature: 'sig' }, { type: 'text', text: 'Frankfurt.' }] }, { role: 'user', content: 'Why?' }];
    expect((await post(url, { thinking: undefined, messages: history })).status).toBe(200);
    expect((plain.bodies[0] as { messages: unknown[] }).messages[1]).toEqual({ role: 'assistant', content: 'Frankfurt.' });
  });

  it("an upstream's whole JSON answer keeps its thinking", async () => {
    const whole = await startScriptedUpstream((res) => res.end(JSON.stringify({ id: 'msg_1', type: 'message', role: 'assistant', model: 'm', content: [{ type: 'thinking', thinking: 'Consider.', signature: 'c2ln' }, { type: 'redacted_thinking', data: 'ZW5j' }, { type: 'text', text: 'Frankfurt.' }], stop_reason: 'end_turn', usage: { input_tokens: 5, output_tokens: 7 } })), { status: 200, contentType: 'application/json' });
    cleanups.push(() => whole.close());
    const url = await gatewayOver([whole.url], '{ retries: 0, ttftTimeoutMs: 5000, deadlineMs: 10000 }');
    const answer = (await (await post(url, {})).json()) as { content: unknown[] };
    expect(answer.content).toEqual([{ type: 'thinking', thinking: 'Consider.', signature: 'c2ln' }, { type: 'redacted_thinking', data: 'ZW5j' }, { type: 'text', text: 'Frankfurt.' }]);
  });
});

