import { estimateTokens, promptText, type ChatRequest, type FinishReason, type Usage } from '../protocol/chat.js';
import { hashText, mixSeed, seededRandom, type Random } from '../random/seeded-random.js';

/** The fixed vocabulary answers are drawn from; one word is one token. */
export const vocabulary: readonly string[] = [
  'the', 'a', 'model', 'token', 'fleet', 'chip', 'pool', 'replica', 'batch', 'queue',
  'latency', 'throughput', 'cache', 'memory', 'bandwidth', 'tensor', 'pipeline', 'stage', 'layer', 'weight',
  'prompt', 'answer', 'request', 'stream', 'route', 'gateway', 'region', 'cloud', 'power', 'cost',
  'is', 'are', 'was', 'runs', 'serves', 'decodes', 'fills', 'moves', 'waits', 'scales',
  'fast', 'slow', 'large', 'small', 'warm', 'cold', 'busy', 'idle', 'steady', 'bright',
  'and', 'or', 'but', 'so', 'then', 'while', 'because', 'when', 'where', 'after',
  'on', 'in', 'at', 'by', 'with', 'from', 'to', 'over', 'under', 'across',
  'one', 'two', 'three', 'four', 'many', 'few', 'every', 'each', 'some', 'all',
  'river', 'mountain', 'harbor', 'signal', 'engine', 'switch', 'track', 'yard', 'train', 'station',
  'north', 'south', 'east', 'west', 'morning', 'evening', 'today', 'tomorrow', 'always', 'never',
  'quietly', 'quickly', 'carefully', 'together', 'again', 'still', 'almost', 'already', 'soon', 'here',
  'light', 'shadow', 'paper', 'stone', 'glass', 'water', 'field', 'garden', 'window', 'bridge',
];

/** Replaces a token's word when the corrupt-output fault hits it. */
export const corruptMarker = '<corrupt>';

/** A whole answer, decided before the first token: the scheduler only times it. */
export interface CompletionPlan {
  /** Text of each token as streamed (a leading space before every word but the first, and before the first too when continuing an assistant turn); joined they are `text`. */
  readonly tokens: readonly string[];
  readonly text: string;
  readonly finishReason: FinishReason;
  /** The stop sequence the answer was cut before, if one was. */
  readonly stopSequence?: string;
  readonly usage: Usage;
}

export interface GenerateOptions {
  /** The emulator's seed: same seed and same prompt give the same text. */
  readonly seed: number;
  /** Mean natural answer length in tokens (the profile's output tokens); lengths are drawn in [1, 2 x mean - 1]. */
  readonly meanOutputTokens: number;
}


/** The seeded generator for one prompt: keyed on (seed, hash of the prompt text). */
export function promptRandom(seed: number, prompt: string): Random {
  return seededRandom(mixSeed(seed >>> 0, Math.floor(seed / 2 ** 32) >>> 0, hashText(prompt)));
}

/**
 * The deterministic answer to a request: words drawn from the vocabulary by
 * a generator keyed on the seed and the prompt, as many as a length drawn
 * the same way or `max_tokens`, whichever is smaller (finish `length` when
 * `max_tokens` cut it), truncated before the first stop sequence.
 */
export function planCompletion(request: ChatRequest, options: GenerateOptions): CompletionPlan {
  const prompt = promptText(request);
  const random = promptRandom(options.seed, prompt);
  const mean = Math.max(1, Math.round(options.meanOutputTokens));
  const natural = 1 + Math.floor(random() * (2 * mean - 1));
  const count = request.maxTokens === undefined ? natural : Math.max(1, Math.min(request.maxTokens, natural));
  // A request continuing a trailing assistant turn (an Anthropic prefill, vLLM's
  // continue_final_message, or a gateway resuming a cut stream): the first word then needs its
  // space, as a model would give it. An OpenAI request without it is answered after that turn.
  const last = request.messages.at(-1);
  const continuing = request.finalAssistant === 'continue' && last !== undefined && last.role === 'assistant' && last.content !== '' && !/\s$/.test(last.content);
  const tokens: string[] = [];
  for (let i = 0; i < count; i += 1) {
    const word = vocabulary[Math.floor(random() * vocabulary.length)] ?? 'the';
    tokens.push(i === 0 && !continuing ? word : ` ${word}`);
  }
  const cut = request.maxTokens !== undefined && request.maxTokens < natural;
  const inputTokens = estimateTokens(prompt);
  const stopped = truncateAtStop(tokens, request.stop);
  if (stopped !== undefined) return { ...build(stopped.tokens, 'stop', inputTokens), stopSequence: stopped.stop };
  return build(tokens, cut ? 'length' : 'stop', inputTokens);
}

/** The same answer with each token replaced by the marker with probability `rate`. */
export function corruptPlan(plan: CompletionPlan, rate: number, random: Random): CompletionPlan {
  if (rate <= 0) return plan;
  const tokens = plan.tokens.map((token) => (random() < rate ? (token.startsWith(' ') ? ` ${corruptMarker}` : corruptMarker) : token));
  return { ...plan, tokens, text: tokens.join('') };
}

function build(tokens: readonly string[], finishReason: FinishReason, inputTokens: number): CompletionPlan {
  return { tokens, text: tokens.join(''), finishReason, usage: { inputTokens, outputTokens: tokens.length } };
}

/** Tokens up to (not including) the earliest stop sequence, and which one it was; undefined when none occurs. */
function truncateAtStop(tokens: readonly string[], stops: readonly string[]): { tokens: string[]; stop: string } | undefined {
  const text = tokens.join('');
  let at = -1;
  let matched = '';
  for (const stop of stops) {
    if (stop === '') continue;
    const index = text.indexOf(stop);
    if (index >= 0 && (at < 0 || index < at)) {
      at = index;
      matched = stop;
    }
  }
  if (at < 0) return undefined;
  const kept: string[] = [];
  let length = 0;
  for (const token of tokens) {
    if (length >= at) break;
    kept.push(token.slice(0, at - length));
    length += token.length;
  }
  return { tokens: kept, stop: matched };
}
