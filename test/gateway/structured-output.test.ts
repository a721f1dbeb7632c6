import type { ServerResponse } from 'node:http';
import OpenAI from 'openai';
import { zodResponseFormat } from 'openai/helpers/zod';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createGateway } from '../../src/gateway/gateway-server.js';
import { cheapestFirstConfig, closedAfterEach, metricValue, openAIChunk, readSse, scrape, startScriptedUpstream } from './helpers/fleet.js';

// How the gateway carries structured answers (scripted OpenAI-dialect upstreams): JSON an upstream
// holds to a format is never continued after a break (constrained decoding would start it over),
// and endpoints that do not constrain output are kept out of such requests.

const apiKey = 'sk-structured';
const { cleanups, scripted } = closedAfterEach();

async function gateway(urls: readonly string[], endpointExtra = ''): Promise<string> {
  const config = cheapestFirstConfig(
    urls.map((url) => [url, 'openai'] as const),
    apiKey,
    '{ retries: 1, backoffMs: 1, maxBackoffMs: 5, ttftTimeoutMs: 5000, deadlineMs: 10000 }',
    endpointExtra,
  );
  const started = createGateway({ config, logger: false });
  const url = await started.listen(0, '127.0.0.1');
  cleanups.push(() => started.close());
  return url;
}

const schema = { type: 'object', properties: { city: { type: 'string' } }, required: ['city'], additionalProperties: false };
const responseFormat = { type: 'json_schema', json_schema: { name: 'weather', schema, strict: true } };
const question = { model: 'm', max_tokens: 100, messages: [{ role: 'user', content: 'Weather in Paris?' }], response_format: responseFormat };

function ask(url: string, body: object, path = '/v1/chat/completions'): Promise<Response> {
  return fetch(`${url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${apiKey}`, 'x-api-key': apiKey, 'anthropic-version': '2023-06-01', 'content-type': 'application/json' }, body: JSON.stringify(body) });
}

const usage = `data: ${JSON.stringify({ id: 'x', object: 'chat.completion.chunk', created: 0, model: 'm', choices: [], usage: { prompt_tokens: 7, completion_tokens: 4 } })}\n\n`;
const wholeJson = (res: ServerResponse): void => {
  res.end(openAIChunk({ role: 'assistant', content: '' }) + openAIChunk({ content: '{"city":' }) + openAIChunk({ content: '"Paris"}' }) + openAIChunk({}, 'stop') + usage + 'data: [DONE]\n\n');
};
/** An upstream that writes `text` and drops the connection. */
const breaksAfter = (text: string) => (res: ServerResponse): void => {
  res.write(openAIChunk({ role: 'assistant', content: '' }) + openAIChunk({ content: text }));
  setTimeout(() => res.socket?.destroy(), 20);
};

describe('a structured answer that breaks', () => {
  it('a stream ends with an error event and no continuation is asked for; the same break in free text is resumed', async () => {
    const cut = await scripted(breaksAfter('{"city":'));
    const other = await scripted(wholeJson);
    const url = await gateway([cut.url, other.url]);
    const stream = await readSse(await ask(url, { ...question, stream: true }), 'openai');
    expect(stream.ending).toBe('error-event');
    expect(stream.text).toBe('{"city":');
    expect(stream.raw).toMatch(/inside a structured \(JSON\) answer, which cannot be continued/);
    expect(other.arrivals()).toBe(0);
    expect(metricValue(await scrape(url), 'switchyard_stream_resumes_total', { route: 'm', outcome: 'error-event' })).toBe(1);

    const { response_format: _format, ...freeText } = question;
    const resumed = await readSse(await ask(url, { ...freeText, stream: true }), 'openai');
    expect(resumed.ending).toBe('complete');
    expect(other.arrivals()).toBe(1);
    expect(other.bodies[0]).toMatchObject({ continue_final_message: true });
  });

  it('a whole answer starts over elsewhere, sent as the caller sent it, format included', async () => {
    const cut = await scripted(breaksAfter('{"city":'));
    const other = await scripted(wholeJson);
    const url = await gateway([cut.url, other.url]);
    const body = (await (await ask(url, question)).json()) as { choices: { message: { content: string }; finish_reason: string }[] };
    expect(body.choices[0]?.message.content).toBe('{"city":"Paris"}');
    expect(body.choices[0]?.finish_reason).toBe('stop');
    expect(other.bodies[0]).toMatchObject({ messages: [{ role: 'user', content: 'Weather in Paris?' }], response_format: responseFormat });
    expect(other.bodies[0]).not.toHaveProperty('continue_final_message');
    expect(metricValue(await scrape(url), 'switchyard_stream_resumes_total', { route: 'm', outcome: 'restarted' })).toBe(1);
  });

  it('a whole answer on a route of one endpoint goes back to it, as a retry would: nothing had reached the client', async () => {
    let calls = 0;
    const flaky = await scripted((res) => {
      calls += 1;
      if (calls === 1) breaksAfter('{"city":')(res);
      else wholeJson(res);
    });
    const url = await gateway([flaky.url]);
    const response = await ask(url, question);
    expect(response.status).toBe(200);
    expect(((await response.json()) as { choices: { message: { content: string } }[] }).choices[0]?.message.content).toBe('{"city":"Paris"}');
    expect(flaky.arrivals()).toBe(2);
    expect(flaky.bodies[1]).not.toHaveProperty('continue_final_message');
  });

  it('with retries: 0 a whole answer does not go back: it fails with a 502 after the one attempt', async () => {
    const cut = await scripted(breaksAfter('{"city":'));
    const started = createGateway({ config: cheapestFirstConfig([[cut.url, 'openai']], apiKey, '{ retries: 0 }'), logger: false });
    const url = await started.listen(0, '127.0.0.1');
    cleanups.push(() => started.close());
    expect((await ask(url, question)).status).toBe(502);
    expect(cut.arrivals()).toBe(1);
  });

  it('a break before anything but whitespace goes again as first sent: nothing of the JSON was written', async () => {
    const cut = await scripted(breaksAfter('  '));
    const other = await scripted(wholeJson);
    const url = await gateway([cut.url, other.url]);
    const stream = await readSse(await ask(url, { ...question, stream: true }), 'openai');
    expect(stream.ending).toBe('complete');
    expect(stream.text.trim()).toBe('{"city":"Paris"}');
    expect(other.bodies[0]).toMatchObject({ response_format: responseFormat });
    expect(other.bodies[0]).not.toHaveProperty('continue_final_message');
  });
});

describe("an upstream's refusal", () => {
  const refusing = (res: ServerResponse): void => {
    res.end(openAIChunk({ role: 'assistant', content: null, refusal: '' }) + openAIChunk({ refusal: "I'm sorry, " }) + openAIChunk({ refusal: 'I cannot help with that.' }) + openAIChunk({}, 'stop') + usage + 'data: [DONE]\n\n');
  };

  it("reaches the OpenAI SDK's parse helpers as a refusal, whole and streamed; an Anthropic caller gets stop_reason refusal", async () => {
    const upstream = await scripted(refusing);
    const url = await gateway([upstream.url]);
    const client = new OpenAI({ apiKey, baseURL: `${url}/v1`, maxRetries: 0 });
    const request = { model: 'm', max_tokens: 100, messages: [{ role: 'user' as const, content: 'Weather in Paris?' }], response_format: zodResponseFormat(z.object({ city: z.string() }), 'weather') };
    const whole = await client.chat.completions.parse(request);
    expect(whole.choices[0]?.message).toMatchObject({ content: null, refusal: "I'm sorry, I cannot help with that.", parsed: null });
    expect(whole.choices[0]?.finish_reason).toBe('stop');
    const streamed = await client.chat.completions.stream(request).finalChatCompletion();
    expect(streamed.choices[0]?.message).toMatchObject({ refusal: "I'm sorry, I cannot help with that.", parsed: null });

    const anthropic = await ask(url, { model: 'm', max_tokens: 100, messages: [{ role: 'user', content: 'Weather in Paris?' }], output_config: { format: { type: 'json_schema', schema } } }, '/v1/messages');
    expect(await anthropic.json()).toMatchObject({ content: [{ type: 'text', text: "I'm sorry, I cannot help with that." }], stop_reason: 'refusal' });

    // Stop sequences do not apply to a refusal, nor take its flag away.
    const stopped = await client.chat.completions.parse({ ...request, stop: ['help'] });
    expect(stopped.choices[0]?.message).toMatchObject({ content: null, refusal: "I'm sorry, I cannot help with that." });
    const streamedStopped = await client.chat.completions.stream({ ...request, stop: ['END'] }).finalChatCompletion();
    expect(streamedStopped.choices[0]?.message).toMatchObject({ refusal: "I'm sorry, I cannot help with that." });
  });

  it('a refusal that breaks is not continued (a continuation would go on from its words as an answer): a stream ends with an error event', async () => {
    const cut = await scripted((res) => {
      res.write(openAIChunk({ role: 'assistant', content: null, refusal: '' }) + openAIChunk({ refusal: "I'm sorry, " }));
      setTimeout(() => res.socket?.destroy(), 20);
    });
    const other = await scripted(refusing);
    const url = await gateway([cut.url, other.url]);
    const { response_format: _format, ...plain } = question;
    const stream = await readSse(await ask(url, { ...plain, stream: true }), 'openai');
    expect(stream.ending).toBe('error-event');
    expect(other.arrivals()).toBe(0);
  });

  it('a whole answer from an upstream that ignored stream: true keeps its refusal', async () => {
    const upstream = await startScriptedUpstream(
      (res) => res.end(JSON.stringify({ id: 'c1', model: 'm', choices: [{ message: { role: 'assistant', content: null, refusal: 'I cannot help.' }, finish_reason: 'stop' }], usage: { prompt_tokens: 5, completion_tokens: 3 } })),
      { status: 200, contentType: 'application/json' },
    );
    cleanups.push(() => upstream.close());
    const url = await gateway([upstream.url]);
    const body = (await (await ask(url, question)).json()) as { choices: { message: object; finish_reason: string }[] };
    expect(body.choices[0]).toMatchObject({ message: { content: null, refusal: 'I cannot help.' }, finish_reason: 'stop' });
  });
});

describe('endpoints that do not constrain output (structuredOutputs: false)', () => {
  it('are passed over for a response format or strict tools the model may call, and still serve plain requests', async () => {
    const unchecked = await scripted(wholeJson);
    const constrained = await scripted(wholeJson);
    // The cheaper endpoint, e0, is the one that does not constrain output.
    const config = cheapestFirstConfig(
      [
        [unchecked.url, 'openai'],
        [constrained.url, 'openai'],
      ],
      apiKey,
      '{ retries: 0 }',
    );
    const marked = createGateway({ config: { ...config, endpoints: config.endpoints.map((endpoint) => (endpoint.id === 'e0' ? { ...endpoint, structuredOutputs: false } : endpoint)) }, logger: false });
    const markedUrl = await marked.listen(0, '127.0.0.1');
    cleanups.push(() => marked.close());

    expect((await ask(markedUrl, question)).status).toBe(200);
    const strictTool = { type: 'function', function: { name: 'f', parameters: schema, strict: true } };
    const { response_format: _format, ...plain } = question;
    expect((await ask(markedUrl, { ...plain, tools: [strictTool], tool_choice: 'required' })).status).toBe(200);
    expect(unchecked.arrivals()).toBe(0);
    expect(constrained.arrivals()).toBe(2);
    expect((await ask(markedUrl, plain)).status).toBe(200);
    expect(unchecked.arrivals()).toBe(1);
    // Strict tools the model may not call constrain nothing: the cheapest endpoint serves.
    expect((await ask(markedUrl, { ...plain, tools: [strictTool], tool_choice: 'none' })).status).toBe(200);
    expect(unchecked.arrivals()).toBe(2);
  });

  it('none left is a 400 naming the field, in the caller\'s dialect', async () => {
    const unchecked = await scripted(wholeJson);
    const url = await gateway([unchecked.url], ', structuredOutputs: false');
    const openai = await ask(url, question);
    expect(openai.status).toBe(400);
    expect(await openai.json()).toMatchObject({ error: { type: 'invalid_request_error', param: 'response_format', message: expect.stringContaining('holds answers to a JSON schema (structured output)') } });
    const anthropic = await ask(url, { model: 'm', max_tokens: 100, messages: [{ role: 'user', content: 'Weather in Paris?' }], output_config: { format: { type: 'json_schema', schema } } }, '/v1/messages');
    expect(anthropic.status).toBe(400);
    expect(await anthropic.json()).toMatchObject({ type: 'error', error: { type: 'invalid_request_error', message: expect.stringContaining('structured output') } });
    expect(unchecked.arrivals()).toBe(0);
  });
});
