import { isCutShort, type ChatEvent } from '../chat.js';
import type { StreamWriter } from '../dialect.js';
import { sseFrame } from '../sse.js';
import { formatOpenaiError } from './openai-error.js';
import { finishToOpenAI, matchedStop } from './openai-finish-reason.js';

/**
 * Canonical events as OpenAI Chat Completions chunks: the role chunk first, then deltas, the finish
 * chunk, usage when asked, and [DONE]; an error is an error object with no [DONE].
 */
export function createOpenaiStreamWriter({ includeUsage, created }: { readonly includeUsage: boolean; readonly created: number }): StreamWriter {
  let id = '';
  let model = '';
  // Calls begun whose arguments have not: OpenAI always sends a call some arguments, so each is
  // written '{}' once it is complete, when the next call begins (the OpenAI SDK's stream then
  // reports the call's arguments done) or at the finish.
  let unargued: number[] = [];
  // A refusal was written (in its own field): its content_filter finish is OpenAI's 'stop'.
  let refused = false;
  // With include_usage, OpenAI gives every chunk a usage field, null until the last one.
  const noUsage = includeUsage ? { usage: null } : {};
  const chunk = (choices: unknown[], extra: Record<string, unknown> = noUsage): string =>
    sseFrame(JSON.stringify({ id, object: 'chat.completion.chunk', created, model, choices, ...extra }));
  const delta = (content: Record<string, unknown>): string => chunk([{ index: 0, delta: content, logprobs: null, finish_reason: null }]);
  const noArguments = (): string => {
    const frames = unargued.map((index) => delta({ tool_calls: [{ index, function: { arguments: '{}' } }] }));
    unargued = [];
    return frames.join('');
  };
  // The role chunk waits for the first event a caller sees: OpenAI's says content "" when text
  // follows and null when the answer opens with a tool call (a client that opens a text part on
  // "" would otherwise show an empty one before the call).
  let roleDue = false;
  const frames = (event: ChatEvent): string => {
    switch (event.type) {
      case 'start':
        id = event.id;
        model = event.model;
        roleDue = true;
        return '';
      case 'text':
        if (event.refusal !== true) return delta({ content: event.text });
        refused = true;
        return delta({ refusal: event.text });
      case 'tool_call': {
        const before = noArguments();
        unargued.push(event.index);
        return before + delta({ tool_calls: [{ index: event.index, id: event.id, type: 'function', function: { name: event.name, arguments: '' } }] });
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
        return event.text === '' ? '' : delta({ reasoning_content: event.text });
      case 'tool_arguments':
        if (event.text === '') return '';
        unargued = unargued.filter((index) => index !== event.index);
        return delta({ tool_calls: [{ index: event.index, function: { arguments: event.text } }] });
      case 'finish': {
        const usage = { prompt_tokens: event.usage.inputTokens, completion_tokens: event.usage.outputTokens, total_tokens: event.usage.inputTokens + event.usage.outputTokens };
        // A call cut by the budget is left without arguments: '{}' would make it look complete.
        const last = isCutShort(event.finishReason) ? '' : noArguments();
        return (
          last +
          chunk([{ index: 0, delta: {}, logprobs: null, finish_reason: refused && event.finishReason === 'content_filter' ? 'stop' : finishToOpenAI[event.finishReason], ...matchedStop(event.stopSequence) }]) +
          (includeUsage ? chunk([], { usage }) : '') +
          'data: [DONE]\n\n'
        );
      }
      case 'error':
        // An error object and no [DONE]: OpenAI clients raise it, and the stream never looks complete.
        return sseFrame(JSON.stringify(formatOpenaiError(event)));
    }
  };
  return {
    write(event: ChatEvent): string {
      const written = frames(event);
      if (!roleDue || (written === '' && event.type !== 'finish' && event.type !== 'error')) return written;
      roleDue = false;
      return chunk([{ index: 0, delta: { role: 'assistant', content: event.type === 'tool_call' ? null : '' }, logprobs: null, finish_reason: null }]) + written;
    },
  };
}
