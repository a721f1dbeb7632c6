/**
 * A one-shot cancellation for the request hot path: the client left, the
 * deadline passed, a hedge lost, a TTFT timer fired. Node's AbortSignal is an
 * EventTarget, and creating one and listening on it cost several microseconds
 * per request; this is a flag and a short list of callbacks.
 */
export class Cancellation {
  #cancelled = false;
  // Made with its first listener: an array grown from empty by a push takes 17 slots, and a
  // cancellation lives as long as its stream.
  #listeners: (() => void)[] | undefined;

  get cancelled(): boolean {
    return this.#cancelled;
  }

  /** Runs `listener` once when cancelled (at once if already); returns a function that removes it. */
  onCancel(listener: () => void): () => void {
    if (this.#cancelled) {
      listener();
      return noop;
    }
    if (this.#listeners === undefined) this.#listeners = [listener];
    else this.#listeners.push(listener);
    return () => {
      const current = this.#listeners;
      if (this.#cancelled || current === undefined) return;
      const index = current.indexOf(listener);
      if (index >= 0) current.splice(index, 1);
    };
  }

  cancel(): void {
    if (this.#cancelled) return;
    this.#cancelled = true;
    const listeners = this.#listeners;
    this.#listeners = undefined;
    if (listeners !== undefined) for (const listener of listeners) listener();
  }

  /** A cancellation that follows this one, and can also be cancelled on its own. */
  child(): { readonly cancellation: Cancellation; readonly detach: () => void } {
    const cancellation = new Cancellation();
    const detach = this.onCancel(() => cancellation.cancel());
    return { cancellation, detach };
  }
}

const noop = (): void => undefined;
