import type { IncomingMessage } from 'node:http';

/** How much of a refused request's body is read and dropped before the connection is cut. */
export interface DiscardLimits {
  readonly maxBytes: number;
  readonly maxMs: number;
}

/** 64 MiB or 10 s: past either, a caller still sending is cut off (as nginx's lingering_time does). */
export const defaultDiscardLimits: DiscardLimits = { maxBytes: 64 * 1024 * 1024, maxMs: 10_000 };

/**
 * Reads and drops what is left of the body of a request answered before it was read (too large,
 * no key): a connection closed on a caller still sending makes its TCP stack reset, and the
 * caller loses the answer already sent; both SDKs then retry a "connection error" instead of
 * reporting the 413 or 401. The connection stays usable once the body has ended.
 */
export function discardRestOfBody(req: IncomingMessage, limits: DiscardLimits = defaultDiscardLimits): void {
  let left = limits.maxBytes;
  const cut = (): void => {
    clearTimeout(timer);
    req.socket.destroy();
  };
  const timer = setTimeout(cut, limits.maxMs);
  req.removeAllListeners('data');
  req.on('data', (chunk: Buffer) => {
    left -= chunk.length;
    if (left < 0) cut();
  });
  req.once('end', () => clearTimeout(timer));
  req.once('close', () => clearTimeout(timer));
  req.resume();
}
