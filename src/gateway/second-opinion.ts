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
 * first, then a closed circuit, then another deployment: a sibling's refusal is no second opinion at
 * all, and under cost routing nothing else would probe another pool whose circuit is half-open (R71:
 * the route failed for good). With none met, `undefined`: the routing as it is.
 */
export function secondOpinionRoute<E extends Replica>(route: (exclude: ReadonlySet<string>) => RouteDecision, tried: ReadonlySet<string>, refusing: E, candidates: readonly E[], circuitOf: (endpoint: E) => CircuitStatus): RouteDecision | undefined {
  const sameDeployment = idsOf(candidates, (endpoint) => sameDeploymentAs(endpoint, refusing));
  const notClosed = idsOf(candidates, (endpoint) => circuitOf(endpoint) !== 'closed');
  const otherShape = idsOf(candidates, (endpoint) => !sameShape(endpoint, refusing));
  for (const exclude of [[...sameDeployment, ...notClosed, ...otherShape], [...sameDeployment, ...notClosed], sameDeployment, notClosed]) {
    const decision = route(new Set([...tried, ...exclude]));
    if (decision.ok && !decision.panic) return decision;
  }
  return undefined;
}

/**
 * Whether another deployment than the refusing one's is eligible and untried: a second refusal from
 * the refusing one's own (a hedge's leg, routed to its sibling) is then no second opinion, and that
 * one is still asked (R71).
 */
export function otherDeploymentLeft<E extends Replica>(route: (exclude: ReadonlySet<string>) => RouteDecision, tried: ReadonlySet<string>, refusing: E, candidates: readonly E[]): boolean {
  const decision = route(new Set([...tried, ...idsOf(candidates, (endpoint) => sameDeploymentAs(endpoint, refusing))]));
  return decision.ok && !decision.panic;
}

/** Whether two endpoints are replicas of one deployment (see secondOpinionRoute). */
export function sameDeploymentAs(a: Replica, b: Replica): boolean {
  return deploymentOf(a) === deploymentOf(b);
}

/**
 * Whether two endpoints are sent the same request for one caller's request, so that one's answer
 * shows the other's refusal was its own fault: an endpoint written to another way (another dialect,
 * or its own encoding options: thinking blocks left out where thinking is off) may have been sent
 * less, and its taking that says nothing of the refusal. Each encoding option is compared here.
 */
export function sameShape(a: Replica, b: Replica): boolean {
  const [one, other] = [a.target, b.target];
  return one.dialect === other.dialect && one.encoding?.maxTokensField === other.encoding?.maxTokensField && one.encoding?.withoutThinking === other.encoding?.withoutThinking;
}

function idsOf<E extends Replica>(candidates: readonly E[], keep: (endpoint: E) => boolean): string[] {
  return candidates.filter(keep).map((endpoint) => endpoint.config.id);
}

/** The deployment an endpoint is a replica of: its pool, else its provider's region. */
function deploymentOf(endpoint: Replica): string {
  const { pool, provider, region } = endpoint.config;
  return pool === undefined ? `region ${provider} ${region}` : `pool ${pool}`;
}
