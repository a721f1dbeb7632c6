import type { ToolCall } from '../protocol/chat.js';

/**
 * The tool calls of an answer so far, as their events arrive: for a non-stream reply, and to know
 * that an answer broke inside its calls (which a continuation cannot resume: no API takes a
 * half-written call as a prefill). Argument pieces are joined once, at the end.
 */
export class ToolCallAccumulator {
  #calls: { id: string; name: string; pieces: string[] }[] = [];
  #argumentChars = 0;

  /** Calls begun so far. */
  get count(): number {
    return this.#calls.length;
  }

  /** UTF-16 code units of argument text so far, over every call. */
  get argumentChars(): number {
    return this.#argumentChars;
  }

  start(index: number, id: string, name: string): void {
    this.#calls[index] = { id, name, pieces: [] };
  }

  /** Argument text for call `index`; a piece for a call never begun is kept under an empty name (an upstream's slip). */
  append(index: number, text: string): void {
    const call = (this.#calls[index] ??= { id: '', name: '', pieces: [] });
    call.pieces.push(text);
    this.#argumentChars += text.length;
  }

  /** Every call's argument text, joined (for estimates of what was written). */
  allArguments(): string {
    return this.#calls.map((call) => call.pieces.join('')).join('');
  }

  /** The calls in order (a gap an upstream left in the numbering is skipped). */
  toCalls(): ToolCall[] {
    return this.#calls.filter((call) => call !== undefined).map((call) => ({ id: call.id, name: call.name, arguments: call.pieces.join('') }));
  }
}
