import { demandTokensPerSecond, type Fleet } from '../domain/fleet.js';
import type { Decision } from './evaluate-decision.js';
import { survivalGroup } from './evaluate-decision.js';
import { requiredTokensPerSecond, type InferenceOption, type PlanOptions } from './plan-options.js';
import { PlanState } from './plan-state.js';
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
