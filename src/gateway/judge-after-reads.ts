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

/**
 * As judgeAfterReads, but `ms` of the gateway's own running time: the time the event loop was held
 * meanwhile (see heldMs) is not counted, and the wait goes on by that much. A request held up
 * before it was even written to its upstream (a new connection made while the loop was held) is
 * not the upstream's slowness either. For waits on an upstream (its first token, a count, a
 * hedge's delay), not for a caller's deadline, which is wall time.
 */
export function judgeAfterOwnTime(callback: () => void, ms: number): () => void {
  startWatchingHolds();
  const startedAt = performance.now();
  const heldBefore = held;
  let stop = judgeAfterReads(verdict, ms);
  function verdict(): void {
    const ran = performance.now() - startedAt - (held - heldBefore);
    if (ran >= ms) callback();
    else stop = judgeAfterReads(verdict, ms - ran);
  }
  return () => stop();
}

/** How late a tick of the watch may come before the lateness counts as a hold (timers are never exact). */
const tickMs = 10;
const slackMs = 10;
let held = 0;
let lastTick = 0;
let watching: NodeJS.Timeout | undefined;

/** The time the event loop was held, in ms, since the watch started: each tick's lateness past the slack. */
export function heldMs(): number {
  startWatchingHolds();
  return held;
}

function startWatchingHolds(): void {
  if (watching !== undefined) return;
  lastTick = performance.now();
  watching = setInterval(() => {
    const at = performance.now();
    const late = at - lastTick - tickMs;
    if (late > slackMs) held += late;
    lastTick = at;
  }, tickMs);
  // The watch never keeps a process alive.
  watching.unref();
}
