import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Result } from '../domain/spec-problem.js';
import type { GatewayConfig } from './gateway-config.js';

/** A config file as read (or its problems), with the warnings of a valid one (gatewayConfigWarnings). */
export interface LoadedGatewayConfig {
  readonly loaded: Result<GatewayConfig>;
  readonly warnings: readonly string[];
}

export interface OffThreadOptions {
  /** The reading thread's heap; a file that needs more is refused, and the gateway keeps its own. */
  readonly maxHeapMb?: number;
}

/** Enough for configs a hundred times the 1.4 MB of 5,000 tenants (about 30 MB of heap). */
const defaultMaxHeapMb = 2_048;

/**
 * Reads and checks a gateway config on a thread of its own, as a reload (SIGHUP) does: a large
 * file takes about a second to parse (1.4 MB, 5,000 tenants), which on the serving thread would
 * hold every request in flight as long. The answer is plain data, copied back whole.
 */
export function loadGatewayConfigOffThread(file: string, options: OffThreadOptions = {}): Promise<LoadedGatewayConfig> {
  const maxHeapMb = options.maxHeapMb ?? defaultMaxHeapMb;
  const worker = startWorker(file, maxHeapMb);
  // Never what keeps the process alive: a gateway that stops does not wait for a reload to be read.
  worker.unref();
  return new Promise((resolve) => {
    const failed = (why: string): void => resolve({ loaded: { ok: false, problems: [{ code: 'file_unreadable', file, line: 0, column: 0, path: '', message: `the gateway config could not be read: ${why}` }] }, warnings: [] });
    worker.once('message', (answer: LoadedGatewayConfig) => resolve(answer));
    worker.once('error', (error: NodeJS.ErrnoException) =>
      failed(error.code === 'ERR_WORKER_OUT_OF_MEMORY' ? `reading it took more than ${String(maxHeapMb)} MB of memory` : `the thread reading it failed (${error.message})`),
    );
    // After a message this settles nothing; without one (the thread ended silently), it is a failure.
    worker.once('exit', (code) => failed(`the thread reading it ended (exit code ${String(code)})`));
  });
}

function startWorker(file: string, maxHeapMb: number): Worker {
  const resourceLimits = { maxOldGenerationSizeMb: maxHeapMb };
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL('./load-gateway-config-worker.js', import.meta.url), { workerData: file, resourceLimits });
  // From the TypeScript sources (the tests, through tsx): a worker does not inherit tsx's loader, so
  // the entry is imported through tsx's API, found from this file (a bare name in the worker would be
  // looked for from the working directory); its ES module, as its CommonJS one cannot register here.
  const entry = new URL('./load-gateway-config-worker.ts', import.meta.url).href;
  const tsxApi = pathToFileURL(createRequire(import.meta.url).resolve('tsx/esm/api').replace(/\.cjs$/, '.mjs')).href;
  return new Worker(`import(${JSON.stringify(tsxApi)}).then(({ tsImport }) => tsImport(${JSON.stringify(entry)}, ${JSON.stringify(import.meta.url)}))`, { eval: true, workerData: file, resourceLimits });
}
