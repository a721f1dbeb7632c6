import { describe, expect, it } from 'vitest';
import { openFilesWarning, readOpenFiles } from '../../src/up/open-files.js';

describe('open files at start', () => {
  it('warns when the limit leaves room for fewer than 256 requests in flight (two files each), saying what to change', () => {
    expect(openFilesWarning({ used: 465, limit: 490 }, 64)).toBe('the process holds 465 of its 490 open files (ulimit -n), which leaves room for about 12 requests in flight (two files each); raise the limit (ulimit -n) or start fewer emulated replicas with --replicas-per-pool (now 64)');
    expect(openFilesWarning({ used: 512, limit: 1024 }, 2)).toBeUndefined();
    expect(openFilesWarning({ used: 513, limit: 1024 }, 2)).toContain('about 255 requests');
    // Past the limit already (a limit lowered under a running process): no room, not a negative count.
    expect(openFilesWarning({ used: 1100, limit: 1024 }, 2)).toContain('about 0 requests');
    expect(openFilesWarning(undefined, 2)).toBeUndefined();
  });

  it("reads the process's own figures where the system gives them", () => {
    const files = readOpenFiles();
    if (process.platform !== 'linux') {
      expect(files).toBeUndefined();
      return;
    }
    expect(files?.used).toBeGreaterThan(2);
    expect(files?.limit).toBeGreaterThanOrEqual(files?.used ?? Number.POSITIVE_INFINITY);
  });
});
