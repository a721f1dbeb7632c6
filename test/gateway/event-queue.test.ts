import { describe, expect, it } from 'vitest';
import { EventQueue } from '../../src/gateway/event-queue.js';

async function drain(queue: EventQueue<number>): Promise<number[]> {
  const items: number[] = [];
  for (;;) {
    const next = await queue.next();
    if (next.done === true) return items;
    items.push(next.value);
  }
}

describe('EventQueue', () => {
  it('delivers items pushed before and after the consumer waits, in order, then done', async () => {
    const queue = new EventQueue<number>();
    queue.push(1);
    queue.push(2);
    const consumed = drain(queue);
    await Promise.resolve();
    queue.push(3);
    setTimeout(() => {
      queue.push(4);
      queue.end();
      queue.push(5);
    }, 5);
    expect(await consumed).toEqual([1, 2, 3, 4]);
  });

  it('end() with items queued still delivers them before done', async () => {
    const queue = new EventQueue<number>();
    queue.push(7);
    queue.end();
    expect(queue.ended).toBe(true);
    expect(await drain(queue)).toEqual([7]);
  });

  it('asks the producer to pause at the high-water mark and to resume once drained', async () => {
    const signals: string[] = [];
    const queue = new EventQueue<number>(3, () => signals.push('full'), () => signals.push('drained'));
    for (let i = 0; i < 5; i += 1) queue.push(i);
    expect(signals).toEqual(['full']);
    queue.end();
    expect(await drain(queue)).toEqual([0, 1, 2, 3, 4]);
    expect(signals).toEqual(['full', 'drained']);
  });
});
