import { upstreamErrorDetail, type ChatEvent, type FinishReason } from '../chat.js';
import type { StreamReader } from '../dialect.js';
import { isRecord } from '../is-record.js';
import { textOr } from '../text-or.js';
import { readContentDelta } from './openai-content-delta.js';
import { brokenFinish, finishFromOpenAI, openaiFinishWithCalls, stopSequenceOf } from './openai-finish-reason.js';
import { readContent } from './openai-content-parts.js';
import { reasoningOf } from './openai-reasoning.js';
import { createToolCallReader, type ToolCallReader } from './openai-tool-call-reader.js';
import { readOpenaiUsage } from './openai-usage.js';

/** An OpenAI-dialect upstream's stream (content, refusal, reasoning and tool-call deltas; finish; usage) read into canonical events. */
export function createOpenaiStreamReader(): StreamReader {
  return new OpenaiStreamReader();
}

const noStop: { readonly stopSequence?: string } = {};

function malformed(events: ChatEvent[], message: string): { events: ChatEvent[]; done: boolean } {
  return { events: [...events, { type: 'error', kind: 'api_error', message }], done: true };
}

interface StreamChoice {
  readonly index?: unknown;
  readonly delta?: { readonly content?: unknown; readonly refusal?: unknown; readonly tool_calls?: unknown; readonly reasoning_content?: unknown; readonly reasoning?: unknown };
  readonly finish_reason?: unknown;
  readonly stop_reason?: unknown;
  readonly matched_stop?: unknown;
}

/**
 * A chunk's one choice (undefined for none: a usage chunk, or a provider's filter results), or why
 * it has no readable one. The gateway never asks for more than one (n), so a choice of another index
 * answers no question: merged in, its words and its finish would end a broken answer looking whole (E45).
 */
function onlyChoice(choices: unknown): StreamChoice | undefined | string {
  if (choices === undefined || choices === null) return undefined;
  if (!Array.isArray(choices)) return 'upstream sent choices that are not a list';
  if (choices.length === 0) return undefined;
  const [choice] = choices as unknown[];
  if (choices.length > 1 || !isRecord(choice)) return 'upstream sent more than one choice, or one that is not an object; the gateway asks for one';
  if (choice['index'] !== undefined && choice['index'] !== 0) return `upstream sent a choice of index ${JSON.stringify(choice['index']).slice(0, 20)}; the gateway asks for one, index 0`;
  return choice as StreamChoice;
}

/** A class rather than closures: every answer has a reader, and an open stream holds its own. */
class OpenaiStreamReader implements StreamReader {
  #started = false;
  #answerId = '';
  #finish: FinishReason | undefined;
  #stopped: { readonly stopSequence?: string } = noStop;
  #finished = false;
  /** The model declined (a refusal in place of content): the finish is then content_filter (as openaiDialect.parseResult reads it). */
  #refused = false;
  /** Some text, reasoning or a call has come: a finish then ends an answer. */
  #answered = false;
  /** Made at the first tool call: most answers have none. */
  #toolCalls: ToolCallReader | undefined;

  read(_event: string | undefined, data: string): { events: ChatEvent[]; done: boolean } {
    // As OpenAI's SDK reads it: a server that pads it (E46) ended as well.
    if (data.startsWith('[DONE]')) {
      // An upstream that ignored include_usage still ended properly: finish with what is known.
      const events: ChatEvent[] = [];
      const problem = this.#toolCalls?.finish(events, this.#answerId);
      if (problem !== undefined) return malformed(events, problem);
      if (this.#finish !== undefined && !this.#finished) events.push({ type: 'finish', finishReason: this.#finish, ...this.#stopped, usage: { inputTokens: 0, outputTokens: 0 } });
      return { events, done: true };
    }
    if (this.#started && !this.#finished) {
      const text = readContentDelta(data);
      if (text !== undefined) {
        if (text === '') return { events: [], done: false };
        this.#continued();
        this.#answered = true;
        return { events: [{ type: 'text', text }], done: false };
      }
    }
    let json: unknown;
    try {
      json = JSON.parse(data);
    } catch {
      json = undefined;
    }
    // JSON that is not an object (`data: null`, a number) is as malformed as text that is not JSON.
    if (!isRecord(json)) return this.#broken([], 'upstream sent a malformed stream chunk');
    const chunk = json as {
      id?: unknown;
      model?: unknown;
      error?: unknown;
      object?: unknown;
      choices?: unknown;
      usage?: unknown;
    };
    // An error chunk in any shape a server sends: OpenAI's and vLLM's nested error, TGI's string,
    // older vLLM's flat error object ({"object": "error", "message": ...}).
    if (chunk.error !== undefined || chunk.object === 'error') {
      // After its finish, the answer is whole but for its usage: an error then breaks nothing.
      const announced = this.announcedFinish();
      if (announced !== undefined) {
        this.#finished = true;
        return { events: [announced], done: true };
      }
      return { events: [{ type: 'error', kind: 'api_error', message: upstreamErrorDetail(chunk).message, fromUpstream: true }], done: true };
    }
    const events: ChatEvent[] = [];
    if (!this.#started) {
      this.#started = true;
      // An id or model of another type is none (R50: an id of 7 made the made-up call ids throw).
      this.#answerId = textOr(chunk.id);
      events.push({ type: 'start', id: this.#answerId, model: textOr(chunk.model), inputTokens: 0 });
    }
    const read = onlyChoice(chunk.choices);
    if (typeof read === 'string') return this.#broken(events, read);
    const choice = read;
    // Once usage has come with the finish, the answer is whole: what follows is passed over.
    const delta = this.#finished ? undefined : choice?.delta;
    const content = readContent(delta?.content);
    const refusal = delta?.refusal;
    // Text in another form (a number, an object) is no text: dropped, the answer would end looking whole without it (E45).
    if (content === undefined || (refusal !== undefined && refusal !== null && typeof refusal !== 'string')) return this.#broken(events, 'upstream sent a content delta that is not text');
    // Read as a whole answer's schema reads it (a string or null): a finish of another type (7, true)
    // is no finish, and taken as one it would end a broken answer looking complete ('stop'). Once a
    // finish was read, a later chunk's finish_reason is not read at all, as before (R69).
    const finishReason = choice?.finish_reason;
    if (this.#finish === undefined && finishReason !== undefined && finishReason !== null && typeof finishReason !== 'string') return this.#broken(events, 'upstream sent a finish_reason that is not text');
    const reasoning = `${reasoningOf(delta) ?? ''}${content.reasoning}`;
    const calls = delta?.tool_calls;
    const calling = Array.isArray(calls) && calls.length > 0;
    // Text, reasoning or a call after a finish: that finish was not the end (see #continued).
    if (reasoning !== '' || content.text !== '' || (typeof refusal === 'string' && refusal !== '') || calling) {
      this.#continued();
      this.#answered = true;
    }
    if (reasoning !== '') events.push({ type: 'reasoning', text: reasoning });
    if (content.text !== '') events.push({ type: 'text', text: content.text });
    if (typeof refusal === 'string' && refusal !== '') {
      this.#refused = true;
      events.push({ type: 'text', text: refusal, refusal: true });
    }
    // An empty list (some servers send one on every chunk) begins no call.
    if (calling) {
      const problem = (this.#toolCalls ??= createToolCallReader()).read(calls, events, this.#answerId);
      if (problem !== undefined) return malformed(events, problem);
    }
    if (choice !== undefined && typeof finishReason === 'string' && finishReason !== '' && this.#finish === undefined) {
      // The calls are complete: each is announced before the finish.
      const problem = this.#toolCalls?.finish(events, this.#answerId) ?? brokenFinish(finishReason, this.#toolCalls?.called() === true);
      if (problem !== undefined) return malformed(events, problem);
      this.#stopped = this.#refused ? noStop : stopSequenceOf(choice);
      this.#finish = this.#refused ? 'content_filter' : openaiFinishWithCalls(finishFromOpenAI(finishReason), this.#toolCalls?.called() === true, this.#stopped);
    }
    // Usage arrives in its own chunk after the finish reason (include_usage); finish is emitted with it.
    if (chunk.usage && this.#finish !== undefined && !this.#finished) {
      this.#finished = true;
      events.push({ type: 'finish', finishReason: this.#finish, ...this.#stopped, usage: readOpenaiUsage(chunk.usage) });
    }
    return { events, done: false };
  }

  /**
   * A part that cannot be read: after the finish, the end of an answer already whole (E46: a bad
   * frame before the usage chunk broke it, and a resume added another model's text); else a break.
   */
  #broken(events: ChatEvent[], message: string): { events: ChatEvent[]; done: boolean } {
    const announced = this.announcedFinish();
    if (announced === undefined) return malformed(events, message);
    this.#finished = true;
    return { events: [...events, announced], done: true };
  }

  /**
   * More of the answer came after a finish_reason: that finish was not the end (Open WebUI sends
   * "stop" on its first, empty chunk, then the answer; R36: passed over, the whole answer was
   * lost). The last finish stands; a stream that ends without another is broken.
   */
  #continued(): void {
    this.#finish = undefined;
    this.#stopped = noStop;
  }

  announcedFinish(): Extract<ChatEvent, { type: 'finish' }> | undefined {
    // A finish on nothing is no whole answer to end on (Open WebUI's first chunk, R37): a break after
    // it, or a part that cannot be read, is a break, and the request goes elsewhere.
    return this.#finish !== undefined && !this.#finished && this.#answered ? { type: 'finish', finishReason: this.#finish, ...this.#stopped, usage: { inputTokens: 0, outputTokens: 0 } } : undefined;
  }
}
