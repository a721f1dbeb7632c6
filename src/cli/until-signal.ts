/** Resolves on the first SIGINT or SIGTERM, so servers close cleanly (Ctrl-C, a supervisor's stop). */
export function untilSignal(): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      process.off('SIGINT', done);
      process.off('SIGTERM', done);
      resolve();
    };
    process.once('SIGINT', done);
    process.once('SIGTERM', done);
  });
}

/**
 * Calls `callback` on the next SIGINT or SIGTERM (a second Ctrl-C while a server drains), once;
 * a signal after that finds no listener and ends the process at once, as Node does by default.
 * Returns a function that stops listening.
 */
export function onNextSignal(callback: () => void): () => void {
  const stop = (): void => {
    process.off('SIGINT', once);
    process.off('SIGTERM', once);
  };
  const once = (): void => {
    stop();
    callback();
  };
  process.once('SIGINT', once);
  process.once('SIGTERM', once);
  return stop;
}

/** Calls `callback` on every SIGHUP (reload the config), until the returned function is called. */
export function onHangup(callback: () => void): () => void {
  process.on('SIGHUP', callback);
  return () => process.off('SIGHUP', callback);
}
