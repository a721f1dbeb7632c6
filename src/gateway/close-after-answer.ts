import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';

/** Connections whose answer being sent is their last (closeAfterAnswer). */
const closing = new WeakSet<Socket>();

/**
 * Marks a refusal about to be sent as its connection's last: the request asked for that (Connection:
 * close, HTTP/1.0), the refusal says so, or Node sends it without the 100 Continue its client waited
 * for. A request pipelined behind it is then not served (RFC 9112, 9.6: sent before its client read
 * the close, it is not run, only cut). And Node destroys such a connection as soon as the answer is
 * written: a body still on its way (`bodyComing`, read and dropped by discardRestOfBody) would meet a
 * reset, and its client lose the answer. The connection is closed as RFC 9112 (9.6) asks instead:
 * the gateway's side once the answer is out, the socket once the body has ended (or at the discard's
 * bounds).
 */
export function closeAfterAnswer(req: IncomingMessage, bodyComing: boolean): void {
  const socket = req.socket;
  servesNoMore(req);
  if (!bodyComing) return;
  socket.destroySoon = () => {
    socket.end();
    const destroy = (): void => {
      if (socket.writableFinished) socket.destroy();
      else socket.once('finish', () => socket.destroy());
    };
    if (req.complete || req.destroyed) destroy();
    else req.once('end', destroy);
  };
}

/** Marks a request's connection as closing: no request that comes on it from now is served. */
export function servesNoMore(req: IncomingMessage): void {
  closing.add(req.socket);
}

/** Whether a request came on a connection closing after an answer before it (closeAfterAnswer, servesNoMore): it is not served. */
export function closesBeforeServing(req: IncomingMessage): boolean {
  return closing.has(req.socket);
}
