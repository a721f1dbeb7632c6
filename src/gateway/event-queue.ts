/**
 * Events pushed by network callbacks and pulled by an async consumer, as an
 * AsyncIterator without a Readable stream or an async generator in between
 * (both cost measurably per event on the proxy's hot path). Past `highWater`
 * queued items `onFull` is called so the producer can pause; `onDrained` when
 * the consumer has caught up.
 */
export class EventQueue<T> implements AsyncIterator<T> {
  readonly #items: T[] = [];
  #head = 0;
  #ended = false;
  #waiter: ((result: IteratorResult<T>) => void) | undefined;
  #full = false;

  constructor(
    private readonly highWater = 256,
    private readonly onFull: () => void = noop,
    private readonly onDrained: () => void = noop,
  ) {}

  get ended(): boolean {
    return this.#ended;
  }

  push(item: T): void {
    if (this.#ended) return;
    const waiter = this.#waiter;
    if (waiter !== undefined) {
      this.#waiter = undefined;
      waiter({ value: item, done: false });
      return;
    }
    this.#items.push(item);
    if (!this.#full && this.#items.length - this.#head >= this.highWater) {
      this.#full = true;
      this.onFull();
    }
  }

  /** No more items; the consumer gets `done` after what is queued. */
  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    const waiter = this.#waiter;
    if (waiter !== undefined && this.#head === this.#items.length) {
      this.#waiter = undefined;
      waiter({ value: undefined, done: true });
    }
  }

  next(): Promise<IteratorResult<T>> {
    if (this.#head < this.#items.length) {
      const value = this.#items[this.#head] as T;
      this.#head += 1;
      if (this.#head === this.#items.length) {
        this.#items.length = 0;
        this.#head = 0;
        if (this.#full) {
          this.#full = false;
          this.onDrained();
        }
      }
      return Promise.resolve({ value, done: false });
    }
    if (this.#ended) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => {
      this.#waiter = resolve;
    });
  }
}

const noop = (): void => undefined;
