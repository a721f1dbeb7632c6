import type { ChatRequest, Parsed } from '../chat.js';
import type { EncodeOptions, TokenCounting } from '../dialect.js';
import { malformedAnswer } from '../request-problem.js';
import { anthropicCountRequestSchema } from './anthropic-request-schema.js';
import { anthropicCountResultSchema } from './anthropic-result-schema.js';
import { encodeAnthropicRequest } from './encode-anthropic-request.js';
import { readAnthropicRequest } from './read-anthropic-request.js';

/** Anthropic's token counting (POST /v1/messages/count_tokens), which Claude Code calls. */
export const anthropicTokenCounting: TokenCounting = {
  path: '/v1/messages/count_tokens',
  parseRequest(body: unknown, options: { readonly asServer?: boolean } = {}): Parsed<ChatRequest> {
    return readAnthropicRequest(body, anthropicCountRequestSchema, options);
  },
  encodeRequest(request: ChatRequest, options: EncodeOptions = {}): unknown {
    // The Messages body less what only shapes an answer (budget, sampling, stops, stream), which
    // the counting API refuses as extra inputs.
    const { max_tokens: _budget, temperature: _temperature, top_p: _topP, top_k: _topK, stop_sequences: _stops, metadata: _metadata, stream: _stream, cache_control: _cache, ...counted } = encodeAnthropicRequest(request, options) as Record<string, unknown>;
    return counted;
  },
  formatResult(inputTokens: number): unknown {
    return { input_tokens: inputTokens };
  },
  parseResult(body: unknown): Parsed<number> {
    const parsed = anthropicCountResultSchema.safeParse(body);
    return parsed.success ? { ok: true, value: parsed.data.input_tokens } : malformedAnswer(parsed.error, 'token count');
  },
};
