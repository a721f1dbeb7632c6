import type { ServerResponse } from 'node:http';
import type { ChatEvent, ChatRequest, ThinkingBlock, ToolCall, Usage } from '../protocol/chat.js';
import type { Dialect, StreamWriter } from '../protocol/dialect.js';
import { sendJson } from '../protocol/send-json.js';
import type { Cancellation } from './cancellation.js';
import type { ClientError } from './client-error.js';

/** One response's headers, gathered while serving and written once with the status. */
export type ResponseHeaders = Record<string, string>;

/** Where an answer goes: SSE frames to a streaming client, or one JSON body at the end. */
export interface AnswerSink {
  /** Whether anything was already sent (a failure can then no longer be a clean status code). */
  readonly committed: boolean;
  /** Whether a tool call's arguments must be a JSON object to be written (a whole answer in a dialect that writes them as one). */
  readonly needsObjectArguments: boolean;
  /** Whether the caller is shown an open model's reasoning (Dialect.showsReasoning): once it was, the answer cannot be continued. */
  readonly showsReasoning: boolean;
  /** Whether the caller is told the prompt's usage at the start (a stream in a dialect whose stream states it: Dialect.streamStartStatesUsage). */
  readonly startStatesUsage: boolean;
  /** Whether the client has not yet taken what was written: produce nothing more until drained(). */
  readonly congested: boolean;
  /** Resolves once the client has taken what was written, has gone, or `cancellation` fired. */
  drained(cancellation: Cancellation): Promise<void>;
  event(event: Exclude<ChatEvent, { type: 'finish' } | { type: 'error' }>): void;
  /** Ends the answer; `answer` is all of it, for a sink that writes it whole. */
  finish(event: Extract<ChatEvent, { type: 'finish' }>, answer: WholeAnswer): void;
  /**
   * The failure's status and headers go with a failure that is still a status code (a JSON answer); a
   * stream's error event has neither. `used`: the tokens generated for the answer, where they may be
   * charged (a deadline's).
   */
  fail(failure: ClientError, used?: number): void;
}

/** An answer's text and tool calls, whole. */
export interface WholeAnswer {
  readonly text: string;
  readonly toolCalls: readonly ToolCall[];
  /** The text is the model's refusal (see ChatResult.refusal). */
  readonly refusal: boolean;
  /** The model's thinking, before its text. */
  readonly thinking: readonly ThinkingBlock[];
  /** An open model's reasoning ('' for none). */
  readonly reasoning: string;
}

/** What both sinks answer with: the caller's dialect, its request, and the response id in that dialect's form. */
export interface SinkTarget {
  readonly inbound: Dialect;
  readonly request: ChatRequest;
  readonly res: ServerResponse;
  readonly headers: ResponseHeaders;
  /** The response id, whichever upstream answered. */
  readonly id: string;
  /** When the answer began, in Unix seconds (OpenAI's `created`), from the gateway's injected clock. */
  readonly createdSeconds: number;
}

/**
 * A stream the keep-alive sweep watches (see keepStreamsAlive): given its dialect's keep-alive frame
 * when nothing was written to it between two sweeps.
 */
export interface KeptAliveStream {
  /** Something was written since the last sweep. */
  wrote: boolean;
  readonly res: ServerResponse;
  readonly frame: string;
}

/**
 * One sweep of the streams kept alive: each silent since the last is sent its keep-alive frame
 * (unless the client has not taken what was written: bytes are then still on their way); ended
 * ones are let go.
 */
export function keepStreamsAlive(streams: Set<KeptAliveStream>): void {
  for (const stream of streams) {
    if (stream.res.writableEnded || stream.res.destroyed) streams.delete(stream);
    else if (!stream.wrote && !stream.res.writableNeedDrain) stream.res.write(stream.frame);
    stream.wrote = false;
  }
}

/**
 * SSE frames in the client's dialect, headers sent with the first event. Where the dialect has a
 * keep-alive frame, the committed stream joins `keptAlive` until it ends.
 */
export function createStreamSink(target: SinkTarget, keptAlive?: Set<KeptAliveStream>): AnswerSink {
  return new StreamSink(target, keptAlive);
}

/**
 * A class rather than an object literal of closures: it lives as long as its stream, and the
 * literal (its getters put it in dictionary mode, and each method was a closure) cost about 0.7 KB
 * of heap a stream more (heap snapshots at 2,000 open streams).
 */
class StreamSink implements AnswerSink {
  // Streamed, arguments go out as the model writes them, as each API streams them; a caller whose
  // API gives them as an object (Anthropic's input) is told at the end when they were not one: its
  // SDK read them as an empty input and the call as whole (E46).
  readonly needsObjectArguments: boolean;
  readonly showsReasoning: boolean;
  readonly startStatesUsage: boolean;
  readonly #target: SinkTarget;
  readonly #writer: StreamWriter;
  readonly #keptAlive: Set<KeptAliveStream> | undefined;
  #committed = false;
  #watched: KeptAliveStream | undefined;

  constructor(target: SinkTarget, keptAlive: Set<KeptAliveStream> | undefined) {
    this.#target = target;
    this.#writer = target.inbound.createStreamWriter({ includeUsage: target.request.includeUsage, created: target.createdSeconds });
    this.#keptAlive = keptAlive;
    this.showsReasoning = target.inbound.showsReasoning;
    this.needsObjectArguments = target.inbound.toolArgumentsAsObject;
    this.startStatesUsage = target.inbound.streamStartStatesUsage;
  }

  get committed(): boolean {
    return this.#committed;
  }

  get congested(): boolean {
    return this.#target.res.writableNeedDrain;
  }

  drained(cancellation: Cancellation): Promise<void> {
    const res = this.#target.res;
    return new Promise((resolve) => {
      if (!res.writableNeedDrain || cancellation.cancelled || res.destroyed) {
        resolve();
        return;
      }
      const done = (): void => {
        res.off('drain', done);
        res.off('close', done);
        stopWaiting();
        resolve();
      };
      res.on('drain', done);
      res.on('close', done);
      const stopWaiting = cancellation.onCancel(done);
    });
  }

  event(event: Exclude<ChatEvent, { type: 'finish' } | { type: 'error' }>): void {
    this.#write(this.#writer.write(event.type === 'start' ? { ...event, id: this.#target.id, model: this.#target.request.model } : event));
  }

  finish(event: Extract<ChatEvent, { type: 'finish' }>): void {
    this.#write(this.#writer.write(event));
    this.#end();
  }

  fail({ kind, message }: ClientError): void {
    // After the first byte a status code can no longer change: the error travels as an event.
    this.#write(this.#writer.write({ type: 'error', kind, message }));
    this.#end();
  }

  #write(frames: string): void {
    const { res } = this.#target;
    if (this.#committed) {
      if (this.#watched !== undefined && frames !== '') this.#watched.wrote = true;
      res.write(frames);
      return;
    }
    this.#committed = true;
    const { headers, inbound } = this.#target;
    headers['content-type'] = 'text/event-stream; charset=utf-8';
    headers['cache-control'] = 'no-cache';
    // nginx buffers a proxied answer by default (4-8 KB at a time, pings and all): a stream asks it not to.
    headers['x-accel-buffering'] = 'no';
    // No Connection header of our own: node:http then sends its Keep-Alive timeout hint, which
    // tells clients how long an idle connection may be reused.
    res.writeHead(200, headers);
    res.write(frames);
    flattenSentHead(res);
    if (this.#keptAlive !== undefined && inbound.keepAliveFrame !== undefined) {
      this.#watched = { wrote: true, res, frame: inbound.keepAliveFrame };
      this.#keptAlive.add(this.#watched);
    }
  }

  #end(): void {
    if (this.#watched !== undefined) this.#keptAlive?.delete(this.#watched);
    this.#target.res.end();
  }
}

/**
 * node:http keeps the head it wrote (`_header`, a legacy field) for the life of the response, as the
 * chain of concatenations that built it: about 50 cons strings, 1.0 to 1.4 KB of heap an open stream
 * (heap snapshots at 2,000 streams), where an equal flat copy takes about 300 bytes. Called after
 * the first write, which sends the head (headersSent is true from writeHead on, before it is sent):
 * node then reads it only to see that it was.
 */
function flattenSentHead(res: ServerResponse): void {
  const sent = res as ServerResponse & { _header?: unknown };
  // latin1 both ways is exact: node refuses header characters past U+00FF.
  if (res.headersSent && typeof sent._header === 'string') sent._header = Buffer.from(sent._header, 'latin1').toString('latin1');
}

/**
 * One JSON body at the end; a failure before that is a clean error status. `beforeFailure` runs
 * before a failure is written, `beforeAnswer` before the answer (the tenant's charge settled, so the
 * headers show the limits after it).
 */
export function createJsonSink({ inbound, request, res, headers, id, createdSeconds }: SinkTarget, beforeFailure: (used: number | undefined) => void = () => undefined, beforeAnswer: (usage: Usage) => void = () => undefined): AnswerSink {
  return {
    committed: false,
    needsObjectArguments: inbound.toolArgumentsAsObject,
    showsReasoning: inbound.showsReasoning,
    // One body at the end: no start is written, and nothing while the answer streams in.
    startStatesUsage: false,
    congested: false,
    drained: () => Promise.resolve(),
    event: () => undefined,
    finish: (event, { text, toolCalls, refusal, thinking, reasoning }) => {
      beforeAnswer(event.usage);
      sendJson(res, 200, inbound.formatResult({ id, model: request.model, text, finishReason: event.finishReason, ...(event.stopSequence === undefined ? {} : { stopSequence: event.stopSequence }), ...(toolCalls.length === 0 ? {} : { toolCalls }), ...(refusal ? { refusal } : {}), ...(thinking.length === 0 ? {} : { thinking }), ...(reasoning === '' ? {} : { reasoning }), usage: event.usage }, createdSeconds), headers);
    },
    fail: (failure, used) => {
      beforeFailure(used);
      sendJson(res, inbound.errorStatus(failure.kind, failure.status), inbound.formatError({ kind: failure.kind, message: failure.message, requestId: headers[inbound.requestIdHeader] }), Object.assign(headers, failure.responseHeaders));
    },
  };
}


