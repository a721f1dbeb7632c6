import { describe, expect, it } from 'vitest';
import { TextAccumulator } from '../../src/gateway/text-accumulator.js';

describe('TextAccumulator', () => {
  it('returns exactly the appended text, across group boundaries and repeated reads', () => {
    const accumulator = new TextAccumulator();
    expect(accumulator.isEmpty).toBe(true);
    let expected = '';
    for (let i = 0; i < 1000; i += 1) {
      const piece = i % 7 === 0 ? '' : ` t${i}`;
      accumulator.append(piece);
      expected += piece;
      if (i % 150 === 0) expect(accumulator.toString()).toBe(expected);
    }
    expect(accumulator.toString()).toBe(expected);
    expect(accumulator.isEmpty).toBe(false);
  });

  it('is empty while only empty pieces were appended', () => {
    const accumulator = new TextAccumulator();
    accumulator.append('');
    expect(accumulator.isEmpty).toBe(true);
    accumulator.append('x');
    expect(accumulator.isEmpty).toBe(false);
  });
});
