import type { Cancellation } from '../../../src/gateway/cancellation.js';
import { EventQueue } from '../../../src/gateway/event-queue.js';
import type { UpstreamClient, UpstreamResponse } from '../../../src/gateway/upstream-client.js';
import type { ChatEvent } from '../../../src/protocol/chat.js';

/** One call the gateway made to an in-process scripted endpoint. */
export interface ScriptedCall {
  readonly endpoint: string;
  readonly cancellation: Cancellation;
  /** When it was sent (Date.now()). */
  readonly at: number;
}

/** What an endpoint does with each call it is sent. */
export type ScriptedBehaviour = (call: ScriptedCall) => Promise<UpstreamResponse> | UpstreamResponse;

/**
 * An upstream client with no sockets: each call goes to its endpoint's behaviour and is recorded,
 * so a test can say exactly which endpoint was sent what and when, whatever the timing.
 */
export function scriptedClient(behaviours: Readonly<Record<string, ScriptedBehaviour>>): UpstreamClient & { readonly calls: ScriptedCall[] } {
  const calls: ScriptedCall[] = [];
  return {
    calls,
    send(target, _request, cancellation) {
      const call = { endpoint: target.id, cancellation, at: Date.now() };
      calls.push(call);
      const behaviour = behaviours[target.id];
      if (behaviour === undefined) return Promise.reject(new Error(`no behaviour scripted for endpoint ${target.id}`));
      return Promise.resolve(behaviour(call));
    },
    countTokens: () => Promise.reject(new Error('token counts are not scripted')),
    close: () => Promise.resolve(),
  };
}

/** A whole answer of `texts`, at once. */
export function scriptedAnswer(texts: readonly string[] = ['ok']): UpstreamResponse {
  const events = new EventQueue<ChatEvent>();
  events.push({ type: 'start', id: 'scripted', model: 'm', inputTokens: 5 });
  for (const text of texts) events.push({ type: 'text', text });
  events.push({ type: 'finish', finishReason: 'stop', usage: { inputTokens: 5, outputTokens: texts.length } });
  events.end();
  return { kind: 'events', events };
}

/** An HTTP error status from the upstream, with its Retry-After if given. */
export function scriptedStatus(status: number, retryAfter?: string): UpstreamResponse {
  return { kind: 'error', status, message: `status ${String(status)}`, fromUpstream: true, retryAfter };
}

/** An endpoint that never answers: the call ends only when the gateway cancels it. */
export function scriptedHang(call: ScriptedCall): Promise<UpstreamResponse> {
  return new Promise((resolve) => {
    call.cancellation.onCancel(() => resolve({ kind: 'error', status: 0, message: 'request cancelled', fromUpstream: false, retryAfter: undefined }));
  });
}
