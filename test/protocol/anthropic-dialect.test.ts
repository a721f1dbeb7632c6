import { describe, expect, it } from 'vitest';
import { anthropicDialect } from '../../src/protocol/anthropic/anthropic-dialect.js';
import { openaiDialect } from '../../src/protocol/openai/openai-dialect.js';
import { defaultMaxOutputTokens, type ChatEvent, type ChatRequest } from '../../src/protocol/chat.js';

/** Reads the frames a writer produced back through the dialect's own reader. */
function roundTrip(events: readonly ChatEvent[]): ChatEvent[] {
  const writer = anthropicDialect.createStreamWriter({ includeUsage: true, created: 0 });
  const reader = anthropicDialect.createStreamReader();
  const out: ChatEvent[] = [];
  for (const frame of events.map((event) => writer.write(event)).join('').split('\n\n')) {
    const name = /^event: (.*)$/m.exec(frame)?.[1];
    const data = /^data: (.*)$/m.exec(frame)?.[1];
    if (data !== undefined) out.push(...reader.read(name, data).events);
  }
  return out;
}

describe('anthropic dialect: stop sequences', () => {
  // Anthropic always sends its cache counts, so what is written is read back with them.
  const cache = { readTokens: 0, writeTokens: 0 };
  const usage = { inputTokens: 3, outputTokens: 2, cache };

  it('a finish that names its stop sequence is written as stop_sequence and read back the same', () => {
    const events: ChatEvent[] = [{ type: 'start', id: 'msg_1', model: 'm', inputTokens: 3, cache }, { type: 'text', text: 'hi there' }, { type: 'finish', finishReason: 'stop', stopSequence: '###', usage }];
    expect(roundTrip(events)).toEqual(events);
    const written = anthropicDialect.createStreamWriter({ includeUsage: true, created: 0 }).write(events[2] as ChatEvent);
    expect(written).toContain('"delta":{"stop_reason":"stop_sequence","stop_sequence":"###"}');
  });

  it('a plain finish stays end_turn with stop_sequence null', () => {
    const events: ChatEvent[] = [{ type: 'start', id: 'msg_1', model: 'm', inputTokens: 3, cache }, { type: 'finish', finishReason: 'stop', usage }];
    expect(roundTrip(events)).toEqual(events);
  });

  it('an empty answer streams no content block, as Anthropic streams it and as its complete message has none', () => {
    const writer = anthropicDialect.createStreamWriter({ includeUsage: true, created: 0 });
    const events: ChatEvent[] = [{ type: 'start', id: 'msg_1', model: 'm', inputTokens: 3 }, { type: 'finish', finishReason: 'stop', stopSequence: '###', usage: { inputTokens: 3, outputTokens: 0 } }];
    const names = events.map((event) => writer.write(event)).join('').match(/^event: \w+/gm);
    expect(names).toEqual(['event: message_start', 'event: message_delta', 'event: message_stop']);
    // With text, the block opens at the first of it, followed by a ping, as Anthropic sends them.
    const withText = anthropicDialect.createStreamWriter({ includeUsage: true, created: 0 });
    const frames = [events[0], { type: 'text', text: 'a' }, { type: 'text', text: 'b' }, events[1]].map((event) => withText.write(event as ChatEvent)).join('');
    expect(frames.match(/^event: \w+/gm)).toEqual(['event: message_start', 'event: content_block_start', 'event: ping', 'event: content_block_delta', 'event: content_block_delta', 'event: content_block_stop', 'event: message_delta', 'event: message_stop']);
  });

  it('a complete message carries the sequence both ways', () => {
    const body = anthropicDialect.formatResult({ id: 'msg_1', model: 'm', text: 'hi', finishReason: 'stop', stopSequence: 'END', usage }, 0);
    expect(body).toMatchObject({ stop_reason: 'stop_sequence', stop_sequence: 'END' });
    expect(anthropicDialect.parseResult(body)).toEqual({ ok: true, value: { id: 'msg_1', model: 'm', text: 'hi', finishReason: 'stop', stopSequence: 'END', usage } });
    expect(anthropicDialect.formatResult({ id: 'msg_1', model: 'm', text: 'hi', finishReason: 'length', usage }, 0)).toMatchObject({ stop_reason: 'max_tokens', stop_sequence: null });
  });
});

describe('anthropic dialect: encoding a canonical request', () => {
  const base: ChatRequest = { model: 'm', messages: [{ role: 'user', content: 'hi' }], maxTokens: undefined, temperature: undefined, topP: undefined, stop: [], stream: false, includeUsage: false, finalAssistant: 'continue' };

  it('a request without a budget gets the budget the gateway routed and charged with', () => {
    expect(defaultMaxOutputTokens).toBe(4096);
    expect(anthropicDialect.encodeRequest(base)).toMatchObject({ max_tokens: defaultMaxOutputTokens });
    expect(anthropicDialect.encodeRequest({ ...base, maxTokens: 7 })).toMatchObject({ max_tokens: 7 });
  });

  it('system messages alone become one user turn; otherwise they are the system prompt', () => {
    expect(anthropicDialect.encodeRequest({ ...base, messages: [{ role: 'system', content: 'be terse' }] })).toMatchObject({ messages: [{ role: 'user', content: 'be terse' }] });
    expect(anthropicDialect.encodeRequest({ ...base, messages: [{ role: 'system', content: 'be terse' }] })).not.toHaveProperty('system');
    expect(anthropicDialect.encodeRequest({ ...base, messages: [{ role: 'system', content: 'be terse' }, { role: 'user', content: 'hi' }] })).toMatchObject({ system: 'be terse', messages: [{ role: 'user', content: 'hi' }] });
  });
});

describe('anthropic dialect: turns without text, as the Messages API reads them', () => {
  const refusal = (messages: unknown[]): string => {
    const parsed = anthropicDialect.parseRequest({ model: 'm', max_tokens: 5, messages });
    if (parsed.ok) throw new Error('expected a refusal');
    expect(parsed.problem).toMatchObject({ status: 400, kind: 'invalid_request' });
    return parsed.problem.message;
  };

  it.each([
    ['an empty user turn', [{ role: 'user', content: '' }], 'messages.0.content'],
    ['a whitespace-only user turn after a prefill', [{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'It is' }, { role: 'user', content: ' \n' }], 'messages.2.content'],
    ['an empty list of blocks', [{ role: 'user', content: [] }], 'messages.0.content'],
    ['blocks of empty text', [{ role: 'user', content: [{ type: 'text', text: '' }] }], 'messages.0.content'],
    ['an empty assistant turn before the last', [{ role: 'user', content: 'hi' }, { role: 'assistant', content: '' }, { role: 'user', content: 'again' }], 'messages.1.content'],
  ])('%s is refused, as Anthropic refuses it: dropped, the turn before it would become the one answered', (_name, messages, param) => {
    expect(refusal(messages)).toBe(`${param}: all messages must have non-empty content except for the optional final assistant message`);
  });

  it('an empty final assistant turn is allowed, as Anthropic allows it', () => {
    const parsed = anthropicDialect.parseRequest({ model: 'm', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: '' }] });
    expect(parsed.ok).toBe(true);
  });
});

describe('anthropic dialect: what Anthropic refuses and OpenAI callers may send', () => {
  const base: ChatRequest = { model: 'm', messages: [{ role: 'user', content: 'hi' }], maxTokens: undefined, temperature: undefined, topP: undefined, stop: [], stream: false, includeUsage: false, finalAssistant: 'answer' };

  it("an OpenAI caller's finished assistant turn, last, is sent without its trailing whitespace (Anthropic reads it as a prefill, and refuses one ending so)", () => {
    const messages: ChatRequest['messages'] = [{ role: 'user', content: 'Write a list' }, { role: 'assistant', content: 'Here is the list:\n' }];
    expect(anthropicDialect.encodeRequest({ ...base, messages })).toMatchObject({ messages: [{ role: 'user', content: 'Write a list' }, { role: 'assistant', content: 'Here is the list:' }] });
    // As blocks too (a turn with a cache breakpoint), and not for whitespace alone or a turn before the last.
    const cached = anthropicDialect.encodeRequest({ ...base, messages: [{ role: 'user', content: 'Write a list' }, { role: 'assistant', content: 'Here:  ', cache: {} }] });
    expect(cached).toMatchObject({ messages: [{}, { role: 'assistant', content: [{ type: 'text', text: 'Here:' }] }] });
    const earlier = anthropicDialect.encodeRequest({ ...base, messages: [{ role: 'user', content: 'a' }, { role: 'assistant', content: 'b\n' }, { role: 'user', content: 'c' }] });
    expect(earlier).toMatchObject({ messages: [{}, { role: 'assistant', content: 'b\n' }, {}] });
    // Also when an empty turn follows it: Anthropic still reads it last (a prefill to continue is
    // trimmed before this, with as much dropped from its answer: see withoutPrefillWhitespace).
    expect(anthropicDialect.encodeRequest({ ...base, messages: [{ role: 'user', content: 'Write a list' }, { role: 'assistant', content: 'Here is the list:\n' }, { role: 'user', content: '' }] })).toMatchObject({ messages: [{}, { role: 'assistant', content: 'Here is the list:' }] });
  });

  it("system messages that close an OpenAI caller's conversation after an assistant turn are its last user turn, so they are answered, not the turn continued (E49)", () => {
    const conversation: ChatRequest['messages'] = [{ role: 'system', content: 'You are helpful.' }, { role: 'user', content: 'hi' }, { role: 'assistant', content: 'Hello! How can I help?' }];
    const closing: ChatRequest['messages'] = [{ role: 'system', content: 'Now summarize the conversation.' }, { role: 'system', content: ' ' }, { role: 'system', content: 'In one line.' }];
    expect(anthropicDialect.encodeRequest({ ...base, messages: [...conversation, ...closing] })).toMatchObject({
      system: 'You are helpful.',
      messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'Hello! How can I help?' }, { role: 'user', content: 'Now summarize the conversation.\nIn one line.' }],
    });
    // Also with turns that say nothing (an agent SDK's empty input), which Anthropic is not sent, after
    // them, among them or before them, of either role (R42).
    const silentUser = { role: 'user' as const, content: ' ' };
    const silentAssistant = { role: 'assistant' as const, content: '' };
    for (const shape of [
      [closing[0]!, silentUser],
      [silentUser, closing[0]!],
      [closing[0]!, silentAssistant],
      [silentUser, closing[0]!, silentAssistant, silentUser],
      [{ role: 'system' as const, content: '' }, closing[0]!, silentUser],
    ]) {
      expect(anthropicDialect.encodeRequest({ ...base, messages: [...conversation, ...shape] })).toMatchObject({
        system: 'You are helpful.',
        messages: [{}, { role: 'assistant' }, { role: 'user', content: 'Now summarize the conversation.' }],
      });
    }
    // Resumed (the answer so far continued after them), they stay before it.
    const resumed = anthropicDialect.encodeRequest({ ...base, finalAssistant: 'continue', resumedFrom: 'answer', messages: [...conversation, ...closing, { role: 'assistant', content: 'The user' }] });
    expect(resumed).toMatchObject({ system: 'You are helpful.', messages: [{}, {}, { role: 'user', content: 'Now summarize the conversation.\nIn one line.' }, { role: 'assistant', content: 'The user' }] });
    // An Anthropic caller's prefill with a system message after it, resumed (R40), or its own prefill
    // after one: the system message stays in the system prompt, the prefill continued as asked.
    for (const resumedFrom of ['continue' as const, undefined]) {
      const prefilled = anthropicDialect.encodeRequest({ ...base, finalAssistant: 'continue', ...(resumedFrom === undefined ? {} : { resumedFrom }), messages: [...conversation, closing[0]!, { role: 'assistant', content: 'The user' }] });
      expect(prefilled).toMatchObject({ system: 'You are helpful.\nNow summarize the conversation.', messages: [{}, { role: 'assistant', content: 'Hello! How can I help?' }, { role: 'assistant', content: 'The user' }] });
    }
    // A conversation with no user turn before them begins with the system prompt as a user turn (R41);
    // with no system prompt either, it is left as it was (it would begin with the assistant's turn).
    for (const opening of [[{ role: 'system' as const, content: 'You are terse.' }], [{ role: 'system' as const, content: 'You are terse.' }, { role: 'user' as const, content: '' }]]) {
      const encoded = anthropicDialect.encodeRequest({ ...base, messages: [...opening, { role: 'assistant', content: 'Hi.' }, { role: 'system', content: 'Again.' }] });
      expect(encoded).toMatchObject({ messages: [{ role: 'user', content: 'You are terse.' }, { role: 'assistant', content: 'Hi.' }, { role: 'user', content: 'Again.' }] });
      expect(encoded).not.toHaveProperty('system');
    }
    const bare = anthropicDialect.encodeRequest({ ...base, messages: [{ role: 'assistant', content: 'Hi.' }, { role: 'system', content: 'Again.' }] });
    expect(bare).toMatchObject({ messages: [{ role: 'user', content: 'Again.' }, { role: 'assistant', content: 'Hi.' }] });
    // Not after a prefill to continue (an Anthropic caller's own, or continue_final_message), nor mid-conversation.
    expect(anthropicDialect.encodeRequest({ ...base, finalAssistant: 'continue', messages: [...conversation, closing[0]!] })).toMatchObject({ system: 'You are helpful.\nNow summarize the conversation.', messages: [{}, { role: 'assistant' }] });
    expect(anthropicDialect.encodeRequest({ ...base, messages: [...conversation, closing[0]!, { role: 'user', content: 'go' }] })).toMatchObject({ system: 'You are helpful.\nNow summarize the conversation.', messages: [{}, {}, { role: 'user', content: 'go' }] });
    // An OpenAI-dialect upstream gets the turns as they are.
    expect((openaiDialect.encodeRequest({ ...base, messages: [...conversation, ...closing] }) as { messages: unknown[] }).messages.at(-1)).toEqual({ role: 'system', content: 'In one line.' });
  });

  it('turns without visible text are left out', () => {
    const messages: ChatRequest['messages'] = [{ role: 'system', content: 'be terse' }, { role: 'user', content: 'hi' }, { role: 'assistant', content: '' }, { role: 'user', content: ' \n' }, { role: 'user', content: 'again' }];
    expect(anthropicDialect.encodeRequest({ ...base, messages })).toMatchObject({ system: 'be terse', messages: [{ role: 'user', content: 'hi' }, { role: 'user', content: 'again' }] });
    // With nothing but such turns besides the system prompt (an agent SDK's empty input), the system
    // prompt is the one user turn, as for a request of system messages alone: what an OpenAI-dialect
    // upstream's model answers, where Anthropic would refuse the empty turn.
    const encoded = anthropicDialect.encodeRequest({ ...base, messages: [{ role: 'system', content: 'be terse' }, { role: 'user', content: ' ' }] });
    expect(encoded).toMatchObject({ messages: [{ role: 'user', content: 'be terse' }] });
    expect(encoded).not.toHaveProperty('system');
    // Its answer resumed after a break: the same user turn, then the answer so far to continue.
    const resumed = anthropicDialect.encodeRequest({ ...base, messages: [{ role: 'system', content: 'be terse' }, { role: 'user', content: ' ' }, { role: 'assistant', content: 'Bonjour' }] });
    expect(resumed).toMatchObject({ messages: [{ role: 'user', content: 'be terse' }, { role: 'assistant', content: 'Bonjour' }] });
    expect(resumed).not.toHaveProperty('system');
    // So is a system prompt with a prefill and no user turn at all (a continuation of a request of
    // system messages alone has that shape): the conversation must begin with a user turn.
    const prefill = anthropicDialect.encodeRequest({ ...base, messages: [{ role: 'system', content: 'You are a pirate.' }, { role: 'assistant', content: 'Arr,' }] });
    expect(prefill).toMatchObject({ messages: [{ role: 'user', content: 'You are a pirate.' }, { role: 'assistant', content: 'Arr,' }] });
    expect(prefill).not.toHaveProperty('system');
  });

  it('stop sequences of whitespace alone are left to the gateway, the others sent', () => {
    expect(anthropicDialect.encodeRequest({ ...base, stop: ['\n', 'END', ' '] })).toMatchObject({ stop_sequences: ['END'] });
    expect(anthropicDialect.encodeRequest({ ...base, stop: ['\n\n'] })).not.toHaveProperty('stop_sequences');
  });

  it("an Anthropic caller's top_k reaches either upstream dialect; 0 is no limit; a bad one is refused as Anthropic refuses it", () => {
    const parsed = anthropicDialect.parseRequest({ model: 'm', max_tokens: 5, top_k: 40, messages: [{ role: 'user', content: 'hi' }] });
    if (!parsed.ok) throw new Error(parsed.problem.message);
    expect(anthropicDialect.encodeRequest(parsed.value)).toMatchObject({ top_k: 40 });
    expect(openaiDialect.encodeRequest(parsed.value)).toMatchObject({ top_k: 40 });
    const none = anthropicDialect.parseRequest({ model: 'm', max_tokens: 5, top_k: 0, messages: [{ role: 'user', content: 'hi' }] });
    expect(none.ok ? anthropicDialect.encodeRequest(none.value) : none.problem).not.toHaveProperty('top_k');
    for (const bad of [-1, 'x', 1.5]) expect(anthropicDialect.parseRequest({ model: 'm', max_tokens: 5, top_k: bad, messages: [{ role: 'user', content: 'hi' }] })).toMatchObject({ ok: false, problem: { status: 400, param: 'top_k' } });
  });

  it('an Anthropic upstream gets temperature or top_p, never both (Claude 4.5 and later refuse the pair): temperature when both are set', () => {
    expect(anthropicDialect.encodeRequest({ ...base, temperature: 0.3, topP: 0.9 })).toMatchObject({ temperature: 0.3 });
    expect(anthropicDialect.encodeRequest({ ...base, temperature: 0.3, topP: 0.9 })).not.toHaveProperty('top_p');
    expect(anthropicDialect.encodeRequest({ ...base, topP: 0.9 })).toMatchObject({ top_p: 0.9 });
    expect(anthropicDialect.encodeRequest({ ...base, temperature: 0 })).toMatchObject({ temperature: 0 });
    // An OpenAI-dialect upstream (vLLM) takes both.
    expect(openaiDialect.encodeRequest({ ...base, temperature: 0.3, topP: 0.9 })).toMatchObject({ temperature: 0.3, top_p: 0.9 });
  });
});

describe("anthropic dialect: OpenAI's fields sent to the Messages API", () => {
  const request = (extra: object): unknown => ({ model: 'm', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }], ...extra });

  it.each([
    ['stop', ['END'], 'send stop_sequences'],
    ['response_format', { type: 'json_object' }, 'here, send output_config.format'],
    ['n', 2, 'one answer per request'],
    ['seed', 7, 'remove it'],
    ['logprobs', true, 'logprobs are not supported'],
    ['max_completion_tokens', 50, 'send max_tokens'],
    ['user', 'u-1', 'send metadata.user_id'],
    ['reasoning_effort', 'high', 'send output_config.effort'],
    ['parallel_tool_calls', false, 'send tool_choice with disable_parallel_tool_use'],
    ['safety_identifier', 'sid-1', 'send metadata.user_id'],
    ['web_search_options', {}, 'web search is not supported'],
    // Betas that would change what the answer is, or who pays for it.
    ['compaction', { type: 'summarize' }, 'its answer would be an ordinary reply, not a compaction block'],
    ['fallbacks', ['another-model'], 'the route serves the model asked for'],
    ['billing_policy', { type: 'billing_policy', bill_to: 'user_profile' }, 'Switchyard bills no user profile'],
    ['user_profile_id', 'up-1', 'Switchyard, which bills no user profile: leave it out'],
  ])('%s is refused, as the Messages API refuses it, saying what to send instead: dropped, it would change the answer', (field, value, advice) => {
    expect(anthropicDialect.parseRequest(request({ [field]: value }))).toMatchObject({ ok: false, problem: { status: 400, param: field, message: expect.stringContaining(advice) } });
  });

  it("the legacy Text Completions API's fields are named, not the fields they stand for found missing (E61: 'max_tokens is required')", () => {
    const legacy = { model: 'm', messages: [{ role: 'user', content: 'hi' }], max_tokens_to_sample: 5 };
    expect(anthropicDialect.parseRequest(legacy)).toMatchObject({ ok: false, problem: { param: 'max_tokens_to_sample', message: expect.stringContaining('legacy Text Completions API: here, send max_tokens') } });
    expect(anthropicDialect.parseRequest({ model: 'm', prompt: '\n\nHuman: hi\n\nAssistant:', max_tokens_to_sample: 5 })).toMatchObject({ ok: false, problem: { param: 'prompt', message: expect.stringContaining('send the conversation as messages') } });
  });

  it('null passes as leaving the field out does, and fields no API names still pass (SDKs add new ones)', () => {
    expect(anthropicDialect.parseRequest(request({ stop: null, seed: null, compaction: null, fallbacks: null, some_future_hint: 'x' })).ok).toBe(true);
    // Neutral values of the betas: billing the caller's own account (the default), no fallbacks.
    for (const neutral of [{ billing_policy: { type: 'billing_policy', bill_to: 'self' } }, { billing_policy: { type: 'billing_policy' } }, { billing_policy: { bill_to: null } }, { fallbacks: [] }]) expect([neutral, anthropicDialect.parseRequest(request(neutral)).ok]).toEqual([neutral, true]);
  });

  it('a token count takes compaction and billing_policy, as the API does (a count has no answer and bills nobody)', () => {
    const counted = anthropicDialect.tokenCounting?.parseRequest({ model: 'm', messages: [{ role: 'user', content: 'hi' }], compaction: { type: 'summarize' }, billing_policy: { type: 'billing_policy', bill_to: 'user_profile' }, user_profile_id: 'up_1', fallbacks: ['other-model'] });
    expect(counted?.ok).toBe(true);
  });

  it("an OpenAI-form tool or a string tool choice is refused saying the Messages API's form", () => {
    expect(anthropicDialect.parseRequest(request({ tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object' } } }] }))).toMatchObject({ ok: false, problem: { param: 'tools.0.type', message: expect.stringContaining('are for POST /v1/chat/completions: here, each tool is {"name": ..., "description": ..., "input_schema": {...}}') } });
    expect(anthropicDialect.parseRequest(request({ tools: [{ name: 'f', input_schema: { type: 'object' } }], tool_choice: 'auto' }))).toMatchObject({ ok: false, problem: { param: 'tool_choice', message: expect.stringContaining('tool_choice is an object here: {"type": "auto"}') } });
  });
});

describe('anthropic dialect: the model list pages like the Anthropic API', () => {
  const ids = ['a', 'b', 'c', 'd'];
  const page = (query: string): unknown => {
    const list = anthropicDialect.formatModelList(ids, new URLSearchParams(query));
    if (!list.ok) return list.problem;
    const value = list.value as { data: { id: string }[]; has_more: boolean; first_id: string | null; last_id: string | null };
    return { ids: value.data.map((model) => model.id), hasMore: value.has_more, first: value.first_id, last: value.last_id };
  };

  it('limit, after_id and before_id', () => {
    expect(page('')).toEqual({ ids: ['a', 'b', 'c', 'd'], hasMore: false, first: 'a', last: 'd' });
    expect(page('limit=1')).toEqual({ ids: ['a'], hasMore: true, first: 'a', last: 'a' });
    expect(page('limit=2&after_id=b')).toEqual({ ids: ['c', 'd'], hasMore: false, first: 'c', last: 'd' });
    expect(page('limit=1&after_id=a')).toEqual({ ids: ['b'], hasMore: true, first: 'b', last: 'b' });
    expect(page('limit=1&before_id=c')).toEqual({ ids: ['b'], hasMore: true, first: 'b', last: 'b' });
    expect(page('limit=5&before_id=c')).toEqual({ ids: ['a', 'b'], hasMore: false, first: 'a', last: 'b' });
    expect(page('after_id=nope')).toEqual({ ids: [], hasMore: false, first: null, last: null });
  });

  it('both cursors at once are a 400: which way to page would be a guess', () => {
    expect(page('after_id=a&before_id=d')).toMatchObject({ status: 400, param: 'before_id', message: expect.stringMatching(/^after_id and before_id are both set: send one of them/) });
  });

  it('a bad limit is a 400 naming it', () => {
    expect(page('limit=0')).toMatchObject({ status: 400, param: 'limit' });
    expect(page('limit=abc')).toMatchObject({ status: 400, message: expect.stringMatching(/from 1 to 1000/) });
  });
});

describe('stream readers: an event whose data is JSON but not an object', () => {
  it.each(['null', '42', '"text"', '[]'])('data: %s is a malformed event, an error that ends the stream, in either dialect', (data) => {
    expect(openaiDialect.createStreamReader().read(undefined, data)).toEqual({ events: [{ type: 'error', kind: 'api_error', message: 'upstream sent a malformed stream chunk' }], done: true });
    expect(anthropicDialect.createStreamReader().read('content_block_delta', data)).toEqual({ events: [{ type: 'error', kind: 'api_error', message: 'upstream sent a malformed stream event' }], done: true });
  });
});

describe('stream readers: a stream that broke off after announcing its finish', () => {
  it('Anthropic: after message_delta with a stop_reason the finish is known; before it, and after message_stop, there is none', () => {
    const reader = anthropicDialect.createStreamReader();
    reader.read('message_start', JSON.stringify({ type: 'message_start', message: { id: 'msg_1', model: 'm', usage: { input_tokens: 4 } } }));
    reader.read('content_block_delta', JSON.stringify({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'hi' } }));
    expect(reader.announcedFinish()).toBeUndefined();
    reader.read('message_delta', JSON.stringify({ type: 'message_delta', delta: { stop_reason: 'max_tokens', stop_sequence: null }, usage: { output_tokens: 1 } }));
    expect(reader.announcedFinish()).toEqual({ type: 'finish', finishReason: 'length', usage: { inputTokens: 4, outputTokens: 1 } });
    reader.read('message_stop', JSON.stringify({ type: 'message_stop' }));
    expect(reader.announcedFinish()).toBeUndefined();
  });

  it('OpenAI: after a finish_reason the finish is known until usage or [DONE] completes it', () => {
    const reader = openaiDialect.createStreamReader();
    const chunk = (delta: object, finish: string | null, usage?: object): string => JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 0, model: 'm', choices: [{ index: 0, delta, finish_reason: finish }], ...(usage === undefined ? {} : { usage }) });
    reader.read(undefined, chunk({ role: 'assistant', content: 'hi' }, null));
    expect(reader.announcedFinish()).toBeUndefined();
    reader.read(undefined, chunk({}, 'stop'));
    expect(reader.announcedFinish()).toEqual({ type: 'finish', finishReason: 'stop', usage: { inputTokens: 0, outputTokens: 0 } });
    reader.read(undefined, JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 0, model: 'm', choices: [], usage: { prompt_tokens: 3, completion_tokens: 1 } }));
    expect(reader.announcedFinish()).toBeUndefined();
  });
});

describe('anthropic dialect: requests it cannot honour, and what it answers', () => {
  const request = (extra: object): unknown => ({ model: 'm', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }], ...extra });

  it('refuses MCP servers and a tool choice it cannot honour with a 400 naming the field, never dropping them', () => {
    for (const [extra, field] of [
      [{ tool_choice: { type: 'any' } }, 'tool_choice'],
      [{ mcp_servers: [{ type: 'url', url: 'https://example.com' }] }, 'mcp_servers'],
    ] as const) {
      const parsed = anthropicDialect.parseRequest(request(extra));
      // A tool choice that requires a tool is refused without tools, as the Messages API refuses it.
      expect(parsed.ok ? undefined : parsed.problem).toMatchObject({ status: 400, param: field, message: expect.stringMatching(/not supported|needs tools/) });
    }
    expect(anthropicDialect.parseRequest(request({ tool_choice: { type: 'none' } })).ok).toBe(true);
  });

  it('a trailing assistant message is a prefill to continue', () => {
    const parsed = anthropicDialect.parseRequest(request({ messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'Sure' }] }));
    expect(parsed.ok ? parsed.value.finalAssistant : undefined).toBe('continue');
  });

  it("an empty answer has no content block, and usage carries Anthropic's cache counts", () => {
    const usage = { inputTokens: 3, outputTokens: 0 };
    expect(anthropicDialect.formatResult({ id: 'msg_1', model: 'm', text: '', finishReason: 'stop', stopSequence: 'END', usage }, 0)).toMatchObject({ content: [], usage: { input_tokens: 3, output_tokens: 0, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 } });
    expect(anthropicDialect.formatResult({ id: 'msg_1', model: 'm', text: 'hi', finishReason: 'stop', usage }, 0)).toMatchObject({ content: [{ type: 'text', text: 'hi' }] });
  });

  it('OpenAI sampling controls have no Anthropic equivalent: an Anthropic upstream is not sent them', () => {
    const encoded = anthropicDialect.encodeRequest({ model: 'm', messages: [{ role: 'user', content: 'hi' }], maxTokens: 5, temperature: undefined, topP: undefined, stop: [], stream: false, includeUsage: false, finalAssistant: 'continue', sampling: { seed: 4, presencePenalty: 0.5 } });
    expect(Object.keys(encoded as object).sort()).toEqual(['max_tokens', 'messages', 'model', 'stream']);
  });
});

describe('anthropic dialect: system messages among the turns', () => {
  it("are accepted (the SDK's SystemMessageParam) and kept in place; an Anthropic upstream gets them as the system prompt", () => {
    const parsed = anthropicDialect.parseRequest({ model: 'm', max_tokens: 5, system: 'be terse', messages: [{ role: 'user', content: 'hi' }, { role: 'system', content: [{ type: 'text', text: 'now in French' }] }, { role: 'user', content: 'again' }] });
    if (!parsed.ok) throw new Error(parsed.problem.message);
    expect(parsed.value.messages.map((m) => m.role)).toEqual(['system', 'user', 'system', 'user']);
    expect(anthropicDialect.encodeRequest(parsed.value)).toMatchObject({ system: 'be terse\nnow in French', messages: [{ role: 'user', content: 'hi' }, { role: 'user', content: 'again' }] });
  });
});

describe('anthropic dialect: errors and rate-limit headers', () => {
  it('an error body repeats the request id at the top level, as the Anthropic API does', () => {
    expect(anthropicDialect.formatError({ kind: 'rate_limit', message: 'slow down', limit: 'tokens', requestId: 'req_1' })).toEqual({ type: 'error', error: { type: 'rate_limit_error', message: 'slow down' }, request_id: 'req_1' });
    expect(anthropicDialect.formatError({ kind: 'not_found', message: 'no such model' })).toEqual({ type: 'error', error: { type: 'not_found_error', message: 'no such model' } });
  });

  it("a request too long for its window is refused in Anthropic's words, which clients parse, then the gateway's", () => {
    const refused = (promptTokens: number): unknown => anthropicDialect.formatError({ kind: 'invalid_request', message: 'the details', contextLimit: { promptTokens, outputTokens: 32_000, window: 200_000 } });
    expect(refused(180_000)).toEqual({ type: 'error', error: { type: 'invalid_request_error', message: "input length and `max_tokens` exceed context limit: 180000 + 32000 > 200000, decrease input length or `max_tokens` and try again (the details)" } });
    expect(refused(200_001)).toMatchObject({ error: { message: 'prompt is too long: 200001 tokens > 200000 maximum (the details)' } });
    // At the window exactly the budget is what does not fit: the inequality must hold as written.
    expect(refused(200_000)).toMatchObject({ error: { message: expect.stringMatching(/^input length and `max_tokens` exceed context limit: 200000 \+ 32000 > 200000,/) } });
  });

  it("rate-limit headers are Anthropic's, each reset the RFC 3339 second the limit is full again", () => {
    const now = Date.UTC(2026, 10, 29, 12, 0, 0, 250);
    expect(anthropicDialect.rateLimitHeaders({ requests: { limit: 60, remaining: 59, resetMs: 1000 }, tokens: { limit: 6000, remaining: 6000, resetMs: 0 } }, now)).toEqual({
      'anthropic-ratelimit-requests-limit': '60',
      'anthropic-ratelimit-requests-remaining': '59',
      // 12:00:01.250 rounds up: the limit is not full before then.
      'anthropic-ratelimit-requests-reset': '2026-11-29T12:00:02Z',
      'anthropic-ratelimit-tokens-limit': '6000',
      'anthropic-ratelimit-tokens-remaining': '6000',
      'anthropic-ratelimit-tokens-reset': '2026-11-29T12:00:01Z',
    });
  });
});

describe('anthropic dialect: the end-user id', () => {
  it('metadata.user_id reaches either upstream dialect in its own field', () => {
    const parsed = anthropicDialect.parseRequest({ model: 'm', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }], metadata: { user_id: 'u-1' } });
    if (!parsed.ok) throw new Error(parsed.problem.message);
    expect(parsed.value.endUser).toBe('u-1');
    expect(anthropicDialect.encodeRequest(parsed.value)).toMatchObject({ metadata: { user_id: 'u-1' } });
    expect(openaiDialect.encodeRequest(parsed.value)).toMatchObject({ user: 'u-1' });
    for (const metadata of [{}, null, { user_id: null }]) {
      const without = anthropicDialect.parseRequest({ model: 'm', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }], metadata });
      expect(without.ok).toBe(true);
      expect(without.ok ? without.value : undefined).not.toHaveProperty('endUser');
    }
  });
});

describe('finish reasons a caller must tell from a normal stop', () => {
  const usage = { inputTokens: 3, outputTokens: 2 };
  const openaiChunk = (finish: string): string => JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 0, model: 'm', choices: [{ index: 0, delta: {}, logprobs: null, finish_reason: finish }] });
  const anthropicDelta = (reason: string): string => JSON.stringify({ type: 'message_delta', delta: { stop_reason: reason, stop_sequence: null }, usage: { output_tokens: 2 } });

  it.each([
    ['refusal', 'content_filter', 'content_filter'],
    ['model_context_window_exceeded', 'context_window', 'length'],
    ['max_tokens', 'length', 'length'],
    ['end_turn', 'stop', 'stop'],
  ] as const)('Anthropic %s is read as %s and written to OpenAI callers as %s, streamed and not', (anthropic, canonical, openai) => {
    const message = { id: 'msg_1', type: 'message', role: 'assistant', model: 'm', content: [{ type: 'text', text: 'no' }], stop_reason: anthropic, stop_sequence: null, usage: { input_tokens: 3, output_tokens: 2 } };
    expect(anthropicDialect.parseResult(message)).toMatchObject({ ok: true, value: { finishReason: canonical } });
    const reader = anthropicDialect.createStreamReader();
    reader.read('message_delta', anthropicDelta(anthropic));
    expect(reader.read('message_stop', '{"type":"message_stop"}').events).toEqual([{ type: 'finish', finishReason: canonical, usage: { inputTokens: 0, outputTokens: 2 } }]);
    // Written back to either dialect, streamed and not.
    expect(anthropicDialect.formatResult({ id: 'msg_1', model: 'm', text: 'no', finishReason: canonical, usage }, 0)).toMatchObject({ stop_reason: anthropic, stop_sequence: null });
    expect(anthropicDialect.createStreamWriter({ includeUsage: true, created: 0 }).write({ type: 'finish', finishReason: canonical, usage })).toContain(`"delta":{"stop_reason":"${anthropic}","stop_sequence":null}`);
    expect(openaiDialect.formatResult({ id: 'c', model: 'm', text: 'no', finishReason: canonical, usage }, 0)).toMatchObject({ choices: [{ finish_reason: openai }] });
    expect(openaiDialect.createStreamWriter({ includeUsage: false, created: 0 }).write({ type: 'finish', finishReason: canonical, usage })).toContain(`"finish_reason":"${openai}"`);
  });

  it.each([
    ['content_filter', 'content_filter', 'refusal'],
    ['length', 'length', 'max_tokens'],
    ['stop', 'stop', 'end_turn'],
  ] as const)('OpenAI %s is read as %s and written to Anthropic callers as %s, streamed and not', (openai, canonical, anthropic) => {
    const completion = { id: 'c', object: 'chat.completion', created: 0, model: 'm', choices: [{ index: 0, message: { role: 'assistant', content: 'no' }, finish_reason: openai }], usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 } };
    expect(openaiDialect.parseResult(completion)).toMatchObject({ ok: true, value: { finishReason: canonical } });
    const reader = openaiDialect.createStreamReader();
    reader.read(undefined, openaiChunk(openai));
    expect(reader.read(undefined, '[DONE]').events).toEqual([{ type: 'finish', finishReason: canonical, usage: { inputTokens: 0, outputTokens: 0 } }]);
    expect(anthropicDialect.formatResult({ id: 'msg_1', model: 'm', text: 'no', finishReason: canonical, usage }, 0)).toMatchObject({ stop_reason: anthropic });
  });
});

describe('token counts read from an upstream', () => {
  it('are whole numbers >= 0 or unknown (0), in both readers, streamed and not', () => {
    const reader = anthropicDialect.createStreamReader();
    reader.read('message_start', JSON.stringify({ type: 'message_start', message: { id: 'm', model: 'm', usage: { input_tokens: -3 } } }));
    reader.read('message_delta', JSON.stringify({ type: 'message_delta', delta: { stop_reason: 'end_turn' }, usage: { output_tokens: '7' } }));
    expect(reader.read('message_stop', '{"type":"message_stop"}').events).toEqual([{ type: 'finish', finishReason: 'stop', usage: { inputTokens: 0, outputTokens: 0 } }]);
    const message = { id: 'msg_1', type: 'message', role: 'assistant', model: 'm', content: [{ type: 'text', text: 'hi' }], stop_reason: 'end_turn', stop_sequence: null, usage: { input_tokens: 1.5, output_tokens: -1 } };
    expect(anthropicDialect.parseResult(message)).toMatchObject({ ok: true, value: { usage: { inputTokens: 0, outputTokens: 0 } } });
    const openai = openaiDialect.createStreamReader();
    openai.read(undefined, JSON.stringify({ id: 'c', model: 'm', choices: [{ index: 0, delta: { content: 'hi' }, finish_reason: 'stop' }] }));
    expect(openai.read(undefined, JSON.stringify({ id: 'c', model: 'm', choices: [], usage: { prompt_tokens: Number.MAX_VALUE, completion_tokens: 4 } })).events).toEqual([{ type: 'finish', finishReason: 'stop', usage: { inputTokens: 0, outputTokens: 4 } }]);
  });
});
