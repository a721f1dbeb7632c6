import { defaultMaxOutputTokens, estimateTokens, type ChatEvent, type ChatRequest } from '../protocol/chat.js';
import type { AnswerSink } from './answer-sink.js';
import { StopSequenceGuard } from './stop-sequence-guard.js';
import { TextAccumulator } from './text-accumulator.js';
import { ThinkingAccumulator } from './thinking-accumulator.js';
import { ToolCallAccumulator } from './tool-call-accumulator.js';

/**
 * Characters per token of budget past which an upstream's answer is cut: a token is a few
 * characters, rarely dozens; an answer this long per token of its budget ignored the budget.
 */
const maxCharsPerToken = 256;

type TextEvent = Extract<ChatEvent, { type: 'text' }>;
type ToolEvent = Extract<ChatEvent, { type: 'tool_call' } | { type: 'tool_arguments' } | { type: 'tool_call_end' }>;
type ThinkingEvent = Extract<ChatEvent, { type: 'thinking' } | { type: 'thinking_signature' } | { type: 'redacted_thinking' }>;
type ReasoningEvent = Extract<ChatEvent, { type: 'reasoning' }>;

/**
 * What of one answer reached the client, across the attempts that resumed it: its text, tool calls,
 * thinking and reasoning, passed to the sink as they come. Together they are bounded by a text
 * limit (an upstream that ignores max_tokens, or a hostile one, would otherwise fill the gateway's
 * memory); with stop sequences, text is held until it cannot be the start of one (one may span the
 * join of a resumed answer, where no upstream sees it). Text still held at the answer's end is
 * delivered whole (endHeld), past the limit by less than the longest stop sequence: it was
 * generated within the budget, and the limit is against answers without end. An answer started
 * over gets a new one.
 */
export class DeliveredAnswer {
  readonly sent = new TextAccumulator();
  /** The answer's tool calls so far: once one has begun, a break cannot be resumed by continuation. */
  readonly calls = new ToolCallAccumulator();
  /** The answer's thinking so far: once some has come, a break cannot be resumed by continuation either. */
  readonly thought = new ThinkingAccumulator();
  /** An open model's reasoning so far (see the 'reasoning' event): once some was shown to the caller, no continuation either. */
  readonly reasoning = new TextAccumulator();
  #tokens = 0;
  #argumentPieces = 0;
  #overran = false;
  #refused = false;
  #guardStop: string | undefined;
  /**
   * Whitespace left out of the prefill sent upstream (Anthropic refuses a prefill that ends in
   * whitespace): the caller's own prefill's at first, then what the answer ended with when it was
   * resumed. The answer writes it again, and that much of its start is dropped so the join is
   * neither doubled nor lost.
   */
  #joinWhitespace: string;
  readonly #guard: StopSequenceGuard | undefined;
  readonly #textLimit: number;

  constructor(
    private readonly sink: Pick<AnswerSink, 'event'>,
    request: Pick<ChatRequest, 'stop' | 'maxTokens'>,
    joinWhitespace: string,
  ) {
    this.#joinWhitespace = joinWhitespace;
    this.#guard = request.stop.length > 0 ? new StopSequenceGuard(request.stop) : undefined;
    this.#textLimit = (request.maxTokens ?? defaultMaxOutputTokens) * maxCharsPerToken;
  }

  /** The pieces delivered: text chunks, argument pieces, thinking and reasoning chunks (each at least a token). */
  get tokens(): number {
    return this.#tokens;
  }

  /** The answer reached the text limit with more to come: it ends there, cut at its budget. */
  get overran(): boolean {
    return this.#overran;
  }

  /** Text delivered was the model's refusal (OpenAI's `refusal`), which OpenAI callers read apart. */
  get refused(): boolean {
    return this.#refused;
  }

  /** The stop sequence the held text completed, when it did: the answer ends there. */
  get guardStop(): string | undefined {
    return this.#guardStop;
  }

  /** Text held back as a possible stop sequence's start: generated, not yet delivered. */
  get held(): string {
    return this.#guard?.held ?? '';
  }

  /** Characters of text, arguments, thinking and reasoning delivered. */
  get chars(): number {
    return this.sent.length + this.calls.argumentChars + this.thought.chars + this.reasoning.length;
  }

  /** Everything delivered as one text, for an estimate of its tokens. */
  written(): string {
    return this.sent.toString() + this.calls.allArguments() + this.thought.toText() + this.reasoning.toString();
  }

  /**
   * The tokens delivered, as far as the gateway can tell: a text chunk or argument piece is at
   * least one, and arguments at least what the estimate makes of them (upstreams that hold a call
   * back send it in a few large pieces). For answers whose upstream gave no count.
   */
  deliveredTokens(): number {
    return this.#tokens + Math.max(0, estimateTokens(this.calls.allArguments()) - this.#argumentPieces);
  }

  /** A resume continues from here: `whitespace` is what the answer ended with, which the continuation writes again. */
  resumeAfter(whitespace: string): void {
    this.#joinWhitespace = whitespace;
  }

  /** A text chunk: its start dropped as far as it writes the join's whitespace again, then held for stop sequences, then delivered. */
  text(event: TextEvent): void {
    this.#tokens += 1;
    let text = event.text;
    if (this.#joinWhitespace !== '') {
      const overlap = sharedPrefixLength(this.#joinWhitespace, text);
      this.#joinWhitespace = overlap === text.length ? this.#joinWhitespace.slice(overlap) : '';
      text = text.slice(overlap);
      if (text === '') return;
    }
    const guard = this.#guard;
    // A refusal is not the answer: stop sequences do not apply to it, and it keeps its flag (text
    // held for a possible stop sequence came before it, and goes first).
    if (guard !== undefined && event.refusal === true) {
      this.#releaseHeld();
      this.#deliver(text, { ...event, text });
      return;
    }
    if (guard !== undefined) {
      const guarded = guard.push(text);
      if (guarded.release !== '') this.#deliver(guarded.release);
      this.#guardStop = guarded.stop;
      return;
    }
    this.#deliver(text, event);
  }

  /** A tool call's events, after any text held for a possible stop sequence (it came first); stop sequences apply to text only. */
  tool(event: ToolEvent): void {
    if (event.type === 'tool_call_end') return;
    this.#releaseHeld();
    // Whitespace a continuation was to write again at the join: a call does not.
    this.#joinWhitespace = '';
    if (event.type === 'tool_call') {
      this.calls.start(event.index, event.id, event.name);
      this.sink.event(event);
      return;
    }
    const kept = this.#withinLimit(event.text);
    this.#tokens += 1;
    this.#argumentPieces += 1;
    if (kept === '') return;
    this.calls.append(event.index, kept);
    this.sink.event(kept === event.text ? event : { ...event, text: kept });
  }

  /** The model's thinking, after any text held for a possible stop sequence; stop sequences apply to text only. */
  thinking(event: ThinkingEvent): void {
    this.#releaseHeld();
    if (event.type === 'thinking_signature') {
      this.thought.sign(event.signature);
      this.sink.event(event);
      return;
    }
    if (event.type === 'redacted_thinking') {
      this.#tokens += 1;
      this.thought.redacted(event.data);
      this.sink.event(event);
      return;
    }
    // A block's empty start is its first sign of life (its text may never stream: display omitted):
    // passed on, so the caller's block opens as Anthropic opens it, but no token.
    if (event.text === '') {
      this.sink.event(event);
      return;
    }
    this.#tokens += 1;
    const kept = this.#withinLimit(event.text);
    if (kept === '') return;
    this.thought.append(kept);
    this.sink.event(kept === event.text ? event : { ...event, text: kept });
  }

  /** An open model's reasoning, after any text held for a possible stop sequence (which applies to text only). */
  reasoningPart(event: ReasoningEvent): void {
    this.#releaseHeld();
    this.#tokens += 1;
    const kept = this.#withinLimit(event.text);
    if (kept === '') return;
    this.reasoning.append(kept);
    this.sink.event(kept === event.text ? event : { ...event, text: kept });
  }

  /** At the answer's end: text held for a possible stop sequence was none, and is delivered as it is. */
  endHeld(): void {
    const held = this.#guard?.flush() ?? '';
    if (held === '') return;
    this.sent.append(held);
    this.sink.event({ type: 'text', text: held });
  }

  #releaseHeld(): void {
    const held = this.#guard?.flush() ?? '';
    if (held !== '') this.#deliver(held);
  }

  /** Text to the client, up to the text limit. */
  #deliver(text: string, event?: TextEvent): void {
    const kept = this.#withinLimit(text);
    if (kept === '') return;
    this.sent.append(kept);
    if (event?.refusal === true) this.#refused = true;
    this.sink.event(kept === event?.text ? event : { type: 'text', text: kept, ...(event?.refusal === true ? { refusal: true as const } : {}) });
  }

  /** As much of `text` as fits under the text limit (text, arguments, thinking and reasoning together); what would pass it ends the answer. */
  #withinLimit(text: string): string {
    const room = this.#textLimit - this.chars;
    if (text.length <= room) return text;
    this.#overran = true;
    const kept = text.slice(0, Math.max(0, room));
    // Not between the two halves of a surrogate pair.
    return /[\ud800-\udbff]$/.test(kept) ? kept.slice(0, -1) : kept;
  }
}

/** How many leading characters two strings share. */
function sharedPrefixLength(a: string, b: string): number {
  let index = 0;
  while (index < a.length && index < b.length && a[index] === b[index]) index += 1;
  return index;
}
