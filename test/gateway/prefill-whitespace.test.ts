import { describe, expect, it } from 'vitest';
import { createGateway } from '../../src/gateway/gateway-server.js';
import { anthropicDialect } from '../../src/protocol/anthropic/anthropic-dialect.js';
import { cheapestFirstConfig, closedAfterEach, singleEndpointConfig, startScriptedUpstream } from './helpers/fleet.js';

// A prefill ending in whitespace is sent to an Anthropic-dialect upstream without it (Anthropic
// refuses it), and the answer, which writes it again, is joined without doubling it; a prefill
// followed by a system message, which the encoder takes into the system prompt and so leaves last,
// is sent without it too.

const apiKey = 'sk-prefill-whitespace';
const { cleanups } = closedAfterEach();

describe('a prefill ending in whitespace, through an Anthropic-dialect upstream', () => {
  it('is sent trimmed, and joined once when it is the last message', async () => {
    // The upstream answers as a model continuing "Once upon" does: " a time".
    const writer = anthropicDialect.createStreamWriter({ includeUsage: true, created: 0 });
    const frames = [writer.write({ type: 'start', id: 'msg_1', model: 'm', inputTokens: 5 }), writer.write({ type: 'text', text: ' a' }), writer.write({ type: 'text', text: ' time' }), writer.write({ type: 'finish', finishReason: 'stop', usage: { inputTokens: 5, outputTokens: 2 } })].join('');
    const upstream = await startScriptedUpstream((res) => res.end(frames));
    cleanups.push(() => upstream.close());
    const gateway = createGateway({ config: singleEndpointConfig(upstream.url, apiKey, '', 'anthropic'), logger: false });
    cleanups.push(() => gateway.close());
    const url = await gateway.listen(0, '127.0.0.1');
    const ask = async (messages: object[]): Promise<string> => {
      const response = await fetch(`${url}/v1/messages`, { method: 'POST', headers: { 'x-api-key': apiKey, 'anthropic-version': '2023-06-01', 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', max_tokens: 10, messages }) });
      return ((await response.json()) as { content: { text: string }[] }).content.map((block) => block.text).join('');
    };
    expect(`Once upon ${await ask([{ role: 'user', content: 'Tell a story' }, { role: 'assistant', content: 'Once upon ' }])}`).toBe('Once upon a time');
    expect((upstream.bodies.at(-1) as { messages: { content: unknown }[] }).messages.at(-1)?.content).toBe('Once upon');
    // Followed by a system message (which the encoder takes into the system prompt, leaving the
    // prefill last): sent trimmed too, as Anthropic refuses it otherwise. (Its answer is not trimmed:
    // the prefill is judged by the request's last message for every upstream dialect, and an
    // OpenAI-dialect one reads such a turn as history, not a prefill; the join may double a space.)
    expect(await ask([{ role: 'user', content: 'Tell a story' }, { role: 'assistant', content: 'Once upon ' }, { role: 'system', content: 'be brief' }])).toBe(' a time');
    expect((upstream.bodies.at(-1) as { messages: { content: unknown }[] }).messages.at(-1)?.content).toBe('Once upon');
  });
});

describe("an OpenAI caller's conversation closed by system messages after an assistant turn", () => {
  it('reaches an Anthropic-dialect upstream that refuses prefills, with them as its last user turn (E49: a prefill, it was skipped, 400)', async () => {
    const writer = anthropicDialect.createStreamWriter({ includeUsage: true, created: 0 });
    const frames = [writer.write({ type: 'start', id: 'msg_1', model: 'm', inputTokens: 5 }), writer.write({ type: 'text', text: 'A greeting.' }), writer.write({ type: 'finish', finishReason: 'stop', usage: { inputTokens: 5, outputTokens: 2 } })].join('');
    const upstream = await startScriptedUpstream((res) => res.end(frames));
    cleanups.push(() => upstream.close());
    const gateway = createGateway({ config: cheapestFirstConfig([[upstream.url, 'anthropic']], apiKey, '{}', ', prefill: false'), logger: false });
    cleanups.push(() => gateway.close());
    const url = await gateway.listen(0, '127.0.0.1');
    const messages = [{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'Hello! How can I help?' }, { role: 'system', content: 'Now summarize the conversation.' }];
    const response = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', max_tokens: 10, messages }) });
    expect(response.status).toBe(200);
    expect(((await response.json()) as { choices: { message: { content: string } }[] }).choices[0]?.message.content).toBe('A greeting.');
    expect((upstream.bodies.at(-1) as { messages: unknown[] }).messages).toEqual([{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'Hello! How can I help?' }, { role: 'user', content: 'Now summarize the conversation.' }]);
    // With a system prompt and no user turn before (R41): the system prompt is the first user turn, the instruction the last.
    const opening = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', max_tokens: 10, messages: [{ role: 'system', content: 'You are terse.' }, ...messages.slice(1)] }) });
    expect(opening.status).toBe(200);
    expect((upstream.bodies.at(-1) as { messages: unknown[] }).messages).toEqual([{ role: 'user', content: 'You are terse.' }, { role: 'assistant', content: 'Hello! How can I help?' }, { role: 'user', content: 'Now summarize the conversation.' }]);
    // Without the closing system message the finished turn is last, which that endpoint would read as a prefill: refused.
    const prefill = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', max_tokens: 10, messages: messages.slice(0, 2) }) });
    expect(prefill.status).toBe(400);
  });
});
