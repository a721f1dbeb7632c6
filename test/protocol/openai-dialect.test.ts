import { describe, expect, it } from 'vitest';
import { openaiDialect } from '../../src/protocol/openai-dialect.js';
import type { ChatRequest } from '../../src/protocol/chat.js';

describe('OpenAI error bodies', () => {
  it("carry OpenAI's own type and code: a detail when the error names one, OpenAI's code for a bad key or a rate limit, else null", () => {
    expect(openaiDialect.formatError('invalid_request', 'too long', 'messages', 'context_length_exceeded')).toEqual({ error: { message: 'too long', type: 'invalid_request_error', param: 'messages', code: 'context_length_exceeded' } });
    expect(openaiDialect.formatError('not_found', 'no such model', 'model', 'model_not_found')).toEqual({ error: { message: 'no such model', type: 'invalid_request_error', param: 'model', code: 'model_not_found' } });
    expect(openaiDialect.formatError('authentication', 'bad key')).toEqual({ error: { message: 'bad key', type: 'invalid_request_error', param: null, code: 'invalid_api_key' } });
    expect(openaiDialect.formatError('rate_limit', 'slow down')).toEqual({ error: { message: 'slow down', type: 'rate_limit_exceeded', param: null, code: 'rate_limit_exceeded' } });
    expect(openaiDialect.formatError('api_error', 'broke')).toEqual({ error: { message: 'broke', type: 'server_error', param: null, code: null } });
  });

  it('a mid-stream error event is one SSE frame of the same body, with no [DONE] after it', () => {
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

  it('seed, penalties and logit_bias reach an OpenAI-dialect upstream (vLLM honours them)', () => {
    const parsed = parse({ seed: 4, frequency_penalty: 0.3, presence_penalty: -0.5, logit_bias: { '50256': -100 } });
    expect(parsed.sampling).toEqual({ seed: 4, frequencyPenalty: 0.3, presencePenalty: -0.5, logitBias: { '50256': -100 } });
    expect(openaiDialect.encodeRequest(parsed)).toMatchObject({ seed: 4, frequency_penalty: 0.3, presence_penalty: -0.5, logit_bias: { '50256': -100 } });
    expect(parse({}).sampling).toBeUndefined();
    expect(openaiDialect.encodeRequest(parse({}))).not.toHaveProperty('seed');
    const outOfRange = openaiDialect.parseRequest(request({ presence_penalty: 3 }));
    expect(outOfRange.ok ? undefined : outOfRange.problem).toMatchObject({ status: 400, param: 'presence_penalty' });
  });

  it('refuses function calling and a tool choice with a 400 naming the field, never dropping them', () => {
    for (const [extra, field] of [
      [{ functions: [{ name: 'f', parameters: {} }] }, 'functions'],
      [{ function_call: 'auto' }, 'function_call'],
      [{ tool_choice: 'required' }, 'tool_choice'],
      [{ messages: [{ role: 'tool', content: 'x', tool_call_id: '1' }] }, 'messages.0.role'],
    ] as const) {
      const parsed = openaiDialect.parseRequest(request(extra));
      expect(parsed.ok ? undefined : parsed.problem).toMatchObject({ status: 400, param: field, message: expect.stringMatching(/tools|function/) });
    }
    expect(openaiDialect.parseRequest(request({ tool_choice: 'none' })).ok).toBe(true);
  });

  it("a trailing assistant message is a finished turn to answer after, as OpenAI reads it; only a continuation asks vLLM to continue it", () => {
    const parsed = parse({ messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'Hello.' }] });
    expect(parsed.finalAssistant).toBe('answer');
    expect(openaiDialect.encodeRequest(parsed)).not.toHaveProperty('continue_final_message');
    expect(openaiDialect.encodeRequest({ ...parsed, finalAssistant: 'continue' })).toMatchObject({ continue_final_message: true, add_generation_prompt: false });
  });
});
