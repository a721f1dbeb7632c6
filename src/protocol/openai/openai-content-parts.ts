import { isRecord } from '../is-record.js';

/** An answer's (or a delta's) content read as text and reasoning. */
export interface ReadContent {
  readonly text: string;
  /** Reasoning a server put among the content's parts (Mistral's Magistral: `thinking` parts). */
  readonly reasoning: string;
}

const none: ReadContent = { text: '', reasoning: '' };

/**
 * An OpenAI-dialect `content` as text: a string, nothing (null or absent), or a list of parts, which
 * Mistral's reasoning models send (`thinking` parts holding text parts, and parts with text, streamed
 * and whole). Parts with no text (Mistral's `reference`) are passed over. Undefined when it is none
 * of these (a number, an object, a part whose text or thinking is not text): text dropped would leave
 * an answer looking whole without it (E45).
 */
export function readContent(content: unknown): ReadContent | undefined {
  if (content === undefined || content === null) return none;
  if (typeof content === 'string') return { text: content, reasoning: '' };
  if (!Array.isArray(content)) return undefined;
  let text = '';
  let reasoning = '';
  for (const part of content as unknown[]) {
    if (typeof part === 'string') {
      text += part;
      continue;
    }
    if (!isRecord(part)) return undefined;
    if (part['type'] === 'thinking') {
      const thought = part['thinking'];
      const inner = typeof thought === 'string' || Array.isArray(thought) ? readContent(thought) : undefined;
      if (inner === undefined) return undefined;
      reasoning += inner.text + inner.reasoning;
    } else if ('text' in part) {
      // A part with text is text, whatever its type says (`text`, `output_text`, none; R37).
      if (typeof part['text'] !== 'string') return undefined;
      text += part['text'];
    }
  }
  return { text, reasoning };
}
