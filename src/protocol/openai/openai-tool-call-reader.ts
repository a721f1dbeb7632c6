import type { ChatEvent } from '../chat.js';
import { isRecord } from '../is-record.js';
import { madeUpCallId, takenBackId } from '../tool-call-id.js';
import { argumentsText } from './openai-tool-calls.js';

/** A tool call of an upstream stream, as far as its chunks have told it. */
interface StreamedCall {
  /** Canonical: 0, 1, 2 in the order calls began. */
  readonly index: number;
  /** The upstream's id (taken back, see takenBackId), once it sent one. */
  upstreamId: string | undefined;
  name: string | undefined;
  announced: boolean;
  /** Arguments that arrived before the call could be announced. */
  heldArguments: string;
}

/** The tool calls of an OpenAI-dialect stream, read into canonical events; a method's text is why the stream is malformed. */
export interface ToolCallReader {
  read(entries: readonly unknown[], events: ChatEvent[], answerId: string): string | undefined;
  /** Announces every call not yet announced: at the finish, nothing more of them will come. */
  finish(events: ChatEvent[], answerId: string): string | undefined;
  called(): boolean;
}

/**
 * Calls are numbered 0, 1, 2 in the order their wire index first appears (a missing index is 0,
 * as servers that send one call omit it). Another id with a name at a known index begins another
 * call (servers that send each call whole at index 0). A call is announced (tool_call) once its
 * name and id are both known, or at its first arguments (with the name alone), or when the next
 * call or the finish begins: a server may send the id before the name, and announcing earlier
 * would make an id up for a call whose own id was a chunk away. Arguments that came before are
 * held and follow the announcement. An id the upstream never sent is made up (madeUpCallId); a
 * call whose name never came is a malformed stream, since no caller could run it.
 */
export function createToolCallReader(): ToolCallReader {
  const calls: StreamedCall[] = [];
  const atWireIndex = new Map<number, StreamedCall>();
  const announce = (call: StreamedCall, events: ChatEvent[], answerId: string): string | undefined => {
    if (call.name === undefined) return 'upstream sent a tool call without a name';
    call.announced = true;
    events.push({ type: 'tool_call', index: call.index, id: call.upstreamId ?? madeUpCallId(answerId, call.index), name: call.name });
    if (call.heldArguments !== '') events.push({ type: 'tool_arguments', index: call.index, text: call.heldArguments });
    call.heldArguments = '';
    return undefined;
  };
  const announceAll = (events: ChatEvent[], answerId: string): string | undefined => {
    for (const call of calls) {
      const problem = call.announced ? undefined : announce(call, events, answerId);
      if (problem !== undefined) return problem;
    }
    return undefined;
  };
  return {
    read(entries, events, answerId) {
      for (const entry of entries) {
        if (!isRecord(entry)) return 'upstream sent a malformed tool call';
        const wireIndex = typeof entry.index === 'number' && Number.isSafeInteger(entry.index) ? entry.index : 0;
        const id = takenBackId(entry.id);
        const fields = isRecord(entry.function) ? entry.function : {};
        const name = typeof fields.name === 'string' && fields.name !== '' ? fields.name : undefined;
        const text = argumentsText(fields.arguments);
        let call = atWireIndex.get(wireIndex);
        if (call === undefined || (id !== undefined && name !== undefined && call.upstreamId !== undefined && call.upstreamId !== id)) {
          // The calls before are complete: announced now, so canonical calls begin in order.
          const problem = announceAll(events, answerId);
          if (problem !== undefined) return problem;
          call = { index: calls.length, upstreamId: undefined, name: undefined, announced: false, heldArguments: '' };
          calls.push(call);
          atWireIndex.set(wireIndex, call);
        }
        if (call.announced) {
          // OpenAI streams one call at a time. Arguments for a call after the next one began cannot
          // be carried (an Anthropic caller's block for it is closed, and would look complete).
          if (text !== '' && call.index !== calls.length - 1) return 'upstream interleaved the arguments of two tool calls';
          if (text !== '') events.push({ type: 'tool_arguments', index: call.index, text });
          continue;
        }
        call.upstreamId ??= id;
        call.name ??= name;
        call.heldArguments += text;
        if (call.name !== undefined && (call.upstreamId !== undefined || call.heldArguments !== '')) announce(call, events, answerId);
      }
      return undefined;
    },
    finish: announceAll,
    called: () => calls.length > 0,
  };
}
