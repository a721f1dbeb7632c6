import type { ContextLimit, ErrorKind, ErrorReport } from '../chat.js';

export const anthropicErrorType: Readonly<Record<ErrorKind, string>> = {
  invalid_request: 'invalid_request_error',
  too_large: 'request_too_large',
  authentication: 'authentication_error',
  permission: 'permission_error',
  not_found: 'not_found_error',
  rate_limit: 'rate_limit_error',
  overloaded: 'overloaded_error',
  api_error: 'api_error',
  timeout: 'timeout_error',
};

/** Anthropic's refusal of a request too long for the window, in its own words. */
function anthropicContextWords({ promptTokens, outputTokens, window }: ContextLimit): string {
  // The prompt alone over the window; at it exactly, the budget is what does not fit.
  if (promptTokens > window || outputTokens === 0) return `prompt is too long: ${String(promptTokens)} tokens > ${String(window)} maximum`;
  return `input length and \`max_tokens\` exceed context limit: ${String(promptTokens)} + ${String(outputTokens)} > ${String(window)}, decrease input length or \`max_tokens\` and try again`;
}

/** An error in Anthropic's shape: `{type: 'error', error: {type, message}, request_id}`. */
export function formatAnthropicError({ kind, message, requestId, code, contextLimit }: ErrorReport): unknown {
  // A refused message thread says so in Anthropic's error details, which the SDK's tool runner
  // reads to send the whole conversation instead.
  const details = code === 'thread_unsupported_request' ? { details: { error_code: code, unsupported: ['thread'] } } : {};
  // Anthropic's own words first, which clients match from the start of the message.
  const said = contextLimit === undefined ? message : `${anthropicContextWords(contextLimit)} (${message})`;
  return { type: 'error', error: { type: anthropicErrorType[kind], message: said, ...details }, ...(requestId === undefined ? {} : { request_id: requestId }) };
}
