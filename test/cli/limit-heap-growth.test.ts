import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { heapGrowingPercent, limitHeapGrowth } from '../../src/cli/limit-heap-growth.js';

describe('limitHeapGrowth', () => {
  it("sets V8's old-generation growth to the fixed percent", () => {
    const set: string[] = [];
    expect(limitHeapGrowth((flags) => set.push(flags), ['--enable-source-maps'])).toBe(`--heap-growing-percent=${String(heapGrowingPercent)}`);
    expect(set).toEqual([`--heap-growing-percent=${String(heapGrowingPercent)}`]);
  });

  it("leaves an operator's own setting as it is", () => {
    for (const given of [['--heap-growing-percent=80'], ['--heap-growing-percent', '80']]) {
      const set: string[] = [];
      expect(limitHeapGrowth((flags) => set.push(flags), given)).toBeUndefined();
      expect(set).toEqual([]);
    }
  });

  it("names a flag this Node's V8 knows (an unknown one would be ignored without a word)", () => {
    const options = execFileSync(process.execPath, ['--v8-options'], { encoding: 'utf8' });
    expect(options).toMatch(/^\s*--heap-growing-percent\b/m);
  });
});
