/** The signals that stop a server: Ctrl-C and a supervisor's stop. */
const stopSignals: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM'];

/**
 * Those and a closed terminal (SIGHUP), for servers with no config to reload (`emulate`, `up`):
 * stopped cleanly rather than killed, by Node's default, mid-answer and without a word.
 */
export const stopSignalsWithHangup: readonly NodeJS.Signals[] = [...stopSignals, 'SIGHUP'];

/** Resolves on the first of `signals` (SIGINT or SIGTERM unless said), so servers close cleanly. */
export function untilSignal(signals: readonly NodeJS.Signals[] = stopSignals): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      for (const signal of signals) process.off(signal, done);
      resolve();
    };
    for (const signal of signals) process.once(signal, done);
  });
}

/**
 * Calls `callback` on the next of `signals` (a second Ctrl-C while a server drains), once; a
 * signal after that finds no listener and ends the process at once, as Node does by default.
 * Returns a function that stops listening.
 */
export function onNextSignal(callback: () => void, signals: readonly NodeJS.Signals[] = stopSignals): () => void {
  const stop = (): void => {
    for (const signal of signals) process.off(signal, once);
  };
  const once = (): void => {
    stop();
    callback();
  };
  for (const signal of signals) process.once(signal, once);
  return stop;
}

/** Calls `callback` on every SIGHUP (reload the config), until the returned function is called. */
export function onHangup(callback: () => void): () => void {
  process.on('SIGHUP', callback);
  return () => process.off('SIGHUP', callback);
}
