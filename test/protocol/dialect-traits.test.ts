import { describe, expect, it } from 'vitest';
import { dialectNames } from '../../src/protocol/dialect.js';
import { dialectTraits } from '../../src/protocol/dialect-traits.js';
import { dialects } from '../../src/protocol/dialects.js';

describe('dialect traits (what the router reads of each dialect, apart from its codecs)', () => {
  it.each(dialectNames)('%s: the dialect serves its entry, and counts tokens exactly when the table says so', (name) => {
    expect(dialects[name].upstream).toBe(dialectTraits[name]);
    expect(dialectTraits[name].countsTokens).toBe(dialects[name].tokenCounting !== undefined);
  });
});
