import type { ChatRequest } from '../../src/protocol/chat.js';
import type { Dialect } from '../../src/protocol/dialect.js';

/** A request body as the gateway reads it in `dialect`; throws with the refusal's message if refused. */
export function readRequest(dialect: Dialect, body: Record<string, unknown>): ChatRequest {
  const parsed = dialect.parseRequest(body);
  if (!parsed.ok) throw new Error(parsed.problem.message);
  return parsed.value;
}

/** The param and message a body is refused with in `dialect`, or 'accepted'. */
export function refusalOf(dialect: Dialect, body: Record<string, unknown>): unknown {
  const parsed = dialect.parseRequest(body);
  return parsed.ok ? 'accepted' : { param: parsed.problem.param, message: parsed.problem.message };
}
