import type { ServerResponse } from 'node:http';
import { describe, expect, it } from 'vitest';
import { createGateway } from '../../src/gateway/gateway-server.js';
import { anthropicDialect } from '../../src/protocol/anthropic/anthropic-dialect.js';
import { cheapestFirstConfig, closedAfterEach, metricValue, openAIChunk, readSse, scrape, singleEndpointConfig } from './helpers/fleet.js';

// How the gateway carries tool calls that upstreams stream (scripted OpenAI-dialect upstreams, for
// the misbehaviours an emulator has no fault for): joined for a whole reply, a cut call never
// continued, held stop-sequence text before a call, and a call's finish told as tool calls.

const apiKey = 'sk-tools';
const { cleanups, scripted } = closedAfterEach();

/** A gateway over endpoints of the given dialects, cheapest first, on route `m`. */
async function gatewayOf(endpoints: readonly (readonly [string, 'openai' | 'anthropic'])[], resilience: string, endpointExtra = ''): Promise<string> {
  const started = createGateway({ config: cheapestFirstConfig(endpoints, apiKey, resilience, endpointExtra), logger: false });
  const url = await started.listen(0, '127.0.0.1');
  cleanups.push(() => started.close());
  return url;
}

const stallAfter200 = '{ retries: 1, backoffMs: 1, maxBackoffMs: 5, ttftTimeoutMs: 5000, tokenIdleTimeoutMs: 200, deadlineMs: 10000 }';

/** A gateway over upstreams of one dialect (OpenAI's unless told), cheapest first, on route `m`. */
function gateway(urls: readonly string[], endpointExtra = '', resilience = '{ retries: 1, backoffMs: 1, maxBackoffMs: 5, ttftTimeoutMs: 5000, deadlineMs: 10000 }', dialect: 'openai' | 'anthropic' = 'openai'): Promise<string> {
  return gatewayOf(urls.map((url) => [url, dialect] as const), resilience, endpointExtra);
}

const weatherTool = { type: 'function', function: { name: 'get_weather', description: 'Weather now', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } } };
const question = { model: 'm', max_tokens: 100, messages: [{ role: 'user', content: 'Weather in Paris?' }], tools: [weatherTool] };

function ask(url: string, body: object, path = '/v1/chat/completions'): Promise<Response> {
  return fetch(`${url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${apiKey}`, 'x-api-key': apiKey, 'anthropic-version': '2023-06-01', 'content-type': 'application/json' }, body: JSON.stringify(body) });
}

const callStart = (index: number, id: string, name: string): string => openAIChunk({ tool_calls: [{ index, id, type: 'function', function: { name, arguments: '' } }] });
const callArguments = (index: number, text: string): string => openAIChunk({ tool_calls: [{ index, function: { arguments: text } }] });
const usage = `data: ${JSON.stringify({ id: 'x', object: 'chat.completion.chunk', created: 0, model: 'm', choices: [], usage: { prompt_tokens: 7, completion_tokens: 5 } })}\n\n`;

/** An upstream answer: a call of get_weather with its arguments in three pieces, ending with `finish`. */
const weatherCall = (finish: string) => (res: ServerResponse): void => {
  res.end(openAIChunk({ role: 'assistant', content: null }) + callStart(0, 'call_1', 'get_weather') + callArguments(0, '{"ci') + callArguments(0, 'ty":"Par') + callArguments(0, 'is"}') + openAIChunk({}, finish) + usage + 'data: [DONE]\n\n');
};

describe('tool calls through the gateway', () => {
  it('a whole reply carries the call with its arguments joined; the upstream was offered the tool', async () => {
    const upstream = await scripted(weatherCall('tool_calls'));
    const url = await gateway([upstream.url]);
    const response = await ask(url, question);
    expect(response.status).toBe(200);
    const body = (await response.json()) as { choices: { message: { content: string | null; tool_calls?: unknown[] }; finish_reason: string }[] };
    expect(body.choices[0]?.finish_reason).toBe('tool_calls');
    expect(body.choices[0]?.message.content).toBeNull();
    expect(body.choices[0]?.message.tool_calls).toEqual([{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }]);
    expect(upstream.bodies[0]).toMatchObject({ tools: [weatherTool] });
  });

  it("an answer of calls that an upstream finishes with 'stop' is told as tool calls, in both dialects", async () => {
    const upstream = await scripted(weatherCall('stop'));
    const url = await gateway([upstream.url]);
    const openai = (await (await ask(url, question)).json()) as { choices: { finish_reason: string }[] };
    expect(openai.choices[0]?.finish_reason).toBe('tool_calls');
    const anthropic = await ask(url, { model: 'm', max_tokens: 100, messages: [{ role: 'user', content: 'Weather in Paris?' }], tools: [{ name: 'get_weather', input_schema: weatherTool.function.parameters }] }, '/v1/messages');
    const message = (await anthropic.json()) as { stop_reason: string; content: unknown[] };
    expect(message.stop_reason).toBe('tool_use');
    expect(message.content).toEqual([{ type: 'tool_use', id: 'call_1', name: 'get_weather', input: { city: 'Paris' } }]);
  });

  it("an upstream's ids of other characters reach the caller distinct from every other id, and go back to that API as it wrote them (R43)", async () => {
    // Kimi on vLLM names calls 'functions.get_weather:0'; one that differs only in those characters is another call.
    const upstream = await scripted((res) => {
      res.end(openAIChunk({ role: 'assistant', content: null }) + callStart(0, 'functions.get_weather:0', 'get_weather') + callArguments(0, '{"city":"Paris"}') + callStart(1, 'functions_get_weather_0', 'get_weather') + callArguments(1, '{"city":"Rome"}') + openAIChunk({}, 'tool_calls') + usage + 'data: [DONE]\n\n');
    });
    const url = await gateway([upstream.url]);
    const answer = (await (await ask(url, question)).json()) as { choices: { message: { tool_calls: { id: string; function: { name: string; arguments: string } }[] } }[] };
    const calls = answer.choices[0]?.message.tool_calls ?? [];
    expect(calls.map((call) => call.id)).toEqual(['sy-functions-2eget_weather-3a0', 'functions_get_weather_0']);
    const results = calls.map((call) => ({ role: 'tool', tool_call_id: call.id, content: call.function.arguments.includes('Paris') ? 'sunny' : 'rain' }));
    expect((await ask(url, { ...question, messages: [...question.messages, { role: 'assistant', content: null, tool_calls: calls.map((call) => ({ ...call, type: 'function' })) }, ...results] })).status).toBe(200);
    const sent = upstream.bodies[1] as { messages: { tool_calls?: { id: string }[]; tool_call_id?: string; content: unknown }[] };
    expect(sent.messages[1]?.tool_calls?.map((call) => call.id)).toEqual(['functions.get_weather:0', 'functions_get_weather_0']);
    expect(sent.messages.slice(2).map((message) => [message.tool_call_id, message.content])).toEqual([['functions.get_weather:0', 'sunny'], ['functions_get_weather_0', 'rain']]);
  });

  it("a caller's ids that restoring would make one reach an OpenAI-dialect upstream as the caller sent them, a call and its result still one id (R44)", async () => {
    const upstream = await scripted(weatherCall('tool_calls'));
    const url = await gateway([upstream.url]);
    const ids = ['sy-sy-2dabc', 'sy-abc'];
    const history = [{ role: 'assistant', content: null, tool_calls: ids.map((id) => ({ id, type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } })) }, ...ids.map((id) => ({ role: 'tool', tool_call_id: id, content: id }))];
    expect((await ask(url, { ...question, messages: [...question.messages, ...history] })).status).toBe(200);
    const sent = upstream.bodies[0] as { messages: { tool_calls?: { id: string }[]; tool_call_id?: string; content: unknown }[] };
    expect(sent.messages[1]?.tool_calls?.map((call) => call.id)).toEqual(ids);
    expect(sent.messages.slice(2).map((message) => [message.tool_call_id, message.content])).toEqual(ids.map((id) => [id, id]));
  });

  it('a stream that breaks inside a call ends with an error event, and no continuation is asked for', async () => {
    const cut = await scripted((res) => {
      res.write(openAIChunk({ role: 'assistant', content: null }) + callStart(0, 'call_1', 'get_weather') + callArguments(0, '{"ci'));
      setTimeout(() => res.socket?.destroy(), 20);
    });
    const other = await scripted(weatherCall('tool_calls'));
    const url = await gateway([cut.url, other.url]);
    const stream = await readSse(await ask(url, { ...question, stream: true }), 'openai');
    expect(stream.ending).toBe('error-event');
    expect(stream.raw).toMatch(/inside a tool call, which cannot be continued/);
    expect(other.arrivals()).toBe(0);
  });

  it('a stream that stalls inside a call says both: the silence, and why it was not continued', async () => {
    const stalled = await scripted((res) => res.write(openAIChunk({ role: 'assistant', content: null }) + callStart(0, 'call_1', 'get_weather') + callArguments(0, '{"ci')));
    const url = await gateway([stalled.url], '', stallAfter200);
    const stream = await readSse(await ask(url, { ...question, stream: true }), 'openai');
    expect(stream.ending).toBe('error-event');
    expect(stream.raw).toContain('could not be resumed: no token for 200 ms, inside a tool call, which cannot be continued');
  });

  it('a cut call is charged what it delivered by the estimate, though it came in one piece; a whole answer that could not be saved counts as failed, not as an error event', async () => {
    const cut = await scripted((res) => {
      res.write(openAIChunk({ role: 'assistant', content: null }) + callStart(0, 'call_1', 'get_weather') + callArguments(0, `{"city":"${'x'.repeat(3990)}`));
      setTimeout(() => res.socket?.destroy(), 20);
    });
    const url = await gateway([cut.url]);
    const stream = await readSse(await ask(url, { ...question, max_tokens: 4000, stream: true }), 'openai');
    expect(stream.ending).toBe('error-event');
    expect((await ask(url, { ...question, max_tokens: 4000 })).status).toBe(502);
    const metrics = await scrape(url);
    // Attempts of 4,000 characters of arguments each: about 1,000 tokens each, not one. Each counts
    // against the endpoint: the stream's, and the whole answer's two (it started over once, there).
    expect(cut.arrivals()).toBe(3);
    expect(metricValue(metrics, 'switchyard_tokens_total', { route: 'm', endpoint: 'e0', direction: 'output' })).toBe(3000);
    expect(metricValue(metrics, 'switchyard_stream_resumes_total', { route: 'm', outcome: 'error-event' })).toBe(1);
    expect(metricValue(metrics, 'switchyard_stream_resumes_total', { route: 'm', outcome: 'failed' })).toBe(1);
  });

  it('a whole reply whose call broke starts over elsewhere, the call not continued', async () => {
    const cut = await scripted((res) => {
      res.write(openAIChunk({ role: 'assistant', content: null }) + callStart(0, 'call_1', 'get_weather') + callArguments(0, '{"ci'));
      setTimeout(() => res.socket?.destroy(), 20);
    });
    const other = await scripted(weatherCall('tool_calls'));
    const url = await gateway([cut.url, other.url]);
    const body = (await (await ask(url, question)).json()) as { choices: { message: { tool_calls?: { function: { arguments: string } }[] } }[] };
    expect(body.choices[0]?.message.tool_calls?.[0]?.function.arguments).toBe('{"city":"Paris"}');
    // The request sent again as the caller sent it: no trailing assistant turn, no continuation flags.
    expect(other.bodies[0]).toMatchObject({ messages: [{ role: 'user', content: 'Weather in Paris?' }] });
    expect(other.bodies[0]).not.toHaveProperty('continue_final_message');
  });

  it('text held for a possible stop sequence reaches the client before the call that follows it', async () => {
    const upstream = await scripted((res) => {
      res.end(openAIChunk({ role: 'assistant', content: 'Checking E' }) + callStart(0, 'call_1', 'get_weather') + callArguments(0, '{"city":"Paris"}') + openAIChunk({}, 'tool_calls') + usage + 'data: [DONE]\n\n');
    });
    const url = await gateway([upstream.url]);
    const response = await ask(url, { ...question, stream: true, stop: ['END'] });
    const frames = (await response.text()).split('\n\n').filter((frame) => frame.startsWith('data: {'));
    const deltas = frames.map((frame) => (JSON.parse(frame.slice('data: '.length)) as { choices: { delta: { content?: string; tool_calls?: unknown[] } }[] }).choices[0]?.delta);
    const callAt = deltas.findIndex((delta) => delta?.tool_calls !== undefined);
    expect(callAt).toBeGreaterThan(-1);
    // 'E' could begin 'END': held until the call showed it does not, then sent before the call.
    expect(deltas.slice(0, callAt).map((delta) => delta?.content ?? '').join('')).toBe('Checking E');
    expect(deltas.slice(callAt).some((delta) => (delta?.content ?? '') !== '')).toBe(false);
  });

  it('a request that leaves the choice of tools to the model is refused with a 400 where no endpoint allows it; a named or required choice is served there', async () => {
    const upstream = await scripted(weatherCall('tool_calls'));
    const url = await gateway([upstream.url], ', autoToolChoice: false');
    for (const choice of [{}, { tool_choice: 'auto' }]) {
      const response = await ask(url, { ...question, ...choice });
      expect(response.status).toBe(400);
      expect(await response.json()).toMatchObject({ error: { param: 'tool_choice', message: expect.stringMatching(/lets the model choose its tools/) } });
    }
    expect(upstream.arrivals()).toBe(0);
    expect((await ask(url, { ...question, tool_choice: 'required' })).status).toBe(200);
    expect((await ask(url, { ...question, tool_choice: { type: 'function', function: { name: 'get_weather' } } })).status).toBe(200);
    expect(upstream.arrivals()).toBe(2);
  });

  it('arguments far past the budget are cut there: the answer ends with length', async () => {
    const upstream = await scripted((res) => {
      res.end(openAIChunk({ role: 'assistant', content: null }) + callStart(0, 'call_1', 'get_weather') + callArguments(0, `{"city":"${'x'.repeat(2000)}"}`) + openAIChunk({}, 'tool_calls') + usage + 'data: [DONE]\n\n');
    });
    const url = await gateway([upstream.url]);
    const body = (await (await ask(url, { ...question, max_tokens: 2 })).json()) as { choices: { message: { tool_calls?: { function: { arguments: string } }[] }; finish_reason: string }[] };
    expect(body.choices[0]?.finish_reason).toBe('length');
    expect(body.choices[0]?.message.tool_calls?.[0]?.function.arguments.length).toBe(2 * 256);
    // Charged its whole budget (its 512 characters of arguments are 128 tokens by the estimate, but
    // what an upstream writes past the budget is the endpoint's fault).
    expect((body as unknown as { usage: { completion_tokens: number } }).usage.completion_tokens).toBe(2);
  });

  it('a whole answer cut short inside a call (context window, filter) ends so, its arguments unfinished, in either dialect', async () => {
    const upstream = await scripted((res) => {
      res.end(openAIChunk({ role: 'assistant', content: null }) + callStart(0, 'call_1', 'get_weather') + callArguments(0, '{"city": "Pa') + openAIChunk({}, 'content_filter') + usage + 'data: [DONE]\n\n');
    });
    const url = await gateway([upstream.url]);
    const openai = await ask(url, question);
    expect(openai.status).toBe(200);
    expect(((await openai.json()) as { choices: { finish_reason: string }[] }).choices[0]?.finish_reason).toBe('content_filter');
    const anthropic = await ask(url, { model: 'm', max_tokens: 100, messages: [{ role: 'user', content: 'Weather in Paris?' }], tools: [{ name: 'get_weather', input_schema: weatherTool.function.parameters }] }, '/v1/messages');
    expect(anthropic.status).toBe(200);
    expect(((await anthropic.json()) as { stop_reason: string }).stop_reason).toBe('refusal');
  });

  it('malformed arguments reach an OpenAI caller as the model wrote them (as OpenAI passes them on), but fail an Anthropic whole answer', async () => {
    const upstream = await scripted((res) => {
      res.end(openAIChunk({ role: 'assistant', content: null }) + callStart(0, 'call_1', 'get_weather') + callArguments(0, '{"city": Par') + openAIChunk({}, 'tool_calls') + usage + 'data: [DONE]\n\n');
    });
    const url = await gateway([upstream.url]);
    const openai = (await (await ask(url, question)).json()) as { choices: { message: { tool_calls?: { function: { arguments: string } }[] } }[] };
    expect(openai.choices[0]?.message.tool_calls?.[0]?.function.arguments).toBe('{"city": Par');
    const anthropic = await ask(url, { model: 'm', max_tokens: 100, messages: [{ role: 'user', content: 'Weather in Paris?' }], tools: [{ name: 'get_weather', input_schema: weatherTool.function.parameters }] }, '/v1/messages');
    expect(anthropic.status).toBe(502);
    expect(await anthropic.text()).toMatch(/tool call arguments that are not a JSON object/);
    // Streamed to an Anthropic caller, the pieces went out as written; the end is an error event, not
    // message_stop: Anthropic's SDK read the call as whole, with an empty input (E46).
    const streamed = await ask(url, { model: 'm', max_tokens: 100, stream: true, messages: [{ role: 'user', content: 'Weather in Paris?' }], tools: [{ name: 'get_weather', input_schema: weatherTool.function.parameters }] }, '/v1/messages');
    const frames = (await streamed.text()).trimEnd().split('\n\n');
    expect(frames.some((frame) => frame.includes('"partial_json":"{\\"city\\": Par"'))).toBe(true);
    expect(frames.at(-1)).toMatch(/^event: error\ndata: .*tool call arguments that are not a JSON object/);
    expect(frames.some((frame) => frame.startsWith('event: message_stop'))).toBe(false);
  });

  it('numbers in arguments go as the model or caller wrote them, whatever a double carries, between the dialects (E26)', async () => {
    // An id beyond 2^53, a number beyond a double's range, -0 and a float written as one: a parse would give ...800, null, 0 and 1.
    const written = '{"tweet_id":1234567890123456789,"x":1e400,"z":-0,"f":1.0,"city":"Paris"}';
    const upstream = await scripted((res) => {
      res.end(openAIChunk({ role: 'assistant', content: null }) + callStart(0, 'call_1', 'get_weather') + callArguments(0, written.slice(0, 20)) + callArguments(0, written.slice(20)) + openAIChunk({}, 'tool_calls') + usage + 'data: [DONE]\n\n');
    });
    const url = await gateway([upstream.url]);
    const tools = [{ name: 'get_weather', input_schema: weatherTool.function.parameters }];
    // A whole answer to an Anthropic caller: its input object is the model's text.
    const anthropic = await ask(url, { model: 'm', max_tokens: 100, messages: [{ role: 'user', content: 'Weather in Paris?' }], tools }, '/v1/messages');
    expect(anthropic.status).toBe(200);
    expect(await anthropic.text()).toContain(`"input":${written}`);
    // An OpenAI caller's call in the conversation, to an Anthropic-dialect upstream: its input as the caller wrote it.
    const anthropicUpstream = await scripted((res) => {
      const writer = anthropicDialect.createStreamWriter({ includeUsage: true, created: 0 });
      res.end(writer.write({ type: 'start', id: 'msg_1', model: 'm', inputTokens: 5 }) + writer.write({ type: 'text', text: 'Sunny.' }) + writer.write({ type: 'finish', finishReason: 'stop', usage: { inputTokens: 5, outputTokens: 1 } }));
    });
    const viaAnthropic = await gateway([anthropicUpstream.url], '', undefined, 'anthropic');
    const history = { ...question, messages: [...question.messages, { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: written } }] }, { role: 'tool', tool_call_id: 'call_1', content: 'sunny' }] };
    expect((await ask(viaAnthropic, history)).status).toBe(200);
    expect(anthropicUpstream.texts[0]).toContain(`"input":${written}`);
    // Arguments holding a file of 9 million characters (a regular expression over them ran out of stack: R22).
    const file = `{"path":"a.txt","content":"${'x'.repeat(9_000_000)}","mode":1.0}`;
    const big = { ...history, messages: [...history.messages.slice(0, 1), { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: file } }] }, ...history.messages.slice(2)] };
    const wide = createGateway({ config: singleEndpointConfig(anthropicUpstream.url, apiKey, '', 'anthropic'), logger: false });
    cleanups.push(() => wide.close());
    expect((await ask(await wide.listen(0, '127.0.0.1'), big)).status).toBe(200);
    expect(anthropicUpstream.texts[1]).toContain(`"input":${file}`);
  });

  it("a call whose arguments an Anthropic-dialect upstream holds back longer than the stall timeout is waited for, not cut (Anthropic buffers large ones)", async () => {
    const writer = anthropicDialect.createStreamWriter({ includeUsage: true, created: 0 });
    const upstream = await scripted((res) => {
      res.write(writer.write({ type: 'start', id: 'msg_1', model: 'm', inputTokens: 7 }) + writer.write({ type: 'tool_call', index: 0, id: 'toolu_1', name: 'get_weather' }));
      setTimeout(() => res.end(writer.write({ type: 'tool_arguments', index: 0, text: '{"city":"Paris"}' }) + writer.write({ type: 'finish', finishReason: 'tool_calls', usage: { inputTokens: 7, outputTokens: 5 } })), 600);
    });
    const url = await gateway([upstream.url], '', stallAfter200, 'anthropic');
    const stream = await readSse(await ask(url, { ...question, stream: true }), 'openai');
    expect(stream.ending).toBe('complete');
    expect(stream.raw).toContain('{\\"city\\":\\"Paris\\"}');
    expect(upstream.arrivals()).toBe(1);
  });

  it('an Anthropic-dialect upstream silent after a call it closed (content_block_stop) is a stall again: a whole answer starts over elsewhere', async () => {
    const writer = anthropicDialect.createStreamWriter({ includeUsage: true, created: 0 });
    const hung = await scripted((res) => {
      res.write(writer.write({ type: 'start', id: 'msg_1', model: 'm', inputTokens: 7 }) + writer.write({ type: 'tool_call', index: 0, id: 'toolu_1', name: 'get_weather' }) + writer.write({ type: 'tool_arguments', index: 0, text: '{"city":"Paris"}' }) + 'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n');
    });
    const healthy = await scripted(weatherCall('tool_calls'));
    const url = await gatewayOf([[hung.url, 'anthropic'], [healthy.url, 'openai']], stallAfter200);
    const started = Date.now();
    const response = await ask(url, question);
    expect(response.status).toBe(200);
    expect(Date.now() - started).toBeLessThan(3000);
    expect(healthy.arrivals()).toBe(1);
  });

  it('an OpenAI-dialect upstream, which streams arguments as generated, silent after its call is a stall as after text: a whole answer starts over elsewhere', async () => {
    const hung = await scripted((res) => {
      res.write(openAIChunk({ role: 'assistant', content: null }) + callStart(0, 'call_1', 'get_weather') + callArguments(0, '{"city":"Paris"}'));
    });
    const healthy = await scripted(weatherCall('tool_calls'));
    const url = await gateway([hung.url, healthy.url], '', stallAfter200);
    const started = Date.now();
    const response = await ask(url, question);
    expect(response.status).toBe(200);
    expect(Date.now() - started).toBeLessThan(3000);
    expect(healthy.arrivals()).toBe(1);
  });

  it('an answer whose budget was spent when it broke is charged its arguments by the estimate, not one a piece', async () => {
    const upstream = await scripted((res) => {
      res.write(openAIChunk({ role: 'assistant', content: 'a' }) + openAIChunk({ content: 'b' }) + openAIChunk({ content: 'c' }) + callStart(0, 'call_1', 'get_weather') + callArguments(0, `{"city":"${'x'.repeat(600)}"}`));
      setTimeout(() => res.socket?.destroy(), 20);
    });
    const url = await gateway([upstream.url]);
    const body = (await (await ask(url, { ...question, max_tokens: 4 })).json()) as { choices: { finish_reason: string }[]; usage: { completion_tokens: number } };
    expect(body.choices[0]?.finish_reason).toBe('length');
    // Three text chunks, and 612 characters of arguments: 153 by the estimate.
    expect(body.usage.completion_tokens).toBe(3 + 153);
  });

  it('usage is the upstream\'s count when it gives one, however many pieces the arguments came in', async () => {
    const upstream = await scripted((res) => {
      const pieces = Array.from({ length: 10 }, (_, index) => callArguments(0, index === 0 ? '{"c":"' : index === 9 ? 'abcd"}' : 'abcdef')).join('');
      res.end(openAIChunk({ role: 'assistant', content: null }) + callStart(0, 'call_1', 'get_weather') + pieces + openAIChunk({}, 'tool_calls') + `data: ${JSON.stringify({ id: 'x', object: 'chat.completion.chunk', created: 0, model: 'm', choices: [], usage: { prompt_tokens: 7, completion_tokens: 10 } })}\n\n` + 'data: [DONE]\n\n');
    });
    const url = await gateway([upstream.url]);
    const body = (await (await ask(url, question)).json()) as { usage: { completion_tokens: number } };
    expect(body.usage.completion_tokens).toBe(10);
  });
});
