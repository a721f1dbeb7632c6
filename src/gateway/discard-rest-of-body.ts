import type { IncomingMessage, ServerResponse } from 'node:http';
import { servesNoMore } from './close-after-answer.js';

/** How much of a refused request's body is read and dropped before the connection is cut. */
export interface DiscardLimits {
  readonly maxBytes: number;
  readonly maxMs: number;
}

/** How long a caller cut off has to read its answer before its connection is destroyed. */
const cutGraceMs = 1_000;

/** 64 MiB or 10 s: past either, a caller still sending is cut off (as nginx's lingering_time does). */
const defaultDiscardLimits: DiscardLimits = { maxBytes: 64 * 1024 * 1024, maxMs: 10_000 };

/**
 * Reads and drops what is left of the body of a request answered before it was read (too large,
 * no key): a connection closed on a caller still sending makes its TCP stack reset, and the
 * caller loses the answer already sent; both SDKs then retry a "connection error" instead of
 * reporting the 413 or 401. The connection stays usable once the body has ended.
 */
export function discardRestOfBody(req: IncomingMessage, res: ServerResponse, limits: DiscardLimits = defaultDiscardLimits): void {
  const socket = req.socket;
  // The caller left (mid-body, or after the answer): nothing to read.
  if (req.destroyed || socket.destroyed) return;
  let left = limits.maxBytes;
  const stop = (): void => {
    clearTimeout(timer);
    socket.off('close', stop);
  };
  const cut = (): void => {
    stop();
    // Read no more, and end the gateway's side after the answer: a caller that reads as it sends
    // gets the answer before the reset its unread bytes make once the connection is destroyed. Node
    // may read on (a body that ended in the chunk past the bound): whatever comes is not served.
    servesNoMore(req);
    socket.pause();
    const close = (): void => {
      socket.end();
      setTimeout(() => socket.destroy(), cutGraceMs).unref();
    };
    // Not before the answers on the connection are out: this one's, and those pipelined ahead of it.
    if (res.writableFinished) close();
    else res.once('finish', close);
  };
  // Unref'd: a process shutting down does not wait for a caller still sending.
  const timer = setTimeout(cut, limits.maxMs).unref();
  req.removeAllListeners('data');
  req.on('data', (chunk: Buffer) => {
    left -= chunk.length;
    if (left < 0) cut();
  });
  req.once('end', stop);
  // The request may get neither 'end' nor 'close' once its answer is sent: its connection's close is certain.
  socket.once('close', stop);
  req.resume();
}
