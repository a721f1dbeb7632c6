import { createHash } from 'node:crypto';
import { estimatePromptTokens, lastSpokenTurn, promptText, type ChatEvent, type ChatRequest, type FinishReason, type ResponseFormat, type ThinkingBlock, type ThinkingRequest, type ToolCall, type ToolDefinition, type Usage } from '../protocol/chat.js';
import { hashText, mixSeed, seededRandom, type Random } from '../random/seeded-random.js';
import { isRecord } from '../protocol/is-record.js';
import { firstAtOrAfter } from './first-at-or-after.js';

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

/** Each word after a space, as every token but an answer's first streams: one string per word, shared by every answer. */
const spacedVocabulary: readonly string[] = vocabulary.map((word) => ` ${word}`);

/** Replaces a token's word when the corrupt-output fault hits it. */
export const corruptMarker = '<corrupt>';
const spacedCorruptMarker = ` ${corruptMarker}`;

/**
 * What one output token streams: a piece of answer text, a piece of a tool call's arguments (after
 * the call's start, on its first token), or a piece of thinking (its signature on its last token).
 */
export type TokenEvent = Extract<ChatEvent, { type: 'text' | 'tool_call' | 'tool_arguments' | 'thinking' | 'thinking_signature' }>;

/** A whole answer, decided before the first token: the scheduler only times it. */
export interface CompletionPlan {
  /**
   * One entry per output token, so its length is what the scheduler times. A text answer: each
   * token's text as streamed (a leading space before every word but the first, and before the
   * first too when continuing an assistant turn); joined they are `text`. An answer calling
   * tools: each token's piece of its call's arguments.
   */
  readonly tokens: readonly string[];
  readonly text: string;
  readonly finishReason: FinishReason;
  /** The stop sequence the answer was cut before, if one was. */
  readonly stopSequence?: string;
  /** An answer calling tools: what each token streams (parallel to `tokens`); left out of text answers, whose tokens stream as text. */
  readonly tokenEvents?: readonly (readonly TokenEvent[])[];
  /** An answer calling tools: the calls, as the non-stream answer carries them (arguments incomplete when max_tokens cut them). */
  readonly toolCalls?: readonly ToolCall[];
  /** An answer with extended thinking: its one thinking block, streamed by its first tokens. */
  readonly thinking?: readonly ThinkingBlock[];
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
 * `max_tokens` cut it), truncated before the first stop sequence. A request
 * offering tools may be answered with tool calls instead (see 'Tool calls' below),
 * and one with a response format is answered in JSON (see planJson).
 */
export function planCompletion(request: ChatRequest, options: GenerateOptions): CompletionPlan {
  if (request.thinking !== undefined) return planThinking(request, request.thinking, options);
  const prompt = promptText(request);
  const random = promptRandom(options.seed, prompt);
  const tools = toolsToCall(request, random);
  const inputTokens = estimatePromptTokens(request);
  if (tools !== undefined) return planToolCalls(request, tools, random, inputTokens);
  const mean = Math.max(1, Math.round(options.meanOutputTokens));
  if (request.responseFormat !== undefined) return planJson(request, request.responseFormat, mean, random, inputTokens);
  // vLLM's ignore_eos runs to max_tokens; its min_tokens holds the natural end (and stop sequences) off until then.
  const drawn = 1 + Math.floor(random() * (2 * mean - 1));
  const minTokens = request.serverLength?.minTokens ?? 0;
  const natural = request.serverLength?.ignoreEos === true && request.maxTokens !== undefined ? request.maxTokens : Math.max(drawn, minTokens);
  const count = request.maxTokens === undefined ? natural : Math.max(1, Math.min(request.maxTokens, natural));
  // A request continuing a trailing assistant turn (an Anthropic prefill, vLLM's
  // continue_final_message, or a gateway resuming a cut stream): the first word then needs its
  // space, as a model would give it. An OpenAI request without it is answered after that turn.
  const last = request.messages.at(-1);
  const continuing = request.finalAssistant === 'continue' && last !== undefined && last.role === 'assistant' && last.content !== '' && !/\s$/.test(last.content);
  const tokens: string[] = [];
  for (let i = 0; i < count; i += 1) {
    const drawn = Math.floor(random() * vocabulary.length);
    tokens.push((i === 0 && !continuing ? vocabulary[drawn] : spacedVocabulary[drawn]) ?? 'the');
  }
  // A budget the answer's words fill is cut there: the end (an end-of-sequence token) would come
  // after them, as vLLM stops for length first (R32: an answer of exactly max_tokens words, or one
  // held to min_tokens equal to max_tokens, said 'stop').
  const cut = request.maxTokens !== undefined && (request.maxTokens <= natural || request.serverLength?.ignoreEos === true);
  const stopped = truncateAtStop(tokens, request.stop, minTokens);
  if (stopped !== undefined) return { ...build(stopped.tokens, 'stop', inputTokens), stopSequence: stopped.stop };
  return build(tokens, cut ? 'length' : 'stop', inputTokens);
}

/**
 * The same answer with each token of its text replaced by the marker with probability `rate`. Only
 * the answer's text is corrupted: not a tool call's arguments, since garbled ones would be invalid
 * JSON, a different fault from a garbled answer; not thinking, which is signed and would come back
 * refused; not the tokens that complete a stop sequence, which stream nothing.
 */
export function corruptPlan(plan: CompletionPlan, rate: number, random: Random): CompletionPlan {
  if (rate <= 0 || plan.toolCalls !== undefined) return plan;
  const corrupted = (token: string): string => (token !== '' && random() < rate ? (token.startsWith(' ') ? spacedCorruptMarker : corruptMarker) : token);
  const events = plan.tokenEvents;
  if (events === undefined) {
    const tokens = plan.tokens.map(corrupted);
    return { ...plan, tokens, text: tokens.join('') };
  }
  // Thinking first, then the answer's text, a text event a token: those tokens are the text.
  const tokenEvents = events.map((tokenEvents): readonly TokenEvent[] => {
    const text = textOfToken(tokenEvents);
    return text === undefined ? tokenEvents : [{ type: 'text', text: corrupted(text) }];
  });
  const tokens = plan.tokens.map((token, index) => textOfToken(tokenEvents[index] ?? []) ?? token);
  const text = tokenEvents.flatMap((tokenEvents) => tokenEvents.flatMap((event) => (event.type === 'text' ? [event.text] : []))).join('');
  return { ...plan, tokens, tokenEvents, text };
}

/** A token's text when all it streams is one piece of text (not thinking, not a call's arguments). */
function textOfToken(events: readonly TokenEvent[]): string | undefined {
  const only = events[0];
  return events.length === 1 && only?.type === 'text' ? only.text : undefined;
}

/**
 * Extended thinking: a block of vocabulary words first (up to the thinking budget and max_tokens),
 * signed so that the emulator can tell the block came back unchanged (see thinkingSignature), then
 * the answer as without thinking, in what max_tokens leaves; none when the thinking fills it.
 */
function planThinking(request: ChatRequest, asked: ThinkingRequest, options: GenerateOptions): CompletionPlan {
  const random = promptRandom(options.seed, `thinking\n${promptText(request)}`);
  const natural = 8 + Math.floor(random() * 17);
  const budget = asked.type === 'enabled' ? asked.budgetTokens : natural;
  // Within max_tokens: a budget that leaves the answer nothing ends in the thinking, cut ('length').
  const count = Math.max(1, Math.min(natural, budget, request.maxTokens ?? natural));
  const words = Array.from({ length: count }, (_, i) => `${i === 0 ? '' : ' '}${vocabulary[Math.floor(random() * vocabulary.length)] ?? 'the'}`);
  const thinking = words.join('');
  const signature = thinkingSignature(thinking);
  const { thinking: _asked, ...rest } = request;
  const thought: TokenEvent[][] = words.map((word, i) => (i === count - 1 ? [{ type: 'thinking', text: word }, { type: 'thinking_signature', signature }] : [{ type: 'thinking', text: word }]));
  // A budget the thinking fills: the answer ends in it, the block still signed (it can go back).
  if (request.maxTokens !== undefined && count >= request.maxTokens) {
    return { tokens: words, text: '', finishReason: 'length', tokenEvents: thought, thinking: [{ type: 'thinking', thinking, signature }], usage: { inputTokens: estimatePromptTokens(request), outputTokens: count } };
  }
  const answer = planCompletion(request.maxTokens === undefined ? rest : { ...rest, maxTokens: request.maxTokens - count }, options);
  return {
    ...answer,
    tokens: [...words, ...answer.tokens],
    tokenEvents: [...thought, ...answer.tokens.map((_, index) => eventsOfToken(answer, index))],
    thinking: [{ type: 'thinking', thinking, signature }],
    usage: { ...answer.usage, outputTokens: answer.usage.outputTokens + count },
  };
}

/** The emulator's signature of a thinking block's text: checked when the block comes back in a conversation. */
export function thinkingSignature(thinking: string): string {
  return createHash('sha256').update(`switchyard-emulator thinking\n${thinking}`).digest('base64');
}

/** The stream events of a plan's token `index`. */
export function eventsOfToken(plan: CompletionPlan, index: number): readonly TokenEvent[] {
  const events = plan.tokenEvents?.[index];
  if (events !== undefined) return events;
  // A token that completes a stop sequence streams nothing (see truncateAtStop).
  const text = plan.tokens[index] ?? '';
  return text === '' ? [] : [{ type: 'text', text }];
}

/*
 * Tool calls, as deterministic as text answers (same seed and prompt, same calls):
 * - tool choice 'none', or no tools offered: a text answer;
 * - 'required' or a named tool: always calls (the named tool, or one the generator picks);
 * - 'auto' or none given: calls when the conversation's last turn (system turns aside) is the
 *   user's, a fresh question, and answers with text after a tool's result or an assistant turn
 *   (one to continue, or to answer after): an agent loop runs question, call, results, answer;
 * - one call, or two of different tools when parallel calls are not turned off, two or more
 *   tools are offered, no tool is named, and the generator draws it (one time in two).
 * Arguments are a JSON object built from the tool's schema (see argumentsFor), streamed four
 * characters a token (see streamedPieces); max_tokens cuts them (finish 'length', arguments
 * then incomplete), stop sequences never apply, else the finish is 'tool_calls'.
 */

/** The tools an answer calls (one or two), or undefined when it answers with text. */
function toolsToCall(request: ChatRequest, random: Random): readonly ToolDefinition[] | undefined {
  const tools = request.tools ?? [];
  const choice = request.toolChoice ?? { type: 'auto' };
  // No draw is made before this decision, so a text answer draws exactly as without tools.
  if (tools.length === 0 || choice.type === 'none') return undefined;
  if (choice.type === 'tool') {
    const named = tools.find((tool) => tool.name === choice.name);
    return named === undefined ? undefined : [named];
  }
  if (choice.type === 'auto' && lastSpokenTurn(request.messages)?.role !== 'user') return undefined;
  const first = pick(tools, random);
  if (request.parallelToolCalls === false || tools.length < 2 || random() >= 0.5) return [first];
  return [first, pick(tools.filter((tool) => tool !== first), random)];
}

/** One of `items` (never empty here), drawn by the generator. */
function pick<T>(items: readonly T[], random: Random): T {
  return items[Math.floor(random() * items.length)] ?? (items[0] as T);
}

function planToolCalls(request: ChatRequest, tools: readonly ToolDefinition[], random: Random, inputTokens: number): CompletionPlan {
  const calls: ToolCall[] = tools.map((tool) => ({ id: `call_${hex(random)}${hex(random)}${hex(random)}`, name: tool.name, arguments: JSON.stringify(argumentsFor(tool.parameters, random)) }));
  const budget = request.maxTokens === undefined ? Number.POSITIVE_INFINITY : Math.max(1, request.maxTokens);
  const tokens: string[] = [];
  const tokenEvents: TokenEvent[][] = [];
  const written: ToolCall[] = [];
  for (const [index, call] of calls.entries()) {
    if (tokens.length >= budget) break;
    let text = '';
    for (const piece of streamedPieces(call.arguments)) {
      if (tokens.length >= budget) break;
      // The call's start rides with its first piece of arguments.
      tokenEvents.push(text === '' ? [{ type: 'tool_call', index, id: call.id, name: call.name }, { type: 'tool_arguments', index, text: piece }] : [{ type: 'tool_arguments', index, text: piece }]);
      tokens.push(piece);
      text += piece;
    }
    written.push({ ...call, arguments: text });
  }
  // Cut when a call's arguments did not all go out.
  const cut = written.length < calls.length || written.some((call, index) => call.arguments !== calls[index]?.arguments);
  return { tokens, text: '', finishReason: cut ? 'length' : 'tool_calls', tokenEvents, toolCalls: written, usage: { inputTokens, outputTokens: tokens.length } };
}

/**
 * A structured answer: JSON text, streamed four characters a token as tool arguments are. A schema
 * gives a value built as tool arguments are (see argumentsFor); JSON mode gives {"answer": ...}
 * with as many words as a text answer would have. max_tokens cuts the JSON (finish 'length', the
 * text then not JSON, as a real model's is), a stop sequence cuts it where it occurs.
 */
function planJson(request: ChatRequest, format: ResponseFormat, mean: number, random: Random, inputTokens: number): CompletionPlan {
  let value: unknown;
  if (format.type === 'json_schema') {
    value = argumentsFor(format.schema, random);
  } else {
    const words = Array.from({ length: 1 + Math.floor(random() * (2 * mean - 1)) }, () => pick(vocabulary, random));
    value = { answer: words.join(' ') };
  }
  const json = JSON.stringify(value);
  const budget = request.maxTokens === undefined ? Number.POSITIVE_INFINITY : Math.max(1, request.maxTokens);
  const pieces = streamedPieces(json);
  const tokens = pieces.slice(0, budget);
  const stopped = truncateAtStop(tokens, request.stop);
  if (stopped !== undefined) return { ...build(stopped.tokens, 'stop', inputTokens), stopSequence: stopped.stop };
  // Cut, or filling max_tokens exactly: the end would come after (as for text, R33).
  return build(tokens, tokens.length < pieces.length || tokens.length >= budget ? 'length' : 'stop', inputTokens);
}

/**
 * A text as it streams (not estimateTokens, which counts UTF-8 bytes): four UTF-16 units a piece, but never half a character (a piece that would
 * end on a surrogate pair's first half takes its second too): E40 found emoji in tool arguments
 * split across pieces, which clients in languages with strict strings (Python, Go) cannot decode.
 */
function streamedPieces(text: string): string[] {
  const pieces: string[] = [];
  for (let at = 0; at < text.length; ) {
    let end = Math.min(text.length, at + 4);
    const last = text.charCodeAt(end - 1);
    if (last >= 0xd800 && last <= 0xdbff && end < text.length) end += 1;
    pieces.push(text.slice(at, end));
    at = end;
  }
  return pieces;
}

/** Eight hex digits from the generator. */
function hex(random: Random): string {
  return Math.floor(random() * 2 ** 32)
    .toString(16)
    .padStart(8, '0');
}

/*
 * Arguments from a tool's JSON Schema, kept within the schema for the common keywords. Each value
 * is decided by the first rule that applies:
 * - nested more than maxSchemaDepth (8) levels below the arguments object: null (a guard against
 *   deep or cyclic schemas; each property, array item and anyOf/oneOf/allOf branch is a level);
 * - `const`: that value; a non-empty `enum`: its first value, whatever the type;
 * - `anyOf` / `oneOf`: the first branch; `allOf`: its branches merged into one schema (properties
 *   merged, `required` lists joined, any other keyword from the first branch that has it, the
 *   schema's own keywords beside `allOf` first of all);
 * - `type` (a list of types, ["string", "null"]: the first that is not "null"):
 *   - object: an object of its `required` properties in that order; every property of
 *     `properties` in order when `required` is absent (the emulator's choice, so calls exercise
 *     every property: JSON Schema itself reads an absent `required` as none), and none for
 *     `required: []`; a required name `properties` does not describe is null. The tool's
 *     parameters are read this way whatever their `type` (their `allOf` merged; an `anyOf` or
 *     `oneOf` at the top is not followed: the gateway takes only object schemas there);
 *   - array: `minItems` items (0 when not given; at most maxArrayItems) of the `items` schema;
 *     a tuple `items` list, `prefixItems` and `uniqueItems` are not followed;
 *   - string: a known `format` (date-time, date, email, uri) a fixed plausible value; otherwise a
 *     vocabulary word, more words after it (space-separated) until `minLength` (at most
 *     maxStringLength) is reached, cut to `maxLength`. `pattern` and other formats are ignored;
 *   - integer: a whole number in [`minimum`, `maximum`] (exclusiveMinimum / exclusiveMaximum
 *     too, as numbers or draft-4 booleans): 1 to 100 without bounds, 100 numbers from the bound
 *     when only one is given; number: the same, or a fraction in the middle half of the range
 *     when it holds no whole number. `multipleOf` is ignored;
 *   - boolean: either;
 * - a `$ref` to the schema's own `$defs` or `definitions` (`#/$defs/name`, as zod writes them):
 *   that definition, a level deeper (so a recursive one ends in null at the depth limit); any other
 *   reference: null;
 * - anything else (no type, "null"): null.
 * Draws, in order: the arguments of each call after its id, depth first in the order the values
 * are written; a string draws its word then each padding word, a number or boolean one draw;
 * const, enum, format strings, null and empty containers draw nothing. So a schema the rules
 * above leave at the defaults draws as before they existed.
 */

/** Values nested deeper than this below the arguments object are null. */
const maxSchemaDepth = 8;
/** The most items an array gets, whatever its `minItems`. */
const maxArrayItems = 100;
/** The longest a string is padded to, whatever its `minLength`. */
const maxStringLength = 10_000;

/** The fixed values of the string formats the emulator knows. */
const formatValues: Readonly<Record<string, string>> = {
  'date-time': '2025-01-01T12:00:00Z',
  date: '2025-01-01',
  email: 'user@example.com',
  uri: 'https://example.com/',
};

/** An arguments object for a tool's JSON Schema, or for an object schema `depth` levels down (see above). */
function argumentsFor(schema: Readonly<Record<string, unknown>>, random: Random, depth = 0, root: Readonly<Record<string, unknown>> = schema): Record<string, unknown> {
  const object = Array.isArray(schema.allOf) ? mergeAllOf(schema, schema.allOf) : schema;
  const properties = isRecord(object.properties) ? object.properties : {};
  const names = Array.isArray(object.required) ? object.required.filter((name): name is string => typeof name === 'string') : Object.keys(properties);
  // fromEntries defines every name as a property of its own, '__proto__' too.
  return Object.fromEntries(
    names.map((name) => {
      const property = Object.hasOwn(properties, name) ? properties[name] : undefined;
      return [name, valueFor(isRecord(property) ? property : {}, random, depth + 1, root)];
    }),
  );
}

/** A value within `schema`, `depth` levels below the arguments object (see above). */
function valueFor(schema: Readonly<Record<string, unknown>>, random: Random, depth: number, root: Readonly<Record<string, unknown>>): unknown {
  if (depth > maxSchemaDepth) return null;
  if (typeof schema.$ref === 'string') {
    const target = localDefinition(root, schema.$ref);
    return target === undefined ? null : valueFor(target, random, depth + 1, root);
  }
  if (Object.hasOwn(schema, 'const')) return schema.const;
  if (Array.isArray(schema.enum) && schema.enum.length > 0) return schema.enum[0];
  for (const keyword of ['anyOf', 'oneOf'] as const) {
    const branches = schema[keyword];
    if (Array.isArray(branches) && branches.length > 0) return valueFor(isRecord(branches[0]) ? branches[0] : {}, random, depth + 1, root);
  }
  if (Array.isArray(schema.allOf)) return valueFor(mergeAllOf(schema, schema.allOf), random, depth + 1, root);
  // A list of types (["string", "null"]): the first that is not null.
  const type = Array.isArray(schema.type) ? schema.type.find((entry) => entry !== 'null') : schema.type;
  switch (type) {
    case 'string':
      return stringFor(schema, random);
    case 'integer':
    case 'number':
      return numberFor(schema, type === 'integer', random);
    case 'boolean':
      return random() < 0.5;
    case 'array': {
      const items = isRecord(schema.items) ? schema.items : {};
      return Array.from({ length: Math.min(maxArrayItems, count(schema.minItems) ?? 0) }, () => valueFor(items, random, depth + 1, root));
    }
    case 'object':
      return argumentsFor(schema, random, depth, root);
    default:
      return null;
  }
}

/** The schema a local reference names (`#/$defs/name`, `#/definitions/name`), or undefined. */
function localDefinition(root: Readonly<Record<string, unknown>>, ref: string): Readonly<Record<string, unknown>> | undefined {
  const match = /^#\/(\$defs|definitions)\/([^/]+)$/.exec(ref);
  if (match === null) return undefined;
  const definitions = root[match[1] ?? ''];
  const name = decodeURIComponent((match[2] ?? '').replace(/~1/g, '/').replace(/~0/g, '~'));
  const target = isRecord(definitions) && Object.hasOwn(definitions, name) ? definitions[name] : undefined;
  return isRecord(target) ? target : undefined;
}

/** One schema for `schema` and its `allOf` branches: properties merged, `required` joined (absent when none lists it), other keywords the first found. */
function mergeAllOf(schema: Readonly<Record<string, unknown>>, branches: readonly unknown[]): Record<string, unknown> {
  const { allOf: _allOf, ...own } = schema;
  const parts = [own, ...branches.filter(isRecord)];
  const merged: Record<string, unknown> = {};
  const properties: Record<string, unknown> = {};
  let required: string[] | undefined;
  for (const part of parts) {
    for (const [key, value] of Object.entries(part)) {
      if (key === 'properties' && isRecord(value)) {
        for (const [name, property] of Object.entries(value)) if (!Object.hasOwn(properties, name)) define(properties, name, property);
      } else if (key === 'required' && Array.isArray(value)) {
        required = [...new Set([...(required ?? []), ...value.filter((name): name is string => typeof name === 'string')])];
      } else if (!Object.hasOwn(merged, key)) {
        define(merged, key, value);
      }
    }
  }
  return { ...merged, properties, ...(required === undefined ? {} : { required }) };
}

/** Sets a property of its own, '__proto__' too (assignment would set the prototype). */
function define(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

/** A string within `schema`'s format and lengths (see above). */
function stringFor(schema: Readonly<Record<string, unknown>>, random: Random): string {
  const known = typeof schema.format === 'string' && Object.hasOwn(formatValues, schema.format) ? formatValues[schema.format] : undefined;
  if (known !== undefined) return known;
  let text = pick(vocabulary, random);
  const minLength = Math.min(maxStringLength, count(schema.minLength) ?? 0);
  while (text.length < minLength) text += ` ${pick(vocabulary, random)}`;
  const maxLength = count(schema.maxLength);
  return maxLength === undefined ? text : text.slice(0, maxLength);
}

/** A number within `schema`'s bounds, whole when the range holds a whole number (see above); one draw. */
function numberFor(schema: Readonly<Record<string, unknown>>, integer: boolean, random: Random): number {
  const draw = random();
  const low = bound(schema.minimum, schema.exclusiveMinimum, (a, b) => a >= b);
  const high = bound(schema.maximum, schema.exclusiveMaximum, (a, b) => a <= b);
  const wholeLow = low === undefined ? undefined : low.exclusive ? Math.floor(low.value) + 1 : Math.ceil(low.value);
  const wholeHigh = high === undefined ? undefined : high.exclusive ? Math.ceil(high.value) - 1 : Math.floor(high.value);
  const from = wholeLow ?? (wholeHigh === undefined ? 1 : wholeHigh - 99);
  const to = wholeHigh ?? from + 99;
  if (from <= to) return Math.min(to, from + Math.floor(draw * (to - from + 1)));
  // No whole number fits: a number takes a fraction strictly inside (or the one value both bounds
  // allow); an integer, or an empty range, has none to take.
  if (integer || low === undefined || high === undefined) return from;
  if (low.value < high.value) return low.value + (high.value - low.value) * (0.25 + draw / 2);
  return low.value === high.value && !low.exclusive && !high.exclusive ? low.value : from;
}

/** The tighter of an inclusive bound and an exclusive one (a number, or draft 4's boolean on the inclusive one). */
function bound(inclusive: unknown, exclusive: unknown, tighter: (a: number, b: number) => boolean): { value: number; exclusive: boolean } | undefined {
  const given = typeof inclusive === 'number' && Number.isFinite(inclusive) ? { value: inclusive, exclusive: exclusive === true } : undefined;
  if (typeof exclusive !== 'number' || !Number.isFinite(exclusive)) return given;
  return given === undefined || tighter(exclusive, given.value) ? { value: exclusive, exclusive: true } : given;
}

/** A non-negative whole count (minItems, minLength, maxLength), or undefined when not one. */
function count(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? Math.floor(value) : undefined;
}

function build(tokens: readonly string[], finishReason: FinishReason, inputTokens: number): CompletionPlan {
  return { tokens, text: tokens.join(''), finishReason, usage: { inputTokens, outputTokens: tokens.length } };
}

/** Tokens up to the earliest stop sequence, their text ending before it, those of the stop itself empty; and which stop it was; undefined when none occurs. */
function truncateAtStop(tokens: readonly string[], stops: readonly string[], minTokens = 0): { tokens: string[]; stop: string } | undefined {
  const text = tokens.join('');
  // vLLM checks each new token's text for a stop once the answer has more than min_tokens tokens,
  // and never looks back at one completed before: a stop counts only when it ends past token
  // min_tokens (R32: v1's detokenizer; the first version took v0's 'at token min_tokens'). Of
  // several, the one completed in the earliest token ends the answer, and of those completed in
  // the same token the first in the list (R33), as its check after each token finds them.
  const ends: number[] = [];
  for (const token of tokens) ends.push((ends.at(-1) ?? 0) + token.length);
  const minEnd = minTokens > 0 ? (ends[Math.min(minTokens, tokens.length) - 1] ?? 0) : 0;
  let at = -1;
  let inToken = Number.POSITIVE_INFINITY;
  let matched = '';
  for (const stop of stops) {
    if (stop === '') continue;
    let index = text.indexOf(stop);
    while (index >= 0 && index + stop.length <= minEnd) index = text.indexOf(stop, index + 1);
    if (index < 0) continue;
    // The token whose text completes it.
    const token = firstAtOrAfter(ends, index + stop.length);
    if (token < inToken) {
      at = index;
      inToken = token;
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
  // The tokens of the stop sequence were generated, up to the one that completes it: counted and
  // timed, as vLLM counts them, though the text ends before the stop (E52: the usage was short).
  while (kept.length <= inToken) kept.push('');
  return { tokens: kept, stop: matched };
}
