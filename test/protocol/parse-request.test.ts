import { describe, expect, it } from 'vitest';
import { anthropicDialect } from '../../src/protocol/anthropic-dialect.js';
import type { ChatRequest } from '../../src/protocol/chat.js';
import { openaiDialect } from '../../src/protocol/openai-dialect.js';

/** Both inbound dialects read the same conversation into the same canonical messages. */

function messagesOf(parsed: ReturnType<typeof openaiDialect.parseRequest>): ChatRequest['messages'] {
  if (!parsed.ok) throw new Error(parsed.problem.message);
  return parsed.value.messages;
}

describe('parsing requests into canonical messages', () => {
  it('text blocks and parts are joined one per line in both dialects', () => {
    const fromAnthropic = messagesOf(
      anthropicDialect.parseRequest({ model: 'm', max_tokens: 5, system: [{ type: 'text', text: 'You are A.' }, { type: 'text', text: 'Be terse.' }], messages: [{ role: 'user', content: [{ type: 'text', text: 'one' }, { type: 'text', text: 'two' }] }] }),
    );
    const fromOpenAI = messagesOf(
      openaiDialect.parseRequest({ model: 'm', messages: [{ role: 'system', content: [{ type: 'text', text: 'You are A.' }, { type: 'text', text: 'Be terse.' }] }, { role: 'user', content: [{ type: 'text', text: 'one' }, { type: 'text', text: 'two' }] }] }),
    );
    expect(fromAnthropic).toEqual([{ role: 'system', content: 'You are A.\nBe terse.' }, { role: 'user', content: 'one\ntwo' }]);
    expect(fromOpenAI).toEqual(fromAnthropic);
  });

  it('an empty system prompt is no system prompt', () => {
    const user = { role: 'user', content: 'hi' };
    expect(messagesOf(anthropicDialect.parseRequest({ model: 'm', max_tokens: 5, system: '', messages: [user] }))).toEqual([user]);
    expect(messagesOf(anthropicDialect.parseRequest({ model: 'm', max_tokens: 5, system: [], messages: [user] }))).toEqual([user]);
    expect(messagesOf(openaiDialect.parseRequest({ model: 'm', messages: [{ role: 'system', content: '' }, user] }))).toEqual([user]);
    // ...unless it is all there is: the request still has its one message.
    expect(messagesOf(openaiDialect.parseRequest({ model: 'm', messages: [{ role: 'developer', content: '' }] }))).toEqual([{ role: 'system', content: '' }]);
  });
});
