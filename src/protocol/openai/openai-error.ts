import type { ContextLimit, ErrorKind, ErrorReport } from '../chat.js';

// OpenAI's own pairs: a bad or missing key is an invalid_request_error (code invalid_api_key
// for a bad one), an unknown model or path an invalid_request_error (code model_not_found for
// a model). A tenant limit's refusal is typed by the limit's name instead (formatOpenaiError); an
// upstream's 429, which names none, keeps rate_limit_exceeded.
const kindToType: Readonly<Record<ErrorKind, string>> = {
  invalid_request: 'invalid_request_error',
  too_large: 'invalid_request_error',
  authentication: 'invalid_request_error',
  permission: 'permission_error',
  not_found: 'invalid_request_error',
  rate_limit: 'rate_limit_exceeded',
  overloaded: 'server_error',
  api_error: 'server_error',
  timeout: 'timeout',
};

/** OpenAI's `error.code` for a kind when the error names no more specific one; null otherwise, as OpenAI sends. */
const kindToCode: Readonly<Partial<Record<ErrorKind, string>>> = { rate_limit: 'rate_limit_exceeded' };

/** OpenAI's refusal of a request too long for the window, in its own words. */
function openaiContextWords({ promptTokens, outputTokens, window }: ContextLimit): string {
  if (promptTokens > window || outputTokens === 0) return `This model's maximum context length is ${String(window)} tokens. However, your messages resulted in ${String(promptTokens)} tokens. Please reduce the length of the messages.`;
  return `This model's maximum context length is ${String(window)} tokens. However, you requested ${String(promptTokens + outputTokens)} tokens (${String(promptTokens)} in the messages, ${String(outputTokens)} in the completion). Please reduce the length of the messages or completion.`;
}

/** An error in OpenAI's shape: `{error: {message, type, param, code}}`. */
export function formatOpenaiError({ kind, message, param, code, limit, contextLimit }: ErrorReport): unknown {
  // OpenAI's own words first, which clients match.
  const said = contextLimit === undefined ? message : `${openaiContextWords(contextLimit)} (${message})`;
  return { error: { message: said, type: limit ?? kindToType[kind], param: param ?? null, code: code ?? kindToCode[kind] ?? null } };
}
