import { defaultMaxOutputTokens, type ChatRequest } from '../chat.js';
import type { EncodeOptions } from '../dialect.js';
import { asObjectSchema } from '../json-schema-limits.js';
import { joinedCachedSystem, wireMessages } from './openai-messages.js';
import { strictFits, wireResponseFormat } from './openai-response-format.js';
import { wireToolChoice } from './openai-tool-calls.js';

/** A top_p that keeps one token, for a caller's 0 (vLLM and SGLang refuse 0 itself). */
const smallestTopP = 1e-9;

/** A canonical request as an OpenAI Chat Completions request, always with a budget and, streamed, with usage asked for. */
export function encodeOpenaiRequest(request: ChatRequest, options: EncodeOptions = {}): unknown {
  return {
    model: request.model,
    messages: wireMessages(joinedCachedSystem(request.messages)),
    // Tool choice and parallel_tool_calls only with tools: OpenAI refuses them alone.
    ...(request.tools === undefined || request.tools.length === 0
      ? {}
      : {
          // An object schema, as the Anthropic encoder sends too: callers of either API may leave the type out.
          tools: request.tools.map((tool) => {
            const parameters = asObjectSchema(tool.parameters);
            return { type: 'function', function: { name: tool.name, ...(tool.description === undefined ? {} : { description: tool.description }), parameters, ...(strictFits(tool.strict, parameters) ? { strict: true } : {}) } };
          }),
          ...(request.toolChoice === undefined ? {} : { tool_choice: wireToolChoice(request.toolChoice) }),
          ...(request.parallelToolCalls === undefined ? {} : { parallel_tool_calls: request.parallelToolCalls }),
        }),
    ...(request.responseFormat === undefined ? {} : { response_format: wireResponseFormat(request.responseFormat) }),
    // Low, medium and high: the levels every reasoning server takes (vLLM only those); the others
    // are sent as the nearest of them.
    ...(request.effort === undefined ? {} : { reasoning_effort: request.effort === 'none' || request.effort === 'minimal' ? 'low' : request.effort === 'xhigh' || request.effort === 'max' ? 'high' : request.effort }),
    // Always a budget: the one the gateway routed and charged with. Without it an upstream may
    // answer to the end of its context, past what the tenant's token limit let in.
    [options.maxTokensField ?? 'max_tokens']: request.maxTokens ?? defaultMaxOutputTokens,
    ...(request.temperature === undefined ? {} : { temperature: request.temperature }),
    // 0 asks for the likeliest token alone, as the smallest positive top_p does: vLLM and SGLang
    // refuse 0 itself, which OpenAI accepts.
    ...(request.topP === undefined ? {} : { top_p: request.topP === 0 ? smallestTopP : request.topP }),
    // Not an OpenAI API field: sent only when asked, for the servers that read it (vLLM, SGLang, TGI).
    ...(request.topK === undefined ? {} : { top_k: request.topK }),
    ...(request.stop.length === 0 ? {} : { stop: request.stop }),
    ...(request.sampling?.seed === undefined ? {} : { seed: request.sampling.seed }),
    ...(request.sampling?.frequencyPenalty === undefined ? {} : { frequency_penalty: request.sampling.frequencyPenalty }),
    ...(request.sampling?.presencePenalty === undefined ? {} : { presence_penalty: request.sampling.presencePenalty }),
    ...(request.sampling?.logitBias === undefined ? {} : { logit_bias: request.sampling.logitBias }),
    ...(request.endUser === undefined ? {} : { user: request.endUser }),
    stream: request.stream,
    // Upstream usage is always asked for: the gateway counts tokens even when the client did not ask.
    ...(request.stream ? { stream_options: { include_usage: true } } : {}),
    // A trailing assistant turn to continue (a prefill, or a resumed answer), not one to answer
    // after: vLLM's chat-template parameters say so. Only then: other servers may refuse them.
    ...(request.finalAssistant === 'continue' && request.messages.at(-1)?.role === 'assistant' ? { continue_final_message: true, add_generation_prompt: false } : {}),
  };
}
