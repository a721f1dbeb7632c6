import { setFlagsFromString } from 'node:v8';

/**
 * How far V8 lets the old generation grow past what the last full collection kept, in percent.
 * By default it picks a factor of up to 4x from the collector's measured speed, so on a busy
 * machine (slower collections) a gateway holding 9,900 open streams (about 230 MB live) read
 * 521–543 MB of RSS; at 30% it read 430–450 MB. The price is more full collections while that
 * much is live (about three times as many), none under the throughput load's small heap
 * (docs/gateway.md, the "10,000 open streams under 512 MB" results).
 */
export const heapGrowingPercent = 30;

const flagName = '--heap-growing-percent';

/**
 * Sets the old generation's growth for a long-running server process: process-wide, so its shell
 * calls it, once. An operator's own `node --heap-growing-percent=N` is left as it is. The flag set,
 * or undefined when it was left.
 */
export function limitHeapGrowth(setFlags: (flags: string) => void = setFlagsFromString, nodeFlags: readonly string[] = process.execArgv): string | undefined {
  if (nodeFlags.some((flag) => flag === flagName || flag.startsWith(`${flagName}=`))) return undefined;
  const flag = `${flagName}=${String(heapGrowingPercent)}`;
  setFlags(flag);
  return flag;
}
