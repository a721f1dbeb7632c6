import { demandTokensPerSecond, type Fleet, type Pool } from '../domain/fleet.js';
import { limitTolerance, requiredTokensPerSecond, type PlanOptions } from './plan-options.js';
import type { Allocation, PoolReport, ServiceReport, SiteReport, SurvivalReport, TrainingJobReport } from './plan-report.js';
import { formatAbove, formatBelow, formatCount, formatGiven, formatMegawatts, formatPolicyPercent, formatRate, percentDecimalsBeside } from './plan-figures.js';

/** A concrete decision: replicas per inference option, and the chosen training option per job. */
export interface Decision {
  /** Same order as `options.inference`. */
  readonly replicas: readonly number[];
  /** Same order as `options.training`: whether each training option is chosen. */
  readonly trainingChosen: readonly boolean[];
}

export interface Evaluation {
  readonly allocations: Allocation[];
  readonly services: ServiceReport[];
  readonly trainingJobs: TrainingJobReport[];
  readonly shares: { provider: Record<string, number>; chipVendor: Record<string, number> };
  readonly survival: SurvivalReport[];
  readonly pools: PoolReport[];
  readonly sites: SiteReport[];
  readonly costPerHour: number;
  readonly committedCostPerHour: number;
  readonly strandedCommitted: { chips: number; costPerHour: number };
  readonly powerMW: number;
  /** Every hard or policy constraint the decision breaks, as sentences. */
  readonly violations: string[];
}

/** Who holds a pool's share of the power under a share cap of that kind: its provider, or its chip's vendor. */
export function shareHolder(pool: Pool, kind: 'provider' | 'chipVendor'): string {
  return kind === 'provider' ? pool.provider : pool.chip.vendor;
}

/**
 * Whether a holder's share of the power breaks its cap: above it by more than float noise and the
 * solver's tolerance, `limitTolerance` of the power (R64: 1e-4 let '50.005%' read above a 50% cap in
 * the text with no violation; a third under a 33.33% cap, 33.333%, was not said above it).
 */
export function breaksCap(share: number, cap: number): boolean {
  return share > cap + limitTolerance;
}

/** The group a pool belongs to when the policy says what may be lost. */
export function survivalGroup(pool: Pool, lose: 'provider' | 'region'): string {
  return lose === 'region' ? `${pool.provider}/${pool.region}` : pool.provider;
}

/**
 * Recomputes everything a plan reports from a decision. The planner's solver
 * output and the baselines both go through here, so a figure is computed once.
 */
export function evaluateDecision(fleet: Fleet, options: PlanOptions, decision: Decision): Evaluation {
  const used = new Map<string, number>();
  const poolMW = new Map<string, number>();
  const capacity = new Map<string, number>();
  const capacityByGroup = new Map<string, Map<string, number>>();
  const lose = fleet.policy.survive?.lose ?? 'provider';
  const allocations: Allocation[] = [];
  let costPerHour = 0;

  options.inference.forEach((option, index) => {
    const replicas = Math.round(decision.replicas[index] ?? 0);
    if (replicas <= 0) return;
    const chips = replicas * option.chipsPerReplica;
    const tokens = replicas * option.tokensPerSecondPerReplica;
    const cost = replicas * option.marginalCostPerReplicaHour;
    const mw = replicas * option.facilityMWPerReplica;
    used.set(option.pool.id, (used.get(option.pool.id) ?? 0) + chips);
    poolMW.set(option.pool.id, (poolMW.get(option.pool.id) ?? 0) + mw);
    capacity.set(option.service.id, (capacity.get(option.service.id) ?? 0) + tokens);
    const group = survivalGroup(option.pool, lose);
    const byGroup = capacityByGroup.get(option.service.id) ?? new Map<string, number>();
    byGroup.set(group, (byGroup.get(group) ?? 0) + tokens);
    capacityByGroup.set(option.service.id, byGroup);
    costPerHour += cost;
    allocations.push({ workload: option.service.id, kind: 'inference', pool: option.pool.id, chips, replicas, chipsPerReplica: option.chipsPerReplica, tokensPerSecond: tokens, costPerHour: cost, powerMW: mw });
  });

  const trainingJobs: TrainingJobReport[] = [];
  const violations: string[] = [];
  for (const job of fleet.trainingJobs) {
    const chosen = options.training.filter((option, index) => option.job.id === job.id && decision.trainingChosen[index] === true);
    const option = chosen[0];
    if (chosen.length > 1) violations.push(`training job ${job.id} is split across ${chosen.length} pools; a gang runs in one pool`);
    if (option === undefined) {
      violations.push(`training job ${job.id} is not placed`);
      trainingJobs.push({ id: job.id, pool: null, chips: 0, days: null, deadlineDays: job.deadlineDays });
      continue;
    }
    used.set(option.pool.id, (used.get(option.pool.id) ?? 0) + option.chips);
    poolMW.set(option.pool.id, (poolMW.get(option.pool.id) ?? 0) + option.facilityMW);
    costPerHour += option.marginalCostPerHour;
    allocations.push({ workload: job.id, kind: 'training', pool: option.pool.id, chips: option.chips, tokensPerSecond: option.tokensPerSecond, costPerHour: option.marginalCostPerHour, powerMW: option.facilityMW, days: option.days });
    trainingJobs.push({ id: job.id, pool: option.pool.id, chips: option.chips, days: option.days, deadlineDays: job.deadlineDays });
  }

  const pools: PoolReport[] = fleet.pools.map((pool) => ({
    id: pool.id,
    provider: pool.provider,
    region: pool.region,
    jurisdiction: pool.jurisdiction,
    chip: pool.chip.id,
    pricing: pool.pricing,
    chips: pool.chips,
    used: used.get(pool.id) ?? 0,
    powerMW: poolMW.get(pool.id) ?? 0,
  }));
  for (const pool of pools) {
    if (pool.used > pool.chips) violations.push(`pool ${pool.id} is over capacity: ${formatCount(pool.used)} of ${formatCount(pool.chips)} chips`);
  }

  const powerMW = pools.reduce((sum, pool) => sum + pool.powerMW, 0);
  const sites: SiteReport[] = fleet.sites.map((site) => ({
    id: site.id,
    limitMW: site.powerMW,
    powerMW: fleet.pools.filter((pool) => pool.site === site.id).reduce((sum, pool) => sum + (poolMW.get(pool.id) ?? 0), 0),
  }));
  for (const site of sites) {
    if (site.powerMW > site.limitMW * (1 + limitTolerance)) violations.push(`site ${site.id} draws ${formatMegawatts(site.powerMW, 'up')} MW, above its ${formatGiven(site.limitMW)} MW envelope`);
  }

  const shares = { provider: shareBy(fleet.pools, poolMW, (pool) => shareHolder(pool, 'provider')), chipVendor: shareBy(fleet.pools, poolMW, (pool) => shareHolder(pool, 'chipVendor')) };
  const caps = fleet.policy.maxShare;
  for (const [kind, cap] of [['provider', caps.provider], ['chipVendor', caps.chipVendor]] as const) {
    if (cap === undefined) continue;
    for (const [name, share] of Object.entries(shares[kind])) {
      if (breaksCap(share, cap)) violations.push(`${kind === 'provider' ? 'provider' : 'chip vendor'} ${name} holds ${formatAbove(share, percentDecimalsBeside(cap))} of allocated power, above the ${formatPolicyPercent(cap)} cap`);
    }
  }

  const services: ServiceReport[] = fleet.services.map((service) => {
    const required = requiredTokensPerSecond(service, fleet.policy.headroom);
    const served = capacity.get(service.id) ?? 0;
    const unmet = Math.max(0, required - served);
    if (unmet > required * limitTolerance) violations.push(`service ${service.id} is short ${formatRate(unmet)} tokens/s of ${formatRate(required)} in [${service.jurisdictions.join(', ')}]`);
    return { id: service.id, jurisdictions: service.jurisdictions, demandTokensPerSecond: demandTokensPerSecond(service), requiredTokensPerSecond: required, capacityTokensPerSecond: served, unmetTokensPerSecond: unmet };
  });

  const groups = [...new Set(fleet.pools.map((pool) => survivalGroup(pool, lose)))].sort();
  const keep = fleet.policy.survive?.keep;
  const survival: SurvivalReport[] = [];
  for (const service of fleet.services) {
    const demand = demandTokensPerSecond(service);
    const total = capacity.get(service.id) ?? 0;
    const byGroup = capacityByGroup.get(service.id);
    for (const group of groups) {
      const kept = (total - (byGroup?.get(group) ?? 0)) / demand;
      survival.push({ lost: group, service: service.id, keptFraction: kept, required: keep ?? null });
      if (keep !== undefined && kept < keep - limitTolerance) violations.push(`losing ${group} leaves service ${service.id} ${formatBelow(kept, percentDecimalsBeside(keep))} of demand, below the ${formatPolicyPercent(keep)} policy`);
    }
  }

  let committedCostPerHour = 0;
  let strandedChips = 0;
  let strandedCost = 0;
  for (const pool of fleet.pools) {
    if (pool.pricing !== 'committed') continue;
    committedCostPerHour += pool.chips * pool.pricePerChipHour;
    const idle = Math.max(0, pool.chips - (used.get(pool.id) ?? 0));
    strandedChips += idle;
    strandedCost += idle * pool.pricePerChipHour;
  }

  return {
    allocations,
    services,
    trainingJobs,
    shares,
    survival,
    pools,
    sites,
    costPerHour,
    committedCostPerHour,
    strandedCommitted: { chips: strandedChips, costPerHour: strandedCost },
    powerMW,
    violations,
  };
}

function shareBy(pools: readonly Pool[], poolMW: ReadonlyMap<string, number>, key: (pool: Pool) => string): Record<string, number> {
  const totals = new Map<string, number>();
  let all = 0;
  for (const pool of pools) {
    const mw = poolMW.get(pool.id) ?? 0;
    totals.set(key(pool), (totals.get(key(pool)) ?? 0) + mw);
    all += mw;
  }
  const out: Record<string, number> = {};
  // Nothing allocated: every share would be 0/0, so none is given (R58: --json said 0 for each).
  if (all <= 0) return out;
  for (const [name, mw] of [...totals].sort(([a], [b]) => a.localeCompare(b))) out[name] = mw / all;
  return out;
}
