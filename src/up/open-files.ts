import { readdirSync, readFileSync } from 'node:fs';

/** The process's open files and its limit (`ulimit -n`, the soft one). */
export interface OpenFiles {
  readonly used: number;
  readonly limit: number;
}

/** Fewer concurrent requests than this left by the open-file limit is worth a warning at start. */
const fewRequests = 256;

/**
 * What the process holds and may hold, where the system says (Linux's /proc); undefined elsewhere,
 * or for no limit. Read once, after up has started everything.
 */
export function readOpenFiles(): OpenFiles | undefined {
  try {
    const limit = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'))?.[1];
    if (limit === undefined) return undefined;
    return { used: readdirSync('/proc/self/fd').length, limit: Number(limit) };
  } catch {
    return undefined;
  }
}

/**
 * A warning when the open files left hold few requests: each request in flight takes two (the
 * caller's connection and the upstream's), so a fleet that starts within the limit can still fail
 * under load, with connections refused and upstream attempts failing (E44: 444 emulators under a
 * limit of 490 started, then 31 of 40 streams were reset).
 */
export function openFilesWarning(files: OpenFiles | undefined, replicasPerPool: number): string | undefined {
  if (files === undefined) return undefined;
  const requests = Math.max(0, Math.floor((files.limit - files.used) / 2));
  if (requests >= fewRequests) return undefined;
  return `the process holds ${String(files.used)} of its ${String(files.limit)} open files (ulimit -n), which leaves room for about ${String(requests)} requests in flight (two files each); raise the limit (ulimit -n) or start fewer emulated replicas with --replicas-per-pool (now ${String(replicasPerPool)})`;
}
