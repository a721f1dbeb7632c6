import { demandTokensPerSecond, type Fleet } from '../domain/fleet.js';
import { breaksCap, shareHolder, survivalGroup, type Evaluation } from './evaluate-decision.js';
import { formatAbove, formatBelow, formatCount, formatGiven, formatMegawatts, formatPolicyPercent, formatRate, percentDecimalsBeside } from './plan-figures.js';
import { limitTolerance, requiredTokensPerSecond, type ExcludedOption, type InferenceOption, type PlanOptions } from './plan-options.js';
import { survivalPenalty, unmetPenalty } from './plan-problem.js';

/**
 * Why a plan falls short, in a planner's terms: which service is short where,
 * by how much, and which constraint binds (jurisdictions, SLO, capacity,
 * power, share caps, survival). `provenOnly`: just the shortfalls the options
 * alone prove, whatever any solver would place (no pool, not enough capacity
 * in every eligible pool together, no pool a training job fits), for a plan that
 * is not the best one (the solver ran out of time, or ended above its gap). `replicaCosts`: each
 * inference option's replica cost in the relaxed objective the plan was solved on.
 *
 * The plan read is the relaxed model's, where every rule but capacity, residency
 * and site power has a penalty. A share cap is named for a service where one more
 * replica on a pool with room would break it; never for a training job, whose
 * penalty (1,000) no caps' (20 at most) or cost (1 at most) outweighs (R61). A
 * broken cap is said as such, with its share.
 */
export function explainShortfalls(fleet: Fleet, options: PlanOptions, evaluation: Evaluation, provenOnly = false, replicaCosts?: readonly number[]): string[] {
  const problems: string[] = [];
  const usedByPool = new Map(evaluation.pools.map((pool) => [pool.id, pool]));
  const siteById = new Map(evaluation.sites.map((site) => [site.id, site]));
  const lose = fleet.policy.survive?.lose ?? 'provider';

  const indexOf = new Map(options.inference.map((option, index) => [option, index]));

  /** Power a site has left (float noise aside: the MILP's row allows no more); unbounded for a pool on no site. */
  const siteRoomMW = (pool: InferenceOption['pool']): number => {
    const site = pool.site === undefined ? undefined : siteById.get(pool.site);
    // R64: the evaluation's 1e-6 is 0.0004 MW of a 400 MW site, room the solver does not have.
    return site === undefined ? Number.POSITIVE_INFINITY : site.limitMW * (1 + 1e-12) - site.powerMW;
  };

  /**
   * What stops one more replica of a service on its options, and what is left. `reached`: full pools;
   * sites with no power for one, or too small for any (`offSite`, R63: such pools are no option, and
   * went unsaid); share caps one more replica would break (R62: a cap's penalty is per MW, a
   * shortfall's per fraction of demand, so on a chip of few tokens per MW the plan may keep to the
   * cap). `room`: pools where none of these stops one more, with the tokens/s their whole replicas
   * could add (R62: three free replicas beside a shortfall of millions read as if they could close
   * it), and why the plan leaves it: a shortfall smaller than a replica is worth at its cost
   * (`short.penalty` per `perTokensPerSecond` of shortfall, against `replicaCosts`), else the solve
   * stopping short. One test for a shortfall of demand and one of survival (R58).
   */
  const limitsReached = (
    own: readonly InferenceOption[],
    offSite: readonly ExcludedOption[],
    short: { readonly tokensPerSecond: number; readonly penalty: number; readonly perTokensPerSecond: number; readonly requiredTokensPerSecond: number },
  ): { readonly reached: readonly string[]; readonly caps: readonly ('provider' | 'chipVendor')[]; readonly room: string | undefined; readonly roomTokensPerSecond: number } => {
    const reached: string[] = [];
    const freeChips = (o: InferenceOption): number => o.pool.chips - (usedByPool.get(o.pool.id)?.used ?? 0);
    const poolFull = (o: InferenceOption): boolean => freeChips(o) < o.chipsPerReplica;
    const siteFull = (o: InferenceOption): boolean => siteRoomMW(o.pool) < o.facilityMWPerReplica;
    const fullPools = [...new Set(own.filter(poolFull).map((o) => o.pool.id))];
    if (fullPools.length > 0) reached.push(`pool capacity (${someIds(fullPools)} full)`);
    const fullSites = [...new Set(own.filter((o) => !poolFull(o) && siteFull(o)).map((o) => o.pool.site ?? ''))];
    const sitePower = [...fullSites.map((id) => `${id} at ${formatGiven(siteById.get(id)?.limitMW ?? 0)} MW`), ...(offSite.length > 0 ? [offSiteReasons(offSite)] : [])];
    if (sitePower.length > 0) reached.push(`site power (${sitePower.join(', ')})`);
    // The caps one more replica would break: its holder's share of the power with it placed.
    const capsBroken = (o: InferenceOption): ('provider' | 'chipVendor')[] =>
      (['provider', 'chipVendor'] as const).filter((kind) => {
        const cap = fleet.policy.maxShare[kind];
        if (cap === undefined || cap >= 1) return false;
        const held = (evaluation.shares[kind][shareHolder(o.pool, kind)] ?? 0) * evaluation.powerMW;
        return (held + o.facilityMWPerReplica) / (evaluation.powerMW + o.facilityMWPerReplica) > cap + 1e-9;
      });
    const roomy = own.filter((o) => !poolFull(o) && !siteFull(o));
    const caps = (['provider', 'chipVendor'] as const).filter((kind) => roomy.some((o) => capsBroken(o).includes(kind)));
    for (const kind of caps) {
      const holders = [...new Set(roomy.filter((o) => capsBroken(o).includes(kind)).map((o) => shareHolder(o.pool, kind)))];
      reached.push(`${kind === 'provider' ? 'provider' : 'chip vendor'} share cap ${formatPolicyPercent(fleet.policy.maxShare[kind] ?? 1)} (${someIds(holders)}: above it with one more replica)`);
    }
    // A service has one option per pool. Whole replicas in each pool's free chips; then, site by site, no more than
    // the site's power left, best tokens per MW first (R63: each pool had the whole site's).
    const free = roomy.filter((o) => capsBroken(o).length === 0).sort((a, b) => b.tokensPerSecondPerReplica / b.facilityMWPerReplica - a.tokensPerSecondPerReplica / a.facilityMWPerReplica);
    if (free.length === 0) return { reached, caps, room: undefined, roomTokensPerSecond: 0 };
    const powerLeft = new Map<string, number>();
    let tokens = 0;
    for (const option of free) {
      const site = option.pool.site;
      const left = site === undefined ? Number.POSITIVE_INFINITY : (powerLeft.get(site) ?? siteRoomMW(option.pool));
      const placed = Math.min(Math.floor(freeChips(option) / option.chipsPerReplica), Math.floor(left / option.facilityMWPerReplica));
      if (site !== undefined) powerLeft.set(site, left - placed * option.facilityMWPerReplica);
      tokens += placed * option.tokensPerSecondPerReplica;
    }
    // A shortfall is left for cost only below every free replica's break-even: its cost in the relaxed objective
    // over the penalty per token/s (R65: a bound, tokens/s over the penalty, was 4x too high). Without the costs (a
    // decision built by hand) the bound: a replica's scaled cost is at most its tokens/s over the required (R64).
    const breakEven = (o: InferenceOption): number => {
      const cost = replicaCosts?.[indexOf.get(o) ?? -1] ?? o.tokensPerSecondPerReplica / short.requiredTokensPerSecond;
      return (cost * short.perTokensPerSecond) / short.penalty;
    };
    const leastWorth = Math.min(...free.map(breakEven));
    const why =
      short.tokensPerSecond < leastWorth
        ? `it is short by less than a replica is worth at its cost, ${formatRate(leastWorth)} tokens/s`
        : 'the solver stopped short of the best plan, within its gap or at its time limit: a smaller --gap or a longer --time-limit may close it';
    const pools = free.map((o) => o.pool.id);
    return { reached, caps, room: `${someIds(pools)} ${pools.length === 1 ? 'has' : 'have'} room for up to ${formatRate(tokens)} tokens/s more of it, which this plan leaves unused (${why})`, roomTokensPerSecond: tokens };
  };

  /** Pools a site keeps a workload off whatever else is placed, of those `where` allows. */
  const offSiteOf = (workload: string, where: (pool: string) => boolean = () => true): ExcludedOption[] => options.excluded.filter((e) => e.workload === workload && e.site !== undefined && where(e.pool));

  for (const report of evaluation.services) {
    if (report.unmetTokensPerSecond <= report.requiredTokensPerSecond * limitTolerance) continue;
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
      problems.push(`${head}: jurisdictions bind, all eligible pools together could serve at most ${formatRate(ceiling)} tokens/s (add capacity in ${where}, relax the SLO or lower headroom)${keptOff(offSiteOf(service.id))}`);
      continue;
    }
    // What follows is read off this plan's placement: no proof when the plan was cut short.
    if (provenOnly) continue;
    const { reached, room, roomTokensPerSecond } = limitsReached(own, offSiteOf(service.id), { tokensPerSecond: report.unmetTokensPerSecond, penalty: unmetPenalty, perTokensPerSecond: report.requiredTokensPerSecond, requiredTokensPerSecond: report.requiredTokensPerSecond });
    // Room enough to close it: nothing binds (R64: a site keeping it off one pool was said to).
    const binding = reached.length > 0 && roomTokensPerSecond < report.unmetTokensPerSecond ? `binding ${reached.join('; ')}` : undefined;
    problems.push(`${head}: ${[binding, room].filter((part) => part !== undefined).join('; ')}`);
  }

  const keep = fleet.policy.survive?.keep;
  if (keep !== undefined) {
    for (const row of evaluation.survival) {
      if (row.keptFraction >= keep - limitTolerance) continue;
      const service = fleet.services.find((s) => s.id === row.service);
      if (service === undefined) continue;
      // A loss of what serves the service nothing (no pool of it in the service's jurisdictions) is
      // no cause: the shortfall is capacity, said above, not survival (E35: three wrong leads).
      if (!options.inference.some((o) => o.service === service && survivalGroup(o.pool, lose) === row.lost)) continue;
      // Nor when everything together could not keep that share: the cause is capacity (R25).
      if (ceilingTokensPerSecond(options.inference.filter((o) => o.service === service)) / demandTokensPerSecond(service) < keep) continue;
      const decimals = percentDecimalsBeside(keep);
      const outside = options.inference.filter((o) => o.service === service && survivalGroup(o.pool, lose) !== row.lost);
      const ceiling = ceilingTokensPerSecond(outside) / demandTokensPerSecond(service);
      if (provenOnly && ceiling >= keep) continue;
      // What stops more of it outside the lost group, as a shortfall of demand is told (R58).
      const offSite = offSiteOf(service.id, (id) => { const pool = fleet.pools.find((p) => p.id === id); return pool !== undefined && survivalGroup(pool, lose) !== row.lost; });
      const shortTokensPerSecond = (keep - row.keptFraction) * demandTokensPerSecond(service);
      const { reached, caps, room, roomTokensPerSecond } = limitsReached(outside, offSite, { tokensPerSecond: shortTokensPerSecond, penalty: survivalPenalty, perTokensPerSecond: demandTokensPerSecond(service), requiredTokensPerSecond: requiredTokensPerSecond(service, fleet.policy.headroom) });
      // Under a cap, capacity with the same provider in another region, or the same chip vendor, helps nothing (R63, R64).
      const another = `${lose === 'region' && caps.includes('provider') ? 'region of another provider' : lose}${caps.includes('chipVendor') ? ' and another chip vendor' : ''}`;
      const remedy = `add capacity with another ${another} in [${service.jurisdictions.join(', ')}]${caps.map((kind) => `, raise policy.maxShare.${kind}`).join('')}, or lower policy.survive.keep`;
      const cause =
        ceiling < keep
          ? `survival binds: outside ${row.lost}, pools in [${service.jurisdictions.join(', ')}] could keep at most ${formatBelow(ceiling, decimals)} (add capacity with another ${lose} there)${keptOff(offSite)}`
          : reached.length > 0 && roomTokensPerSecond < shortTokensPerSecond
            ? `survival binds with ${reached.join('; ')} outside ${row.lost} (${remedy})${room === undefined ? '' : `; outside it, ${room}`}`
            : `outside ${row.lost}, ${room ?? 'nothing stops more of its replicas'}`;
      problems.push(`losing ${lose} ${row.lost} leaves service ${service.id} ${formatBelow(row.keptFraction, decimals)} of demand, below the ${formatPolicyPercent(keep)} policy: ${cause}`);
    }
  }

  for (const job of evaluation.trainingJobs) {
    if (job.pool !== null) continue;
    const candidates = options.training.filter((o) => o.job.id === job.id);
    const excluded = options.excluded.filter((e) => e.workload === job.id);
    const where = `[${(fleet.trainingJobs.find((j) => j.id === job.id)?.jurisdictions ?? []).join(', ')}]`;
    const cannot = excluded.map((e) => `${e.pool}: ${e.reason}`);
    if (candidates.length === 0) {
      problems.push(
        cannot.length === 0
          ? `training job ${job.id} is not placed: jurisdictions bind, no pool in ${where} (add a pool there or widen the job's jurisdictions)`
          : `training job ${job.id} fits no pool in ${where}: ${somePoolReasons(cannot)}`,
      );
    } else if (!provenOnly) {
      // What stops each candidate in this plan, as for a service (R59: one sentence blamed chips, power and caps alike);
      // then the pools it can never run on (R61: left unsaid beside the others).
      const stopped = candidates.map((c) => {
        const free = c.pool.chips - (usedByPool.get(c.pool.id)?.used ?? 0);
        if (free < c.chips) return `${c.pool.id}: needs ${formatCount(c.chips)} chips, ${formatCount(free)} free`;
        const room = siteRoomMW(c.pool);
        if (c.facilityMW > room) return `${c.pool.id}: needs ${formatMegawatts(c.facilityMW, 'up')} MW, site ${c.pool.site ?? ''} has ${formatMegawatts(Math.max(0, room), 'down')} MW left`;
        // Its penalty outweighs any cost or cap, so only a solve stopped short leaves it out with room (R61).
        return `${c.pool.id}: has room for it, which this plan leaves unused (the solver stopped short of the best plan, within its gap or at its time limit: a smaller --gap or a longer --time-limit may place it)`;
      });
      problems.push(`training job ${job.id} is not placed: ${somePoolReasons([...stopped, ...cannot])}`);
    }
  }

  for (const [kind, cap] of [['provider', fleet.policy.maxShare.provider], ['chipVendor', fleet.policy.maxShare.chipVendor]] as const) {
    if (cap === undefined) continue;
    // Caps that cannot all hold whatever is placed: the shares of the few there are add up to 100% (E56).
    const holders = [...new Set([...options.inference.map((o) => o.pool), ...options.training.map((o) => o.pool)].map((pool) => shareHolder(pool, kind)))].sort();
    const word = kind === 'provider' ? 'provider' : 'chip vendor';
    if (holders.length > 0 && cap * holders.length < 1 - 1e-9) {
      // One holds at least 1/n of the power, said as that fraction (R61: 'at least 33.33%' read as meeting a 33.33% cap);
      // the cap to raise to, 1/n rounded up to four decimals (R58: 0.33340000000000003).
      const n = holders.length;
      const raiseTo = Number((Math.ceil(10_000 / n) / 10_000).toFixed(4));
      problems.push(
        n === 1
          ? `the ${formatPolicyPercent(cap)} ${word} share cap cannot hold: the workloads can run with one ${word} only (${holders.join(', ')}), which holds all the power; remove policy.maxShare.${kind}, or add pools of other ${word}s`
          : `the ${formatPolicyPercent(cap)} ${word} share cap cannot hold: the workloads can run with ${String(n)} ${word}s (${holders.join(', ')}), whose shares of the power add up to 100%, so one holds at least 1/${String(n)} of it; raise policy.maxShare.${kind} to ${String(raiseTo)} or more, or add pools of other ${word}s`,
      );
      continue;
    }
    if (provenOnly) continue;
    for (const [name, share] of Object.entries(evaluation.shares[kind])) {
      if (breaksCap(share, cap)) problems.push(`${word} ${name} holds ${formatAbove(share, percentDecimalsBeside(cap))} of allocated power, above the ${formatPolicyPercent(cap)} cap: share caps bind (the plan could not move enough of the power to other ${kind === 'provider' ? 'providers' : 'chip vendors'}: whole replicas, a training job that runs as one gang, full pools or sites; add capacity with them, or raise the cap)`);
    }
  }
  return problems;
}

/** Pools a site keeps a workload off, with why. */
function offSiteReasons(offSite: readonly ExcludedOption[]): string {
  return somePoolReasons(offSite.map((e) => `${e.pool}: ${e.reason}`));
}

/** Beside a ceiling of what the other pools could give: the pools a site keeps it off, if any. */
function keptOff(offSite: readonly ExcludedOption[]): string {
  return offSite.length > 0 ? `; site power keeps it off the rest (${offSiteReasons(offSite)})` : '';
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

