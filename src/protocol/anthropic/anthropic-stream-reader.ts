import { tokenCount, upstreamErrorDetail, type ChatEvent, type FinishReason, type PromptCache } from '../chat.js';
import type { StreamReader } from '../dialect.js';
import { isRecord } from '../is-record.js';
import { textOr } from '../text-or.js';
import { madeUpCallId, takenBackId } from '../tool-call-id.js';
import { finishFromAnthropic, anthropicFinishWithCalls } from './anthropic-finish-reason.js';
import { readAnthropicThinkingTokens, readAnthropicUsage } from './anthropic-usage.js';

/** The events of a message's answer, which come after its message_start. */
const messageParts: ReadonlySet<string> = new Set(['content_block_start', 'content_block_delta', 'content_block_stop', 'message_delta']);
/** The events that carry an answer's content (a block's stop carries none: it may close a call late). */
const contentParts: ReadonlySet<string> = new Set(['content_block_start', 'content_block_delta']);

function malformed(message: string): { events: ChatEvent[]; done: boolean } {
  return { events: [{ type: 'error', kind: 'api_error', message }], done: true };
}

/** An Anthropic-dialect upstream's stream (message, content-block and error events) read into canonical events. */
export function createAnthropicStreamReader(): StreamReader {
  /** The whole prompt (cached parts included), 0 when the upstream did not say. */
  let inputTokens = 0;
  let cache: PromptCache | undefined;
  let finish: FinishReason = 'stop';
  let stopSequence: string | undefined;
  let outputTokens = 0;
  let reasoningTokens: number | undefined;
  let announced = false;
  let finished = false;
  /** Each tool_use block's canonical call index (0, 1, 2... in the order they start), by the block's index. */
  const callOfBlock = new Map<number, number>();
  /** The blocks whose start carried their input whole (by the block's index): deltas for them are ignored. */
  const wholeInput = new Set<number>();
  /** tool_use blocks begun and not yet stopped: a message that ends with one open ended inside a call. */
  const openCalls = new Set<number>();
  /** Every block begun and not yet stopped, by index: a delta for another is for no block (E45). */
  const openBlocks = new Set<number>();
  /** Every block stopped, by index: a delta for one is for no block, not one begun without a start. */
  const stoppedBlocks = new Set<number>();
  let started = false;
  /** The message's id (message_start's), for ids of calls the upstream gave none. */
  let answerId = '';
  /** Some text, thinking or a call has come: a stop reason then ends an answer (a stop on nothing is no whole answer to end on, R37). */
  let answered = false;
  /** The finish was named and every call closed: what follows (message_stop, or an error or a break instead) cannot change the answer. */
  const whole = (): boolean => announced && !finished && openCalls.size === 0 && answered;
  const finishEvent = (): Extract<ChatEvent, { type: 'finish' }> => ({ type: 'finish', finishReason: anthropicFinishWithCalls(finish, callOfBlock.size > 0), ...(stopSequence === undefined ? {} : { stopSequence }), usage: { inputTokens, outputTokens, ...(reasoningTokens === undefined ? {} : { reasoningTokens }), ...(cache === undefined ? {} : { cache }) } });
  /** Whether the answer was whole before the event being read (which may reopen it). */
  let wholeBefore = false;
  /**
   * A part that cannot be read: after the stop reason, with every call closed, the end of an answer
   * already whole (E46: a bad frame before message_stop broke it, and a resume added another model's
   * text); else a break.
   */
  const broken = (message: string): { events: ChatEvent[]; done: boolean } => {
    if (!wholeBefore) return malformed(message);
    finished = true;
    return { events: [finishEvent()], done: true };
  };
  /** Reads one event; a message's part that came before its message_start sets madeStart (see read). */
  let madeStart = false;
  const readEvent = (event: string | undefined, data: string): { events: ChatEvent[]; done: boolean } => {
    let json: {
      type?: unknown;
      index?: unknown;
      message?: { id?: unknown; model?: unknown; usage?: unknown };
      content_block?: { type?: unknown; id?: unknown; name?: unknown; input?: unknown; thinking?: unknown; data?: unknown; text?: unknown };
      delta?: { type?: unknown; text?: unknown; partial_json?: unknown; thinking?: unknown; signature?: unknown; stop_reason?: unknown; stop_sequence?: unknown };
      usage?: { output_tokens?: unknown };
      error?: { type?: unknown; message?: unknown };
    };
    try {
      json = JSON.parse(data) as typeof json;
    } catch {
      json = null as unknown as typeof json;
    }
    wholeBefore = whole();
    // JSON that is not an object (`data: null`, a number) is as malformed as text that is not JSON.
    if (typeof json !== 'object' || json === null || Array.isArray(json)) return broken('upstream sent a malformed stream event');
    const type = json.type ?? event;
    // A type that is no string names no event this reader knows: passed over, as unknown events are.
    const name = typeof type === 'string' ? type : '';
    // A message's part before its message_start: a server that sent none (Anthropic always sends
    // one). A start is made up for it, or a caller's stream would begin without message_start,
    // which Anthropic's SDKs refuse (E45: served as a 200 that no SDK read).
    if (!started && messageParts.has(name)) {
      started = true;
      madeStart = true;
    }
    // More of the answer after a stop reason: that was not the end (as OpenAI's finish_reason sent
    // early, R36). A stream that ends without another is broken.
    if (announced && contentParts.has(name)) announced = false;
    if (type === 'content_block_delta' && typeof json.index === 'number' && !openBlocks.has(json.index)) {
      // A text or thinking delta for a block never begun: a server that sends no content_block_start
      // (LiteLLM's adapter over Bedrock at times, R36) begins it so. One for a block stopped, or a
      // call's input for a call never begun (with no id or name), belongs to no block (E45).
      const opens = !stoppedBlocks.has(json.index) && (json.delta?.type === 'text_delta' || json.delta?.type === 'thinking_delta');
      if (!opens) return broken(`upstream sent a content_block_delta for content block ${String(json.index)}, which is not open`);
      openBlocks.add(json.index);
    }
    // (A stray content_block_stop carries nothing, and is passed over.)
    switch (type) {
      case 'message_start': {
        // One message per stream: a second start (or one after a start made up) would begin another.
        if (started) return { events: [], done: false };
        started = true;
        // An id or model of another type is none (R50: an id of 7 made the made-up call ids throw).
        answerId = textOr(json.message?.id);
        const usage = readAnthropicUsage(json.message?.usage);
        inputTokens = usage?.inputTokens ?? 0;
        cache = usage?.cache;
        return { events: [{ type: 'start', id: answerId, model: textOr(json.message?.model), inputTokens, ...(cache === undefined ? {} : { cache }) }], done: false };
      }
      case 'content_block_start': {
        const block = json.content_block;
        if (typeof json.index === 'number') openBlocks.add(json.index);
        // Even empty, a thinking block's start is a sign of life: its text may never stream (display omitted).
        if (block?.type === 'thinking') return { events: [{ type: 'thinking', text: typeof block.thinking === 'string' ? block.thinking : '' }], done: false };
        if (block?.type === 'redacted_thinking') return typeof block.data === 'string' ? { events: [{ type: 'redacted_thinking', data: block.data }], done: false } : broken('upstream sent a malformed redacted_thinking block');
        // Anthropic starts a text block empty; a server that puts text in the start has it passed on.
        if (block?.type === 'text') return typeof block.text === 'string' && block.text !== '' ? { events: [{ type: 'text', text: block.text }], done: false } : { events: [], done: false };
        if (block?.type !== 'tool_use') return { events: [], done: false };
        // A call that cannot be answered (no id) or run (no name) is no call.
        // Nor is one whose input is no object (R38: a string was served as a call with {} as its arguments).
        if (typeof json.index !== 'number' || typeof block.id !== 'string' || typeof block.name !== 'string' || (block.input !== undefined && !isRecord(block.input))) return broken('upstream sent a malformed tool_use block');
        const index = callOfBlock.size;
        callOfBlock.set(json.index, index);
        openCalls.add(json.index);
        // An id the gateway would not take back (Kimi's 'functions.get_weather:0' from vLLM's Anthropic API, E50) is made one it takes.
        const events: ChatEvent[] = [{ type: 'tool_call', index, id: takenBackId(block.id) ?? madeUpCallId(answerId, index), name: block.name }];
        // Anthropic starts a block with an empty input and streams it; a server that sends the
        // input whole at the start gets it passed on as the call's arguments, at once. Deltas
        // for that block are then ignored: the input is a whole object already, so deltas could
        // only repeat it (arguments '{"a":1}{"a":1}'). Simpler than holding the input back until
        // content_block_stop, and a stream cut before the stop still has the call's arguments.
        if (isRecord(block.input) && Object.keys(block.input).length > 0) {
          wholeInput.add(json.index);
          events.push({ type: 'tool_arguments', index, text: JSON.stringify(block.input) });
        }
        return { events, done: false };
      }
      case 'content_block_delta': {
        const delta = json.delta;
        // A delta of a type added since (Anthropic adds some, citations_delta) is passed over; one of no type is no delta.
        if (typeof delta?.type !== 'string') return broken('upstream sent a content delta with no type');
        // Text in another form (a number, an object) is no text: dropped, the answer would end looking whole without it (E45).
        if (delta.type === 'text_delta') return typeof delta.text === 'string' ? { events: delta.text === '' ? [] : [{ type: 'text', text: delta.text }], done: false } : broken('upstream sent a text delta that is not text');
        if (delta.type === 'thinking_delta') return typeof delta.thinking === 'string' ? { events: delta.thinking === '' ? [] : [{ type: 'thinking', text: delta.thinking }], done: false } : broken('upstream sent a thinking delta that is not text');
        if (delta.type === 'signature_delta') return typeof delta.signature === 'string' ? { events: [{ type: 'thinking_signature', signature: delta.signature }], done: false } : broken('upstream sent a malformed signature');
        if (delta.type !== 'input_json_delta') return { events: [], done: false };
        if (typeof delta.partial_json !== 'string') return broken("upstream sent a tool call's input that is not text");
        if (delta.partial_json === '') return { events: [], done: false };
        const index = typeof json.index === 'number' && !wholeInput.has(json.index) ? callOfBlock.get(json.index) : undefined;
        if (index === undefined) return { events: [], done: false };
        // Anthropic streams one block at a time. Input for a call after the next one began
        // cannot be carried (a caller's block for it is closed, and would look complete).
        if (index !== callOfBlock.size - 1) return malformed('upstream interleaved the input of two tool calls');
        return { events: [{ type: 'tool_arguments', index, text: delta.partial_json }], done: false };
      }
      case 'message_delta': {
        announced ||= typeof json.delta?.stop_reason === 'string';
        if (typeof json.delta?.stop_reason === 'string') finish = finishFromAnthropic(json.delta.stop_reason);
        if (json.delta?.stop_reason === 'stop_sequence' && typeof json.delta.stop_sequence === 'string') stopSequence = json.delta.stop_sequence;
        outputTokens = tokenCount(json.usage?.output_tokens) ?? outputTokens;
        reasoningTokens = readAnthropicThinkingTokens(json.usage, outputTokens) ?? reasoningTokens;
        const usage = readAnthropicUsage(json.usage, cache);
        if (usage !== undefined) {
          inputTokens = usage.inputTokens;
          cache = usage.cache;
        }
        return { events: [], done: false };
      }
      case 'content_block_stop': {
        if (typeof json.index === 'number') {
          openCalls.delete(json.index);
          openBlocks.delete(json.index);
          stoppedBlocks.add(json.index);
        }
        const index = typeof json.index === 'number' ? callOfBlock.get(json.index) : undefined;
        return { events: index === undefined ? [] : [{ type: 'tool_call_end', index }], done: false };
      }
      case 'message_stop':
        if (openCalls.size > 0) return malformed('upstream ended the message inside a tool call');
        // Anthropic names the stop reason (message_delta) before every message_stop: a stop without
        // one ends no answer, as OpenAI's [DONE] without a finish_reason (the stream ended early).
        if (!announced) return { events: [], done: true };
        finished = true;
        // stop_reason tool_use without a tool_use block reads as 'stop' (see anthropicFinishWithCalls).
        return { events: [finishEvent()], done: true };
      case 'error':
        // After message_delta named the stop reason, the answer is whole but for message_stop: an
        // error then breaks nothing (a refusal or a cut continued elsewhere would read as a normal end).
        if (whole()) {
          finished = true;
          return { events: [finishEvent()], done: true };
        }
        return { events: [{ type: 'error', kind: json.error?.type === 'overloaded_error' ? 'overloaded' : 'api_error', message: upstreamErrorDetail(json).message, fromUpstream: true }], done: true };
      default:
        return { events: [], done: false };
    }
  };
  return {
    read(event, data) {
      const read = readEvent(event, data);
      answered ||= read.events.some((one) => one.type !== 'start' && one.type !== 'finish' && one.type !== 'error');
      if (!madeStart) return read;
      madeStart = false;
      return { events: [{ type: 'start', id: '', model: '', inputTokens: 0 }, ...read.events], done: read.done };
    },
    announcedFinish() {
      return whole() ? finishEvent() : undefined;
    },
  };
}
