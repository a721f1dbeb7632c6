/**
 * An open model's reasoning in a message or delta: vLLM's `reasoning_content` (DeepSeek's API too),
 * or `reasoning` (vLLM since 0.10, OpenRouter); undefined when none, or empty.
 */
export function reasoningOf(part: { readonly reasoning_content?: unknown; readonly reasoning?: unknown } | undefined): string | undefined {
  const text = part?.reasoning_content ?? part?.reasoning;
  return typeof text === 'string' && text !== '' ? text : undefined;
}
