import { defaultMaxOutputTokens, minThinkingBudget, type ChatRequest } from '../protocol/chat.js';

/**
 * A request fitted to a tenant's tokens per minute: as asked, or with its output budget lowered.
 * `noRoomForThinking`: lowered, it leaves less than thinking's least budget.
 */
export type FittedRequest = { readonly ok: true; readonly request: ChatRequest; readonly outputTokens: number } | { readonly ok: false; readonly noRoomForThinking: true; readonly outputTokens: number };

/**
 * A max_tokens that takes the request past the tenant's whole limit (Claude Code asks for 64,000)
 * is lowered to what the limit leaves after the prompt: the request then waits for a full bucket at
 * most, rather than being refused for good, and can use no more than the limit (sent with its full
 * budget, it could use many times it). A thinking budget must stay below the output budget, and at
 * least 1,024: lowered with it, or, with no room, refused. A request without max_tokens keeps the
 * gateway's default, whose window fallbacks (room budgets) need it unset; one past the limit is
 * refused by the limit itself. So is a prompt that alone leaves no room.
 */
export function fitToTokenLimit(asked: ChatRequest, promptTokens: number, tokensPerMinute: number): FittedRequest {
  const askedOutput = asked.maxTokens ?? defaultMaxOutputTokens;
  const lowered = asked.maxTokens !== undefined && promptTokens + askedOutput > tokensPerMinute && promptTokens < tokensPerMinute;
  if (!lowered) return { ok: true, request: asked, outputTokens: askedOutput };
  const outputTokens = tokensPerMinute - promptTokens;
  const thinking = asked.thinking;
  if (thinking?.type !== 'enabled' || thinking.budgetTokens < outputTokens) return { ok: true, request: { ...asked, maxTokens: outputTokens }, outputTokens };
  const budgetTokens = outputTokens - 1;
  if (budgetTokens < minThinkingBudget) return { ok: false, noRoomForThinking: true, outputTokens };
  return { ok: true, request: { ...asked, maxTokens: outputTokens, thinking: { ...thinking, budgetTokens } }, outputTokens };
}
