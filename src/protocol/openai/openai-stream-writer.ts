import { isCutShort, type ChatEvent } from '../chat.js';
import type { StreamWriter } from '../dialect.js';
import { sseFrame } from '../sse.js';
import { formatOpenaiError } from './openai-error.js';
import { finishToOpenAI, matchedStop } from './openai-finish-reason.js';
import { openaiUsageFields } from './openai-usage.js';

/** With include_usage, OpenAI gives every chunk a usage field, null until the last one. */
const nullUsage: Readonly<Record<string, unknown>> = { usage: null };
const noUsage: Readonly<Record<string, unknown>> = {};

/**
 * Canonical events as OpenAI Chat Completions chunks: the role chunk first, then deltas, the finish
 * chunk, usage when asked, and [DONE]; an error is an error object with no [DONE].
 */
export function createOpenaiStreamWriter({ includeUsage, created }: { readonly includeUsage: boolean; readonly created: number }): StreamWriter {
  return new OpenaiStreamWriter(includeUsage, created);
}

/** A class rather than closures: an open stream holds its writer, and closures cost it a few hundred bytes more. */
class OpenaiStreamWriter implements StreamWriter {
  #id = '';
  #model = '';
  /**
   * Calls begun whose arguments have not: OpenAI always sends a call some arguments, so each is
   * written '{}' once it is complete, when the next call begins (the OpenAI SDK's stream then
   * reports the call's arguments done) or at the finish.
   */
  #unargued: number[] = [];
  /** A refusal was written (in its own field): its content_filter finish is OpenAI's 'stop'. */
  #refused = false;
  /**
   * The role chunk waits for the first event a caller sees: OpenAI's says content "" when text
   * follows and null when the answer opens with a tool call (a client that opens a text part on
   * "" would otherwise show an empty one before the call) or a refusal (whose content is null).
   */
  #roleDue = false;

  constructor(
    private readonly includeUsage: boolean,
    private readonly created: number,
  ) {}

  write(event: ChatEvent): string {
    const written = this.#frames(event);
    if (!this.#roleDue || (written === '' && event.type !== 'finish' && event.type !== 'error')) return written;
    this.#roleDue = false;
    return this.#chunk([{ index: 0, delta: { role: 'assistant', content: event.type === 'tool_call' || (event.type === 'text' && event.refusal === true) ? null : '' }, logprobs: null, finish_reason: null }]) + written;
  }

  #chunk(choices: unknown[], extra: Readonly<Record<string, unknown>> = this.includeUsage ? nullUsage : noUsage): string {
    return sseFrame(JSON.stringify({ id: this.#id, object: 'chat.completion.chunk', created: this.created, model: this.#model, choices, ...extra }));
  }

  #delta(content: Record<string, unknown>): string {
    return this.#chunk([{ index: 0, delta: content, logprobs: null, finish_reason: null }]);
  }

  #noArguments(): string {
    const frames = this.#unargued.map((index) => this.#delta({ tool_calls: [{ index, function: { arguments: '{}' } }] }));
    this.#unargued = [];
    return frames.join('');
  }

  #frames(event: ChatEvent): string {
    switch (event.type) {
      case 'start':
        this.#id = event.id;
        this.#model = event.model;
        this.#roleDue = true;
        return '';
      case 'text':
        if (event.refusal !== true) return this.#delta({ content: event.text });
        this.#refused = true;
        return this.#delta({ refusal: event.text });
      case 'tool_call': {
        const before = this.#noArguments();
        this.#unargued.push(event.index);
        return before + this.#delta({ tool_calls: [{ index: event.index, id: event.id, type: 'function', function: { name: event.name, arguments: '' } }] });
      }
      case 'tool_call_end':
        // OpenAI's chunks do not mark the end of a call.
        return '';
      case 'thinking':
      case 'thinking_signature':
      case 'redacted_thinking':
        // The Chat Completions API shows no thinking (its reasoning models keep theirs, too).
        return '';
      case 'reasoning':
        // As vLLM's reasoning parsers and DeepSeek's API stream it.
        return event.text === '' ? '' : this.#delta({ reasoning_content: event.text });
      case 'tool_arguments':
        if (event.text === '') return '';
        this.#unargued = this.#unargued.filter((index) => index !== event.index);
        return this.#delta({ tool_calls: [{ index: event.index, function: { arguments: event.text } }] });
      case 'finish': {
        const usage = openaiUsageFields(event.usage);
        // A call cut by the budget is left without arguments: '{}' would make it look complete.
        const last = isCutShort(event.finishReason) ? '' : this.#noArguments();
        return (
          last +
          this.#chunk([{ index: 0, delta: {}, logprobs: null, finish_reason: this.#refused && event.finishReason === 'content_filter' ? 'stop' : finishToOpenAI[event.finishReason], ...matchedStop(event.stopSequence) }]) +
          (this.includeUsage ? this.#chunk([], { usage }) : '') +
          'data: [DONE]\n\n'
        );
      }
      case 'error':
        // An error object and no [DONE]: OpenAI clients raise it, and the stream never looks complete.
        return sseFrame(JSON.stringify(formatOpenaiError(event)));
    }
  }
}
