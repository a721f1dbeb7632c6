import type { FinishReason } from '../chat.js';

export const finishToOpenAI: Readonly<Record<FinishReason, string>> = { stop: 'stop', length: 'length', content_filter: 'content_filter', context_window: 'length', tool_calls: 'tool_calls' };

/**
 * The stop sequence that ended an answer, as vLLM names it (`stop_reason`: the matched string; a
 * number is a stop token, null the end of sequence) and SGLang (`matched_stop`). OpenAI's own API
 * names none: its finish_reason "stop" cannot tell a stop sequence from a natural end.
 */
export function stopSequenceOf(choice: { readonly finish_reason?: unknown; readonly stop_reason?: unknown; readonly matched_stop?: unknown } | undefined): { stopSequence?: string } {
  if (choice?.finish_reason !== 'stop') return {};
  const named = typeof choice.stop_reason === 'string' ? choice.stop_reason : typeof choice.matched_stop === 'string' ? choice.matched_stop : undefined;
  return named === undefined || named === '' ? {} : { stopSequence: named };
}

/** vLLM's field naming the stop sequence that ended an answer, written only when one did. */
export function matchedStop(stopSequence: string | undefined): { stop_reason?: string } {
  return stopSequence === undefined ? {} : { stop_reason: stopSequence };
}

/**
 * Why a finish_reason ends no answer, or undefined: vLLM's 'abort' and 'error' (in its API since
 * its finish reasons were; OpenRouter's 'error' too) say the generation failed part-way, and
 * legacy function calling's 'function_call' came with a call the gateway does not read (it reads
 * tool_calls) unless tool calls came too. Read as a normal stop, each looked like a whole answer.
 */
export function brokenFinish(reason: string, calledTools: boolean): string | undefined {
  if (reason === 'abort' || reason === 'error') return `the upstream ended the answer with finish_reason '${reason}' (its generation failed part-way)`;
  if (reason === 'function_call' && !calledTools) return "the upstream answered with a legacy function_call, which the gateway does not read (it reads tool_calls)";
  return undefined;
}

/** A finish_reason read from an upstream; 'function_call' is legacy function calling's name for tool_calls. */
export function finishFromOpenAI(reason: string | null | undefined): FinishReason {
  if (reason === 'tool_calls' || reason === 'function_call') return 'tool_calls';
  return reason === 'length' || reason === 'content_filter' ? reason : 'stop';
}

/**
 * The finish of an answer as its calls say: vLLM ends one forced by a named or required tool
 * choice with 'stop', which an Anthropic caller would read as an answer with nothing left to do.
 * A stop sequence that ended it, or a cut (length, filter), is kept as it is. And a 'tool_calls'
 * that came with no calls is a 'stop': an agent loop would wait for calls that do not exist.
 */
export function openaiFinishWithCalls(finish: FinishReason, calledTools: boolean, stopped: { stopSequence?: string }): FinishReason {
  if (finish === 'tool_calls' && !calledTools) return 'stop';
  return finish === 'stop' && calledTools && stopped.stopSequence === undefined ? 'tool_calls' : finish;
}
