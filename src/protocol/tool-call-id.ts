import { createHash } from 'node:crypto';

/** The longest tool call id OpenAI takes back in tool_calls[].id (it refuses longer ones). */
const maxCallIdChars = 40;

/**
 * An upstream's tool call id as one the gateway takes back from a caller, and OpenAI and Anthropic
 * take: other characters (Kimi's 'functions.get_weather:0', from vLLM's OpenAI or Anthropic API)
 * become '_', and one longer than OpenAI takes keeps its start and ends with a hash of the whole id,
 * so two long ids stay distinct. Undefined for none: the caller makes one (madeUpCallId).
 */
export function takenBackId(id: unknown): string | undefined {
  if (typeof id !== 'string' || id === '') return undefined;
  const sanitized = id.replace(/[^a-zA-Z0-9_-]/g, '_');
  if (sanitized.length <= maxCallIdChars) return sanitized;
  const hash = createHash('sha256').update(id).digest('hex').slice(0, 8);
  return `${sanitized.slice(0, maxCallIdChars - hash.length - 1)}_${hash}`;
}

/**
 * A caller's call id as sent to an upstream: OpenAI refuses one over 40 characters, which an
 * Anthropic caller may send (up to 256). A longer one is shortened as takenBackId does, the same way
 * in the call and in its result, so they still match; the upstream's answer never names it.
 */
export function sentCallId(id: string): string {
  return id.length <= maxCallIdChars ? id : (takenBackId(id) ?? id);
}

/**
 * An id for a call an upstream gave none, at most 40 characters: unique in the answer (its index
 * ends it), and across answers by the tail of the answer's own id (where its random part is).
 */
export function madeUpCallId(answerId: string, index: number): string {
  const suffix = `_${index}`;
  const room = Math.min(32, maxCallIdChars - 'call_'.length - suffix.length);
  const answer = room > 0 ? answerId.replace(/[^a-zA-Z0-9_-]/g, '_').slice(-room) : '';
  return answer === '' ? `call${suffix}` : `call_${answer}${suffix}`;
}
