import type { ServerResponse } from 'node:http';
import type { Cancellation } from './cancellation.js';

/**
 * What a gateway's shutdown waits for and ends: the responses not yet sent (a count and one shared
 * 'close' listener: responses kept as keys of a Map cost about 50 MB more peak RSS under the bench's
 * load), and the requests that reach upstreams, each by the cancellation that ends it. Also the
 * request body bytes held, against the gateway's budget for them.
 */
export class InFlightRequests {
  // Changed only by track, drain and endAll, so what a shutdown has reached is read, never set, outside.
  #unsent = 0;
  #draining = false;
  #shuttingDown = false;
  /** The requests still running that reach upstreams, by the cancellation that ends each. */
  readonly running = new Set<Cancellation>();
  private onIdle: (() => void) | undefined;
  private bodyBytes = 0;
  private readonly bodyBytesOf = new WeakMap<ServerResponse, number>();
  /** One listener for every response: `this` is the response. */
  private readonly responseClosed: (this: ServerResponse) => void;

  /** Responses not yet sent. */
  get unsent(): number {
    return this.#unsent;
  }

  /** The shutdown began (drain): no new request is taken, and connections close once their answer is sent. */
  get draining(): boolean {
    return this.#draining;
  }

  /** The grace period is over: the requests in flight are being ended with an error. */
  get shuttingDown(): boolean {
    return this.#shuttingDown;
  }

  constructor(private readonly maxBodyBytes: number) {
    const closed = (res: ServerResponse): void => {
      this.#unsent -= 1;
      const held = this.bodyBytesOf.get(res);
      if (held !== undefined) this.bodyBytes -= held;
      if (this.#draining && this.#unsent === 0) this.onIdle?.();
    };
    this.responseClosed = function (this: ServerResponse) {
      closed(this);
    };
  }

  /** Counts a response until it closes: once sent (after 'finish'), or when its connection is gone. */
  track(res: ServerResponse): void {
    this.#unsent += 1;
    res.on('close', this.responseClosed);
    // During a shutdown a connection takes no further request: it closes once its answer is sent.
    if (this.#draining) res.shouldKeepAlive = false;
  }

  /** Takes a request's body bytes from the gateway's budget, or refuses them when it is spent; given back when its response closes. */
  bodyBudgetFor(res: ServerResponse): (bytes: number) => boolean {
    return (bytes) => {
      if (this.bodyBytes + bytes > this.maxBodyBytes) return false;
      this.bodyBytes += bytes;
      this.bodyBytesOf.set(res, (this.bodyBytesOf.get(res) ?? 0) + bytes);
      return true;
    };
  }

  /** `idle` resolves when every response is sent (once draining), after `ms`, or when `stop` is called. */
  untilIdle(ms: number): { readonly idle: Promise<void>; readonly stop: () => void } {
    if (this.#unsent === 0) return { idle: Promise.resolve(), stop: () => undefined };
    let stop = (): void => undefined;
    const idle = new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.onIdle = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.onIdle = done;
      stop = done;
    });
    return { idle, stop };
  }

  /** Begins a shutdown: no new request is taken. */
  drain(): void {
    this.#draining = true;
  }

  /** Ends the grace period: every request still running that reaches upstreams is cancelled (it answers with its error). */
  endAll(): void {
    this.#shuttingDown = true;
    for (const cancellation of this.running) cancellation.cancel();
  }
}
