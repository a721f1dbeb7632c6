import highsModule from 'highs';
import type { Fleet } from '../../src/domain/fleet.js';
import type { Plan } from '../../src/planner/plan-report.js';

type Loader = () => Promise<{ solve(problem: string, options?: Record<string, unknown>): { Status: string; ObjectiveValue: number } }>;
const loadHighs = highsModule as unknown as Loader;

/**
 * Recomputes every constraint of a plan from its allocations and the fleet,
 * without the planner's evaluation code: what an auditor would do with
 * `switchyard plan --json`. Returns the broken rules as sentences.
 */
export function independentViolations(fleet: Fleet, plan: Plan): string[] {
  const problems: string[] = [];
  const pools = new Map(fleet.pools.map((p) => [p.id, p]));
  const sites = new Map(fleet.sites.map((s) => [s.id, s]));
  const optionOf = new Map(plan.options.map((o) => [`${o.workload}|${o.pool}`, o]));
  const chipsUsed = new Map<string, number>();
  const mwByPool = new Map<string, number>();
  const capacity = new Map<string, number>();
  const capacityByProvider = new Map<string, number>();

  for (const a of plan.allocations) {
    const pool = pools.get(a.pool);
    if (pool === undefined) {
      problems.push(`allocation on unknown pool ${a.pool}`);
      continue;
    }
    chipsUsed.set(pool.id, (chipsUsed.get(pool.id) ?? 0) + a.chips);
    mwByPool.set(pool.id, (mwByPool.get(pool.id) ?? 0) + (a.chips * pool.chip.itPowerW * pool.pue) / 1e6);
    if (a.kind === 'inference') {
      const service = fleet.services.find((s) => s.id === a.workload);
      if (service === undefined) problems.push(`inference allocation for unknown service ${a.workload}`);
      else if (!service.jurisdictions.includes(pool.jurisdiction)) problems.push(`RESIDENCY: ${a.workload} on ${pool.id} in ${pool.jurisdiction}`);
      const option = optionOf.get(`${a.workload}|${a.pool}`);
      if (option === undefined || !('chipsPerReplica' in option)) {
        problems.push(`no option for ${a.workload} on ${a.pool}`);
        continue;
      }
      if (a.replicas === undefined || !Number.isInteger(a.replicas) || a.chips !== a.replicas * option.chipsPerReplica) problems.push(`replicas and chips disagree for ${a.workload} on ${a.pool}`);
      const tokens = (a.replicas ?? 0) * option.tokensPerSecondPerReplica;
      capacity.set(a.workload, (capacity.get(a.workload) ?? 0) + tokens);
      const key = `${a.workload}|${fleet.policy.survive?.lose === 'region' ? `${pool.provider}/${pool.region}` : pool.provider}`;
      capacityByProvider.set(key, (capacityByProvider.get(key) ?? 0) + tokens);
    } else {
      const job = fleet.trainingJobs.find((j) => j.id === a.workload);
      if (job === undefined) problems.push(`training allocation for unknown job ${a.workload}`);
      else {
        if (!job.jurisdictions.includes(pool.jurisdiction)) problems.push(`RESIDENCY: job ${a.workload} on ${pool.id}`);
        if ((a.days ?? Number.POSITIVE_INFINITY) > job.deadlineDays * (1 + 1e-9)) problems.push(`job ${a.workload} misses its deadline`);
      }
    }
  }
  for (const job of fleet.trainingJobs) {
    const placed = plan.allocations.filter((a) => a.kind === 'training' && a.workload === job.id);
    if (placed.length !== 1) problems.push(`job ${job.id} placed on ${placed.length} pools`);
  }
  for (const pool of fleet.pools) if ((chipsUsed.get(pool.id) ?? 0) > pool.chips) problems.push(`pool ${pool.id} over capacity`);
  for (const site of sites.values()) {
    const mw = fleet.pools.filter((p) => p.site === site.id).reduce((sum, p) => sum + (mwByPool.get(p.id) ?? 0), 0);
    if (mw > site.powerMW * (1 + 1e-9)) problems.push(`site ${site.id} over power: ${mw} > ${site.powerMW}`);
  }
  for (const service of fleet.services) {
    const demand = service.requestsPerSecond * service.outputTokens;
    const required = demand * (1 + fleet.policy.headroom);
    const served = capacity.get(service.id) ?? 0;
    if (served < required * (1 - 1e-9)) problems.push(`service ${service.id} short: ${served} < ${required}`);
    const keep = fleet.policy.survive?.keep;
    if (keep !== undefined) {
      const groups = new Set(fleet.pools.map((p) => (fleet.policy.survive?.lose === 'region' ? `${p.provider}/${p.region}` : p.provider)));
      for (const group of groups) {
        const kept = served - (capacityByProvider.get(`${service.id}|${group}`) ?? 0);
        if (kept < keep * demand * (1 - 1e-9)) problems.push(`losing ${group} leaves ${service.id} ${kept / demand}`);
      }
    }
  }
  const total = [...mwByPool.values()].reduce((a, b) => a + b, 0);
  for (const [cap, key] of [
    [fleet.policy.maxShare.provider, (p: Fleet['pools'][number]) => p.provider],
    [fleet.policy.maxShare.chipVendor, (p: Fleet['pools'][number]) => p.chip.vendor],
  ] as const) {
    if (cap === undefined) continue;
    const by = new Map<string, number>();
    for (const pool of fleet.pools) by.set(key(pool), (by.get(key(pool)) ?? 0) + (mwByPool.get(pool.id) ?? 0));
    for (const [name, mw] of by) if (mw > cap * total * (1 + 1e-6) + 1e-9) problems.push(`share of ${name} ${mw / total} above ${cap}`);
  }
  return problems;
}

/**
 * Solves the same placement from the plan's published `options` with HiGHS's
 * LP-format entry point (a different code path from the planner's), for the
 * `cost` objective. Returns the optimal marginal $/hour.
 */
export async function independentCost(fleet: Fleet, plan: Plan): Promise<number> {
  const highs = await loadHighs();
  const pools = new Map(fleet.pools.map((p) => [p.id, p]));
  const inference = plan.options.filter((o): o is Extract<Plan['options'][number], { chipsPerReplica: number }> => 'chipsPerReplica' in o);
  const training = plan.options.filter((o): o is Extract<Plan['options'][number], { chips: number }> => 'chips' in o && !('chipsPerReplica' in o));
  const x = inference.map((_, i) => `x${i}`);
  const y = training.map((_, i) => `y${i}`);
  const mw = (pool: string, chips: number): number => {
    const p = pools.get(pool);
    return p === undefined ? 0 : (chips * p.chip.itPowerW * p.pue) / 1e6;
  };
  const price = (pool: string): number => {
    const p = pools.get(pool);
    return p === undefined || p.pricing === 'committed' ? 0 : p.pricePerChipHour;
  };
  const term = (coefficient: number, variable: string): string => `${coefficient >= 0 ? '+' : '-'} ${Math.abs(coefficient)} ${variable}`;
  const rows: string[] = [];
  const objective = [
    ...inference.map((o, i) => term(price(o.pool) * o.chipsPerReplica + mw(o.pool, o.chipsPerReplica), x[i] as string)),
    ...training.map((o, i) => term(price(o.pool) * o.chips + mw(o.pool, o.chips), y[i] as string)),
  ];
  for (const pool of fleet.pools) {
    const terms = [...inference.map((o, i) => (o.pool === pool.id ? term(o.chipsPerReplica, x[i] as string) : '')), ...training.map((o, i) => (o.pool === pool.id ? term(o.chips, y[i] as string) : ''))].filter(Boolean);
    if (terms.length > 0) rows.push(`${terms.join(' ')} <= ${pool.chips}`);
  }
  const lose = fleet.policy.survive?.lose ?? 'provider';
  const groupOf = (pool: string): string => {
    const p = pools.get(pool);
    return p === undefined ? '' : lose === 'region' ? `${p.provider}/${p.region}` : p.provider;
  };
  for (const service of fleet.services) {
    const demand = service.requestsPerSecond * service.outputTokens;
    const own = inference.map((o, i) => ({ o, v: x[i] as string })).filter(({ o }) => o.workload === service.id);
    rows.push(`${own.map(({ o, v }) => term(o.tokensPerSecondPerReplica / demand, v)).join(' ') || '0 x0'} >= ${1 + fleet.policy.headroom}`);
    const keep = fleet.policy.survive?.keep;
    if (keep !== undefined) {
      for (const group of new Set(own.map(({ o }) => groupOf(o.pool)))) {
        const outside = own.filter(({ o }) => groupOf(o.pool) !== group);
        rows.push(`${outside.map(({ o, v }) => term(o.tokensPerSecondPerReplica / demand, v)).join(' ') || '0 x0'} >= ${keep}`);
      }
    }
  }
  for (const [cap, key] of [
    [fleet.policy.maxShare.provider, (p: Fleet['pools'][number]) => p.provider],
    [fleet.policy.maxShare.chipVendor, (p: Fleet['pools'][number]) => p.chip.vendor],
  ] as const) {
    if (cap === undefined || cap >= 1) continue;
    for (const name of new Set(fleet.pools.map(key))) {
      const inGroup = (pool: string): number => {
        const p = pools.get(pool);
        return p !== undefined && key(p) === name ? 1 : 0;
      };
      const terms = [...inference.map((o, i) => term((inGroup(o.pool) - cap) * mw(o.pool, o.chipsPerReplica), x[i] as string)), ...training.map((o, i) => term((inGroup(o.pool) - cap) * mw(o.pool, o.chips), y[i] as string))];
      rows.push(`${terms.join(' ')} <= 0`);
    }
  }
  for (const site of fleet.sites) {
    const terms = [...inference.map((o, i) => (pools.get(o.pool)?.site === site.id ? term(mw(o.pool, o.chipsPerReplica), x[i] as string) : '')), ...training.map((o, i) => (pools.get(o.pool)?.site === site.id ? term(mw(o.pool, o.chips), y[i] as string) : ''))].filter(Boolean);
    if (terms.length > 0) rows.push(`${terms.join(' ')} <= ${site.powerMW}`);
  }
  for (const job of fleet.trainingJobs) {
    const own = training.map((o, i) => ({ o, v: y[i] as string })).filter(({ o }) => o.workload === job.id);
    rows.push(`${own.map(({ v }) => `+ 1 ${v}`).join(' ') || '0 x0'} = 1`);
  }
  const lp = [
    'Minimize',
    ` obj: ${objective.join(' ') || '0 x0'}`,
    'Subject To',
    ...rows.map((row, i) => ` c${i}: ${row}`),
    'Bounds',
    ...x.map((v) => ` 0 <= ${v}`),
    ...y.map((v) => ` 0 <= ${v} <= 1`),
    'General',
    ` ${[...x, ...y].join(' ')}`,
    'End',
  ].join('\n');
  const result = highs.solve(lp, { mip_rel_gap: 1e-6, time_limit: 60 });
  if (result.Status !== 'Optimal') throw new Error(`independent solve: ${result.Status}`);
  return result.ObjectiveValue;
}
