import type { ChatEvent, Usage } from '../chat.js';
import type { StreamWriter } from '../dialect.js';
import { sseFrame } from '../sse.js';
import { anthropicErrorType } from './anthropic-error.js';
import { stopFields } from './anthropic-finish-reason.js';
import { anthropicInputFields, anthropicOutputFields } from './anthropic-usage.js';

/** Canonical events as Anthropic's stream: message_start, content blocks (a ping after the first starts), message_delta and message_stop; an error event with no message_stop. */
export function createAnthropicStreamWriter(): StreamWriter {
  // Content blocks are numbered in the order they open. The text block opens at the first text:
  // an empty answer (a stop sequence at once) has no block, as Anthropic streams it. Accumulated,
  // an empty block is one the API refuses if sent back.
  let nextBlock = 0;
  let open: { readonly kind: 'text' | 'tool_use' | 'thinking'; readonly index: number } | undefined;
  /** Each tool call's block, by the call's canonical index. */
  const callBlocks = new Map<number, number>();
  const frame = (payload: { readonly type: string } & Record<string, unknown>): string => sseFrame(JSON.stringify(payload), payload.type);
  const close = (): string => {
    if (open === undefined) return '';
    const stop = frame({ type: 'content_block_stop', index: open.index });
    open = undefined;
    return stop;
  };
  const start = (kind: 'text' | 'tool_use' | 'thinking', contentBlock: Record<string, unknown>): string => {
    const closed = close();
    open = { kind, index: nextBlock };
    nextBlock += 1;
    // Anthropic pings once, after the first block starts.
    return closed + frame({ type: 'content_block_start', index: open.index, content_block: contentBlock }) + (open.index === 0 ? frame({ type: 'ping' }) : '');
  };
  return {
    write(event: ChatEvent): string {
      switch (event.type) {
        case 'start':
          return sseFrame(JSON.stringify({ type: 'message_start', message: { id: event.id, type: 'message', role: 'assistant', model: event.model, content: [], stop_reason: null, stop_sequence: null, usage: { ...anthropicInputFields(event.inputTokens, event.cache), output_tokens: 0 } } }), 'message_start');
        case 'text': {
          if (event.text === '') return '';
          const opened = open?.kind === 'text' ? '' : start('text', { type: 'text', text: '' });
          return opened + frame({ type: 'content_block_delta', index: open?.index ?? 0, delta: { type: 'text_delta', text: event.text } });
        }
        case 'tool_call': {
          const opened = start('tool_use', { type: 'tool_use', id: event.id, name: event.name, input: {} });
          callBlocks.set(event.index, open?.index ?? 0);
          return opened;
        }
        case 'tool_arguments': {
          const block = callBlocks.get(event.index);
          // Arguments of a call never begun have no block to go in.
          if (event.text === '' || block === undefined) return '';
          return frame({ type: 'content_block_delta', index: block, delta: { type: 'input_json_delta', partial_json: event.text } });
        }
        case 'tool_call_end':
          // The block closes when the next one begins or the answer finishes, as for text.
          return '';
        case 'thinking': {
          // An empty piece opens the block (a model whose thinking text is not shown starts so).
          const opened = open?.kind === 'thinking' ? '' : start('thinking', { type: 'thinking', thinking: '', signature: '' });
          if (event.text === '') return opened;
          return opened + frame({ type: 'content_block_delta', index: open?.index ?? 0, delta: { type: 'thinking_delta', thinking: event.text } });
        }
        case 'thinking_signature': {
          // The signature ends its block, as Anthropic streams it (a block of no text still has one).
          const opened = open?.kind === 'thinking' ? '' : start('thinking', { type: 'thinking', thinking: '', signature: '' });
          return opened + frame({ type: 'content_block_delta', index: open?.index ?? 0, delta: { type: 'signature_delta', signature: event.signature } }) + close();
        }
        case 'redacted_thinking':
          return start('thinking', { type: 'redacted_thinking', data: event.data }) + close();
        case 'reasoning':
          // Unsigned, it could not go back as a thinking block: an open model's reasoning is not shown here.
          return '';
        case 'finish':
          return close() + frame({ type: 'message_delta', delta: stopFields(event), usage: finishUsage(event.usage) }) + frame({ type: 'message_stop' });
        case 'error':
          // No message_stop after an error: the stream must not look complete.
          return sseFrame(JSON.stringify({ type: 'error', error: { type: anthropicErrorType[event.kind], message: event.message } }), 'error');
      }
    },
  };
}

/**
 * message_delta's usage: the prompt's count again (an OpenAI-dialect upstream's count comes only
 * now; message_start carried the estimate), its cache parts when known, and the output.
 */
function finishUsage(usage: Usage): Record<string, unknown> {
  const input = anthropicInputFields(usage.inputTokens, usage.cache);
  return usage.cache === undefined ? { input_tokens: input.input_tokens, ...anthropicOutputFields(usage) } : { ...input, ...anthropicOutputFields(usage) };
}
