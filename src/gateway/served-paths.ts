import { anthropicTokenCounting } from '../protocol/anthropic/anthropic-token-counting.js';
import { isChatPath } from '../protocol/inbound-dialect.js';

// The token counting API the gateway serves: Anthropic's (OpenAI's API has none).
export const tokenCounting = anthropicTokenCounting;

/**
 * What the gateway serves, named in every 404, so a client calling an API this gateway lacks (the
 * Responses API, embeddings) learns what it can call instead.
 */
export const servedPaths = 'POST /v1/chat/completions, POST /v1/messages, POST /v1/messages/count_tokens, GET /v1/models, GET /v1/models/{id}, GET /metrics and GET /healthz';

/** The paths a web page may call when cors allows its origin: the API, not the operator's (metrics, health). */
export const corsPaths = 'POST /v1/chat/completions, POST /v1/messages, POST /v1/messages/count_tokens, GET /v1/models and GET /v1/models/{id}';

/** The APIs the SDKs offer that callers try most, with why they are not served and what to use. */
export const unservedApis: ReadonlyMap<string, string> = new Map([
  ['/v1/responses', 'the Responses API is not served: send the conversation as messages to POST /v1/chat/completions'],
  ['/v1/completions', 'legacy completions are not served: send the prompt as a user message to POST /v1/chat/completions'],
  ['/v1/complete', 'legacy Text Completions are not served: send the prompt as a user message to POST /v1/messages'],
  ['/v1/embeddings', 'embeddings are not served: this gateway routes chat'],
]);

const postOnly: readonly string[] = ['POST'];
const readOnly: readonly string[] = ['GET', 'HEAD'];

/** The methods an API path a web page may call takes (CORS); undefined for the others. */
export function apiMethods(path: string): readonly string[] | undefined {
  // The APIs not served too: a page is told what to call instead.
  if (isChatPath(path) || path === tokenCounting.path || unservedApis.has(path)) return postOnly;
  return path === '/v1/models' || path.startsWith('/v1/models/') ? readOnly : undefined;
}
