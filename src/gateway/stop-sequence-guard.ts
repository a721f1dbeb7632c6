/**
 * Applies a request's stop sequences to text as it streams, for the one case an
 * upstream cannot: a stop sequence that spans the join of a resumed answer (its
 * start sent by the endpoint that broke, its end by the one that resumed). Text
 * whose tail could begin a stop sequence is held back until the next text shows
 * whether it does; the held text is released when the answer ends normally, and
 * is part of what a resume continues from.
 */
export class StopSequenceGuard {
  readonly #stops: readonly string[];
  #held = '';

  constructor(stops: readonly string[]) {
    this.#stops = stops.filter((stop) => stop !== '');
  }

  /** Text received but not yet released. */
  get held(): string {
    return this.#held;
  }

  /**
   * Takes the next text. Returns what can be released now and, when a stop
   * sequence completes, which one: the text before it is released and the
   * answer ends there (nothing after it may be sent).
   */
  push(text: string): { readonly release: string; readonly stop?: string } {
    const combined = this.#held + text;
    // The stop sequence that completes first, as a model streaming token by token would see it
    // (on a tie, the one that started earlier); so the result does not depend on chunking.
    let at = -1;
    let end = Number.POSITIVE_INFINITY;
    let hit: string | undefined;
    for (const stop of this.#stops) {
      const index = combined.indexOf(stop);
      if (index < 0) continue;
      const stopEnd = index + stop.length;
      if (stopEnd < end || (stopEnd === end && index < at)) {
        at = index;
        end = stopEnd;
        hit = stop;
      }
    }
    if (hit !== undefined) {
      this.#held = '';
      return { release: combined.slice(0, at), stop: hit };
    }
    const keep = this.#longestStopPrefixAtEnd(combined);
    this.#held = combined.slice(combined.length - keep);
    return { release: combined.slice(0, combined.length - keep) };
  }

  /** Releases what is held: the answer ended without completing a stop sequence. */
  flush(): string {
    const held = this.#held;
    this.#held = '';
    return held;
  }

  /** Length of the longest proper prefix of a stop sequence that `text` ends with. */
  #longestStopPrefixAtEnd(text: string): number {
    let longest = 0;
    for (const stop of this.#stops) {
      for (let length = Math.min(stop.length - 1, text.length); length > longest; length -= 1) {
        if (text.endsWith(stop.slice(0, length))) {
          longest = length;
          break;
        }
      }
    }
    return longest;
  }
}
