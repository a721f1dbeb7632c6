import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { ErrorKind } from '../protocol/chat.js';
import { openaiDialect } from '../protocol/openai/openai-dialect.js';
import { inboundDialect } from '../protocol/inbound-dialect.js';
import { targetOf } from './request-head.js';

/** A refusal written on a socket: its status, kind and words. */
export interface SocketRefusal {
  readonly status: number;
  readonly kind: ErrorKind;
  readonly message: string;
}

/** What the server gives a socket's refusal: the id it answers with, and its count and log line. */
export interface SocketRefusalShell {
  /** The id the refusal is answered with: the request's own x-request-id when it may be echoed. */
  requestIdOf(request: IncomingMessage | undefined): string;
  /** Counts and logs the refusal as any refused request is. */
  refused(request: IncomingMessage | undefined, socket: Socket, requestId: string, status: number, reason: string): void;
}

/** Requests a refusal on their socket answered: counted and logged there, once. */
const answeredRequests = new WeakSet<IncomingMessage>();

/** Sockets refuseSocket has dealt with: Node's parser may report the same broken bytes again. */
const refusedSockets = new WeakSet<Socket>();

/** Per connection, the answers of requests pipelined behind another's (queued by Node), in order, until each is sent. */
const queuedAnswers = new WeakMap<Socket, ServerResponse[]>();

/** Whether a refusal on its socket answered the request (its handler then neither answers nor counts it). */
export function answeredOnSocket(req: IncomingMessage): boolean {
  return answeredRequests.has(req);
}

/** Keeps the answer of a request pipelined behind another's until it is sent, for a refusal behind it to wait on. */
export function queueAnswer(socket: Socket, res: ServerResponse): void {
  const queue = queuedAnswers.get(socket);
  if (queue === undefined) queuedAnswers.set(socket, [res]);
  else queue.push(res);
  res.once('finish', () => {
    const queued = queuedAnswers.get(socket);
    if (queued === undefined) return;
    // Answers finish in order: the first, as a rule.
    const index = queued.indexOf(res);
    if (index >= 0) queued.splice(index, 1);
    if (queued.length === 0) queuedAnswers.delete(socket);
  });
}

/** Whether an answer is being sent, or waits to be, on a connection. */
export function hasPendingAnswer(socket: Socket): boolean {
  const current = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
  return current !== undefined && current !== null && !current.writableFinished;
}

/**
 * A refusal of what never reaches `handle`, written on the socket (Node would cut it, or answer a
 * bare status): a JSON error in the dialect of the request whose head was read (OpenAI's before
 * any head), counted and logged as any refused request, then the connection closed; nothing for a
 * request already answered on its head. Where an answer is pending on the
 * connection no status line is written (it would be taken for that answer, or land inside it): an
 * answer to a request read whole is finished first, then the connection let go; one to a request
 * still being read is cut once its head has gone out.
 */
export function refuseSocket(shell: SocketRefusalShell, socket: Socket, refusal: SocketRefusal, reason: string, extraHeaders = ''): void {
  // Node's parser may report a socket again (its time for a request behind a refusal running out): that ends it.
  if (refusedSockets.has(socket)) {
    socket.destroy();
    return;
  }
  refusedSockets.add(socket);
  const current = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage ?? undefined;
  // The request the parser was reading when it gave up (the answered one's own body, or one pipelined
  // behind it): this refusal is its answer, counted and logged here, not again by its handler.
  const reading = (socket as Socket & { parser?: { incoming?: IncomingMessage | null } | null }).parser?.incoming ?? undefined;
  if (reading !== undefined && !reading.complete) answeredRequests.add(reading);
  // Bad bytes after a request read whole (pipelined behind it): that request's answer is finished
  // first, then the connection closed. A status line written now would be taken for its answer, or
  // land inside it once begun.
  const behindWhole = current !== undefined && current.req.complete;
  // A request still being read whose answer is already out (a 401 on its head, before its body):
  // it was answered, counted and logged; its broken body gets no second status line (R34).
  if (reading !== undefined && !reading.complete && current === undefined) {
    socket.destroy();
    return;
  }
  if (!socket.writable || (!behindWhole && (current?.headersSent ?? false))) {
    socket.destroy();
    return;
  }
  // The request whose head was read, if any: its own id is echoed as any request's is (R32). Not
  // the one answered whole ahead of bad bytes: this refusal is not about it.
  // (Node's parser keeps the last request read whole as its incoming until that one's answer ends.)
  const request = reading !== undefined && !reading.complete ? reading : behindWhole ? undefined : current?.req;
  const requestId = shell.requestIdOf(request);
  shell.refused(request, socket, requestId, refusal.status, reason);
  if (behindWhole) {
    // The connection's last answer is that of the last request pipelined behind the current one and
    // read whole before the bad bytes: the current answer's end would cut the ones queued after it.
    // (One whose body the bad bytes broke is answered by nothing: this refusal counted it.)
    const last = queuedAnswers.get(socket)?.findLast((queued) => queued.req.complete && !queued.writableFinished) ?? current;
    last.shouldKeepAlive = false;
    // Paused, the socket would never read the client's close: let go once the answer is out (or gone).
    const letGo = (): void => socket.destroySoon();
    last.once('finish', letGo);
    last.once('close', letGo);
    socket.pause();
    return;
  }
  // The refusal is the answer to the request being read (its body timed out): not counted again.
  if (current !== undefined) answeredRequests.add(current.req);
  // In the dialect of the request whose head was read (E38: a slow body on /v1/messages was told
  // in OpenAI's shape); OpenAI's before any head.
  const inbound = request === undefined ? openaiDialect : inboundDialect(targetOf(request).path, request.headers);
  const body = JSON.stringify(inbound.formatError({ kind: refusal.kind, message: refusal.message, requestId }));
  const requestIdHeaders = inbound.requestIdHeader === 'x-request-id' ? '' : `${inbound.requestIdHeader}: ${requestId}\r\n`;
  // Closed once written, as Node does: a client that keeps its side open does not keep the socket.
  socket.end(`HTTP/1.1 ${refusal.status} ${STATUS_CODES[refusal.status] ?? ''}\r\n${extraHeaders}content-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nx-request-id: ${requestId}\r\n${requestIdHeaders}connection: close\r\n\r\n${body}`, () => socket.destroy());
}

/** What a request Node's HTTP parser refused is told, by the parser's error code. */
export function parserRefusal(code: string | undefined): { status: number; kind: 'too_large' | 'invalid_request' | 'timeout'; message: string } {
  if (code === 'HPE_HEADER_OVERFLOW') return { status: 431, kind: 'too_large', message: 'the request line and headers are over 16 KB (counting the request line and each header\'s name and value, as Node\'s parser does): send fewer or shorter headers' };
  // Node gives this one code for both of its limits: the head's and the whole request's.
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') return { status: 408, kind: 'timeout', message: "the request was not received in full in time (the server waits 60 s for a request's head and 300 s for the whole request): send it faster" };
  return { status: 400, kind: 'invalid_request', message: 'malformed HTTP request: check the request line, headers and body framing (Content-Length or chunked)' };
}
