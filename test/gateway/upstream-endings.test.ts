import { describe, expect, it } from 'vitest';
import { createGateway } from '../../src/gateway/gateway-server.js';
import { closedAfterEach, openAIChunk, readSse, singleEndpointConfig, startScriptedUpstream } from './helpers/fleet.js';

// How an upstream ends its answer decides what the caller is told: a refusal or a cut stays one
// though an error follows it, and a finish that ends no answer is no whole answer.
const { cleanups, scripted } = closedAfterEach();
const apiKey = 'sk-endings';
const event = (type: string, data: object): string => `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;
const resilience = '{ retries: 0, backoffMs: 1, maxBackoffMs: 5, ttftTimeoutMs: 5000, deadlineMs: 10000 }';
const question = { model: 'm', max_tokens: 64, messages: [{ role: 'user', content: 'hi' }] };
/** An Anthropic answer's opening: its message_start, and a text block begun with `text`. */
const textOpening = (text: string): string =>
  event('message_start', { message: { id: 'msg_1', type: 'message', role: 'assistant', model: 'm', content: [], stop_reason: null, usage: { input_tokens: 5, output_tokens: 0 } } }) +
  event('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }) +
  event('content_block_delta', { index: 0, delta: { type: 'text_delta', text } });
/** The question, with `body`'s fields, asked of the gateway at `url` in each dialect. */
const askMessages = (url: string, body: object = {}): Promise<Response> => fetch(`${url}/v1/messages`, { method: 'POST', headers: { 'x-api-key': apiKey, 'anthropic-version': '2023-06-01', 'content-type': 'application/json' }, body: JSON.stringify({ ...question, ...body }) });
const askChat = (url: string, body: object = {}): Promise<Response> => fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ ...question, ...body }) });

async function gatewayOver(upstreamUrl: string, dialect: 'openai' | 'anthropic'): Promise<string> {
  const gateway = createGateway({ config: singleEndpointConfig(upstreamUrl, apiKey, resilience, dialect), logger: false });
  const url = await gateway.listen(0, '127.0.0.1');
  cleanups.push(() => gateway.close());
  return url;
}

describe('upstream endings', () => {
  it('a whole JSON answer or error body that begins with a byte order mark is read as JSON (E26: a 502 "not JSON", an error without its words)', async () => {
    const answer = { id: 'chatcmpl-1', object: 'chat.completion', created: 0, model: 'm', choices: [{ index: 0, message: { role: 'assistant', content: 'Hello' }, finish_reason: 'stop' }], usage: { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 } };
    const whole = await startScriptedUpstream((res) => res.end(`\ufeff${JSON.stringify(answer)}`), { status: 200, contentType: 'application/json' });
    const refusing = await startScriptedUpstream((res) => res.end('\ufeff{"error":{"message":"max_tokens is too large for this model","type":"invalid_request_error"}}'), { status: 400, contentType: 'application/json' });
    cleanups.push(() => whole.close(), () => refusing.close());
    const answered = await askChat(await gatewayOver(whole.url, 'openai'));
    expect(answered.status).toBe(200);
    expect(((await answered.json()) as { choices: { message: { content: string } }[] }).choices[0]?.message.content).toBe('Hello');
    const refused = await askChat(await gatewayOver(refusing.url, 'openai'));
    expect(refused.status).toBe(400);
    expect(await refused.text()).toContain('max_tokens is too large for this model');
  });

  it('a refusal followed by an error event is told as the refusal, not continued', async () => {
    const upstream = await scripted((res) =>
      res.end(
        textOpening('I will not') +
          event('content_block_stop', { index: 0 }) +
          event('message_delta', { delta: { stop_reason: 'refusal', stop_sequence: null }, usage: { output_tokens: 3 } }) +
          event('error', { error: { type: 'overloaded_error', message: 'Overloaded' } }),
      ),
    );
    const url = await gatewayOver(upstream.url, 'anthropic');
    const answer = (await (await askMessages(url)).json()) as { content: unknown; stop_reason: string };
    expect(answer).toMatchObject({ content: [{ type: 'text', text: 'I will not' }], stop_reason: 'refusal' });
    const openai = (await (await askChat(url)).json()) as { choices: { finish_reason: string }[] };
    expect(openai.choices[0]?.finish_reason).toBe('content_filter');
    // Nothing was sent again to continue it.
    expect(upstream.arrivals()).toBe(2);
  });

  it('an Anthropic message_stop without a stop reason is a broken answer: an error event for a stream, a 502 for a whole answer', async () => {
    const upstream = await scripted((res) => res.end(textOpening('this answer was ') + event('message_stop', {})));
    const url = await gatewayOver(upstream.url, 'anthropic');
    const streamed = await readSse(await askMessages(url, { stream: true }), 'anthropic');
    expect(streamed.ending).toBe('error-event');
    expect(streamed.raw).not.toContain('message_stop');
    expect((await askMessages(url)).status).toBe(502);
    const openai = await readSse(await askChat(url, { stream: true }), 'openai');
    expect(openai.ending).toBe('error-event');
    expect(openai.raw).not.toContain('"finish_reason":"stop"');
    expect((await askChat(url)).status).toBe(502);
  });

  it("vLLM's finish_reason 'error' is a broken answer: an error event for a stream, a 502 for a whole answer", async () => {
    const upstream = await scripted((res) => res.end(openAIChunk({ role: 'assistant', content: 'this answer was ' }) + openAIChunk({ content: 'cut' }, 'error') + 'data: [DONE]\n\n'));
    const url = await gatewayOver(upstream.url, 'openai');
    const streamed = await readSse(await askChat(url, { stream: true }), 'openai');
    expect(streamed.ending).toBe('error-event');
    expect(streamed.raw).not.toContain('"finish_reason":"stop"');
    const whole = await askChat(url);
    expect(whole.status).toBe(502);
  });
});
