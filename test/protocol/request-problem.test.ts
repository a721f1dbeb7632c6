import { describe, expect, it } from 'vitest';
import { quoteIdentifier } from '../../src/protocol/request-problem.js';

describe('quoteIdentifier', () => {
  it('quotes a short name whole and cuts a long one at 64 characters', () => {
    expect(quoteIdentifier('llama')).toBe("'llama'");
    expect(quoteIdentifier('a'.repeat(100))).toBe(`'${'a'.repeat(64)}...'`);
  });

  it('never cuts between the halves of a surrogate pair, which strict JSON parsers refuse alone', () => {
    const quoted = quoteIdentifier(`${'a'.repeat(63)}😀${'b'.repeat(10)}`);
    expect(quoted).toBe(`'${'a'.repeat(63)}...'`);
    expect(quoted).not.toMatch(/[\ud800-\udbff]/);
  });
});
