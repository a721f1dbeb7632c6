import { createHash } from 'node:crypto';

/** The longest tool call id OpenAI takes back in tool_calls[].id (it refuses longer ones). */
const maxCallIdChars = 40;

/** Starts an id the gateway wrote for an upstream's id it could not pass on as sent (escapedId). */
const escapedMark = 'sy-';

/** A caller may send back an id of these characters; escapedId writes every other byte as '-' and two hex digits. */
const kept = /^[a-zA-Z0-9_-]+$/;

/**
 * An upstream's tool call id as one the gateway takes back from a caller, and OpenAI and Anthropic
 * take. One of other characters (Kimi's 'functions.get_weather:0', from vLLM's OpenAI or Anthropic
 * API) is escaped, so that it stays distinct from every other id and goes back to an upstream that
 * takes it as the upstream sent it (restoredCallId). One longer than OpenAI takes (40), as sent or
 * escaped, keeps its start and ends with a hash of the whole id, so two long ids stay distinct.
 * Undefined for none: the caller makes one (madeUpCallId).
 */
export function takenBackId(id: unknown): string | undefined {
  if (typeof id !== 'string' || id === '') return undefined;
  if (kept.test(id) && !id.startsWith(escapedMark) && id.length <= maxCallIdChars) return id;
  const escaped = escapedId(id);
  if (escaped.length <= maxCallIdChars) return escaped;
  const hash = createHash('sha256').update(id).digest('hex').slice(0, 8);
  return `${id.replace(/[^a-zA-Z0-9_-]/g, '_').slice(0, maxCallIdChars - hash.length - 1)}_${hash}`;
}

/** The id after escapedMark, each UTF-8 byte but a letter, digit or '_' as '-' and two hex digits. */
function escapedId(id: string): string {
  let escaped = escapedMark;
  for (const byte of Buffer.from(id, 'utf8')) {
    const char = String.fromCharCode(byte);
    escaped += /[a-zA-Z0-9_]/.test(char) ? char : `-${byte.toString(16).padStart(2, '0')}`;
  }
  return escaped;
}

/**
 * The upstream's own id for one takenBackId escaped, or the id itself: for an upstream that takes
 * any characters (OpenAI's API), so a model gets back the ids it wrote. Only an id takenBackId
 * escapes is read back, so a caller's own id that merely starts alike is sent as it is.
 */
export function restoredCallId(id: string): string {
  if (!id.startsWith(escapedMark)) return id;
  const bytes: number[] = [];
  for (let at = escapedMark.length; at < id.length; at += 1) {
    const char = id.charAt(at);
    if (char !== '-') bytes.push(char.charCodeAt(0));
    else {
      const byte = Number.parseInt(id.slice(at + 1, at + 3), 16);
      if (Number.isNaN(byte)) return id;
      bytes.push(byte);
      at += 2;
    }
  }
  const restored = Buffer.from(bytes).toString('utf8');
  return takenBackId(restored) === id ? restored : id;
}

/**
 * A caller's call id as sent to an OpenAI-dialect upstream: the upstream's own id where the
 * gateway escaped it (restoredCallId); OpenAI refuses one over 40 characters, which an Anthropic
 * caller may send (up to 256): a longer one is shortened as takenBackId does, the same way in the
 * call and in its result, so they still match; the upstream's answer never names it.
 */
export function sentCallId(id: string): string {
  const restored = restoredCallId(id);
  return restored.length <= maxCallIdChars ? restored : (takenBackId(restored) ?? restored);
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
