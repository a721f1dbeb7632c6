import { describe, expect, it } from 'vitest';
import { upstreamErrorDetail } from '../../src/protocol/chat.js';

describe('upstreamErrorDetail', () => {
  it.each([
    ['OpenAI and Anthropic, nested', { error: { message: 'bad temperature', type: 'invalid_request_error', param: 'temperature', code: null } }, { message: 'bad temperature', param: 'temperature', code: undefined, label: 'invalid_request_error' }],
    ['older vLLM and SGLang, flat', { object: 'error', message: "This model's maximum context length is 32768 tokens. However, you requested 40000 tokens.", type: 'BadRequestError', param: null, code: 400 }, { message: "This model's maximum context length is 32768 tokens. However, you requested 40000 tokens.", param: 'messages', code: 'context_length_exceeded', label: 'BadRequestError' }],
    ['TGI, a string', { error: 'Input validation error: `temperature` must be strictly positive', error_type: 'validation' }, { message: 'Input validation error: `temperature` must be strictly positive', param: undefined, code: undefined, label: 'validation' }],
    ['vLLM V1, a long prompt', { object: 'error', message: 'The decoder prompt (length 9000) is longer than the maximum model length of 8192. Make sure that `max_model_len` is no smaller than the number of text tokens.', type: 'BadRequestError', code: 400 }, { message: 'The decoder prompt (length 9000) is longer than the maximum model length of 8192. Make sure that `max_model_len` is no smaller than the number of text tokens.', param: 'messages', code: 'context_length_exceeded', label: 'BadRequestError' }],
    ['TGI, a long prompt', { error: 'Input validation error: `inputs` tokens + `max_new_tokens` must be <= 4096. Given: 4000 `inputs` tokens and 200 `max_new_tokens`', error_type: 'validation' }, { message: 'Input validation error: `inputs` tokens + `max_new_tokens` must be <= 4096. Given: 4000 `inputs` tokens and 200 `max_new_tokens`', param: 'messages', code: 'context_length_exceeded', label: 'validation' }],
    ['FastAPI, a string detail', { detail: 'Not Found' }, { message: 'Not Found', param: undefined, code: undefined, label: undefined }],
    ['Anthropic, a long prompt', { type: 'error', error: { type: 'invalid_request_error', message: 'prompt is too long: 210000 tokens > 200000 maximum' } }, { message: 'prompt is too long: 210000 tokens > 200000 maximum', param: 'messages', code: 'context_length_exceeded', label: 'invalid_request_error', contextLimit: { promptTokens: 210_000, outputTokens: 0, window: 200_000 } }],
    ['Anthropic, a long prompt and budget', { type: 'error', error: { type: 'invalid_request_error', message: 'input length and `max_tokens` exceed context limit: 199000 + 21333 > 200000' } }, { message: 'input length and `max_tokens` exceed context limit: 199000 + 21333 > 200000', param: 'messages', code: 'context_length_exceeded', label: 'invalid_request_error', contextLimit: { promptTokens: 199_000, outputTokens: 21_333, window: 200_000 } }],
    ['OpenAI and vLLM, a long prompt and budget', { error: { message: "This model's maximum context length is 8192 tokens. However, you requested 9200 tokens (9000 in the messages, 200 in the completion). Please reduce the length of the messages or completion.", type: 'invalid_request_error', param: 'messages', code: 'context_length_exceeded' } }, { message: "This model's maximum context length is 8192 tokens. However, you requested 9200 tokens (9000 in the messages, 200 in the completion). Please reduce the length of the messages or completion.", param: 'messages', code: 'context_length_exceeded', label: 'context_length_exceeded', contextLimit: { promptTokens: 9000, outputTokens: 200, window: 8192 } }],
    ['a type that is free text, never a label', { error: { message: 'm', type: 'my secret prompt' } }, { message: 'm', param: undefined, code: undefined, label: undefined }],
    ['no shape it knows', ['x'], { message: 'upstream error', param: undefined, code: undefined, label: undefined }],
  ])('%s', (_shape, body, detail) => {
    expect(upstreamErrorDetail(body)).toEqual(detail);
  });

  it('reads FastAPI validation errors by location and message, never their input, which may quote the prompt', () => {
    const body = { detail: [{ type: 'string_type', loc: ['body', 'messages', 0, 'content'], msg: 'Input should be a valid string', input: 'my secret prompt' }, { loc: ['body', 'max_tokens'], msg: 'Input should be greater than 0', input: -1 }] };
    const detail = upstreamErrorDetail(body);
    expect(detail.message).toBe('body.messages.0.content: Input should be a valid string; body.max_tokens: Input should be greater than 0');
    expect(detail.message).not.toContain('secret');
  });

  it('names a code only when it is one the gateway knows, and a param only when it is a plain field path', () => {
    expect(upstreamErrorDetail({ error: { message: 'm', param: 'a b <c>', code: 'something_else' } })).toEqual({ message: 'm', param: undefined, code: undefined, label: 'something_else' });
  });
});
