import { describe, expect, it } from 'vitest';
import { anthropicDialect } from '../../src/protocol/anthropic/anthropic-dialect.js';
import { openaiDialect } from '../../src/protocol/openai/openai-dialect.js';
import { withoutPrefillWhitespace } from '../../src/gateway/answer-pump.js';
import { refusalOf } from './read-request.js';
import { defaultMaxOutputTokens, type ChatRequest } from '../../src/protocol/chat.js';

describe('OpenAI error bodies', () => {
  it("a request too long for its window is refused in OpenAI's words, which clients read, then the gateway's", () => {
    const refused = (promptTokens: number): unknown => openaiDialect.formatError({ kind: 'invalid_request', message: 'the details', param: 'messages', code: 'context_length_exceeded', contextLimit: { promptTokens, outputTokens: 4096, window: 131_072 } });
    expect(refused(130_000)).toEqual({ error: { message: "This model's maximum context length is 131072 tokens. However, you requested 134096 tokens (130000 in the messages, 4096 in the completion). Please reduce the length of the messages or completion. (the details)", type: 'invalid_request_error', param: 'messages', code: 'context_length_exceeded' } });
    expect(refused(131_073)).toMatchObject({ error: { message: "This model's maximum context length is 131072 tokens. However, your messages resulted in 131073 tokens. Please reduce the length of the messages. (the details)" } });
    expect(refused(131_072)).toMatchObject({ error: { message: expect.stringMatching(/However, you requested 135168 tokens \(131072 in the messages, 4096 in the completion\)/) } });
  });


  it("carry OpenAI's own type and code: a detail when the error names one, the limit's name for a rate limit, else null", () => {
    expect(openaiDialect.formatError({ kind: 'invalid_request', message: 'too long', param: 'messages', code: 'context_length_exceeded' })).toEqual({ error: { message: 'too long', type: 'invalid_request_error', param: 'messages', code: 'context_length_exceeded' } });
    expect(openaiDialect.formatError({ kind: 'not_found', message: 'no such model', param: 'model', code: 'model_not_found' })).toEqual({ error: { message: 'no such model', type: 'invalid_request_error', param: 'model', code: 'model_not_found' } });
    // A bad key has code invalid_api_key; a missing one none, as OpenAI answers them.
    expect(openaiDialect.formatError({ kind: 'authentication', message: 'bad key', code: 'invalid_api_key' })).toEqual({ error: { message: 'bad key', type: 'invalid_request_error', param: null, code: 'invalid_api_key' } });
    expect(openaiDialect.formatError({ kind: 'authentication', message: 'no key' })).toEqual({ error: { message: 'no key', type: 'invalid_request_error', param: null, code: null } });
    expect(openaiDialect.formatError({ kind: 'rate_limit', message: 'slow down', limit: 'tokens' })).toEqual({ error: { message: 'slow down', type: 'tokens', param: null, code: 'rate_limit_exceeded' } });
    expect(openaiDialect.formatError({ kind: 'rate_limit', message: 'slow down', limit: 'requests' })).toMatchObject({ error: { type: 'requests', code: 'rate_limit_exceeded' } });
    // An upstream's 429 names no limit of ours.
    expect(openaiDialect.formatError({ kind: 'rate_limit', message: 'slow down' })).toMatchObject({ error: { type: 'rate_limit_exceeded', code: 'rate_limit_exceeded' } });
    expect(openaiDialect.formatError({ kind: 'api_error', message: 'broke', requestId: 'r1' })).toEqual({ error: { message: 'broke', type: 'server_error', param: null, code: null } });
  });

  it('rate-limit headers are OpenAI\'s, resets in Go duration form', () => {
    expect(openaiDialect.rateLimitHeaders({ requests: { limit: 60, remaining: 59, resetMs: 1000 }, tokens: { limit: 6000, remaining: 0, resetMs: 360_000 } }, 0)).toEqual({
      'x-ratelimit-limit-requests': '60',
      'x-ratelimit-remaining-requests': '59',
      'x-ratelimit-reset-requests': '1s',
      'x-ratelimit-limit-tokens': '6000',
      'x-ratelimit-remaining-tokens': '0',
      'x-ratelimit-reset-tokens': '6m0s',
    });
  });


  it.each([true, false])('stream chunks carry usage: null until the last only when include_usage is %s', (includeUsage) => {
    const writer = openaiDialect.createStreamWriter({ includeUsage, created: 0 });
    const frames = [writer.write({ type: 'start', id: 'chatcmpl-1', model: 'm', inputTokens: 3 }), writer.write({ type: 'text', text: 'hi' }), writer.write({ type: 'finish', finishReason: 'stop', usage: { inputTokens: 3, outputTokens: 1 } })].join('');
    const chunks = frames.split('\n\n').filter((frame) => frame.startsWith('data: {')).map((frame) => JSON.parse(frame.slice('data: '.length)) as { usage?: unknown });
    expect(chunks.map((chunk) => chunk.usage)).toEqual(includeUsage ? [null, null, null, { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 }] : [undefined, undefined, undefined]);
    expect(chunks.every((chunk) => includeUsage === 'usage' in chunk)).toBe(true);
  });

  it('a mid-stream error event is one SSE frame of the same body, with no [DONE] after it and no event name (go-openai reads any other line as part of the error)', () => {
    const writer = openaiDialect.createStreamWriter({ includeUsage: true, created: 0 });
    expect(writer.write({ type: 'error', kind: 'api_error', message: 'cut' })).toBe('data: {"error":{"message":"cut","type":"server_error","param":null,"code":null}}\n\n');
  });
});

describe('OpenAI requests', () => {
  const request = (extra: object): unknown => ({ model: 'm', messages: [{ role: 'user', content: 'hi' }], ...extra });
  const parse = (extra: object): ChatRequest => {
    const parsed = openaiDialect.parseRequest(request(extra));
    if (!parsed.ok) throw new Error(parsed.problem.message);
    return parsed.value;
  };

  it('an empty list of content parts is refused, as OpenAI refuses it; an empty string is not', () => {
    for (const role of ['user', 'system', 'assistant']) {
      const parsed = openaiDialect.parseRequest({ model: 'm', messages: [{ role: 'user', content: 'hi' }, { role, content: [] }] });
      expect(parsed.ok ? undefined : parsed.problem).toEqual({ status: 400, kind: 'invalid_request', param: 'messages.1.content', message: 'messages.1.content: an empty array of content parts: give at least one text part, or a string' });
    }
    expect(parse({ messages: [{ role: 'user', content: 'hi' }, { role: 'user', content: '' }] }).messages).toEqual([{ role: 'user', content: 'hi' }, { role: 'user', content: '' }]);
  });

  // Tool calls in messages are read (see openai-tools.test.ts); legacy function calls and audio are not.
  it.each([
    ['function_call', { content: 'checking', function_call: { name: 'weather', arguments: '{}' } }],
    ['audio', { content: 'hello', audio: { id: 'audio_1' } }],
  ])("an earlier assistant turn's %s is refused naming the field, not dropped", (field, turn) => {
    const parsed = openaiDialect.parseRequest({ model: 'm', messages: [{ role: 'user', content: 'weather?' }, { role: 'assistant', ...turn }, { role: 'user', content: 'thanks' }] });
    expect(parsed.ok ? undefined : parsed.problem).toMatchObject({ status: 400, param: `messages.1.${field}`, message: expect.stringContaining('not support') });
  });

  it('an assistant turn with no tool calls (null or an empty list) is taken', () => {
    for (const extra of [{ tool_calls: null }, { tool_calls: [] }, { function_call: null, audio: null }]) {
      expect(parse({ messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'hello', ...extra }, { role: 'user', content: 'bye' }] }).messages).toHaveLength(3);
    }
  });

  it('an empty stop string stops nothing and is dropped; as a server (vLLM) it is refused, as a top_p of 0 is', () => {
    expect(parse({ stop: '' }).stop).toEqual([]);
    expect(parse({ stop: ['', 'END'] }).stop).toEqual(['END']);
    expect(anthropicDialect.parseRequest({ model: 'm', max_tokens: 5, stop_sequences: ['', 'END'], messages: [{ role: 'user', content: 'hi' }] })).toMatchObject({ ok: true, value: { stop: ['END'] } });
    expect(openaiDialect.parseRequest(request({ stop: ['', 'END'] }), { asServer: true })).toMatchObject({ ok: false, problem: { status: 400, param: 'stop' } });
    expect(openaiDialect.parseRequest(request({ top_p: 0 }), { asServer: true })).toMatchObject({ ok: false, problem: { status: 400, param: 'top_p' } });
    expect(openaiDialect.parseRequest(request({ top_p: 0.5, stop: 'END' }), { asServer: true }).ok).toBe(true);
  });

  it('more than 4 stop sequences: the gateway refuses them (OpenAI takes 4), a model server takes them, as vLLM and Anthropic do (E52)', () => {
    const five = ['a', 'b', 'c', 'd', 'e'];
    expect(openaiDialect.parseRequest(request({ stop: five }))).toMatchObject({ ok: false, problem: { status: 400, param: 'stop' } });
    expect(openaiDialect.parseRequest(request({ stop: five }), { asServer: true })).toMatchObject({ ok: true, value: { stop: five } });
    const anthropic = { model: 'm', max_tokens: 5, stop_sequences: five, messages: [{ role: 'user', content: 'hi' }] };
    expect(anthropicDialect.parseRequest(anthropic)).toMatchObject({ ok: false, problem: { status: 400, param: 'stop_sequences', message: 'stop_sequences: at most 4 stop_sequences: answers may be served by OpenAI-compatible upstreams, which take 4' } });
    expect(anthropicDialect.parseRequest(anthropic, { asServer: true })).toMatchObject({ ok: true, value: { stop: five } });
  });

  it('a top_p of 0 reaches an OpenAI-dialect upstream as the smallest positive one (vLLM refuses 0), an Anthropic one as 0', () => {
    const zero = parse({ top_p: 0 });
    expect(zero.topP).toBe(0);
    const sent = openaiDialect.encodeRequest(zero) as { top_p: number };
    expect(sent.top_p).toBeGreaterThan(0);
    expect(sent.top_p).toBeLessThan(1e-6);
    expect(anthropicDialect.encodeRequest(zero)).toMatchObject({ top_p: 0 });
    expect(openaiDialect.encodeRequest(parse({ top_p: 0.5 }))).toMatchObject({ top_p: 0.5 });
  });

  it("Anthropic's inference_geo is refused, saying to send the jurisdiction header: dropped, the request could run outside the jurisdiction asked for", () => {
    const parsed = openaiDialect.parseRequest(request({ inference_geo: 'eu' }));
    expect(parsed.ok ? undefined : parsed.problem).toMatchObject({ status: 400, param: 'inference_geo', message: expect.stringContaining('x-switchyard-jurisdiction') });
    expect(parse({ inference_geo: null }).messages).toHaveLength(1);
  });

  it('max_tokens and max_completion_tokens set to different numbers are refused as a guess either way; the same number is one budget', () => {
    const parsed = openaiDialect.parseRequest(request({ max_tokens: 3, max_completion_tokens: 10 }));
    expect(parsed.ok ? undefined : parsed.problem).toMatchObject({ status: 400, param: 'max_tokens', message: expect.stringContaining('send one of them') });
    expect(parse({ max_tokens: 7, max_completion_tokens: 7 }).maxTokens).toBe(7);
    expect(parse({ max_tokens: null, max_completion_tokens: 9 }).maxTokens).toBe(9);
    // As vLLM, the emulator takes max_completion_tokens.
    expect(openaiDialect.parseRequest(request({ max_tokens: 3, max_completion_tokens: 10 }), { asServer: true })).toMatchObject({ ok: true, value: { maxTokens: 10 } });
  });

  it('stream_options is refused on a request that is not streamed, as OpenAI and vLLM refuse it', () => {
    for (const stream of [false, null, undefined]) {
      const parsed = openaiDialect.parseRequest(request({ stream, stream_options: { include_usage: true } }));
      expect(parsed.ok ? undefined : parsed.problem).toMatchObject({ status: 400, kind: 'invalid_request', param: 'stream_options', message: expect.stringContaining('only allowed when stream is true') });
    }
    expect(parse({ stream: false, stream_options: null }).stream).toBe(false);
    expect(parse({ stream: true, stream_options: { include_usage: true } }).includeUsage).toBe(true);
  });

  it("a message's name reaches OpenAI-dialect upstreams, on every role that has one; Anthropic's API has no such field", () => {
    const parsed = parse({
      tools: [{ type: 'function', function: { name: 'f' } }],
      messages: [
        { role: 'system', content: 'Moderate.', name: 'host' },
        { role: 'user', content: 'hi', name: 'alice' },
        { role: 'assistant', content: null, name: 'bot', tool_calls: [{ id: 'c1', type: 'function', function: { name: 'f', arguments: '{}' } }] },
        { role: 'tool', tool_call_id: 'c1', content: 'ok' },
        { role: 'user', content: 'and me', name: '' },
      ],
    });
    expect(parsed.messages.map((message) => message.name)).toEqual(['host', 'alice', 'bot', undefined, undefined]);
    expect((openaiDialect.encodeRequest(parsed) as { messages: { name?: string }[] }).messages.map((message) => message.name)).toEqual(['host', 'alice', 'bot', undefined, undefined]);
    expect(JSON.stringify(anthropicDialect.encodeRequest(parsed))).not.toContain('alice');
  });

  it("a name OpenAI would refuse is a 400 saying what a name may be, whichever upstream serves; a rewritten prefill keeps its name", () => {
    const named = (name: unknown): unknown => refusalOf(openaiDialect, { model: 'm', messages: [{ role: 'user', content: 'hi', name }] });
    expect(named('Alice Smith')).toEqual({ param: 'messages.0.name', message: "messages.0.name: a participant's name is 1 to 64 ASCII letters, digits, '_' or '-' (OpenAI's rule): write 'Alice_Smith', not 'Alice Smith'" });
    expect(named('a'.repeat(65))).toMatchObject({ param: 'messages.0.name' });
    expect(named(7)).toMatchObject({ param: 'messages.0.name' });
    expect(named('Alice_Smith-2')).toBe('accepted');
    const prefill = parse({ messages: [{ role: 'user', content: 'Go on.' }, { role: 'assistant', content: 'Once upon ', name: 'narrator' }], continue_final_message: true });
    expect(withoutPrefillWhitespace(prefill).messages.at(-1)).toEqual({ role: 'assistant', content: 'Once upon', name: 'narrator' });
  });

  it('an earlier refusal sent back as the gateway wrote it (content null) is what the model said; refusal beside content is refused', () => {
    const history = (assistant: object): unknown => request({ messages: [{ role: 'user', content: 'q' }, { role: 'assistant', ...assistant }, { role: 'user', content: 'why?' }] });
    const parsed = openaiDialect.parseRequest(history({ content: null, refusal: "I can't help with that." }));
    expect(parsed.ok ? parsed.value.messages[1] : parsed.problem).toEqual({ role: 'assistant', content: "I can't help with that." });
    expect(openaiDialect.parseRequest(history({ content: '', refusal: 'No.' }))).toMatchObject({ ok: true, value: { messages: [{}, { content: 'No.' }, {}] } });
    // An empty refusal, as the gateway writes one whose text is empty.
    expect(openaiDialect.parseRequest(history({ content: null, refusal: '' }))).toMatchObject({ ok: true, value: { messages: [{}, { role: 'assistant', content: '' }, {}] } });
    expect(openaiDialect.parseRequest(history({ content: 'Sure', refusal: null }))).toMatchObject({ ok: true, value: { messages: [{}, { content: 'Sure' }, {}] } });
    const both = openaiDialect.parseRequest(history({ content: 'Sure', refusal: 'No.' }));
    expect(both.ok ? undefined : both.problem).toMatchObject({ param: 'messages.1.refusal', message: 'messages.1.refusal: an assistant message carries content or a refusal, not both' });
    const user = openaiDialect.parseRequest(request({ messages: [{ role: 'user', content: 'q', refusal: 'No.' }] }));
    expect(user.ok ? undefined : user.problem).toMatchObject({ param: 'messages.0.refusal' });
  });

  it("an earlier refusal sent back as refusal parts, as OpenAI's API takes an assistant turn, is that turn's text; in another role it is refused", () => {
    const history = (assistant: object): unknown => request({ messages: [{ role: 'user', content: 'q' }, { role: 'assistant', ...assistant }, { role: 'user', content: 'why?' }] });
    const parsed = openaiDialect.parseRequest(history({ content: [{ type: 'refusal', refusal: "I can't help with that." }] }));
    expect(parsed.ok ? parsed.value.messages[1] : parsed.problem).toEqual({ role: 'assistant', content: "I can't help with that." });
    const mixed = openaiDialect.parseRequest(history({ content: [{ type: 'text', text: 'Part of it:' }, { type: 'refusal', refusal: 'not the rest.' }] }));
    expect(mixed.ok ? mixed.value.messages[1] : mixed.problem).toEqual({ role: 'assistant', content: 'Part of it:\nnot the rest.' });
    const user = openaiDialect.parseRequest(request({ messages: [{ role: 'user', content: [{ type: 'refusal', refusal: 'No.' }] }] }));
    expect(user.ok ? undefined : user.problem).toMatchObject({ status: 400, param: 'messages.0.content.0', message: expect.stringContaining('refusal parts are allowed only in assistant messages') });
    const bad = openaiDialect.parseRequest(history({ content: [{ type: 'refusal' }] }));
    expect(bad.ok ? undefined : bad.problem).toMatchObject({ status: 400, param: 'messages.1.content.0.refusal' });
  });

  it("vLLM's usage on every chunk (stream_options.continuous_usage_stats) is refused by name; off, it is accepted", () => {
    const parsed = openaiDialect.parseRequest(request({ stream: true, stream_options: { include_usage: true, continuous_usage_stats: true } }));
    expect(parsed.ok ? undefined : parsed.problem).toMatchObject({ status: 400, param: 'stream_options.continuous_usage_stats', message: expect.stringMatching(/not forwarded by Switchyard: usage on every chunk .*usage comes in the last chunk with include_usage$/) });
    expect(parse({ stream: true, stream_options: { include_usage: true, continuous_usage_stats: false } }).includeUsage).toBe(true);
    // A model server (the emulator as vLLM) takes it.
    expect(openaiDialect.parseRequest(request({ stream: true, stream_options: { continuous_usage_stats: true } }), { asServer: true }).ok).toBe(true);
  });

  it.each([
    ['chat_template_kwargs', { enable_thinking: false }],
    ['min_tokens', 20],
    ['ignore_eos', true],
    ['repetition_penalty', 1.1],
    ['min_p', 0.05],
    ['stop_token_ids', [128001]],
  ])("vLLM's %s, which the gateway does not forward, is refused naming the field rather than dropped", (field, value) => {
    const parsed = openaiDialect.parseRequest(request({ [field]: value }));
    expect(parsed.ok ? undefined : parsed.problem).toMatchObject({ status: 400, param: field, message: expect.stringMatching(/not forwarded by Switchyard.*remove the field/) });
  });

  it.each([
    ['guided_json', { type: 'object' }],
    ['guided_choice', ['yes', 'no']],
    ['structured_outputs', { json: { type: 'object' } }],
  ])("vLLM's %s is refused naming the field, pointing at response_format, which every upstream gets", (field, value) => {
    const parsed = openaiDialect.parseRequest(request({ [field]: value }));
    expect(parsed.ok ? undefined : parsed.problem).toMatchObject({ status: 400, param: field, message: expect.stringMatching(/not forwarded by Switchyard.*send response_format .* instead/) });
  });

  it.each([
    ['output_config', { format: { type: 'json_schema', schema: { type: 'object' } } }, 'Anthropic Messages API'],
    ['output_format', { type: 'json_schema', schema: { type: 'object' } }, 'Anthropic Messages API'],
    ['text', { format: { type: 'json_schema' } }, 'OpenAI Responses API'],
  ])('%s, a field of another API that sets the format of the answer, is refused pointing at response_format, never dropped', (field, value, api) => {
    const parsed = openaiDialect.parseRequest(request({ [field]: value }));
    expect(parsed.ok ? undefined : parsed.problem).toMatchObject({ status: 400, param: field, message: expect.stringContaining(api) });
    expect(parsed.ok ? '' : parsed.problem.message).toMatch(/send response_format/);
  });

  it.each([
    ['truncate_prompt_tokens', 100],
    ['skip_special_tokens', false],
    ['add_special_tokens', true],
    ['lora_path', 'adapter'],
    ['no_stop_trim', true],
    ['prompt_logprobs', 1],
    ['return_tokens_as_token_ids', true],
    ['logits_processors', ['m.p']],
    ['vllm_xargs', { custom_sampling: 1 }],
    ['separate_reasoning', false],
  ])("vLLM's or SGLang's %s, which changes what the answer is, is refused naming the field too", (field, value) => {
    const parsed = openaiDialect.parseRequest(request({ [field]: value }));
    expect(parsed.ok ? undefined : parsed.problem).toMatchObject({ status: 400, param: field, message: expect.stringMatching(/not forwarded by Switchyard.*remove the field/) });
  });

  it("vLLM extensions at their neutral values, as clients send defaults, are accepted", () => {
    expect(() => parse({ guided_json: null, chat_template_kwargs: {}, min_tokens: 0, ignore_eos: false, repetition_penalty: 1, min_p: 0, stop_token_ids: [], echo: false, best_of: 1 })).not.toThrow();
    expect(() => parse({ skip_special_tokens: true, add_special_tokens: false, spaces_between_special_tokens: true, truncate_prompt_tokens: null, logits_processors: [], top_logprobs: 0 })).not.toThrow();
    expect(() => parse({ vllm_xargs: {}, separate_reasoning: true, add_generation_prompt: true })).not.toThrow();
  });

  it("vLLM's add_generation_prompt: false is taken only with continue_final_message, as vLLM pairs them; alone it would be dropped", () => {
    const alone = openaiDialect.parseRequest(request({ add_generation_prompt: false }));
    expect(alone.ok ? undefined : alone.problem).toMatchObject({ status: 400, param: 'add_generation_prompt', message: expect.stringMatching(/^add_generation_prompt: false .* would be ignored: .*send continue_final_message: true as well/) });
    const prefill = { messages: [{ role: 'user', content: 'q' }, { role: 'assistant', content: 'The answer is' }], continue_final_message: true };
    expect(openaiDialect.parseRequest(request({ ...prefill, add_generation_prompt: false }))).toMatchObject({ ok: true, value: { finalAssistant: 'continue' } });
    const both = openaiDialect.parseRequest(request({ ...prefill, add_generation_prompt: true }));
    expect(both.ok ? undefined : both.problem).toMatchObject({ status: 400, param: 'add_generation_prompt', message: expect.stringMatching(/both true/) });
    // A model server (the emulator as vLLM) reads the request as it is.
    expect(openaiDialect.parseRequest(request({ add_generation_prompt: false }), { asServer: true }).ok).toBe(true);
  });

  it.each([
    ['system', 'Answer in French', 'with role "system"'],
    ['stop_sequences', ['END'], 'send stop'],
    ['instructions', 'Be terse', 'with role "system"'],
    ['max_output_tokens', 100, 'send max_completion_tokens'],
  ])("the Anthropic or Responses API's %s is refused, saying what to send instead: dropped, it would change the answer", (field, value, advice) => {
    const parsed = openaiDialect.parseRequest(request({ [field]: value }));
    expect(parsed.ok ? undefined : parsed.problem).toMatchObject({ status: 400, param: field, message: expect.stringContaining(advice) });
    expect(openaiDialect.parseRequest(request({ [field]: null })).ok).toBe(true);
  });

  it('thinking: {type: "disabled"}, which OpenAI-compatible clients of thinking models send, asks for none and passes; any other is refused', () => {
    expect(openaiDialect.parseRequest(request({ thinking: { type: 'disabled' } })).ok).toBe(true);
    expect(openaiDialect.parseRequest(request({ thinking: { type: 'enabled', budget_tokens: 1024 } }))).toMatchObject({ ok: false, problem: { status: 400, param: 'thinking.type', message: expect.stringContaining('thinking can only be {"type": "disabled"}') } });
  });

  it('a stop sequence over 1000 characters is refused in either dialect, naming where it is', () => {
    const long = 'x'.repeat(1001);
    expect(openaiDialect.parseRequest(request({ stop: long }))).toMatchObject({ ok: false, problem: { status: 400, param: 'stop', message: 'stop: a stop sequence is at most 1000 characters' } });
    expect(openaiDialect.parseRequest(request({ stop: ['END', long] }))).toMatchObject({ ok: false, problem: { param: 'stop.1' } });
    expect(anthropicDialect.parseRequest({ model: 'm', max_tokens: 5, stop_sequences: [long], messages: [{ role: 'user', content: 'hi' }] })).toMatchObject({ ok: false, problem: { status: 400, param: 'stop_sequences.0', message: 'stop_sequences.0: a stop sequence is at most 1000 characters' } });
    expect(parse({ stop: 'x'.repeat(1000) }).stop).toEqual(['x'.repeat(1000)]);
  });

  it('top_k reaches either upstream dialect (Anthropic, vLLM, SGLang and TGI read it); -1 and 0 mean no limit and are not sent', () => {
    const parsed = parse({ top_k: 40 });
    expect(parsed.topK).toBe(40);
    expect(openaiDialect.encodeRequest(parsed)).toMatchObject({ top_k: 40 });
    expect(anthropicDialect.encodeRequest(parsed)).toMatchObject({ top_k: 40 });
    for (const none of [-1, 0, null]) {
      expect(openaiDialect.encodeRequest(parse({ top_k: none }))).not.toHaveProperty('top_k');
      expect(anthropicDialect.encodeRequest(parse({ top_k: none }))).not.toHaveProperty('top_k');
    }
    expect(openaiDialect.parseRequest(request({ top_k: 2.5 })).ok).toBe(false);
  });

  it('seed, penalties and logit_bias reach an OpenAI-dialect upstream (vLLM honours them)', () => {
    const parsed = parse({ seed: 4, frequency_penalty: 0.3, presence_penalty: -0.5, logit_bias: { '50256': -100 } });
    expect(parsed.sampling).toEqual({ seed: 4, frequencyPenalty: 0.3, presencePenalty: -0.5, logitBias: { '50256': -100 } });
    expect(openaiDialect.encodeRequest(parsed)).toMatchObject({ seed: 4, frequency_penalty: 0.3, presence_penalty: -0.5, logit_bias: { '50256': -100 } });
    expect(parse({}).sampling).toBeUndefined();
    expect(openaiDialect.encodeRequest(parse({}))).not.toHaveProperty('seed');
    const outOfRange = openaiDialect.parseRequest(request({ presence_penalty: 3 }));
    expect(outOfRange.ok ? undefined : outOfRange.problem).toMatchObject({ status: 400, param: 'presence_penalty' });
  });

  it('an OpenAI-dialect upstream is always sent a budget: the caller\'s, or the 4096 the gateway charged for', () => {
    expect(openaiDialect.encodeRequest(parse({}))).toMatchObject({ max_tokens: defaultMaxOutputTokens });
    expect(openaiDialect.encodeRequest(parse({ max_completion_tokens: 7 }))).toMatchObject({ max_tokens: 7 });
    // In the field the upstream reads: one field, never both (OpenAI refuses max_tokens for reasoning models).
    const encoded = openaiDialect.encodeRequest(parse({ max_tokens: 7 }), { maxTokensField: 'max_completion_tokens' });
    expect(encoded).toMatchObject({ max_completion_tokens: 7 });
    expect(encoded).not.toHaveProperty('max_tokens');
  });

  it("the caller's end-user id reaches either upstream dialect in its own field", () => {
    const parsed = parse({ user: 'user-7f3a' });
    expect(parsed.endUser).toBe('user-7f3a');
    expect(openaiDialect.encodeRequest(parsed)).toMatchObject({ user: 'user-7f3a' });
    expect(anthropicDialect.encodeRequest(parsed)).toMatchObject({ metadata: { user_id: 'user-7f3a' } });
    for (const none of [{}, { user: null }, { user: '' }]) {
      expect(parse(none).endUser).toBeUndefined();
      expect(openaiDialect.encodeRequest(parse(none))).not.toHaveProperty('user');
      expect(anthropicDialect.encodeRequest(parse(none))).not.toHaveProperty('metadata');
    }
    // OpenAI's newer field for the same id wins over the older one.
    expect(parse({ user: 'old', safety_identifier: 'new' }).endUser).toBe('new');
    expect(parse({ safety_identifier: 'new' }).endUser).toBe('new');
    // OpenAI's own limit for safety_identifier: 128, room for a SHA-512 hex digest.
    expect(parse({ safety_identifier: 'f'.repeat(128) }).endUser).toBe('f'.repeat(128));
    const tooLong = openaiDialect.parseRequest(request({ safety_identifier: 'x'.repeat(129) }));
    expect(tooLong.ok ? undefined : tooLong.problem).toMatchObject({ status: 400, param: 'safety_identifier' });
    const long = openaiDialect.parseRequest(request({ user: 'x'.repeat(257) }));
    expect(long.ok ? undefined : long.problem).toMatchObject({ status: 400, param: 'user' });
  });

  it('refuses legacy function calling, a required tool choice without tools and a tool result without its call, with a 400 naming the field, never dropping them', () => {
    for (const [extra, field, says] of [
      [{ functions: [{ name: 'f', parameters: {} }] }, 'functions', /send tools instead$/],
      [{ function_call: 'auto' }, 'function_call', /send tool_choice instead$/],
      [{ messages: [{ role: 'function', name: 'f', content: 'x' }] }, 'messages.0.role', /send tool messages/],
      [{ tool_choice: 'required' }, 'tool_choice', /needs tools/],
      [{ messages: [{ role: 'tool', content: 'x', tool_call_id: '1' }] }, 'messages.0', /which is no unanswered tool call/],
    ] as const) {
      const parsed = openaiDialect.parseRequest(request(extra));
      expect(parsed.ok ? undefined : parsed.problem).toMatchObject({ status: 400, param: field, message: expect.stringMatching(says) });
    }
    expect(openaiDialect.parseRequest(request({ tool_choice: 'none' })).ok).toBe(true);
  });

  it('refuses web search and moderation, which the answer would silently lack; null is not asking for them', () => {
    const parsed = openaiDialect.parseRequest(request({ web_search_options: {} }));
    expect(parsed.ok ? undefined : parsed.problem).toMatchObject({ status: 400, param: 'web_search_options', message: 'web_search_options: web search is not supported by Switchyard' });
    expect(openaiDialect.parseRequest(request({ web_search_options: null })).ok).toBe(true);
    // A moderation policy can block an answer: dropping it would serve what it blocks.
    const moderated = openaiDialect.parseRequest(request({ moderation: { model: 'omni-moderation-latest' } }));
    expect(moderated.ok ? undefined : moderated.problem).toMatchObject({ status: 400, param: 'moderation', message: 'moderation: moderated completions (moderation) are not supported by Switchyard' });
    expect(openaiDialect.parseRequest(request({ moderation: null })).ok).toBe(true);
  });

  it("a trailing assistant message is a finished turn to answer after, as OpenAI reads it; only a continuation (or vLLM's continue_final_message) continues it", () => {
    const messages = [{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'Hello.' }];
    const parsed = parse({ messages });
    expect(parsed.finalAssistant).toBe('answer');
    expect(openaiDialect.encodeRequest(parsed)).not.toHaveProperty('continue_final_message');
    expect(openaiDialect.encodeRequest({ ...parsed, finalAssistant: 'continue' })).toMatchObject({ continue_final_message: true, add_generation_prompt: false });
    // A caller asks for a prefill the vLLM way.
    expect(parse({ messages, continue_final_message: true, add_generation_prompt: false }).finalAssistant).toBe('continue');
    expect(parse({ messages, continue_final_message: false }).finalAssistant).toBe('answer');
  });
});

describe('error chunks in an upstream stream', () => {
  it.each([
    ['OpenAI', { error: { message: 'over quota' } }, 'over quota'],
    ['TGI, a string', { error: 'Input validation error' }, 'Input validation error'],
    ['a message that is not text', { error: { message: { nested: true } } }, 'upstream error'],
  ])('%s: read as an error event with a text message', (_shape, chunk, message) => {
    expect(openaiDialect.createStreamReader().read(undefined, JSON.stringify(chunk))).toEqual({ events: [{ type: 'error', kind: 'api_error', message, fromUpstream: true }], done: true });
  });

  it('Anthropic: an error event whose message is not text still reads as text', () => {
    const read = anthropicDialect.createStreamReader().read('error', JSON.stringify({ type: 'error', error: { type: 'overloaded_error', message: 42 } }));
    expect(read).toEqual({ events: [{ type: 'error', kind: 'overloaded', message: 'upstream error', fromUpstream: true }], done: true });
  });
});
