import { describe, expect, it } from 'vitest';
import { closestMatch, didYouMean } from '../../src/domain/suggest.js';

describe('didYouMean', () => {
  it('names every candidate equally close, not the first of them (E55: maia-300)', () => {
    expect(didYouMean('maia-300', ['tpu-v6e', 'maia-100', 'maia-200'])).toBe("did you mean 'maia-100' or 'maia-200'?");
    expect(didYouMean('h1000', ['h100', 'h200', 'b200', 'a100'])).toBe("did you mean 'h100'?");
  });

  it('prefers the candidate that shares the name\'s start, and names none when nothing is close', () => {
    expect(didYouMean('usa', ['eu', 'sa', 'us'])).toBe("did you mean 'us'?");
    expect(didYouMean('mainframe', ['us', 'eu'])).toBeUndefined();
  });

  it('ranks by edit distance, then agreeing version numbers, then length', () => {
    expect(closestMatch('tpu-v7', ['tpu-v4', 'tpu7x'])).toBe('tpu7x');
    expect(closestMatch('chipz', ['chip', 'chips'])).toBe('chips');
  });
});
