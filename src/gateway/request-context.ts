import type { Logger } from 'pino';
import type { ResilienceConfig, RouteConfig, TenantConfig } from './gateway-config.js';
import type { RouteInput } from './route-request.js';

/** One chat request as the serving modules see it once it is admitted. */
export interface RequestContext {
  readonly requestId: string;
  /** The Via header the request came with (proxies, or gateways, before this one), carried onto its upstream calls. */
  readonly via: string | undefined;
  readonly tenant: TenantConfig;
  readonly route: RouteConfig;
  /** Retries, timeouts, hedging and resuming for this request: its route's own over the gateway's. */
  readonly resilience: ResilienceConfig;
  /** When the request's deadline passes (the clock of GatewayCore.now). */
  readonly deadlineAt: number;
  /** The gateway's estimate of the prompt, as admitted by the limits. */
  readonly promptTokens: number;
  /**
   * While a broken answer is resumed: the estimate of the continuation's prompt (the caller's plus
   * the answer so far), and the output room routing asks for: the budget left, or a single token
   * when no endpoint has room for all of it (each attempt's budget is then cut to its window).
   */
  resumed: { readonly promptTokens: number; readonly outputTokens: number } | undefined;
  /**
   * When the request gave no max_tokens and no window has room for the default budget after its
   * prompt: the room the largest eligible window leaves, the budget it is routed with instead, so it
   * goes where it can answer longest (each attempt's budget is what its window leaves, as vLLM and
   * OpenAI answer such a request). Undefined otherwise.
   */
  roomBudget: number | undefined;
  /**
   * When an upstream refused the prompt as too long for its window: the prompt is longer than the
   * estimate says, at least this many tokens (that window less the budget it was routed with, plus
   * one), so routing looks only at larger windows. Undefined until then.
   */
  promptFloor: number | undefined;
  /** Upstream attempts made for the request so far: failovers, retries, hedges and resumes included. */
  attempts: number;
  /** Attempts sent and waiting for their first token now (not in a backoff between them). */
  waiting: number;
  /** Whether the client disconnected (the deadline cancellation also fires then). */
  clientGone(): boolean;
  /** Whether the gateway's shutdown ended the request (its grace period ran out; see Gateway.close). */
  shuttingDown(): boolean;
  /** Failed attempts of this request per endpoint id (see noteFailure), stream breaks included. */
  failures: Map<string, number> | undefined;
  /** Endpoints this request does not go back to: they rejected the gateway's configuration. */
  banned: Set<string> | undefined;
  readonly log: Logger | { warn: (...args: unknown[]) => void; info: (...args: unknown[]) => void };
  routeInput(tried: ReadonlySet<string>): RouteInput;
}

/** The prompt as routing counts it: the continuation's while resuming, never below what an upstream showed it to be. */
export function routedPromptTokens(context: Pick<RequestContext, 'promptTokens' | 'resumed' | 'promptFloor'>): number {
  return Math.max(context.resumed?.promptTokens ?? context.promptTokens, context.promptFloor ?? 0);
}
