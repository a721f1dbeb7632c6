import type { ThinkingBlock } from '../protocol/chat.js';

/**
 * An answer's thinking blocks as they stream: text in pieces, a block ended by its signature (a
 * piece after one begins the next block), redacted blocks whole. A whole answer is written with them.
 */
export class ThinkingAccumulator {
  readonly #blocks: ThinkingBlock[] = [];
  /** The text of the block still open (no signature yet), in pieces. */
  #open: string[] | undefined;
  #chars = 0;

  /** Characters of thinking text so far, for the answer's size limit. */
  get chars(): number {
    return this.#chars;
  }

  /** Whether any thinking came: an answer that broke after it cannot be continued. */
  get started(): boolean {
    return this.#blocks.length > 0 || this.#open !== undefined;
  }

  append(text: string): void {
    (this.#open ??= []).push(text);
    this.#chars += text.length;
  }

  sign(signature: string): void {
    this.#blocks.push({ type: 'thinking', thinking: (this.#open ?? []).join(''), signature });
    this.#open = undefined;
  }

  redacted(data: string): void {
    // An unsigned block before it cannot go back: dropped (see toBlocks).
    this.#dropUnsigned();
    this.#blocks.push({ type: 'redacted_thinking', data });
  }

  /**
   * The signed and redacted blocks. One still open (an answer cut short in its thinking) is left out:
   * without its signature it could never be sent back.
   */
  toBlocks(): readonly ThinkingBlock[] {
    return this.#blocks;
  }

  /** All the thinking text, for estimating its tokens. */
  toText(): string {
    return this.#blocks.map((block) => (block.type === 'thinking' ? block.thinking : '')).join('') + (this.#open ?? []).join('');
  }

  #dropUnsigned(): void {
    this.#open = undefined;
  }
}
