import { MemoryRateLimitStore, type BucketLevel, type BucketRule, type BucketTake, type RateLimitStore } from '../../../src/gateway/token-bucket.js';

/**
 * A store that answers later, as one across a network does (Redis, say): each operation is done
 * atomically on a memory store and answered on a later turn of the event loop, or once released
 * while `hold()` holds answers back; `failing` makes every answer a rejection, as an unreachable
 * store's, `failingSettlements` only adjustments'. Several gateways may share one.
 */
export class DeferredRateLimitStore implements RateLimitStore {
  failing = false;
  failingSettlements = false;
  calls = 0;
  /** The buckets as they stand, read at once. */
  readonly inner = new MemoryRateLimitStore();
  private held: (() => void)[] | undefined;

  take(takes: readonly BucketTake[], now: number): Promise<readonly BucketLevel[]> {
    return this.later(() => this.inner.take(takes, now), this.failing);
  }

  adjust(bucket: BucketRule, amount: number, now: number): Promise<number> {
    return this.later(() => this.inner.adjust(bucket, amount, now), this.failing || this.failingSettlements);
  }

  /** Holds every answer back until the returned function is called. */
  hold(): () => void {
    const held: (() => void)[] = [];
    this.held = held;
    return () => {
      this.held = undefined;
      for (const release of held.splice(0)) release();
    };
  }

  private later<T>(operation: () => T, failing: boolean): Promise<T> {
    this.calls += 1;
    // Done at once (atomic, as a store's script is), told later.
    const result = failing ? undefined : operation();
    return new Promise((resolve, reject) => {
      const answer = (): void => {
        setImmediate(() => {
          if (failing) reject(new Error('connection to redis://default:hunter2secret@10.0.0.5:6379 refused'));
          else resolve(result as T);
        });
      };
      if (this.held === undefined) answer();
      else this.held.push(answer);
    });
  }
}
