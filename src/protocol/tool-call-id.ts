import { createHash } from 'node:crypto';

/** The longest tool call id OpenAI takes back in tool_calls[].id (it refuses longer ones). */
const maxCallIdChars = 40;

/** The longest tool call id the gateway takes back from a caller (toolCallIdPattern), as Anthropic does. */
const maxTakenBackChars = 256;

/** Starts an id the gateway wrote for an upstream's id it could not pass on as sent (escapedId). */
const escapedMark = 'sy-';

/** A caller may send back an id of these characters. */
const kept = /^[a-zA-Z0-9_-]+$/;

/** Characters no id is restored with: a caller could write them in an escaped id, which no model wrote. */
const unprintable = /[\p{Cc}\p{Cf}]/u;

/**
 * An upstream's tool call id as one the gateway takes back from a caller, and OpenAI and Anthropic
 * take: as sent when it is of kept characters and at most 40 long. One of other characters (Kimi's
 * 'functions.get_weather:0', from vLLM's OpenAI or Anthropic API: public reports say Kimi fails on
 * its ids given back otherwise), or starting as escaped ones do, is escaped (escapedId), so that it
 * stays distinct from every other id and an OpenAI-dialect upstream gets it back as it wrote it
 * (restoredCallId). Any other, or one whose escape is over 256 long, keeps its start and ends with a
 * hash of the whole id (hashedId), so two long ids stay distinct. Undefined for none: the caller
 * makes one (madeUpCallId).
 */
export function takenBackId(id: unknown): string | undefined {
  if (typeof id !== 'string' || id === '') return undefined;
  const plain = kept.test(id) && !id.startsWith(escapedMark);
  if (plain && id.length <= maxCallIdChars) return id;
  if (!plain) {
    const escaped = escapedId(id);
    if (escaped.length <= maxTakenBackChars) return escaped;
  }
  return hashedId(id);
}

/** escapedMark, then the id with each UTF-8 byte but a letter, digit or '_' as '-' and two hex digits. */
function escapedId(id: string): string {
  let escaped = escapedMark;
  for (const byte of Buffer.from(id, 'utf8')) {
    const char = String.fromCharCode(byte);
    escaped += /[a-zA-Z0-9_]/.test(char) ? char : `-${byte.toString(16).padStart(2, '0')}`;
  }
  return escaped;
}

/**
 * The id's start, its other characters as '_', and a hash of the whole: 40 characters. Never
 * starting as escaped ones do, so it is never read back as one (restoredCallId).
 */
function hashedId(id: string): string {
  const hash = createHash('sha256').update(id).digest('hex').slice(0, 8);
  const start = id.replace(/[^a-zA-Z0-9_-]/g, '_').slice(0, maxCallIdChars - hash.length - 1);
  return `${start.startsWith(escapedMark) ? `sy_${start.slice(escapedMark.length)}` : start}_${hash}`;
}

/**
 * The upstream's own id for one takenBackId escaped, or the id itself: for an upstream that takes
 * any characters (OpenAI's API), so a model gets back the ids it wrote. Only an id takenBackId
 * escapes, of no control or format characters, is read back, so a caller's own id that merely
 * starts alike is sent as it is.
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
  return !unprintable.test(restored) && takenBackId(restored) === id ? restored : id;
}

/**
 * How a request's call ids go to an OpenAI-dialect upstream: each restored (restoredCallId), and
 * one over 40 characters, which OpenAI refuses and an Anthropic caller may send (up to 256),
 * shortened as takenBackId does, the same way in the call and in its result, so they still match;
 * the upstream's answer never names it. Should restoring make two of the request's ids one (a
 * caller's own 'sy-x' beside the gateway's escape of an upstream's 'sy-x'), none is restored.
 */
export function sentCallIds(ids: Iterable<string>): (id: string) => string {
  const distinct = new Set(ids);
  const sent = new Map<string, string>();
  for (const id of distinct) sent.set(id, shortened(restoredCallId(id)));
  const restoring = new Set(sent.values()).size === distinct.size;
  return (id) => (restoring ? sent.get(id) : undefined) ?? shortened(id);
}

/** The id, or its hashed form when OpenAI would refuse it as too long. */
function shortened(id: string): string {
  return id.length <= maxCallIdChars ? id : hashedId(id);
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
