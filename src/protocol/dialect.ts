import type { ChatEvent, ChatRequest, ChatResult, ErrorKind, ErrorReport, Parsed, RateLimitState } from './chat.js';

/** The APIs there are adapters for: an endpoint's `dialect` in a gateway config names one. */
export const dialectNames = ['openai', 'anthropic'] as const;
export type DialectName = (typeof dialectNames)[number];

/**
 * A wire dialect (spec v1): one adapter per API, implementing only this. The
 * gateway and emulator speak canonical types and pick a dialect per request
 * (inbound) or per endpoint (upstream).
 */
export interface Dialect {
  readonly name: DialectName;
  /** Path of the chat endpoint relative to an API base URL. */
  readonly chatPath: string;
  /**
   * Whether this dialect writes a tool call's arguments as a JSON object (Anthropic's `input`)
   * rather than as the model's text (OpenAI's `arguments`): arguments that are not an object
   * cannot be written in a whole answer.
   */
  readonly toolArgumentsAsObject: boolean;
  /**
   * Whether this API may hold a tool call's arguments back until they are whole (Anthropic buffers
   * large ones unless asked for fine-grained tool streaming: seconds to minutes of silence after a
   * call begins), rather than stream them as they are generated (OpenAI, vLLM).
   */
  readonly mayHoldToolArguments: boolean;
  /** Whether this API shows callers an open model's reasoning (OpenAI callers get reasoning_content; Anthropic's thinking must be signed). */
  readonly showsReasoning: boolean;
  /** Whether this API's stream states the prompt's count and cache parts at its start (Anthropic's message_start), before the usage at its end. */
  readonly streamStartStatesUsage: boolean;
  /** Response header this dialect's SDK reads the request id from. */
  readonly requestIdHeader: string;
  /**
   * A request header only this API's clients send (by lower-case name; Anthropic's
   * `anthropic-version`): a request to no dialect's chat path that carries it is answered in this
   * dialect, which its SDK reads (GET /v1/models, an unserved path's 404).
   */
  readonly versionHeader?: string;
  /**
   * Request headers of this API that ask for what the gateway cannot give (by lower-case name, each
   * with why and what to do): a chat request carrying one, not empty, is refused rather than served
   * as if it had not asked. Token counts are not refused for them: a count bills nobody.
   */
  readonly refusedHeaders: Readonly<Record<string, string>>;
  /**
   * A frame to write into a stream that has been silent a while, where the API has one (Anthropic's
   * `ping`, which its streams may carry any number of): bytes that keep a caller's proxies and idle
   * timeouts from cutting a long pause (a tool call held back until whole, reasoning not shown, a
   * resume), which its SDKs read and drop.
   */
  readonly keepAliveFrame?: string;
  /** What an upstream server of this dialect can be sent: routing reads these, never the dialect's name. */
  readonly upstream: UpstreamTraits;

  /** A response id of this dialect's form (`chatcmpl-…`, `msg_…`) around an opaque unique token. */
  responseId(token: string): string;

  /**
   * Inbound: a client's JSON body to a canonical request, or a 4xx problem. `asServer`: read as a
   * model server reads it (the emulator), not as the gateway, which refuses fields it cannot carry
   * to an upstream (engine extensions, another API's fields) rather than drop them.
   */
  parseRequest(body: unknown, options?: { readonly asServer?: boolean }): Parsed<ChatRequest>;
  /** Upstream: a canonical request to this dialect's JSON body. */
  encodeRequest(request: ChatRequest, options?: EncodeOptions): unknown;
  /** Headers an upstream of this dialect needs for a key (never logged). */
  authHeaders(apiKey: string | undefined): Record<string, string>;

  /** A complete answer as this dialect's JSON response body; `createdSeconds`: when it began, in Unix seconds (the caller's clock). */
  formatResult(result: ChatResult, createdSeconds: number): unknown;
  /** An upstream's JSON response body to a canonical answer. */
  parseResult(body: unknown): Parsed<ChatResult>;

  /** Writes canonical stream events as this dialect's SSE frames. */
  createStreamWriter(options: { includeUsage: boolean; created: number }): StreamWriter;
  /** Reads this dialect's SSE events (event name, data) into canonical events. */
  createStreamReader(): StreamReader;

  /** The models a server offers, as this dialect's list body (GET /v1/models), paged as the query asks where the dialect pages. */
  formatModelList(ids: readonly string[], query: URLSearchParams): Parsed<unknown>;
  /** One model, as this dialect's model object (GET /v1/models/{id}). */
  formatModel(id: string): unknown;

  /** An error body in this dialect. */
  formatError(error: ErrorReport): unknown;
  /** The status this dialect answers an error of `kind` with, where it differs from the gateway's `status`. */
  errorStatus(kind: ErrorKind, status: number): number;
  /** A caller's rate-limit state as this dialect's response headers; `now` in epoch ms. */
  rateLimitHeaders(state: RateLimitState, now: number): Record<string, string>;

  /** Counting a request's input tokens without answering it, where the API has it (Anthropic's). */
  readonly tokenCounting?: TokenCounting;
}

/** What every server of a dialect can be sent, whatever an endpoint's config says. */
export interface UpstreamTraits {
  /**
   * System messages go to a system prompt apart from the turns, and turns without text are left
   * out: the turn a request ends with may differ there (RouteInput.joinedTrailingAssistant).
   */
  readonly systemPromptApart: boolean;
  /**
   * A trailing assistant turn is always read as a prefill to continue (Anthropic's API), never as a
   * finished turn to answer after (OpenAI's API reads either, as the caller marks it).
   */
  readonly trailingAssistantIsPrefill: boolean;
  /** Extended thinking comes back with a signature the API checks when it is sent back (only Anthropic's can be carried). */
  readonly signedThinking: boolean;
  /** JSON mode (any JSON object) besides schemas: Anthropic's API has schemas only. */
  readonly jsonMode: boolean;
  /**
   * Structured output closes every object of a schema to properties it does not list (Anthropic's
   * API): a map, or an object without properties, could only be answered empty.
   */
  readonly closesEveryObject: boolean;
  /** Whether an endpoint reads PDFs unless its config says: Anthropic reads them; vLLM and SGLang, OpenAI's usual servers, take no files. */
  readonly pdfsByDefault: boolean;
  /** Whether servers of this API differ in the field that carries the output budget, so an endpoint names it (EncodeOptions.maxTokensField). */
  readonly budgetFieldVaries: boolean;
  /** Whether the API counts a request's tokens (the dialect's tokenCounting). */
  readonly countsTokens: boolean;
}

/**
 * A dialect's token counting API: the request is a chat request without an answer's settings
 * (no max_tokens, stream or sampling), the answer the input tokens the model would read.
 */
export interface TokenCounting {
  /** Path relative to an API base URL. */
  readonly path: string;
  /** Inbound: a client's JSON body to a canonical request (its maxTokens undefined), or a 4xx problem. */
  parseRequest(body: unknown, options?: { readonly asServer?: boolean }): Parsed<ChatRequest>;
  /** Upstream: a canonical request to this API's JSON body. */
  encodeRequest(request: ChatRequest, options?: EncodeOptions): unknown;
  /** The count as this API's response body. */
  formatResult(inputTokens: number): unknown;
  /** An upstream's response body to its count. */
  parseResult(body: unknown): Parsed<number>;
}

/** How one upstream wants a request written, where servers of one dialect differ. */
export interface EncodeOptions {
  /**
   * OpenAI dialect: the field that carries the output budget. `max_tokens` is read by vLLM, SGLang
   * and TGI; OpenAI's reasoning models (and Azure's) refuse it and read only `max_completion_tokens`,
   * which TGI ignores. Default `max_tokens`.
   */
  readonly maxTokensField?: 'max_tokens' | 'max_completion_tokens';
  /**
   * Anthropic dialect: leave thinking blocks out of the history, for a server without thinking
   * (an endpoint marked thinking: false) that may refuse blocks it cannot check.
   */
  readonly withoutThinking?: true;
}

export interface StreamWriter {
  /** SSE frames for one canonical event (possibly none, possibly several). */
  write(event: ChatEvent): string;
}

export interface StreamReader {
  /** Canonical events for one SSE event; `done` once the stream's terminal frame is seen. */
  read(event: string | undefined, data: string): { events: ChatEvent[]; done: boolean };
  /**
   * For a stream that broke off before its terminal frame: the finish it had already
   * announced (its answer is complete, only the usage or terminator was lost), if any.
   */
  announcedFinish(): Extract<ChatEvent, { type: 'finish' }> | undefined;
}
