import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBothDialects, type BothDialects } from './helpers/fleet.js';

// An agent SDK's run with an empty input sends its instructions and an empty user turn: OpenAI
// answers it, Anthropic refuses the empty turn. Through the gateway both upstream dialects answer,
// and a conversation that says nothing at all is refused before any upstream, for both alike.

const apiKey = 'sk-empty';
let fleet: BothDialects;
let client: OpenAI;

beforeAll(async () => {
  fleet = await startBothDialects('m-empty', apiKey);
  client = new OpenAI({ apiKey, baseURL: `${fleet.url}/v1`, maxRetries: 0 });
});
afterAll(() => fleet.close());

describe('an empty user turn', () => {
  it('after a system prompt is answered by either upstream dialect, streamed or not', async () => {
    for (const model of ['openai-upstream', 'anthropic-upstream']) {
      for (const content of ['', '  ']) {
        const answer = await client.chat.completions.create({ model, max_tokens: 20, messages: [{ role: 'system', content: 'You greet people.' }, { role: 'user', content }] });
        expect(answer.choices[0]?.message.content).not.toBe('');
        const streamed = await client.chat.completions.stream({ model, max_tokens: 20, messages: [{ role: 'system', content: 'You greet people.' }, { role: 'user', content }] }).finalChatCompletion();
        expect(streamed.choices[0]?.finish_reason).toMatch(/^(stop|length)$/);
      }
    }
  });

  it('alone is refused with a 400 naming messages, whichever upstream the route has', async () => {
    for (const model of ['openai-upstream', 'anthropic-upstream']) {
      await expect(client.chat.completions.create({ model, max_tokens: 20, messages: [{ role: 'user', content: '' }] })).rejects.toMatchObject({ status: 400, param: 'messages', message: expect.stringContaining('every message is empty') });
    }
  });
});
