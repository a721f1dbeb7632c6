import { describe, expect, it } from 'vitest';
import { anthropicDialect } from '../../src/protocol/anthropic/anthropic-dialect.js';
import type { ChatRequest } from '../../src/protocol/chat.js';
import { openaiDialect } from '../../src/protocol/openai/openai-dialect.js';

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
    expect(fromOpenAI).toEqual([{ role: 'system', content: 'You are A.\nBe terse.' }, { role: 'user', content: 'one\ntwo' }]);
    // An Anthropic turn of several blocks keeps them as parts too, for its cache breakpoints' sake (R39).
    expect(fromAnthropic).toEqual([
      { role: 'system', content: 'You are A.\nBe terse.' },
      { role: 'user', content: 'one\ntwo', parts: [{ type: 'text', text: 'one' }, { type: 'text', text: 'two' }] },
    ]);
  });

  it('an empty system prompt is no system prompt', () => {
    const user = { role: 'user', content: 'hi' };
    expect(messagesOf(anthropicDialect.parseRequest({ model: 'm', max_tokens: 5, system: '', messages: [user] }))).toEqual([user]);
    expect(messagesOf(anthropicDialect.parseRequest({ model: 'm', max_tokens: 5, system: [], messages: [user] }))).toEqual([user]);
    expect(messagesOf(openaiDialect.parseRequest({ model: 'm', messages: [{ role: 'system', content: '' }, user] }))).toEqual([user]);
    // ...unless it is all there is: a model server takes the request with its one message...
    expect(messagesOf(openaiDialect.parseRequest({ model: 'm', messages: [{ role: 'developer', content: '' }] }, { asServer: true }))).toEqual([{ role: 'system', content: '' }]);
    // ...and the gateway refuses a conversation that says nothing, which Anthropic-dialect upstreams would refuse.
    for (const messages of [[{ role: 'developer', content: '' }], [{ role: 'user', content: '' }], [{ role: 'system', content: ' ' }, { role: 'user', content: '\n' }]]) {
      expect(openaiDialect.parseRequest({ model: 'm', messages })).toMatchObject({ ok: false, problem: { status: 400, param: 'messages', message: expect.stringContaining('every message is empty') } });
    }
  });
});

describe("Anthropic's inference_geo", () => {
  const ask = { model: 'm', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] };
  it('takes any jurisdiction name a config may declare (dots and colons too), lowercased; global is any', () => {
    for (const [sent, geography] of [['EU.fr', 'eu.fr'], ['us:gov', 'us:gov'], ['eu', 'eu'], ['global', undefined], ['GLOBAL', undefined]] as const) {
      const parsed = anthropicDialect.parseRequest({ ...ask, inference_geo: sent });
      if (!parsed.ok) throw new Error(`${sent}: ${parsed.problem.message}`);
      expect(parsed.value.geography).toBe(geography);
    }
  });
  it('refuses a list or a blank, saying what it takes once', () => {
    for (const sent of ['us, eu', '', '.eu']) {
      expect(anthropicDialect.parseRequest({ ...ask, inference_geo: sent })).toMatchObject({ ok: false, problem: { status: 400, param: 'inference_geo', message: "inference_geo: expected one jurisdiction name, such as 'us' or 'eu.fr', or 'global' for any" } });
    }
  });
});

describe('tool fields that ask for no tools', () => {
  const problem = (parsed: ReturnType<typeof openaiDialect.parseRequest>): string => (parsed.ok ? 'accepted' : parsed.problem.message);
  const openai = (extra: object): string => problem(openaiDialect.parseRequest({ model: 'm', messages: [{ role: 'user', content: 'hi' }], ...extra }));
  const anthropic = (extra: object): string => problem(anthropicDialect.parseRequest({ model: 'm', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }], ...extra }));

  it.each([{ tools: null }, { tools: [] }, { functions: null }, { functions: [] }, { function_call: null }, { function_call: 'none' }, { tool_choice: 'none' }])('OpenAI %j is accepted', (extra) => {
    expect(openai(extra)).toBe('accepted');
  });

  it.each([{ tools: [] }, { mcp_servers: [] }, { tool_choice: { type: 'none' } }])('Anthropic %j is accepted', (extra) => {
    expect(anthropic(extra)).toBe('accepted');
  });

  it('tools themselves are refused, saying so, in both dialects', () => {
    // OpenAI tools are taken (see openai-tools.test.ts); its legacy function calling is refused, pointing at them.
    const tool = { type: 'function', function: { name: 'f', parameters: {} } };
    expect(openai({ tools: [tool] })).toBe('accepted');
    expect(openai({ functions: [{ name: 'f' }] })).toBe('functions: functions are legacy function calling, which Switchyard does not support: send tools instead');
    expect(openai({ function_call: 'auto' })).toBe('function_call: function_call is legacy function calling, which Switchyard does not support: send tool_choice instead');
    // Anthropic custom tools are taken (see anthropic-tools.test.ts); server tools are refused.
    expect(anthropic({ tools: [{ name: 'f', input_schema: { type: 'object' } }] })).toBe('accepted');
    expect(anthropic({ tools: [{ type: 'web_search_20250305', name: 'web_search' }] })).toBe("tools.0.type: server tools ('web_search_20250305') are not supported by Switchyard: offer your own tools, each with a name and an input_schema");
    expect(anthropic({ tools: 'all' })).toBe('tools: must be an array, got a string');
  });
});

describe('an Anthropic system prompt of the wrong shape', () => {
  it.each([
    [null, /system must be a string or an array of text blocks .*; got null$/],
    [[{ type: 'image' }], /system must be a string or an array of text blocks .*: 'image' blocks are not supported by Switchyard yet$/],
    // A text block read on its own: the missing field is named at its path.
    [[{ type: 'text' }], /^system\.0\.text: is required: a string$/],
  ])('%j says what a system prompt must be', (system, message) => {
    const parsed = anthropicDialect.parseRequest({ model: 'm', max_tokens: 5, system, messages: [{ role: 'user', content: 'hi' }] });
    expect(parsed.ok ? 'accepted' : parsed.problem.message).toMatch(message);
  });
});
