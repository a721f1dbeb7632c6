/**
 * Calls `callback` once `ms` have passed and the event loop has then read its sockets; returns what
 * cancels it. Timers run before the loop reads its sockets: after the gateway itself was held up
 * (a large body parsed, a long collection), a first token or a count that came meanwhile waits
 * unread, and a plain timer would find it missing. The verdict waits for the reads (setImmediate
 * runs after them), so that the gateway's own pause does not pass for an upstream's slowness.
 */
export function judgeAfterReads(callback: () => void, ms: number): () => void {
  let immediate: NodeJS.Immediate | undefined;
  const timer = setTimeout(() => {
    immediate = setImmediate(callback);
  }, ms);
  return () => {
    clearTimeout(timer);
    if (immediate !== undefined) clearImmediate(immediate);
  };
}
