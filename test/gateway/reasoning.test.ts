import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { createGateway } from '../../src/gateway/gateway-server.js';
import { cheapestFirstConfig, closedAfterEach, openAIChunk, readSse, startScriptedUpstream } from './helpers/fleet.js';

// An open model's reasoning, as vLLM's reasoning parsers stream it (reasoning_content, or reasoning
// since vLLM 0.10), reaches OpenAI callers as reasoning_content, streamed and whole; Anthropic
// callers, whose thinking must be signed to go back, get the answer without it.

const apiKey = 'sk-reasoning';
const { cleanups, scripted } = closedAfterEach();

const reasoned = (field: 'reasoning_content' | 'reasoning') => (res: import('node:http').ServerResponse): void => {
  res.end(
    openAIChunk({ role: 'assistant', content: null, [field]: 'The EU pools are ' }) +
      openAIChunk({ [field]: 'in Frankfurt.' }) +
      openAIChunk({ content: 'Frankfurt.' }) +
      openAIChunk({}, 'stop') +
      `data: ${JSON.stringify({ id: 'x', object: 'chat.completion.chunk', created: 0, model: 'm', choices: [], usage: { prompt_tokens: 12, completion_tokens: 9 } })}\n\n` +
      'data: [DONE]\n\n',
  );
};

/** An upstream that sends some reasoning, then drops the connection. */
const breaksWhileReasoning = (res: import('node:http').ServerResponse): void => {
  res.write(openAIChunk({ role: 'assistant', content: null, reasoning_content: 'Let me think about' }));
  setTimeout(() => res.destroy(), 20);
};

async function gatewayOver(urls: readonly string[]): Promise<string> {
  const gateway = createGateway({ config: cheapestFirstConfig(urls.map((url) => [url, 'openai'] as const), apiKey, '{ retries: 0 }'), logger: false });
  cleanups.push(() => gateway.close());
  return gateway.listen(0, '127.0.0.1');
}

const ask = (url: string, path: string, body: object): Promise<Response> =>
  fetch(`${url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${apiKey}`, 'x-api-key': apiKey, 'anthropic-version': '2023-06-01', 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', max_tokens: 100, messages: [{ role: 'user', content: 'Where?' }], ...body }) });

describe("an open model's reasoning", () => {
  for (const field of ['reasoning_content', 'reasoning'] as const) {
    it(`read from ${field}, reaches an OpenAI caller as reasoning_content before the answer, streamed and whole`, async () => {
      const upstream = await scripted(reasoned(field));
      const url = await gatewayOver([upstream.url]);
      const streamed = await ask(url, '/v1/chat/completions', { stream: true });
      const frames = (await streamed.text()).split('\n\n').filter((frame) => frame !== '');
      const deltas = frames.filter((frame) => frame !== 'data: [DONE]').map((frame) => (JSON.parse(frame.slice('data: '.length)) as { choices: { delta: Record<string, unknown> }[] }).choices[0]?.delta ?? {});
      expect(deltas.filter((delta) => 'reasoning_content' in delta).map((delta) => delta.reasoning_content)).toEqual(['The EU pools are ', 'in Frankfurt.']);
      const firstContent = deltas.findIndex((delta) => typeof delta.content === 'string' && delta.content !== '');
      expect(firstContent).toBeGreaterThan(deltas.findIndex((delta) => 'reasoning_content' in delta));
      const whole = (await (await ask(url, '/v1/chat/completions', {})).json()) as OpenAI.Chat.Completions.ChatCompletion;
      expect(whole.choices[0]?.message).toMatchObject({ content: 'Frankfurt.', reasoning_content: 'The EU pools are in Frankfurt.' });
    });
  }

  it('an upstream answering whole keeps it; an Anthropic caller gets the answer without it, in a valid stream', async () => {
    const whole = await startScriptedUpstream((res) => res.end(JSON.stringify({ id: 'x', object: 'chat.completion', created: 0, model: 'm', choices: [{ index: 0, message: { role: 'assistant', content: 'Frankfurt.', reasoning_content: 'Close to the users.' }, finish_reason: 'stop' }], usage: { prompt_tokens: 5, completion_tokens: 6 } })), { status: 200, contentType: 'application/json' });
    cleanups.push(() => whole.close());
    const url = await gatewayOver([whole.url]);
    const answer = (await (await ask(url, '/v1/chat/completions', {})).json()) as { choices: { message: Record<string, unknown> }[] };
    expect(answer.choices[0]?.message).toMatchObject({ content: 'Frankfurt.', reasoning_content: 'Close to the users.' });
    const streamedUpstream = await scripted(reasoned('reasoning_content'));
    const anthropicUrl = await gatewayOver([streamedUpstream.url]);
    const read = await readSse(await ask(anthropicUrl, '/v1/messages', { stream: true }), 'anthropic');
    expect(read.ending).toBe('complete');
    expect(read.text).toBe('Frankfurt.');
    expect(read.raw).not.toContain('thinking');
    const message = (await (await ask(anthropicUrl, '/v1/messages', {})).json()) as { content: { type: string }[] };
    expect(message.content.map((block) => block.type)).toEqual(['text']);
  });

  it('an Anthropic caller, shown none of it, gets an answer that broke while reasoning sent again elsewhere', async () => {
    const breaking = await scripted(breaksWhileReasoning);
    const spare = await scripted(reasoned('reasoning_content'));
    const url = await gatewayOver([breaking.url, spare.url]);
    const read = await readSse(await ask(url, '/v1/messages', { stream: true }), 'anthropic');
    expect(read.ending).toBe('complete');
    expect(read.text).toBe('Frankfurt.');
    expect(spare.arrivals()).toBe(1);
  });

  it('reasoning past the budget is cut there and charged as the budget', async () => {
    const runaway = await scripted((res) => res.end(openAIChunk({ role: 'assistant', content: null, reasoning_content: 'hmm '.repeat(25_000) }) + openAIChunk({}, 'stop') + 'data: [DONE]\n\n'));
    const url = await gatewayOver([runaway.url]);
    const answer = (await (await ask(url, '/v1/chat/completions', { max_tokens: 10 })).json()) as { choices: { finish_reason: string }[]; usage: { completion_tokens: number } };
    expect(answer.choices[0]?.finish_reason).toBe('length');
    expect(answer.usage.completion_tokens).toBe(10);
  });

  it('an answer that broke while reasoning is not continued (a continuation would begin a second reasoning): an error event', async () => {
    const breaking = await scripted(breaksWhileReasoning);
    const spare = await scripted(reasoned('reasoning_content'));
    const url = await gatewayOver([breaking.url, spare.url]);
    const read = await readSse(await ask(url, '/v1/chat/completions', { stream: true }), 'openai');
    expect(read.ending).toBe('error-event');
    expect(spare.arrivals()).toBe(0);
  });
});
