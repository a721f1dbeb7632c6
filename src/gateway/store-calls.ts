import type { ServerResponse } from 'node:http';
import type { Cancellation } from './cancellation.js';
import { ClientError, shuttingDownError } from './client-error.js';
import { judgeAfterReads } from './judge-after-reads.js';
import type { RequestContext } from './request-context.js';
import { isPromiseLike, type Awaitable } from './awaitable.js';
import { settleTokenUsage, type RateLimitStore, type TenantLimitDecision } from './token-bucket.js';
import type { TenantConfig } from './gateway-config.js';

/** What a request waiting on the rate-limit store is: see StoreCalls.ask. */
export interface StoreWait {
  readonly requestId: string;
  readonly deadline: Cancellation;
  readonly res: ServerResponse;
  /** Checks the request's key again once a later answer came (a reload may have taken it away meanwhile); throws if it is gone. */
  readonly recheck: () => void;
}

/** What the gateway gives its store calls: the store, its clock, its log, and a tenant's limits as a reload left them. */
export interface StoreCallsShell {
  readonly limits: RateLimitStore;
  readonly now: () => number;
  readonly log: RequestContext['log'];
  readonly limitsOf: (tenant: TenantConfig) => TenantConfig;
}

/** The gateway's calls to its rate-limit store, before admission (ask) and after it (quietly, refund). */
export interface StoreCalls {
  /**
   * What the rate-limit store answers to `ask`. An answer now (the memory store's) is taken at
   * once, as before the store could answer later: nothing changes while it is made. One that comes
   * later is waited for at most storeWaitMs, and no longer than the client stays or the gateway
   * runs; the key is then checked again (`recheck`). A store that fails, or does not answer in time,
   * admits nothing: limits that cannot be checked are not skipped (a 503 the caller may retry).
   * `undo`: gives back what the answer took, when the request does not go on after all (client gone,
   * key taken away, shutdown).
   */
  ask<T>(ask: () => Awaitable<T>, serving: StoreWait, undo?: (answer: T) => void): Awaitable<T>;
  /**
   * A store call after admission, whose failure costs the request nothing: logged, thrown or rejected
   * later. `use` takes a result the store gave at once (a later one arrives after the answer's headers).
   */
  quietly<T>(requestId: string, call: () => Awaitable<T>, use?: (value: T) => void): void;
  /** Gives back an admission's tokens (its request stays spent, as a refused one's does), the store's failure logged. */
  refund(tenant: TenantConfig, estimated: number, requestId: string): (decision: TenantLimitDecision) => void;
  /** A settlement the store failed after the answer: the tenant's charge stands as admitted; logged. */
  failedLater(requestId: string, error: unknown): void;
}

/** The longest a request waits for a store that answers later: a store answers in milliseconds, and one that takes a second is failing. */
const storeWaitMs = 1000;

export function createStoreCalls({ limits, now, log, limitsOf }: StoreCallsShell): StoreCalls {
  const failed = (requestId: string, error: unknown): ClientError => {
    log.warn({ requestId, err: storeErrorText(error) }, 'rate-limit store failed');
    return new ClientError(503, 'overloaded', "the gateway could not check the tenant's rate limits (its limit store did not answer); retry the request", { headers: { 'retry-after': '1' } });
  };

  const waitFor = async <T>(answer: PromiseLike<T>, { requestId, deadline, res, recheck }: StoreWait, undo: (answer: T) => void = () => undefined): Promise<T> => {
    let stop = (): void => undefined;
    let givenUp = false;
    const interrupted = new Promise<never>((_resolve, reject) => {
      // An answer that came while the gateway was held up is not a store too slow (see judgeAfterReads).
      const stopTimer = judgeAfterReads(() => reject(failed(requestId, Object.assign(new Error(`no answer within ${String(storeWaitMs)} ms`), { code: 'ETIMEDOUT' }))), storeWaitMs);
      const onClose = (): void => reject(new ClientError(499, 'invalid_request', 'the client went away while its rate limits were checked'));
      res.once('close', onClose);
      // Before the request's own deadline is watched, only a shutdown cancels it.
      const stopCancel = deadline.onCancel(() => reject(shuttingDownError()));
      stop = () => {
        givenUp = true;
        stopTimer();
        res.off('close', onClose);
        stopCancel();
      };
    });
    // A failure after the wait was given up is not logged twice.
    const answering = Promise.resolve(answer).then(undefined, (error: unknown) => Promise.reject(givenUp ? error : failed(requestId, error)));
    let answered: T;
    try {
      answered = await Promise.race([answering, interrupted]);
    } catch (error) {
      // Interrupted: the store's answer, when it comes, is given back.
      answering.then(undo, () => undefined);
      throw error;
    } finally {
      stop();
    }
    try {
      // A client that left before the wait began (its close already heard by nobody) is gone too.
      if (res.destroyed) throw new ClientError(499, 'invalid_request', 'the client went away while its rate limits were checked');
      recheck();
    } catch (error) {
      undo(answered);
      throw error;
    }
    return answered;
  };

  const failedLater = (requestId: string, error: unknown): void => {
    log.warn({ requestId, err: storeErrorText(error) }, 'rate-limit store failed to settle a charge');
  };

  const quietly = <T>(requestId: string, call: () => Awaitable<T>, use?: (value: T) => void): void => {
    try {
      const result = call();
      if (isPromiseLike(result)) Promise.resolve(result).catch((error: unknown) => failedLater(requestId, error));
      else use?.(result);
    } catch (error) {
      failedLater(requestId, error);
    }
  };

  return {
    ask: <T>(ask: () => Awaitable<T>, serving: StoreWait, undo?: (answer: T) => void): Awaitable<T> => {
      let answer: Awaitable<T>;
      try {
        answer = ask();
      } catch (error) {
        throw failed(serving.requestId, error);
      }
      return isPromiseLike(answer) ? waitFor(answer, serving, undo) : answer;
    },
    quietly,
    refund: (tenant, estimated, requestId) => (decision) => {
      if (!decision.allowed) return;
      quietly(requestId, () => settleTokenUsage(limits, limitsOf(tenant), estimated, 0, now()));
    },
    failedLater,
  };
}

/**
 * A store's error for the log, by its name and code alone (`Error (ECONNREFUSED)`): a store
 * client's text may quote its connection string, password and all, in more forms than a pattern
 * could know.
 */
export function storeErrorText(error: unknown): string {
  if (!(error instanceof Error)) return 'a value thrown that is not an Error';
  const code = (error as NodeJS.ErrnoException).code;
  return typeof code === 'string' && /^[A-Z0-9_]{1,40}$/.test(code) ? `${error.name.slice(0, 40)} (${code})` : error.name.slice(0, 40);
}
