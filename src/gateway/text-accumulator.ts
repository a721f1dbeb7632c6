/**
 * The text of an answer so far, kept for resumes and non-stream replies. A
 * string grown by `+=` once per token is a chain of cons cells, about 50 bytes
 * per token on top of the text, which dominated the memory of a long open
 * stream; here tokens are joined in groups of 64 into flat strings.
 */
export class TextAccumulator {
  #text = '';
  #pieces: string[] = [];
  #length = 0;

  /** UTF-16 code units so far. */
  get length(): number {
    return this.#length;
  }

  append(text: string): void {
    this.#length += text.length;
    this.#pieces.push(text);
    if (this.#pieces.length >= 64) this.#fold();
  }

  get isEmpty(): boolean {
    return this.#text === '' && this.#pieces.every((piece) => piece === '');
  }

  toString(): string {
    this.#fold();
    return this.#text;
  }

  #fold(): void {
    if (this.#pieces.length === 0) return;
    this.#text += this.#pieces.join('');
    this.#pieces = [];
  }
}
