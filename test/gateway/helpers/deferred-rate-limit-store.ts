import { MemoryRateLimitStore, type BucketLevel, type BucketRule, type BucketTake, type RateLimitStore } from '../../../src/gateway/token-bucket.js';

/**
 * A store that answers later, as one across a network does (Redis, say): each operation is done
 * atomically on a memory store and answered on a later turn of the event loop; `failing` makes
 * every answer a rejection, as an unreachable store's, `failingSettlements` only adjustments'.
 * Several gateways may share one.
 */
export class DeferredRateLimitStore implements RateLimitStore {
  failing = false;
  failingSettlements = false;
  calls = 0;
  private readonly inner = new MemoryRateLimitStore();

  take(takes: readonly BucketTake[], now: number): Promise<readonly BucketLevel[]> {
    return this.later(() => this.inner.take(takes, now), this.failing);
  }

  adjust(bucket: BucketRule, amount: number, now: number): Promise<number> {
    return this.later(() => this.inner.adjust(bucket, amount, now), this.failing || this.failingSettlements);
  }

  private later<T>(operation: () => T, failing: boolean): Promise<T> {
    this.calls += 1;
    // Done at once (atomic, as a store's script is), told later.
    const result = failing ? undefined : operation();
    return new Promise((resolve, reject) => {
      setImmediate(() => {
        if (failing) reject(new Error('connection to redis://default:hunter2secret@10.0.0.5:6379 refused'));
        else resolve(result as T);
      });
    });
  }
}
