import type { ContextLimit, ErrorCode, ErrorKind, RateLimitName, RequestProblem } from '../protocol/chat.js';

/** What a ClientError may carry besides its status, kind and message. */
export interface ClientErrorDetails {
  /** Response headers (Retry-After, Allow). */
  readonly headers?: Record<string, string>;
  /**
   * Whether a retry by the caller may help. By default, what the status says: both SDKs retry 408,
   * 409, 429 and 5xx, and nothing else. False for such a status where no retry can help (the
   * gateway's configuration, a jurisdiction, a limit the request can never fit): the answer then
   * says `x-should-retry: false`, which both SDKs obey.
   */
  readonly isRetryable?: boolean;
  /** The request field at fault, for dialects that name it (OpenAI's `param`). */
  readonly param?: string;
  /** A detail below the kind, for dialects that carry one (OpenAI's `code`). */
  readonly code?: ErrorCode;
  /** The endpoint whose failure this is, for metrics and logs. */
  readonly endpoint?: string;
  /** For a refusal by a tenant limit: which one. */
  readonly limit?: RateLimitName;
  /** What the log says instead of the message, when the message may quote the caller's prompt. */
  readonly logMessage?: string;
  /** For a request too long for its windows: the figures, which the caller's dialect words as its API does. */
  readonly contextLimit?: ContextLimit;
}

/** A request that ends with an error status in the caller's dialect; thrown anywhere while serving and answered once by the server. */
export class ClientError extends Error {
  readonly headers: Record<string, string>;
  readonly param: string | undefined;
  readonly code: ErrorCode | undefined;
  readonly endpoint: string | undefined;
  readonly limit: RateLimitName | undefined;
  readonly logMessage: string;
  readonly contextLimit: ContextLimit | undefined;
  readonly isRetryable: boolean;

  constructor(
    readonly status: number,
    readonly kind: ErrorKind,
    message: string,
    details: ClientErrorDetails = {},
  ) {
    super(message);
    this.headers = details.headers ?? {};
    this.param = details.param;
    this.code = details.code;
    this.endpoint = details.endpoint;
    this.limit = details.limit;
    this.logMessage = details.logMessage ?? message;
    this.contextLimit = details.contextLimit;
    this.isRetryable = details.isRetryable ?? retriedByStatus(status);
  }

  /** The headers its answer carries, the SDKs' retry hint among them. */
  get responseHeaders(): Record<string, string> {
    return this.isRetryable ? this.headers : { ...this.headers, 'x-should-retry': 'false' };
  }
}

/** Whether the SDKs retry an answer of this status unless told not to (408, 409, 429, 5xx). */
function retriedByStatus(status: number): boolean {
  return status === 408 || status === 409 || status === 429 || status >= 500;
}

/** A dialect's request problem as a ClientError. */
export function problemError(problem: RequestProblem): ClientError {
  // A whole-body problem has no field to name.
  return new ClientError(problem.status, problem.kind, problem.message, { ...(problem.param === '' || problem.param === undefined ? {} : { param: problem.param }), ...(problem.code === undefined ? {} : { code: problem.code }) });
}

/** A request the gateway will not serve because it is shutting down: sent elsewhere by a retry. */
export function shuttingDownError(): ClientError {
  return new ClientError(503, 'overloaded', 'the gateway is shutting down; retry the request', { headers: { connection: 'close' } });
}
