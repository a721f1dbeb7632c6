import { describe, expect, it } from 'vitest';
import { count } from '../../src/cli/output.js';

describe('count', () => {
  it('says one thing in the singular and any other number in the plural, grouped', () => {
    expect(count(1, 'route')).toBe('1 route');
    expect(count(0, 'violation')).toBe('0 violations');
    expect(count(12_000, 'endpoint')).toBe('12,000 endpoints');
  });
});
