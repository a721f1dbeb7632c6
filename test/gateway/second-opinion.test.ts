import { describe, expect, it } from 'vitest';
import type { CircuitStatus } from '../../src/gateway/circuit-breaker.js';
import type { RouteDecision } from '../../src/gateway/route-request.js';
import { otherDeploymentLeft, sameDeploymentAs, sameShape, secondOpinionRoute, type Replica } from '../../src/gateway/second-opinion.js';

interface Fake extends Replica {
  readonly circuit: CircuitStatus;
}

function replica(id: string, options: { pool?: string; provider?: string; region?: string; dialect?: 'openai' | 'anthropic'; circuit?: CircuitStatus; withoutThinking?: true } = {}): Fake {
  return {
    config: { id, provider: options.provider ?? 'p', region: options.region ?? 'r', ...(options.pool === undefined ? {} : { pool: options.pool }) },
    target: { dialect: options.dialect ?? 'openai', ...(options.withoutThinking === undefined ? {} : { encoding: { withoutThinking: options.withoutThinking } }) },
    circuit: options.circuit ?? 'closed',
  };
}

/** A router over `ranked`, in that order, that never panics: the first endpoint not excluded, or none. */
function routerOver(ranked: readonly Fake[]): (exclude: ReadonlySet<string>) => RouteDecision {
  return (exclude) => {
    const left = ranked.filter((endpoint) => !exclude.has(endpoint.config.id));
    if (left.length === 0) return { ok: false, status: 503, code: 'unavailable', message: 'none left', ejected: [], largestWindow: 0 } as unknown as RouteDecision;
    return { ok: true, panic: false, ranked: left.map((endpoint) => ({ id: endpoint.config.id })) } as unknown as RouteDecision;
  };
}

function chosen(ranked: readonly Fake[], refusing: Fake): string | undefined {
  const decision = secondOpinionRoute(routerOver(ranked), new Set([refusing.config.id]), refusing, ranked, (endpoint) => endpoint.circuit);
  return decision?.ok === true ? decision.ranked[0]?.id : undefined;
}

describe('secondOpinionRoute', () => {
  it("asks another pool's replica before the refusing pool's own (E55)", () => {
    const [a0, a1, b0] = [replica('a0', { pool: 'a' }), replica('a1', { pool: 'a' }), replica('b0', { pool: 'b' })];
    expect(chosen([a0, a1, b0], a0)).toBe('b0');
    // With no other pool eligible, the pool's other replica is still asked.
    expect(chosen([a0, a1], a0)).toBe('a1');
  });

  it('takes a provider region for a deployment where the config names no pools', () => {
    const [one, sameRegion, otherRegion] = [replica('one'), replica('same'), replica('other', { region: 'r2' })];
    expect(chosen([one, sameRegion, otherRegion], one)).toBe('other');
  });

  it('prefers a closed circuit among other deployments, but another deployment to a closed circuit', () => {
    const [refusing, probing, closed] = [replica('x', { pool: 'x' }), replica('y', { pool: 'y', circuit: 'half-open' }), replica('z', { pool: 'z' })];
    expect(chosen([refusing, probing, closed], refusing)).toBe('z');
    // Another pool's half-open endpoint before the refusing pool's closed sibling, whose refusal
    // would be no second opinion (R71: under cost routing nothing else probes the other pool).
    const sibling = replica('x2', { pool: 'x' });
    expect(chosen([refusing, sibling, probing], refusing)).toBe('y');
    expect(chosen([refusing, sibling], refusing)).toBe('x2');
  });

  it('says whether another deployment than the refusing one is left to ask', () => {
    const [a0, a1, b0] = [replica('a0', { pool: 'a' }), replica('a1', { pool: 'a' }), replica('b0', { pool: 'b' })];
    expect(otherDeploymentLeft(routerOver([a0, a1, b0]), new Set(['a0', 'a1']), a0, [a0, a1, b0])).toBe(true);
    expect(otherDeploymentLeft(routerOver([a0, a1, b0]), new Set(['a0', 'b0']), a0, [a0, a1, b0])).toBe(false);
    expect([sameDeploymentAs(a0, a1), sameDeploymentAs(a0, b0)]).toEqual([true, false]);
  });

  it('prefers an endpoint sent the same request, whose answer can show the refusal was the endpoint\'s', () => {
    const [refusing, otherDialect, sameDialect] = [replica('x', { pool: 'x' }), replica('o', { pool: 'o', dialect: 'anthropic' }), replica('s', { pool: 's' })];
    expect(chosen([refusing, otherDialect, sameDialect], refusing)).toBe('s');
    expect(chosen([refusing, otherDialect], refusing)).toBe('o');
    expect(sameShape(refusing, replica('t', { withoutThinking: true }))).toBe(false);
  });

  it('leaves routing as it is when nothing but the refusing endpoint is left', () => {
    const refusing = replica('x', { pool: 'x' });
    expect(secondOpinionRoute(routerOver([refusing]), new Set(['x']), refusing, [refusing], (endpoint) => endpoint.circuit)).toBeUndefined();
  });
});
