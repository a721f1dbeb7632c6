import { describe, expect, it } from 'vitest';
import { createGateway } from '../../src/gateway/gateway-server.js';
import { anthropicDialect } from '../../src/protocol/anthropic/anthropic-dialect.js';
import { closedAfterEach, singleEndpointConfig, startScriptedUpstream } from './helpers/fleet.js';

// A prefill ending in whitespace is sent without it (Anthropic refuses it), and the answer, which
// writes it again, is joined without doubling it; also when the prefill is followed by a system
// message, which the encoder takes into the system prompt and so leaves the prefill last.

const apiKey = 'sk-prefill-whitespace';
const { cleanups } = closedAfterEach();

describe('a prefill ending in whitespace, through an Anthropic-dialect upstream', () => {
  it('is sent trimmed and joined once, whether or not a system message follows it', async () => {
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
    for (const messages of [
      [{ role: 'user', content: 'Tell a story' }, { role: 'assistant', content: 'Once upon ' }],
      [{ role: 'user', content: 'Tell a story' }, { role: 'assistant', content: 'Once upon ' }, { role: 'system', content: 'be brief' }],
    ]) {
      expect(`Once upon ${await ask(messages)}`).toBe('Once upon a time');
      expect((upstream.bodies.at(-1) as { messages: { content: unknown }[] }).messages.at(-1)?.content).toBe('Once upon');
    }
  });
});
