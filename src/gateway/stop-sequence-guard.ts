/**
 * Applies a request's stop sequences to text as it streams, for the one case an
 * upstream cannot: a stop sequence that spans the join of a resumed answer (its
 * start sent by the endpoint that broke, its end by the one that resumed). Text
 * whose tail could begin a stop sequence is held back until the next text shows
 * whether it does; the held text is released when the answer ends normally, and
 * is part of what a resume continues from.
 *
 * Each stop sequence is matched by a Knuth-Morris-Pratt automaton fed each character
 * once, so the work is linear in the text whatever the stop sequences hold: testing
 * every prefix of a long stop sequence against the held text on every chunk was
 * quadratic, and a caller's long stop sequence could stall the gateway.
 */
export class StopSequenceGuard {
  readonly #stops: readonly string[];
  /** Per stop sequence, KMP's failure function: the longest proper border of each prefix. */
  readonly #borders: readonly Int32Array[];
  /** Per stop sequence, how much of it the text so far ends with. */
  readonly #matched: Int32Array;
  #held = '';

  constructor(stops: readonly string[]) {
    this.#stops = stops.filter((stop) => stop !== '');
    this.#borders = this.#stops.map(bordersOf);
    this.#matched = new Int32Array(this.#stops.length);
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
    let longest = 0;
    for (let offset = 0; offset < text.length; offset += 1) {
      const char = text.charCodeAt(offset);
      longest = 0;
      // The stop sequence that completes first, as a model streaming token by token would see it;
      // of those completing at the same character, the longest (it started earlier). So the result
      // does not depend on chunking.
      let hit = -1;
      for (let index = 0; index < this.#stops.length; index += 1) {
        const matched = advance(this.#stops[index] as string, this.#borders[index] as Int32Array, this.#matched[index] as number, char);
        this.#matched[index] = matched;
        if (matched === (this.#stops[index] as string).length) {
          if (hit < 0 || matched > (this.#stops[hit] as string).length) hit = index;
        } else if (matched > longest) longest = matched;
      }
      if (hit >= 0) {
        const stop = this.#stops[hit] as string;
        const combined = this.#held + text.slice(0, offset + 1);
        this.#held = '';
        this.#matched.fill(0);
        return { release: combined.slice(0, combined.length - stop.length), stop };
      }
    }
    if (text.length === 0) longest = this.#held.length;
    const combined = this.#held + text;
    this.#held = combined.slice(combined.length - longest);
    return { release: combined.slice(0, combined.length - longest) };
  }

  /** Releases what is held: the answer ended without completing a stop sequence. */
  flush(): string {
    const held = this.#held;
    this.#held = '';
    this.#matched.fill(0);
    return held;
  }
}

/** KMP's failure function of `stop`: for each prefix length n, the longest proper border of stop[0, n). */
function bordersOf(stop: string): Int32Array {
  const borders = new Int32Array(stop.length + 1);
  let border = 0;
  for (let index = 1; index < stop.length; index += 1) {
    while (border > 0 && stop.charCodeAt(index) !== stop.charCodeAt(border)) border = borders[border] as number;
    if (stop.charCodeAt(index) === stop.charCodeAt(border)) border += 1;
    borders[index + 1] = border;
  }
  return borders;
}

/** How much of `stop` the text ends with after one more character, from `matched` before it. */
function advance(stop: string, borders: Int32Array, matched: number, char: number): number {
  let state = matched === stop.length ? (borders[matched] as number) : matched;
  while (state > 0 && stop.charCodeAt(state) !== char) state = borders[state] as number;
  return stop.charCodeAt(state) === char ? state + 1 : 0;
}
