import { describe, expect, it } from 'vitest';
import { goDuration } from '../../src/protocol/go-duration.js';

describe('goDuration', () => {
  it('writes waits as Go does (OpenAI\'s reset headers)', () => {
    expect([0, 0.2, 12, 999, 1000, 1500, 17_280, 59_999, 60_000, 61_500, 3_600_000, 3_725_000].map(goDuration)).toEqual(['0s', '1ms', '12ms', '999ms', '1s', '1.5s', '17.28s', '59.999s', '1m0s', '1m1.5s', '1h0m0s', '1h2m5s']);
  });

  it('a wait that never ends is inf', () => {
    expect(goDuration(Number.POSITIVE_INFINITY)).toBe('inf');
  });
});
