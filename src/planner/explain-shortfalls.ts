import { demandTokensPerSecond, type Fleet } from '../domain/fleet.js';
import { shareHolder, survivalGroup, type Evaluation } from './evaluate-decision.js';
import { formatAbove, formatBelow, formatCount, formatPolicyPercent, formatRate } from './plan-figures.js';
import type { InferenceOption, PlanOptions } from './plan-options.js';

/**
 * Why a plan falls short, in a planner's terms: which service is short where,
 * by how much, and which constraint binds (jurisdictions, SLO, capacity,
 * power, share caps, survival). `provenOnly`: just the shortfalls the options
 * alone prove, whatever any solver would place (no pool, not enough capacity
 * in every eligible pool together, no pool a training job fits), for a plan that
 * is not the best one (the solver ran out of time, or ended above its gap).
 */
export function explainShortfalls(fleet: Fleet, options: PlanOptions, evaluation: Evaluation, provenOnly = false): string[] {
  const problems: string[] = [];
  const usedByPool = new Map(evaluation.pools.map((pool) => [pool.id, pool]));
  const siteById = new Map(evaluation.sites.map((site) => [site.id, site]));
  const lose = fleet.policy.survive?.lose ?? 'provider';

  /**
   * What stops one more replica of a service on its options: a full pool, a site at its envelope, a
   * share at its cap. One test for a service short of demand and for one short of survival (R58: the
   * latter named every pool, site and cap the spec had, at its limit or not).
   */
  const limitsReached = (own: readonly InferenceOption[]): string[] => {
    const reached: string[] = [];
    const fullPools = [...new Set(own.map((o) => o.pool))].filter((pool) => (usedByPool.get(pool.id)?.used ?? 0) + Math.min(...own.filter((o) => o.pool === pool).map((o) => o.chipsPerReplica)) > pool.chips);
    if (fullPools.length > 0) reached.push(`pool capacity (${someIds(fullPools.map((p) => p.id))} full)`);
    // A site binds when not even one more replica of this service fits in its power envelope.
    const sites = [...new Set(own.map((o) => o.pool.site).filter((s): s is string => s !== undefined))].filter((id) => {
      const site = siteById.get(id);
      const smallest = Math.min(...own.filter((o) => o.pool.site === id).map((o) => o.facilityMWPerReplica));
      return site !== undefined && site.powerMW + smallest > site.limitMW * (1 + 1e-9);
    });
    if (sites.length > 0) reached.push(`site power (${sites.map((id) => `${id} at ${siteById.get(id)?.limitMW} MW`).join(', ')})`);
    for (const [kind, cap] of [['provider', fleet.policy.maxShare.provider], ['chipVendor', fleet.policy.maxShare.chipVendor]] as const) {
      if (cap === undefined) continue;
      // Only a holder the options could add to: a cap another provider is at stops nothing here.
      const theirs = new Set(own.map((o) => shareHolder(o.pool, kind)));
      const atCap = Object.entries(evaluation.shares[kind]).filter(([name, share]) => theirs.has(name) && share >= cap - 1e-3);
      if (atCap.length > 0) reached.push(`${kind === 'provider' ? 'provider' : 'chip-vendor'} share cap ${formatPolicyPercent(cap)} (${atCap.map(([name]) => name).join(', ')})`);
    }
    return reached;
  };

  for (const report of evaluation.services) {
    if (report.unmetTokensPerSecond <= report.requiredTokensPerSecond * 1e-6) continue;
    const service = fleet.services.find((s) => s.id === report.id);
    if (service === undefined) continue;
    const where = `[${service.jurisdictions.join(', ')}]`;
    const head = `service ${service.id} is short ${formatRate(report.unmetTokensPerSecond)} of ${formatRate(report.requiredTokensPerSecond)} output tokens/s in ${where}`;
    const own = options.inference.filter((o) => o.service === service);
    if (own.length === 0) {
      const excluded = options.excluded.filter((e) => e.workload === service.id);
      if (excluded.length === 0) {
        problems.push(`${head}: jurisdictions bind, no pool in ${where} (add a pool there or widen the service's jurisdictions)`);
      } else {
        // The reasons are the SLO or the pool's size (a replica the SLO needs is bigger than the pool): name both (E56).
        problems.push(`${head}: no pool in ${where} can hold a replica that meets its SLO (TTFT ${service.ttftMs} ms, TPOT ${service.tpotMs} ms): ${somePoolReasons(excluded.map((e) => `${e.pool}: ${e.reason}`))}`);
      }
      continue;
    }
    const ceiling = ceilingTokensPerSecond(own);
    if (ceiling < report.requiredTokensPerSecond) {
      problems.push(`${head}: jurisdictions bind, all eligible pools together could serve at most ${formatRate(ceiling)} tokens/s (add capacity in ${where}, relax the SLO or lower headroom)`);
      continue;
    }
    // What follows is read off this plan's placement: no proof when the plan was cut short.
    if (provenOnly) continue;
    const binding = limitsReached(own);
    problems.push(`${head}: binding ${binding.length > 0 ? binding.join('; ') : 'competition with other workloads for the same pools'}`);
  }

  const keep = fleet.policy.survive?.keep;
  if (keep !== undefined) {
    for (const row of evaluation.survival) {
      if (row.keptFraction >= keep - 1e-6) continue;
      const service = fleet.services.find((s) => s.id === row.service);
      if (service === undefined) continue;
      // A loss of what serves the service nothing (no pool of it in the service's jurisdictions) is
      // no cause: the shortfall is capacity, said above, not survival (E35: three wrong leads).
      if (!options.inference.some((o) => o.service === service && survivalGroup(o.pool, lose) === row.lost)) continue;
      // Nor when everything together could not keep that share: the cause is capacity (R25).
      if (ceilingTokensPerSecond(options.inference.filter((o) => o.service === service)) / demandTokensPerSecond(service) < keep) continue;
      const outside = options.inference.filter((o) => o.service === service && survivalGroup(o.pool, lose) !== row.lost);
      const ceiling = ceilingTokensPerSecond(outside) / demandTokensPerSecond(service);
      if (provenOnly && ceiling >= keep) continue;
      // What stops more of it outside the lost group, as a shortfall of demand is told (R58).
      const reached = limitsReached(outside);
      const cause =
        ceiling < keep
          ? `survival binds: outside ${row.lost}, pools in [${service.jurisdictions.join(', ')}] could keep at most ${formatBelow(ceiling)} (add capacity with another ${lose} there)`
          : `survival binds with ${reached.length > 0 ? reached.join('; ') : 'competition with other workloads for the same pools'} outside ${row.lost} (add capacity with another ${lose} in [${service.jurisdictions.join(', ')}], or lower policy.survive.keep)`;
      problems.push(`losing ${lose} ${row.lost} leaves service ${service.id} ${formatBelow(row.keptFraction)} of demand, below the ${formatPolicyPercent(keep)} policy: ${cause}`);
    }
  }

  for (const job of evaluation.trainingJobs) {
    if (job.pool !== null) continue;
    const candidates = options.training.filter((o) => o.job.id === job.id);
    const excluded = options.excluded.filter((e) => e.workload === job.id);
    if (candidates.length === 0) {
      problems.push(`training job ${job.id} fits no pool in its jurisdictions by its ${job.deadlineDays}-day deadline${excluded.length > 0 ? `: ${somePoolReasons(excluded.map((e) => `${e.pool}: ${e.reason}`))}` : ' (no pool in its jurisdictions)'}`);
    } else if (!provenOnly) {
      // What stops each candidate in this plan, as for a service (R59: one sentence blamed chips, power and caps alike).
      const stopped = candidates.map((c) => {
        const free = c.pool.chips - (usedByPool.get(c.pool.id)?.used ?? 0);
        if (free < c.chips) return `${c.pool.id} needs ${formatCount(c.chips)} chips, ${formatCount(free)} free`;
        const site = c.pool.site === undefined ? undefined : siteById.get(c.pool.site);
        if (site !== undefined && c.facilityMW > site.limitMW * (1 + 1e-9)) return `${c.pool.id} needs ${c.facilityMW.toFixed(3)} MW, more than site ${site.id}'s whole ${site.limitMW.toFixed(3)} MW envelope`;
        if (site !== undefined && site.powerMW + c.facilityMW > site.limitMW * (1 + 1e-9)) return `${c.pool.id} needs ${c.facilityMW.toFixed(3)} MW, site ${site.id} has ${Math.max(0, site.limitMW - site.powerMW).toFixed(3)} MW left`;
        // The share its holder would have with the gang placed: a gang alone is 100% of the power (R58-2: blamed on competition).
        const shareWith = (kind: 'provider' | 'chipVendor'): number => ((evaluation.shares[kind][shareHolder(c.pool, kind)] ?? 0) * evaluation.powerMW + c.facilityMW) / (evaluation.powerMW + c.facilityMW);
        const caps = (['provider', 'chipVendor'] as const).filter((kind) => {
          const cap = fleet.policy.maxShare[kind];
          return cap !== undefined && shareWith(kind) > cap + 1e-4;
        });
        if (caps.length > 0) return `${c.pool.id}: placed, it would give ${caps.map((kind) => `${shareHolder(c.pool, kind)} ${formatAbove(shareWith(kind))} of the power, above its ${formatPolicyPercent(fleet.policy.maxShare[kind] ?? 1)} ${kind === 'provider' ? 'provider' : 'chip-vendor'} share cap`).join(', and ')}`;
        return `${c.pool.id} has room (competition with other workloads' shortfalls)`;
      });
      problems.push(`training job ${job.id} is not placed: ${somePoolReasons(stopped)}`);
    }
  }

  for (const [kind, cap] of [['provider', fleet.policy.maxShare.provider], ['chipVendor', fleet.policy.maxShare.chipVendor]] as const) {
    if (cap === undefined) continue;
    // Caps that cannot all hold whatever is placed: the shares of the few there are add up to 100% (E56).
    const holders = [...new Set([...options.inference.map((o) => o.pool), ...options.training.map((o) => o.pool)].map((pool) => shareHolder(pool, kind)))].sort();
    const word = kind === 'provider' ? 'provider' : 'chip vendor';
    if (holders.length > 0 && cap * holders.length < 1 - 1e-9) {
      // 1/n of the power at least, said to two decimals of a percent rounded down; the cap to raise to, 1/n rounded up to four (R58: 0.33340000000000003).
      const least = Math.floor(10_000 / holders.length) / 100;
      const raiseTo = Number((Math.ceil(10_000 / holders.length) / 10_000).toFixed(4));
      const raise = holders.length === 1 ? `remove policy.maxShare.${kind}` : `raise policy.maxShare.${kind} to ${String(raiseTo)} or more`;
      problems.push(`the ${formatPolicyPercent(cap)} ${word} share cap cannot hold: the workloads can run with ${holders.length === 1 ? `one ${word}` : `${String(holders.length)} ${word}s`} (${holders.join(', ')}), whose shares of the power add up to 100%, so one must hold at least ${String(least)}%; ${raise}, or add pools of other ${word}s`);
      continue;
    }
    if (provenOnly) continue;
    for (const [name, share] of Object.entries(evaluation.shares[kind])) {
      if (share > cap + 1e-4) problems.push(`${kind === 'provider' ? 'provider' : 'chip vendor'} ${name} holds ${formatAbove(share)} of allocated power, above the ${formatPolicyPercent(cap)} cap: share caps bind (the plan could not move enough of the power to other ${kind === 'provider' ? 'providers' : 'chip vendors'}: whole replicas, a training job that runs as one gang, full pools or sites; add capacity with them, or raise the cap)`);
    }
  }
  return problems;
}

/** Up to four pools' reasons, and how many pools more. */
function somePoolReasons(reasons: readonly string[]): string {
  const more = reasons.length - 4;
  return `${reasons.slice(0, 4).join('; ')}${more > 0 ? `; and ${String(more)} more pool${more === 1 ? '' : 's'}` : ''}`;
}

/** Up to four ids, and how many more. */
function someIds(ids: readonly string[]): string {
  return ids.length <= 4 ? ids.join(', ') : `${ids.slice(0, 4).join(', ')} and ${String(ids.length - 4)} more`;
}

/** Most tokens/s a set of options could give if nothing else used their pools. */
function ceilingTokensPerSecond(options: readonly InferenceOption[]): number {
  const bestPerPool = new Map<string, number>();
  for (const option of options) {
    const tokens = option.maxReplicas * option.tokensPerSecondPerReplica;
    bestPerPool.set(option.pool.id, Math.max(bestPerPool.get(option.pool.id) ?? 0, tokens));
  }
  return [...bestPerPool.values()].reduce((sum, value) => sum + value, 0);
}

