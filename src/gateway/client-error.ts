import type { ErrorKind, RequestProblem } from '../protocol/chat.js';

/** A request that ends with an error status in the caller's dialect; thrown anywhere while serving and answered once by the server. */
export class ClientError extends Error {
  constructor(
    readonly status: number,
    readonly kind: ErrorKind,
    message: string,
    readonly headers: Record<string, string> = {},
    /** The request field at fault, for dialects that name it (OpenAI's `param`). */
    readonly param?: string,
    /** The endpoint whose failure this is, for metrics and logs. */
    readonly endpoint?: string,
  ) {
    super(message);
  }
}

/** A dialect's request problem as a ClientError. */
export function problemError(problem: RequestProblem): ClientError {
  // A whole-body problem has no field to name.
  return new ClientError(problem.status, problem.kind, problem.message, {}, problem.param === '' ? undefined : problem.param);
}
