import { demandTokensPerSecond, type Fleet, type Pool } from '../domain/fleet.js';
import type { Decision } from './evaluate-decision.js';
import { survivalGroup } from './evaluate-decision.js';
import { requiredTokensPerSecond, type InferenceOption, type PlanOptions } from './plan-options.js';
import type { ObjectiveWeights } from './plan-problem.js';

/**
 * Turns a fractional (LP) plan into an integer one that meets every
 * constraint, when it can: training gangs go where the LP put most of them,
 * replicas are rounded down, and the shortfall is repaired with the cheapest
 * replicas that fit (preferring the options the LP used), then survival and
 * share caps are repaired, and surplus replicas are trimmed, dearest first.
 * Large placement MILPs have LP relaxations that are nearly integral (many
 * replicas per option), so this lands within a fraction of a percent of the
 * LP bound; HiGHS then improves on it from this start.
 */
export function roundAndRepair(fleet: Fleet, options: PlanOptions, weights: ObjectiveWeights, lpReplicas: ArrayLike<number>, lpTraining: ArrayLike<number>): Decision {
  const state = new PlanState(fleet, options);
  const replicaCost = (option: InferenceOption): number => weights.costWeight * option.marginalCostPerReplicaHour + weights.powerWeight * option.facilityMWPerReplica;
  const lose = fleet.policy.survive?.lose ?? 'provider';

  // Training gangs, largest first, on the pool the LP favoured that still has room.
  const jobs = [...fleet.trainingJobs].sort((a, b) => b.tokens / b.deadlineDays - a.tokens / a.deadlineDays);
  for (const job of jobs) {
    const candidates = options.training
      .map((option, index) => ({ option, index, weight: lpTraining[index] ?? 0 }))
      .filter(({ option }) => option.job === job)
      .sort((a, b) => b.weight - a.weight || a.option.marginalCostPerHour - b.option.marginalCostPerHour);
    const pick = candidates.find(({ option }) => state.fitsTraining(option.pool, option.chips, option.facilityMW));
    if (pick !== undefined) state.placeTraining(pick.index);
  }

  // Round the LP's replicas down, biggest first. Share caps are a ratio, so they are
  // checked once the whole rounded plan is in place, not while it is being built.
  const order = options.inference.map((_, index) => index).sort((a, b) => (lpReplicas[b] ?? 0) - (lpReplicas[a] ?? 0));
  for (const index of order) {
    const count = Math.floor((lpReplicas[index] ?? 0) + 1e-6);
    if (count > 0) state.add(index, Math.min(count, state.fits(index, false)));
  }

  const byService = new Map<string, number[]>();
  options.inference.forEach((option, index) => {
    const list = byService.get(option.service.id) ?? [];
    list.push(index);
    byService.set(option.service.id, list);
  });
  const costPerToken = (index: number): number => {
    const option = options.inference[index] as InferenceOption;
    return replicaCost(option) / option.tokensPerSecondPerReplica;
  };
  /** Covers `deficit` tokens/s of one service using only options `allowed`, cheapest cover first. */
  const cover = (indices: readonly number[], deficit: number): void => {
    let remaining = deficit;
    while (remaining > 1e-9) {
      // The cheapest way to cover what is left: whole replicas cost what they cost,
      // so a small remainder goes to a small or free replica, not a big efficient one.
      let best = -1;
      let bestCost = Number.POSITIVE_INFINITY;
      let bestCount = 0;
      for (const index of indices) {
        const option = options.inference[index] as InferenceOption;
        const fit = state.fits(index);
        if (fit <= 0) continue;
        const count = Math.min(fit, Math.ceil(remaining / option.tokensPerSecondPerReplica - 1e-9));
        const covered = Math.min(remaining, count * option.tokensPerSecondPerReplica);
        const cost = (count * replicaCost(option)) / covered;
        if (cost < bestCost) {
          bestCost = cost;
          best = index;
          bestCount = count;
        }
      }
      if (best < 0) return;
      state.add(best, bestCount);
      remaining -= bestCount * (options.inference[best] as InferenceOption).tokensPerSecondPerReplica;
    }
  };

  // Demand: fill each shortfall.
  for (const service of fleet.services) {
    cover(byService.get(service.id) ?? [], requiredTokensPerSecond(service, fleet.policy.headroom) - state.capacity(service.id));
  }

  // Survival: for each group a service depends on, top up capacity outside it.
  const keep = fleet.policy.survive?.keep;
  if (keep !== undefined) {
    for (const service of fleet.services) {
      const demand = demandTokensPerSecond(service);
      const indices = byService.get(service.id) ?? [];
      const groups = new Set(indices.map((i) => survivalGroup((options.inference[i] as InferenceOption).pool, lose)));
      for (const group of groups) {
        const outside = indices.filter((i) => survivalGroup((options.inference[i] as InferenceOption).pool, lose) !== group);
        cover(outside, keep * demand - (state.capacity(service.id) - state.groupCapacity(service.id, group)));
      }
    }
  }

  // Trim: drop replicas (dearest per token first) that no demand, survival rule or share cap needs.
  const removable = options.inference.map((_, index) => index).sort((a, b) => costPerToken(b) - costPerToken(a));
  for (const index of removable) {
    while ((state.replicas[index] ?? 0) > 0 && state.canRemove(index)) state.add(index, -1);
  }

  return { replicas: state.replicas.slice(), trainingChosen: state.trainingChosen.slice() };
}

/** Running totals of a partial plan, for O(1) feasibility checks while repairing. */
export class PlanState {
  readonly replicas: number[];
  readonly trainingChosen: boolean[];
  private readonly freeChips = new Map<string, number>();
  private readonly freeSiteMW = new Map<string, number>();
  private readonly serviceCapacity = new Map<string, number>();
  private readonly serviceGroupCapacity = new Map<string, number>();
  private readonly providerMW = new Map<string, number>();
  private readonly vendorMW = new Map<string, number>();
  private totalMW = 0;
  private readonly lose: 'provider' | 'region';

  constructor(
    private readonly fleet: Fleet,
    private readonly options: PlanOptions,
  ) {
    this.replicas = options.inference.map(() => 0);
    this.trainingChosen = options.training.map(() => false);
    for (const pool of fleet.pools) this.freeChips.set(pool.id, pool.chips);
    for (const site of fleet.sites) this.freeSiteMW.set(site.id, site.powerMW);
    this.lose = fleet.policy.survive?.lose ?? 'provider';
  }

  capacity(service: string): number {
    return this.serviceCapacity.get(service) ?? 0;
  }

  groupCapacity(service: string, group: string): number {
    return this.serviceGroupCapacity.get(`${service}|${group}`) ?? 0;
  }

  /** Replicas of an option that fit now: chips, site power and (unless told not to) share caps. */
  fits(index: number, shares = true): number {
    const option = this.options.inference[index] as InferenceOption;
    const byChips = Math.floor((this.freeChips.get(option.pool.id) ?? 0) / option.chipsPerReplica);
    const mwRoom = Math.min(this.siteRoom(option.pool), shares ? this.shareRoom(option.pool) : Number.POSITIVE_INFINITY);
    const byPower = Math.floor(mwRoom / option.facilityMWPerReplica + 1e-9);
    return Math.max(0, Math.min(byChips, byPower));
  }

  fitsTraining(pool: Pool, chips: number, mw: number): boolean {
    return (this.freeChips.get(pool.id) ?? 0) >= chips && this.siteRoom(pool) >= mw - 1e-9;
  }

  placeTraining(index: number): void {
    const option = this.options.training[index];
    if (option === undefined) return;
    this.trainingChosen[index] = true;
    this.take(option.pool, option.chips, option.facilityMW);
  }

  add(index: number, count: number): void {
    if (count === 0) return;
    const option = this.options.inference[index] as InferenceOption;
    this.replicas[index] = (this.replicas[index] ?? 0) + count;
    this.take(option.pool, count * option.chipsPerReplica, count * option.facilityMWPerReplica);
    const tokens = count * option.tokensPerSecondPerReplica;
    this.serviceCapacity.set(option.service.id, this.capacity(option.service.id) + tokens);
    const key = `${option.service.id}|${survivalGroup(option.pool, this.lose)}`;
    this.serviceGroupCapacity.set(key, (this.serviceGroupCapacity.get(key) ?? 0) + tokens);
  }

  /** Whether one replica can go without breaking demand, survival or a share cap. */
  canRemove(index: number): boolean {
    const option = this.options.inference[index] as InferenceOption;
    const service = option.service;
    const tokens = option.tokensPerSecondPerReplica;
    const capacity = this.capacity(service.id) - tokens;
    if (capacity < requiredTokensPerSecond(service, this.fleet.policy.headroom) * (1 + 1e-9)) return false;
    const keep = this.fleet.policy.survive?.keep;
    if (keep !== undefined) {
      const group = survivalGroup(option.pool, this.lose);
      const demand = demandTokensPerSecond(service);
      for (const [key, held] of this.serviceGroupCapacity) {
        if (!key.startsWith(`${service.id}|`)) continue;
        const lostGroup = key.slice(service.id.length + 1);
        const outside = capacity - (lostGroup === group ? held - tokens : held);
        if (outside < keep * demand * (1 + 1e-9)) return false;
      }
    }
    // Removing power from one provider raises every other provider's share.
    const mw = option.facilityMWPerReplica;
    const total = this.totalMW - mw;
    const caps = this.fleet.policy.maxShare;
    if (caps.provider !== undefined) {
      for (const [name, held] of this.providerMW) if (held - (name === option.pool.provider ? mw : 0) > caps.provider * total + 1e-9) return false;
    }
    if (caps.chipVendor !== undefined) {
      for (const [name, held] of this.vendorMW) if (held - (name === option.pool.chip.vendor ? mw : 0) > caps.chipVendor * total + 1e-9) return false;
    }
    return true;
  }

  private take(pool: Pool, chips: number, mw: number): void {
    this.freeChips.set(pool.id, (this.freeChips.get(pool.id) ?? 0) - chips);
    if (pool.site !== undefined) this.freeSiteMW.set(pool.site, (this.freeSiteMW.get(pool.site) ?? 0) - mw);
    this.providerMW.set(pool.provider, (this.providerMW.get(pool.provider) ?? 0) + mw);
    this.vendorMW.set(pool.chip.vendor, (this.vendorMW.get(pool.chip.vendor) ?? 0) + mw);
    this.totalMW += mw;
  }

  private siteRoom(pool: Pool): number {
    return pool.site === undefined ? Number.POSITIVE_INFINITY : (this.freeSiteMW.get(pool.site) ?? 0);
  }

  /** MW a pool's provider and vendor may still add: held + m <= cap (total + m). */
  private shareRoom(pool: Pool): number {
    let room = Number.POSITIVE_INFINITY;
    const caps = this.fleet.policy.maxShare;
    if (caps.provider !== undefined && caps.provider < 1) room = Math.min(room, (caps.provider * this.totalMW - (this.providerMW.get(pool.provider) ?? 0)) / (1 - caps.provider));
    if (caps.chipVendor !== undefined && caps.chipVendor < 1) room = Math.min(room, (caps.chipVendor * this.totalMW - (this.vendorMW.get(pool.chip.vendor) ?? 0)) / (1 - caps.chipVendor));
    return room;
  }
}
