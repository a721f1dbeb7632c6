import type { FinishReason } from '../chat.js';

const stopReason: Readonly<Record<FinishReason, string>> = { stop: 'end_turn', length: 'max_tokens', content_filter: 'refusal', context_window: 'model_context_window_exceeded', tool_calls: 'tool_use' };

/** A stop_reason read from an upstream; pause_turn needs server tools, which are never requested. */
export function finishFromAnthropic(reason: string | null | undefined): FinishReason {
  switch (reason) {
    case 'tool_use':
      return 'tool_calls';
    case 'max_tokens':
      return 'length';
    case 'refusal':
      return 'content_filter';
    case 'model_context_window_exceeded':
      return 'context_window';
    default:
      return 'stop';
  }
}

/** A finish of 'tool_calls' with no call is 'stop': the answer ended, and there is nothing to run. */
export function anthropicFinishWithCalls(finish: FinishReason, hasCalls: boolean): FinishReason {
  return finish === 'tool_calls' && !hasCalls ? 'stop' : finish;
}

/** `stop_reason` and `stop_sequence`: a matched stop sequence is named; OpenAI upstreams never say which. */
export function stopFields(finish: { readonly finishReason: FinishReason; readonly stopSequence?: string }): { stop_reason: string; stop_sequence: string | null } {
  return finish.stopSequence === undefined ? { stop_reason: stopReason[finish.finishReason], stop_sequence: null } : { stop_reason: 'stop_sequence', stop_sequence: finish.stopSequence };
}
