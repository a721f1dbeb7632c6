import { isRecord } from './is-record.js';

/**
 * The canonical chat exchange every dialect adapter translates to and from
 * (spec v1). The gateway routes, retries and resumes on these types; the
 * emulator produces them; neither knows which dialect a client spoke.
 */
export type Role = 'system' | 'user' | 'assistant' | 'tool';

export interface ChatMessage {
  readonly role: Role;
  /** The turn's text; '' for an assistant turn that only called tools. */
  readonly content: string;
  /** An assistant turn's calls of the caller's tools, after its text. */
  readonly toolCalls?: readonly ToolCall[];
  /** A 'tool' turn: the id of the call whose result `content` is. */
  readonly toolCallId?: string;
  /** A 'tool' turn: the tool failed (Anthropic's `is_error`; OpenAI has no such flag). */
  readonly isError?: boolean;
  /**
   * A user turn (or a tool's result) that holds images or documents, or an Anthropic caller's of
   * several blocks (kept for their cache breakpoints): its parts in the order sent (`content` is then
   * its text parts joined, one per line). Left out of other turns of text alone.
   */
  readonly parts?: readonly ContentPart[];
  /**
   * A prompt-cache breakpoint at the end of this turn (Anthropic's `cache_control` on its last
   * block): Anthropic-dialect upstreams get it back; OpenAI-dialect ones cache prefixes by themselves.
   */
  readonly cache?: CacheBreakpoint;
  /**
   * The participant's name (OpenAI's `name`, to tell apart speakers of one role): OpenAI-dialect
   * upstreams get it; Anthropic's API has no such field.
   */
  readonly name?: string;
  /**
   * An assistant turn's thinking (Anthropic extended thinking), before its text and calls, as the
   * upstream gave it: its signature lets Anthropic check the blocks come back unchanged.
   */
  readonly thinking?: readonly ThinkingBlock[];
}

/** A block of a model's thinking: its text and signature, or, redacted, what only the upstream can read. */
export type ThinkingBlock = { readonly type: 'thinking'; readonly thinking: string; readonly signature: string } | { readonly type: 'redacted_thinking'; readonly data: string };

/**
 * Extended thinking asked for: with a budget of tokens (below the output budget), or as the model
 * judges (adaptive); `display`: whether its text is streamed ('summarized') or only its signature
 * ('omitted'), left out for the model's default.
 */
export type ThinkingRequest = ({ readonly type: 'enabled'; readonly budgetTokens: number } | { readonly type: 'adaptive' }) & { readonly display?: string };

/** A prompt-cache breakpoint (Anthropic `cache_control`): the prompt up to here may be cached, for `ttl` (Anthropic's default 5m). */
export interface CacheBreakpoint {
  readonly ttl?: '5m' | '1h';
}

/** The image types both APIs take. */
export const imageMediaTypes = ['image/jpeg', 'image/png', 'image/gif', 'image/webp'] as const;
export type ImageMediaType = (typeof imageMediaTypes)[number];

/** Where an image comes from: a URL the upstream fetches, or the image itself, base64-encoded. */
export type ImageSource =
  /** local: the URL's host is plainly not on the public internet (see readWebImage); routing sends it only where such fetches are allowed. */
  | { readonly type: 'url'; readonly url: string; readonly local?: true }
  | { readonly type: 'base64'; readonly mediaType: ImageMediaType; readonly data: string };

/**
 * A document shown to the model: a PDF (base64, its page count read from it for estimates), or
 * plain text (Anthropic's text documents).
 */
export type DocumentSource = { readonly type: 'pdf'; readonly data: string; readonly pages: number } | { readonly type: 'text'; readonly text: string };

/**
 * A piece of a user turn (or of a tool's result): text, an image (OpenAI's `detail` kept for
 * OpenAI-dialect upstreams), or a document (`title` and `context` as the caller gave them).
 * `cache`: a prompt-cache breakpoint right after this part, as an Anthropic caller set it on a block
 * (a document cached, the question after it not): Anthropic-dialect upstreams get it back there.
 */
export type ContentPart = (
  | { readonly type: 'text'; readonly text: string }
  | { readonly type: 'image'; readonly source: ImageSource; readonly detail?: 'auto' | 'low' | 'high' }
  | { readonly type: 'document'; readonly source: DocumentSource; readonly title?: string; readonly context?: string }
) & { readonly cache?: CacheBreakpoint };

/**
 * What a PDF page is counted as in estimates: Anthropic counts 1,500 to 3,000 tokens a page (its
 * text and an image of it). The text is not read: an estimate, as an image's is.
 */
export const pdfPageTokenEstimate = 2_000;

/** The PDF documents of a request's turns. */
export function pdfCount(messages: readonly ChatMessage[]): number {
  let count = 0;
  for (const message of messages) for (const part of message.parts ?? []) if (part.type === 'document' && part.source.type === 'pdf') count += 1;
  return count;
}

/** What a request's documents are counted as: each PDF's pages, each text document's text, and their titles and contexts. */
function documentTokenEstimate(messages: readonly ChatMessage[]): number {
  let tokens = 0;
  for (const message of messages) {
    for (const part of message.parts ?? []) {
      if (part.type !== 'document') continue;
      const pages = part.source.type === 'pdf' ? pdfPageTokenEstimate * part.source.pages : 0;
      tokens += pages + estimateTokens([part.title, part.context, part.source.type === 'text' ? part.source.text : undefined].filter((text) => text !== undefined).join('\n'));
    }
  }
  return tokens;
}

/**
 * What an image is counted as in estimates (routing, limits, the emulator's usage): about what
 * Anthropic charges a 1.15-megapixel image (width x height / 750) and more than OpenAI's 765 for
 * a 1024 x 1024 one at high detail. The pixels are not read: an estimate, as text's is.
 */
export const imageTokenEstimate = 1_600;

/** The images of a request's turns. */
export function imageCount(messages: readonly ChatMessage[]): number {
  let count = 0;
  for (const message of messages) for (const part of message.parts ?? []) if (part.type === 'image') count += 1;
  return count;
}

/** An ESTIMATE of a request's prompt tokens: its text (see estimateTokens) and its images (imageTokenEstimate each). */
export function estimatePromptTokens(request: ChatRequest): number {
  return estimateTokens(promptText(request)) + imageTokenEstimate * imageCount(request.messages) + documentTokenEstimate(request.messages);
}

/** One call of a caller's tool by the model. */
export interface ToolCall {
  readonly id: string;
  readonly name: string;
  /** The arguments as the model wrote them: JSON text of an object ('' while none were streamed). */
  readonly arguments: string;
}

/** A tool the caller offers the model (a function it runs itself). */
export interface ToolDefinition {
  readonly name: string;
  readonly description?: string;
  /** JSON Schema of the arguments object. */
  readonly parameters: Readonly<Record<string, unknown>>;
  /** The upstream must hold the arguments to the schema (constrained decoding): OpenAI's and Anthropic's `strict`. */
  readonly strict?: boolean;
  /** A prompt-cache breakpoint after this tool (see ChatMessage.cache). */
  readonly cache?: CacheBreakpoint;
}

/**
 * The form an answer's text must take (structured output). 'json_object': some JSON object
 * (OpenAI's JSON mode; Anthropic has no such mode). 'json_schema': JSON matching the schema, held
 * to it by the upstream when `strict` (Anthropic's `output_config.format` always is).
 */
export type ResponseFormat =
  | { readonly type: 'json_object' }
  | { readonly type: 'json_schema'; readonly name: string; readonly description?: string; readonly schema: Readonly<Record<string, unknown>>; readonly strict: boolean };

/** The name a schema gets when the caller's dialect gives none (Anthropic's): OpenAI requires one. */
export const defaultResponseFormatName = 'response';

/** Whether the model may, must, or must not call tools, or must call one named tool. */
export type ToolChoice = { readonly type: 'auto' } | { readonly type: 'none' } | { readonly type: 'required' } | { readonly type: 'tool'; readonly name: string };

export interface ChatRequest {
  readonly model: string;
  readonly messages: readonly ChatMessage[];
  /** Output token budget; undefined lets the upstream decide (OpenAI allows omitting it). */
  readonly maxTokens: number | undefined;
  readonly temperature: number | undefined;
  readonly topP: number | undefined;
  /** Sample from the k likeliest tokens only (Anthropic `top_k`; vLLM, SGLang and TGI read it too); undefined: all. */
  readonly topK?: number;
  readonly stop: readonly string[];
  readonly stream: boolean;
  /** OpenAI `stream_options.include_usage`; Anthropic streams always carry usage. */
  readonly includeUsage: boolean;
  /**
   * What a trailing assistant message is. 'continue': the start of the answer, to be continued
   * (an Anthropic prefill, or the text of a resumed answer). 'answer': a finished turn to answer
   * after (how OpenAI reads one).
   */
  readonly finalAssistant: 'continue' | 'answer';
  /**
   * A continuation's (a resumed answer's): what the caller's own request read its trailing assistant
   * turn as, before the answer so far was appended to it ('continue') or after it ('answer').
   */
  readonly resumedFrom?: 'continue' | 'answer';
  /** OpenAI sampling controls with no Anthropic equivalent: OpenAI-dialect upstreams get them, Anthropic ones cannot. */
  readonly sampling?: SamplingControls;
  /**
   * A model server's length controls (vLLM's `ignore_eos` and `min_tokens`), read only where
   * Switchyard serves as one (the emulator): the gateway refuses them, so no upstream is sent them.
   */
  readonly serverLength?: ServerLengthControls;
  /**
   * The caller's opaque id for its end user (OpenAI `user`, Anthropic `metadata.user_id`),
   * passed on so an upstream provider's abuse monitoring can tell users apart. Never logged.
   */
  readonly endUser?: string;
  /**
   * Where the caller asked inference to run (Anthropic `inference_geo`, lower-cased; 'global',
   * meaning anywhere, is left out): a jurisdiction that narrows, never widens, the tenant's.
   */
  readonly geography?: string;
  /**
   * Anthropic's automatic prompt caching (a request-level `cache_control`: the upstream puts the
   * breakpoint on the last block it can cache, moving it as the conversation grows). Anthropic-dialect
   * upstreams get it back; OpenAI-dialect ones cache prefixes by themselves.
   */
  readonly autoCache?: CacheBreakpoint;
  /** The caller's tools; left out when it offered none. */
  readonly tools?: readonly ToolDefinition[];
  /** How the tools may be used; undefined: as the upstream defaults (auto with tools). */
  readonly toolChoice?: ToolChoice;
  /** false: at most one tool call per answer (OpenAI `parallel_tool_calls`, Anthropic `disable_parallel_tool_use`); undefined: the upstream's default. */
  readonly parallelToolCalls?: boolean;
  /** The form the answer's text must take; left out for free text. */
  readonly responseFormat?: ResponseFormat;
  /** How hard a reasoning model thinks (OpenAI `reasoning_effort`, Anthropic `output_config.effort`); left out: the upstream's default. */
  readonly effort?: Effort;
  /** Extended thinking (Anthropic `thinking`), which only Anthropic-dialect upstreams give; left out: none. */
  readonly thinking?: ThinkingRequest;
}

/** Reasoning effort, on the scale both APIs share from low to high (OpenAI adds none and minimal below, Anthropic max above). */
export type Effort = 'none' | 'minimal' | 'low' | 'medium' | 'high' | 'xhigh' | 'max';

/** See ChatRequest.serverLength. */
export interface ServerLengthControls {
  /** Generate to max_tokens whatever the model's natural end (stop sequences still end it). */
  readonly ignoreEos: boolean;
  /** Tokens generated before the model's natural end or a stop sequence may end the answer. */
  readonly minTokens: number;
}

export interface SamplingControls {
  readonly seed?: number;
  readonly frequencyPenalty?: number;
  readonly presencePenalty?: number;
  /** Token id (as a string) to a bias in [-100, 100]. */
  readonly logitBias?: Readonly<Record<string, number>>;
}

/**
 * The longest stop sequence either dialect accepts. The gateway holds back answer text that could
 * begin a stop sequence (see StopSequenceGuard), so a stop of a megabyte would make it hold and copy
 * that much on every chunk; no real stop sequence is near this.
 */
export const maxStopSequenceChars = 1000;

/** The most stop sequences the gateway takes in either dialect: OpenAI's bound, as answers may be served by OpenAI-compatible upstreams (a model server, the emulator, takes any number). */
export const maxGatewayStopSequences = 4;

/**
 * The output budget of a request that gave none (OpenAI allows that): what the
 * gateway checks context windows and charges limits with, and what it sends to
 * upstreams that require a budget (Anthropic), so the two cannot disagree.
 */
export const defaultMaxOutputTokens = 4096;

export interface Usage {
  /** The whole prompt, cached parts included (what limits charge and metrics count). */
  readonly inputTokens: number;
  readonly outputTokens: number;
  /** Of outputTokens, the model's reasoning (OpenAI's reasoning_tokens, Anthropic's thinking_tokens), when the upstream said. */
  readonly reasoningTokens?: number;
  /** Of inputTokens, what the upstream's prompt cache served and stored, when it said. */
  readonly cache?: PromptCache;
}

/**
 * An upstream's prompt cache, in tokens of the prompt: read from it (Anthropic's
 * cache_read_input_tokens, OpenAI's cached_tokens) and written to it (Anthropic's
 * cache_creation_input_tokens, OpenAI's cache_write_tokens; 0 when not said). Reads are billed
 * less than the rest of a prompt, writes more, and a write kept an hour more than one kept 5 minutes.
 */
export interface PromptCache {
  readonly readTokens: number;
  readonly writeTokens: number;
  /** Of writeTokens, those written for an hour (Anthropic's cache_creation.ephemeral_1h_input_tokens), when the upstream said. */
  readonly writeTokensOneHour?: number;
}

/**
 * A token count read from an upstream: a whole number >= 0, else undefined (unknown). Usage is
 * charged to tenants and counted in metrics, so a negative, fractional or non-numeric count
 * must never pass for one.
 */
export function tokenCount(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? value : undefined;
}

/**
 * Why an answer ended. 'content_filter': the upstream withheld or cut the answer (OpenAI
 * content_filter, Anthropic refusal), which a caller must be able to tell from a normal stop;
 * 'context_window': the model ran out of context (Anthropic model_context_window_exceeded,
 * which OpenAI calls length); 'tool_calls': the model called tools and waits for their results
 * (OpenAI tool_calls, Anthropic tool_use).
 */
export type FinishReason = 'stop' | 'length' | 'content_filter' | 'context_window' | 'tool_calls';

/**
 * Whether an answer that ended so was cut short (its budget, its context window, or a filter): its
 * last text or tool call may be unfinished, which the finish itself tells the caller.
 */
export function isCutShort(finish: FinishReason): boolean {
  return finish === 'length' || finish === 'context_window' || finish === 'content_filter';
}

export interface ChatResult {
  readonly id: string;
  readonly model: string;
  readonly text: string;
  readonly finishReason: FinishReason;
  /** With finish 'stop': the stop sequence that ended the answer, when the upstream said which. */
  readonly stopSequence?: string;
  /** The tools the answer called, after its text. */
  readonly toolCalls?: readonly ToolCall[];
  /** The text is the model's refusal (OpenAI's `refusal`; the finish is then content_filter). */
  readonly refusal?: true;
  /** The model's thinking, before its text; left out when there was none. */
  readonly thinking?: readonly ThinkingBlock[];
  /** An open model's reasoning (see the 'reasoning' event); left out when there was none. */
  readonly reasoning?: string;
  readonly usage: Usage;
}

/**
 * One step of a streamed answer. A stream is start, then text and tool calls (each call's
 * 'tool_call' before its 'tool_arguments'), then finish or error. Tool calls are numbered from 0
 * in the order they begin; a call's arguments end where the next call or the finish begins.
 */
export type ChatEvent =
  | { readonly type: 'start'; readonly id: string; readonly model: string; readonly inputTokens: number; readonly cache?: PromptCache }
  /** refusal: the text is the model's refusal (OpenAI's `refusal`, which its callers read apart from content). */
  | { readonly type: 'text'; readonly text: string; readonly refusal?: true }
  | { readonly type: 'tool_call'; readonly index: number; readonly id: string; readonly name: string }
  | { readonly type: 'tool_arguments'; readonly index: number; readonly text: string }
  /**
   * The model's thinking (Anthropic extended thinking), before its text: a block's text in pieces,
   * then its signature, which ends the block; a 'thinking' after a signature begins the next block.
   */
  | { readonly type: 'thinking'; readonly text: string }
  | { readonly type: 'thinking_signature'; readonly signature: string }
  /** A whole thinking block the upstream redacted (encrypted): passed on as it came. */
  | { readonly type: 'redacted_thinking'; readonly data: string }
  /**
   * An open model's reasoning before its answer, as vLLM's reasoning parsers (and DeepSeek's API)
   * stream it in `reasoning_content` (or `reasoning`): unsigned, so carried to OpenAI callers only
   * (an Anthropic caller's thinking must be signed to go back).
   */
  | { readonly type: 'reasoning'; readonly text: string }
  /** A call's arguments are whole (Anthropic's content_block_stop); streams that do not say so end a call where the next one or the finish begins. */
  | { readonly type: 'tool_call_end'; readonly index: number }
  | { readonly type: 'finish'; readonly finishReason: FinishReason; readonly stopSequence?: string; readonly usage: Usage }
  /** `fromUpstream`: the message is an upstream's own error frame (its words may quote the request), not the gateway's. */
  | {
      readonly type: 'error';
      readonly kind: ErrorKind;
      readonly message: string;
      readonly fromUpstream?: true;
      /** The gateway's own account of a network failure (its HTTP client's error code): for logs, never for callers. */
      readonly detail?: string;
    };

/** Error categories both dialects can express. */
export type ErrorKind = 'invalid_request' | 'too_large' | 'authentication' | 'permission' | 'not_found' | 'rate_limit' | 'overloaded' | 'api_error' | 'timeout';

/**
 * A machine-readable detail below an ErrorKind, for dialects that carry one, named as that API
 * names it: OpenAI's `error.code`, which clients switch on (e.g. to shorten a prompt), and
 * Anthropic's `error.details.error_code` (its SDK's tool runner stops threading on
 * thread_unsupported_request).
 */
export type ErrorCode = 'context_length_exceeded' | 'model_not_found' | 'invalid_api_key' | 'thread_unsupported_request';

const errorCodes: ReadonlySet<string> = new Set<ErrorCode>(['context_length_exceeded', 'model_not_found', 'invalid_api_key']);

/** What an upstream's error body says: its message, and the field and code it names when they are plain. */
export interface UpstreamErrorDetail {
  readonly message: string;
  readonly param: string | undefined;
  readonly code: ErrorCode | undefined;
  /** The upstream's own code or type when it is a plain name (invalid_api_key, overloaded_error): safe to log, unlike its message. */
  readonly label: string | undefined;
  /** A context-length refusal's figures, when its words give them (OpenAI's and vLLM's, Anthropic's). */
  readonly contextLimit: ContextLimit | undefined;
}

/**
 * What an upstream's error body says, in any of the shapes servers send: `{error: {message, param,
 * code}}` (OpenAI, Anthropic, recent vLLM), flat `{object: 'error', message, ...}` (older vLLM,
 * SGLang), `{error: '...'}` (TGI), `{detail: '...'}` or FastAPI's validation list `{detail: [{loc,
 * msg}]}` (only locations and messages: its `input` may quote the prompt). A context-length refusal
 * the upstream gives no code is named by its wording, since clients switch on the code.
 */
export function upstreamErrorDetail(body: unknown): UpstreamErrorDetail {
  const top = isRecord(body) ? body : {};
  const nested = isRecord(top.error) ? top.error : undefined;
  const source = nested ?? top;
  const message =
    typeof source.message === 'string' && source.message !== ''
      ? source.message
      : typeof top.error === 'string' && top.error !== ''
        ? top.error
        : (validationMessage(top.detail) ?? 'upstream error');
  const named = typeof source.code === 'string' && errorCodes.has(source.code) ? (source.code as ErrorCode) : undefined;
  const code = named ?? (contextLengthWording.test(message) ? 'context_length_exceeded' : undefined);
  // OpenAI names messages as the field of a context-length refusal, as the gateway's own does.
  const param = typeof source.param === 'string' && /^[\w.[\]-]{1,128}$/.test(source.param) ? source.param : code === 'context_length_exceeded' ? 'messages' : undefined;
  const label = [source.code, source.type, top.error_type].find((value): value is string => typeof value === 'string' && /^[\w.-]{1,64}$/.test(value) && value !== 'error');
  return { message, param, code, label, contextLimit: code === 'context_length_exceeded' ? contextLimitOf(message) : undefined };
}

/** The figures a context-length refusal gives in OpenAI's (and vLLM's, old and new) or Anthropic's words. */
function contextLimitOf(message: string): ContextLimit | undefined {
  // OpenAI and older vLLM: "... However, you requested T tokens (P in the messages[, F in the functions], O in the completion)".
  const openai = /maximum context length is (\d+) tokens\. However, you requested \d+ tokens \((\d+) in the messages,(?: (\d+) in the functions,)? (\d+) in the completion\)/.exec(message);
  if (openai !== null) return { window: Number(openai[1]), promptTokens: Number(openai[2]) + Number(openai[3] ?? 0), outputTokens: Number(openai[4]) };
  // vLLM since 2025: "'max_tokens' or 'max_completion_tokens' is too large: O. This model's maximum context length is W tokens and your request has P input tokens".
  const vllm = /is too large: (\d+)\. This model's maximum context length is (\d+) tokens and your request has (\d+) input tokens/.exec(message);
  if (vllm !== null) return { outputTokens: Number(vllm[1]), window: Number(vllm[2]), promptTokens: Number(vllm[3]) };
  // The prompt alone: OpenAI's "your messages resulted in P tokens", vLLM's "you requested P tokens in the messages".
  // vLLM 0.19 and later (and services before it): "However, you requested O output tokens and your prompt contains (at least) P input tokens".
  const split = /maximum context length is (\d+) tokens\. However, you requested (\d+) output tokens and your prompt contains (?:at least )?(\d+) input tokens/.exec(message);
  if (split !== null) return { window: Number(split[1]), outputTokens: Number(split[2]), promptTokens: Number(split[3]) };
  const requestHas = /maximum context length is (\d+) tokens\. However, your request has (\d+) input tokens/.exec(message);
  if (requestHas !== null) return { window: Number(requestHas[1]), promptTokens: Number(requestHas[2]), outputTokens: 0 };
  // (A bare "you requested T tokens." is prompt and completion together: no figures.)
  const prompt = /maximum context length is (\d+) tokens\. However, (?:your messages resulted in (\d+) tokens|you requested (\d+) tokens in the messages)/.exec(message);
  if (prompt !== null) return { window: Number(prompt[1]), promptTokens: Number(prompt[2] ?? prompt[3]), outputTokens: 0 };
  const anthropic = /input length and `max_tokens` exceed context limit: (\d+) \+ (\d+) > (\d+)/.exec(message);
  if (anthropic !== null) return { promptTokens: Number(anthropic[1]), outputTokens: Number(anthropic[2]), window: Number(anthropic[3]) };
  const tooLong = /prompt is too long: (\d+) tokens > (\d+) maximum/.exec(message);
  if (tooLong !== null) return { promptTokens: Number(tooLong[1]), outputTokens: 0, window: Number(tooLong[2]) };
  return undefined;
}

// vLLM and OpenAI: "maximum context length is N tokens"; vLLM V1: "longer than the maximum model
// length"; Anthropic: "prompt is too long", "input length and `max_tokens` exceed context limit";
// SGLang: "longer than the model's context length"; TGI: "`inputs` tokens + `max_new_tokens` must be <= N".
const contextLengthWording = /context length|prompt is too long|context window|context limit|maximum model length|tokens \+ `max_new_tokens` must be <=/i;

function validationMessage(detail: unknown): string | undefined {
  if (typeof detail === 'string' && detail !== '') return detail;
  if (!Array.isArray(detail)) return undefined;
  const parts = detail.slice(0, 3).flatMap((entry) => {
    if (!isRecord(entry) || typeof entry.msg !== 'string') return [];
    const location = Array.isArray(entry.loc) ? entry.loc.filter((part) => typeof part === 'string' || typeof part === 'number').join('.') : '';
    return [location === '' ? entry.msg : `${location}: ${entry.msg}`];
  });
  return parts.length === 0 ? undefined : parts.join('; ');
}

/** An error as a dialect renders it for the caller. */
export interface ErrorReport {
  readonly kind: ErrorKind;
  readonly message: string;
  /** The request field at fault, for dialects that name it (OpenAI's `param`). */
  readonly param?: string | undefined;
  readonly code?: ErrorCode | undefined;
  /** For a refusal by a tenant limit: which one (OpenAI names it in `type`). */
  readonly limit?: RateLimitName | undefined;
  /** The id the response's request-id header carries (Anthropic repeats it in the body). */
  readonly requestId?: string | undefined;
  /** A context-window refusal's figures, which clients read from the message in their API's words. */
  readonly contextLimit?: ContextLimit | undefined;
}

/**
 * A request too long for the largest window it may use: its prompt (estimated), its output budget,
 * and that window. Clients parse these from the API's own message (Claude Code lowers max_tokens
 * to fit and retries; LangChain and LiteLLM tell an overflow by it).
 */
export interface ContextLimit {
  readonly promptTokens: number;
  readonly outputTokens: number;
  readonly window: number;
}

export type RateLimitName = 'requests' | 'tokens';

/** One of a caller's per-minute limits after a request was checked against it. */
export interface RateLimitWindow {
  readonly limit: number;
  readonly remaining: number;
  /** How long until the limit is fully replenished. */
  readonly resetMs: number;
}

/** A caller's limits, for the dialect's rate-limit response headers. */
export type RateLimitState = Readonly<Record<RateLimitName, RateLimitWindow>>;

/** A request a dialect could not accept: answered as a 4xx in the caller's dialect. */
export interface RequestProblem {
  readonly status: number;
  readonly kind: ErrorKind;
  readonly message: string;
  readonly param?: string;
  /** A detail clients act on (see ErrorCode). */
  readonly code?: ErrorCode;
}

export type Parsed<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly problem: RequestProblem };

/** Anthropic's least budget for extended thinking (`budget_tokens`): a request's, or one the gateway lowers. */
export const minThinkingBudget = 1024;

/**
 * The text a request puts before the model, for estimates (tokens, the emulator's seed): the tools
 * offered (chat templates write them into the prompt), a response format's schema (upstreams write
 * it into the prompt too), then every turn's text and tool calls.
 */
export function promptText(request: ChatRequest): string {
  const turns = request.messages.map((message) => (message.toolCalls === undefined ? message.content : `${message.content}${message.toolCalls.map((call) => `\n${call.name}(${call.arguments})`).join('')}`)).join('\n');
  const format = request.responseFormat?.type === 'json_schema' ? `${JSON.stringify(request.responseFormat.schema)}\n` : '';
  // The tools as a chat template writes them: name, description, parameters (not the gateway's own flags).
  const tools = request.tools?.map(({ name, description, parameters }) => ({ name, ...(description === undefined ? {} : { description }), parameters }));
  return tools === undefined ? `${format}${turns}` : `${JSON.stringify(tools)}\n${format}${turns}`;
}

/**
 * Whether a turn's text says anything. Anthropic refuses a turn without visible text, so its
 * encoder drops such turns, and routing does not take a trailing one for a prefill.
 */
export function hasVisibleText(text: string): boolean {
  return text.trim() !== '';
}

/**
 * A run of system messages right after an assistant turn, that ends an OpenAI caller's conversation
 * (a finished turn, then an instruction), or that the answer so far follows when that conversation
 * is resumed. Where the system prompt stands apart (Anthropic), they are sent as a user turn there,
 * so the model answers them: in the system prompt they would leave the assistant turn last, read as
 * a prefill and continued (E49). Not after a prefill (an Anthropic caller's, or
 * continue_final_message), which is continued as it was asked (R40), nor in a conversation with no
 * user turn or system prompt before them, which would then begin with the assistant's. Their bounds
 * in `messages`; undefined when there is no such run, or it says nothing.
 */
export function closingInstructions(request: Pick<ChatRequest, 'messages' | 'finalAssistant' | 'resumedFrom'>): { readonly start: number; readonly end: number } | undefined {
  const messages = request.messages;
  const resumed = request.resumedFrom === 'answer' && request.finalAssistant === 'continue' && messages.at(-1)?.role === 'assistant';
  if (!resumed && request.finalAssistant !== 'answer') return undefined;
  // Turns that say nothing, of any role (an agent SDK's empty input), are left out on the way to
  // Anthropic wherever they stand: the run is read past them, after it and within it (R42).
  const silent = (message: ChatMessage | undefined): boolean => message !== undefined && message.role !== 'system' && !saysSomething(message) && message.thinking === undefined;
  let end = resumed ? messages.length - 1 : messages.length;
  while (silent(messages[end - 1])) end -= 1;
  let start = end;
  while (start > 0 && (messages[start - 1]?.role === 'system' || silent(messages[start - 1]))) start -= 1;
  if (start === end || messages[start - 1]?.role !== 'assistant') return undefined;
  // (A system prompt before counts: Anthropic's encoder makes it the first user turn when no other is.)
  if (!messages.slice(0, start).some((message) => message.role !== 'assistant' && (message.role === 'system' ? hasVisibleText(message.content) : saysSomething(message)))) return undefined;
  return messages.slice(start, end).some((message) => message.role === 'system' && hasVisibleText(message.content)) ? { start, end } : undefined;
}

/** Whether a turn says anything to the model: visible text, an image, tool calls, or a tool's result (which may be empty). */
export function saysSomething(message: ChatMessage): boolean {
  return message.role === 'tool' || (message.toolCalls !== undefined && message.toolCalls.length > 0) || hasVisibleText(message.content) || message.parts?.some((part) => part.type !== 'text') === true;
}

/**
 * The last turn every upstream sees: system messages and turns without visible text left out, as
 * the Anthropic encoder leaves them (to its system prompt, or out). What routing reads a request's
 * ending from, so that [user, assistant, system] counts as ending with the assistant turn.
 */
export function lastSpokenTurn(messages: readonly ChatMessage[]): ChatMessage | undefined {
  for (let index = messages.length - 1; index >= 0; index -= 1) {
    const message = messages[index];
    if (message !== undefined && message.role !== 'system' && saysSomething(message)) return message;
  }
  return undefined;
}

/**
 * An ESTIMATE of a text's tokens: one per four bytes of UTF-8, rounded up. Within about 10% of
 * common tokenizers (o200k, cl100k) for English and code, and within 0.9-1.6x for Cyrillic,
 * Arabic, Devanagari, Chinese, Japanese and Korean, where one per four characters read 3-4.5x
 * low; still low for punctuation-dense JSON (1.4-1.6x) and emoji (up to 2.6x), so callers add
 * the output budget and endpoints keep context headroom. The gateway (routing, limits) and the
 * emulator (usage) count with this one rule.
 */
export function estimateTokens(text: string): number {
  return Math.ceil(Buffer.byteLength(text, 'utf8') / 4);
}
