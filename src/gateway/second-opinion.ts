import type { CircuitStatus } from './circuit-breaker.js';
import type { EndpointConfig } from './gateway-config.js';
import type { RouteDecision } from './route-request.js';
import type { UpstreamTarget } from './upstream-client.js';

/** What of an endpoint says which deployment it is a replica of, and how it is written to. */
export interface Replica {
  readonly config: Pick<EndpointConfig, 'id' | 'pool' | 'provider' | 'region'>;
  readonly target: Pick<UpstreamTarget, 'dialect' | 'encoding'>;
}

/**
 * Where a refusal's second opinion is asked, when an endpoint refused the caller's request as its
 * fault (400, 413, 422): the next eligible endpoint, as routing ranks them, but first one of another
 * deployment, with its circuit closed, sent the same request. Replicas of one pool (or, where the
 * config names no pools, of one provider's region) run the same server build and configuration, so
 * two of them refusing alike is one opinion; a half-open or ejected endpoint's refusal is none either;
 * and only an endpoint sent the same request can show the refusal was the endpoint's (sameShape).
 * E55: two replicas of the cheapest pool refusing every request with a 400 failed the whole route,
 * its other pool healthy and idle. Where no endpoint meets them all, the same request is given up
 * first, then another deployment, then a closed circuit (a circuit opened by recent failures makes
 * the weaker witness of the two); with none met, `undefined`: the routing as it is.
 */
export function secondOpinionRoute<E extends Replica>(route: (exclude: ReadonlySet<string>) => RouteDecision, tried: ReadonlySet<string>, refusing: E, candidates: readonly E[], circuitOf: (endpoint: E) => CircuitStatus): RouteDecision | undefined {
  const idsOf = (keep: (endpoint: E) => boolean): string[] => candidates.filter(keep).map((endpoint) => endpoint.config.id);
  const sameDeployment = idsOf((endpoint) => deploymentOf(endpoint) === deploymentOf(refusing));
  const notClosed = idsOf((endpoint) => circuitOf(endpoint) !== 'closed');
  const otherShape = idsOf((endpoint) => !sameShape(endpoint, refusing));
  for (const exclude of [[...sameDeployment, ...notClosed, ...otherShape], [...sameDeployment, ...notClosed], notClosed, sameDeployment]) {
    const decision = route(new Set([...tried, ...exclude]));
    if (decision.ok && !decision.panic) return decision;
  }
  return undefined;
}

/** Whether two endpoints are sent the same request for one caller's request: the same dialect, written the same way. */
export function sameShape(a: Replica, b: Replica): boolean {
  const [one, other] = [a.target, b.target];
  return one.dialect === other.dialect && one.encoding?.maxTokensField === other.encoding?.maxTokensField && one.encoding?.withoutThinking === other.encoding?.withoutThinking;
}

/** The deployment an endpoint is a replica of: its pool, else its provider's region. */
function deploymentOf(endpoint: Replica): string {
  const { pool, provider, region } = endpoint.config;
  return pool === undefined ? `region ${provider} ${region}` : `pool ${pool}`;
}
