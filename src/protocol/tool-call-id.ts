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
 * (restoredCallId). Any other, one whose escape is over 256 long, or one with a lone surrogate
 * (UTF-8 has none: two such ids would escape alike), keeps its start and ends with a hash of the
 * whole id (hashedId), so two long ids stay distinct. Undefined for none: the caller makes one
 * (madeUpCallId).
 */
export function takenBackId(id: unknown): string | undefined {
  if (typeof id !== 'string' || id === '') return undefined;
  const plain = kept.test(id) && !id.startsWith(escapedMark);
  if (plain && id.length <= maxCallIdChars) return id;
  if (!plain && utf8Keeps(id)) {
    const escaped = escapedId(id);
    if (escaped.length <= maxTakenBackChars) return escaped;
  }
  return hashedId(id);
}

/** Whether UTF-8 carries the id as it is: not when it holds a lone surrogate, which becomes U+FFFD. */
function utf8Keeps(id: string): boolean {
  return Buffer.from(id, 'utf8').toString('utf8') === id;
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
 * The id's start, its other characters as '_', and a hash of the whole (of its UTF-16 code units
 * when UTF-8 would change it): 40 characters. Never starting as escaped ones do, so it is never
 * read back as one (restoredCallId).
 */
function hashedId(id: string): string {
  const hash = createHash('sha256').update(utf8Keeps(id) ? id : Buffer.from(id, 'utf16le')).digest('hex').slice(0, 8);
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
 * How a request's call ids go to an OpenAI-dialect upstream, the same way in a call and in its
 * result, so they still match: each restored (restoredCallId) whole, as the upstream wrote it; any
 * other over 40 characters, which OpenAI refuses and an Anthropic caller may send (up to 256),
 * shortened as takenBackId does (the upstream's answer never names it). An id whose restoring
 * would make it another of the request's (a caller's own 'sy-x' beside the gateway's escape of an
 * upstream's 'sy-x') is sent as the caller wrote it; the others are still restored, so a turn's
 * ids go as they went before.
 */
export function sentCallIds(ids: readonly string[]): (id: string) => string {
  if (ids.length === 0) return shortened;
  const sent = new Map<string, string>();
  const restored = new Set<string>();
  for (const id of new Set(ids)) {
    const restoring = restoredCallId(id);
    sent.set(id, restoring === id ? shortened(id) : restoring);
    if (restoring !== id) restored.add(id);
  }
  // Each pass unrestores at least one id, so this ends. Ids not restored are the caller's own, distinct
  // but for one over 40 whose hashed form another id of the request is (contrived: found by R47's fuzzing).
  for (let clashing = clashingRestored(sent, restored); clashing.length > 0; clashing = clashingRestored(sent, restored)) {
    for (const id of clashing) {
      sent.set(id, shortened(id));
      restored.delete(id);
    }
  }
  return (id) => sent.get(id) ?? shortened(id);
}

/** The restored ids whose sent id another id of the request also has. */
function clashingRestored(sent: ReadonlyMap<string, string>, restored: ReadonlySet<string>): string[] {
  if (restored.size === 0) return [];
  const holders = new Map<string, number>();
  for (const value of sent.values()) holders.set(value, (holders.get(value) ?? 0) + 1);
  return [...restored].filter((id) => (holders.get(sent.get(id) ?? '') ?? 0) > 1);
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
