import { describe, expect, it } from 'vitest';
import { StopSequenceGuard } from '../../src/gateway/stop-sequence-guard.js';
import { seededRandom } from './seeded-random.js';

/** Feeds `chunks` through a guard; returns what was released and the stop hit, as the gateway sees them. */
function run(stops: readonly string[], chunks: readonly string[]): { released: string; stop: string | undefined } {
  const guard = new StopSequenceGuard(stops);
  let released = '';
  for (const chunk of chunks) {
    const step = guard.push(chunk);
    released += step.release;
    if (step.stop !== undefined) return { released, stop: step.stop };
  }
  return { released: released + guard.flush(), stop: undefined };
}

describe('StopSequenceGuard', () => {
  it('ends before a stop sequence split across chunks, having released none of it', () => {
    const guard = new StopSequenceGuard(['always but']);
    expect(guard.push('alpha')).toEqual({ release: 'alph' });
    expect(guard.held).toBe('a');
    expect(guard.push(' always')).toEqual({ release: 'a ' });
    expect(guard.held).toBe('always');
    expect(guard.push(' but more')).toEqual({ release: '', stop: 'always but' });
  });

  it('releases held text once it cannot begin a stop sequence, or when the answer ends', () => {
    expect(run(['END'], ['the E', 'ND'])).toEqual({ released: 'the ', stop: 'END' });
    expect(run(['END'], ['the E', 'ast'])).toEqual({ released: 'the East', stop: undefined });
    expect(run(['END'], ['ends in E'])).toEqual({ released: 'ends in E', stop: undefined });
  });

  it('the stop sequence that completes first wins; empty ones are ignored', () => {
    expect(run(['', 'bb', 'ab'], ['xa', 'bb'])).toEqual({ released: 'x', stop: 'ab' });
    expect(run(['abc', 'b'], ['abc'])).toEqual({ released: 'a', stop: 'b' });
  });

  it('holds back exactly the longest tail that begins a stop sequence, over random texts and chunkings', () => {
    const random = seededRandom(3);
    const pick = (length: number): string => Array.from({ length }, () => 'ab'[Math.floor(random() * 2)]).join('');
    for (let trial = 0; trial < 1000; trial += 1) {
      const stops = Array.from({ length: 1 + Math.floor(random() * 3) }, () => pick(2 + Math.floor(random() * 6)));
      const guard = new StopSequenceGuard(stops);
      let seen = '';
      for (let step = 0; step < 10; step += 1) {
        const chunk = pick(Math.floor(random() * 4));
        if (guard.push(chunk).stop !== undefined) break;
        seen += chunk;
        const naive = Math.max(0, ...stops.map((stop) => Array.from({ length: stop.length }, (_, length) => length).filter((length) => seen.endsWith(stop.slice(0, length))).at(-1) ?? 0));
        expect(guard.held).toBe(seen.slice(seen.length - naive));
      }
    }
  });

  it('a long stop sequence the text keeps almost matching is found, and what precedes it released', () => {
    const stop = `${'a'.repeat(20_000)}b`;
    const chunks = [...Array.from({ length: 25_000 }, () => 'a'), 'b', 'tail'];
    expect(run([stop], chunks)).toEqual({ released: 'a'.repeat(5000), stop });
  });

  it('over random chunkings, releases exactly the text before the first stop sequence', () => {
    const random = seededRandom(7);
    const alphabet = 'ab c';
    for (let trial = 0; trial < 2000; trial += 1) {
      const text = Array.from({ length: 1 + Math.floor(random() * 30) }, () => alphabet[Math.floor(random() * alphabet.length)]).join('');
      const stops = Array.from({ length: 1 + Math.floor(random() * 3) }, () => Array.from({ length: 1 + Math.floor(random() * 4) }, () => alphabet[Math.floor(random() * alphabet.length)]).join(''));
      const chunks: string[] = [];
      for (let at = 0; at < text.length; ) {
        const size = 1 + Math.floor(random() * 5);
        chunks.push(text.slice(at, at + size));
        at += size;
      }
      // The stop that completes first (a tie going to the one that started first), whatever the chunks.
      const first = stops.map((stop) => ({ stop, at: text.indexOf(stop), end: text.indexOf(stop) + stop.length })).filter((hit) => hit.at >= 0).sort((a, b) => a.end - b.end || a.at - b.at)[0];
      const result = run(stops, chunks);
      if (first === undefined) expect(result).toEqual({ released: text, stop: undefined });
      else expect(result).toEqual({ released: text.slice(0, first.at), stop: first.stop });
    }
  });
});
