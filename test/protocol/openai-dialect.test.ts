import { describe, expect, it } from 'vitest';
import { openaiDialect } from '../../src/protocol/openai-dialect.js';

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
