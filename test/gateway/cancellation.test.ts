import { describe, expect, it } from 'vitest';
import { Cancellation } from '../../src/gateway/cancellation.js';

describe('Cancellation', () => {
  it('runs each listener once, in order, and reports cancelled', () => {
    const cancellation = new Cancellation();
    const calls: string[] = [];
    cancellation.onCancel(() => calls.push('a'));
    cancellation.onCancel(() => calls.push('b'));
    expect(cancellation.cancelled).toBe(false);
    cancellation.cancel();
    cancellation.cancel();
    expect(cancellation.cancelled).toBe(true);
    expect(calls).toEqual(['a', 'b']);
  });

  it('a removed listener is not called; a listener added after cancel runs at once', () => {
    const cancellation = new Cancellation();
    const calls: string[] = [];
    const remove = cancellation.onCancel(() => calls.push('removed'));
    cancellation.onCancel(() => calls.push('kept'));
    remove();
    cancellation.cancel();
    cancellation.onCancel(() => calls.push('late'));
    expect(calls).toEqual(['kept', 'late']);
  });

  it('a child follows its parent until detached, and can be cancelled alone', () => {
    const parent = new Cancellation();
    const followed = parent.child();
    const detached = parent.child();
    const alone = parent.child();
    detached.detach();
    alone.cancellation.cancel();
    expect(parent.cancelled).toBe(false);
    parent.cancel();
    expect(followed.cancellation.cancelled).toBe(true);
    expect(detached.cancellation.cancelled).toBe(false);
  });
});
