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

  it('a whole JSON answer without a finish (finish_reason or stop_reason null) is no answer: a 502 to fail over from, streamed or not (E59)', async () => {
    const openaiWhole = { id: 'chatcmpl-1', object: 'chat.completion', created: 0, model: 'm', choices: [{ index: 0, message: { role: 'assistant', content: 'Partial answer cut' }, finish_reason: null }], usage: { prompt_tokens: 3, completion_tokens: 3, total_tokens: 6 } };
    const anthropicWhole = { id: 'msg_1', type: 'message', role: 'assistant', model: 'm', content: [{ type: 'text', text: 'Partial answer cut' }], stop_reason: null, stop_sequence: null, usage: { input_tokens: 3, output_tokens: 3 } };
    for (const [dialect, whole, field] of [['openai', openaiWhole, 'finish_reason'], ['anthropic', anthropicWhole, 'stop_reason']] as const) {
      const upstream = await startScriptedUpstream((res) => res.end(JSON.stringify(whole)), { status: 200, contentType: 'application/json' });
      cleanups.push(() => upstream.close());
      const url = await gatewayOver(upstream.url, dialect);
      for (const answer of [await askChat(url), await askChat(url, { stream: true }), await askMessages(url), await askMessages(url, { stream: true })]) {
        expect(answer.status).toBe(502);
        const text = await answer.text();
        expect(text).toContain(`whose ${field} is null`);
        expect(text).not.toContain('Partial answer cut');
      }
    }
  });

  it("an error body sent with a 200 is told as what it says: Anthropic's overload a 529, another error the upstream's 502, not a malformed answer (E59)", async () => {
    const overloaded = await startScriptedUpstream((res) => res.end(JSON.stringify({ type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } })), { status: 200, contentType: 'application/json' });
    const failing = await startScriptedUpstream((res) => res.end(JSON.stringify({ error: { message: 'the model crashed', type: 'server_error' } })), { status: 200, contentType: 'application/json' });
    cleanups.push(() => overloaded.close(), () => failing.close());
    const overloadedUrl = await gatewayOver(overloaded.url, 'anthropic');
    for (const answer of [await askMessages(overloadedUrl), await askMessages(overloadedUrl, { stream: true })]) {
      expect(answer.status).toBe(529);
      const body = (await answer.json()) as { error: { type: string; message: string } };
      expect(body.error.type).toBe('overloaded_error');
      expect(body.error.message).not.toContain('malformed');
    }
    const failed = await askChat(await gatewayOver(failing.url, 'openai'));
    expect(failed.status).toBe(502);
    // As for an upstream's 5xx, its words are not passed on (they are logged with logging.logPrompts only).
    expect(((await failed.json()) as { error: { message: string } }).error.message).toBe('upstream up failed: status 502');
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
