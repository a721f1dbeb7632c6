import type { Fleet } from '../domain/fleet.js';
import { evaluateDecision, survivalGroup, type Evaluation } from './evaluate-decision.js';
import { requiredTokensPerSecond, type InferenceOption, type PlanOptions } from './plan-options.js';
import { PlanState } from './plan-state.js';

/**
 * Simple strategies a planner is measured against. Both honour residency, pool
 * capacity and site power, and survival the simple way (no provider or region
 * may hold more of a service than it can afford to lose); neither balances
 * share caps, and the evaluation says what they break. Their room is counted
 * by the same PlanState as the planner's repair.
 */
export interface Baseline {
  readonly name: string;
  readonly evaluation: Evaluation;
}

/** Cheapest marginal $ per token/s first, then least power per token/s. */
function byCheapest(a: InferenceOption, b: InferenceOption): number {
  return (
    a.marginalCostPerReplicaHour / a.tokensPerSecondPerReplica - b.marginalCostPerReplicaHour / b.tokensPerSecondPerReplica ||
    a.facilityMWPerReplica / a.tokensPerSecondPerReplica - b.facilityMWPerReplica / b.tokensPerSecondPerReplica ||
    a.pool.id.localeCompare(b.pool.id)
  );
}

/** Each training gang on its cheapest pool with room (they need whole pools, so they go first). */
function placeTraining(fleet: Fleet, options: PlanOptions, state: PlanState): void {
  for (const job of fleet.trainingJobs) {
    const candidates = options.training
      .map((option, index) => ({ option, index }))
      .filter(({ option }) => option.job === job)
      .sort((a, b) => a.option.marginalCostPerHour - b.option.marginalCostPerHour || a.option.facilityMW - b.option.facilityMW);
    const pick = candidates.find(({ option }) => state.fitsTraining(option.pool, option.chips, option.facilityMW));
    if (pick !== undefined) state.placeTraining(pick.index);
  }
}

/** Replicas of an option toward `remaining` tokens/s: rounded up to meet it, never past what fits or its survival group may hold. */
function replicasToward(option: InferenceOption, remaining: number, groupRoom: number, fit: number): number {
  const wanted = Math.min(Math.ceil(remaining / option.tokensPerSecondPerReplica - 1e-9), Math.floor(groupRoom / option.tokensPerSecondPerReplica + 1e-9));
  return Math.max(0, Math.min(wanted, fit));
}

/** Places what it can of `required` tokens/s on the options, in their order. */
function fillService(state: PlanState, candidates: readonly { option: InferenceOption; index: number }[], required: number): void {
  let remaining = required;
  for (const { option, index } of candidates) {
    if (remaining <= 0) break;
    const count = replicasToward(option, remaining, state.groupRoom(index), state.fits(index, false));
    state.add(index, count);
    remaining -= count * option.tokensPerSecondPerReplica;
  }
}

function servicesByDemand(fleet: Fleet): Fleet['services'] {
  return [...fleet.services].sort((a, b) => requiredTokensPerSecond(b, 0) - requiredTokensPerSecond(a, 0));
}

function optionsOf(options: PlanOptions, service: Fleet['services'][number]): { option: InferenceOption; index: number }[] {
  return options.inference.map((option, index) => ({ option, index })).filter(({ option }) => option.service === service);
}

function evaluated(name: string, fleet: Fleet, options: PlanOptions, state: PlanState): Baseline {
  return { name, evaluation: evaluateDecision(fleet, options, { replicas: state.replicas.slice(), trainingChosen: state.trainingChosen.slice() }) };
}

/** Training gangs first (they need whole pools), then services by descending demand, cheapest capacity first. */
export function greedyCheapestFirst(fleet: Fleet, options: PlanOptions): Baseline {
  const state = new PlanState(fleet, options);
  placeTraining(fleet, options, state);
  for (const service of servicesByDemand(fleet)) {
    fillService(state, optionsOf(options, service).sort((a, b) => byCheapest(a.option, b.option)), requiredTokensPerSecond(service, fleet.policy.headroom));
  }
  return evaluated('greedy cheapest-first', fleet, options, state);
}

/**
 * Each service on the one chip type that serves it cheapest on its own (all of
 * that chip's pools in its jurisdictions), the way a team standardised on one
 * accelerator would deploy.
 */
export function bestSingleChipPerService(fleet: Fleet, options: PlanOptions): Baseline {
  const state = new PlanState(fleet, options);
  placeTraining(fleet, options, state);
  const lose = fleet.policy.survive?.lose ?? 'provider';
  for (const service of servicesByDemand(fleet)) {
    const required = requiredTokensPerSecond(service, fleet.policy.headroom);
    const candidates = optionsOf(options, service);
    const chipIds = [...new Set(candidates.map(({ option }) => option.pool.chip.id))];
    // Score each chip type by the cost of serving the demand on its pools alone (unserved demand ranks
    // last): a trial that places nothing, its survival groups' tokens/s counted on the side.
    let bestChip: string | undefined;
    let bestScore: [number, number, number] | undefined;
    for (const chipId of chipIds) {
      const ofChip = candidates.filter(({ option }) => option.pool.chip.id === chipId).sort((a, b) => byCheapest(a.option, b.option));
      let remaining = required;
      let cost = 0;
      let mw = 0;
      const tried = new Map<string, number>();
      for (const { option, index } of ofChip) {
        if (remaining <= 0) break;
        const group = survivalGroup(option.pool, lose);
        const count = replicasToward(option, remaining, state.groupRoom(index) - (tried.get(group) ?? 0), state.fits(index, false));
        tried.set(group, (tried.get(group) ?? 0) + count * option.tokensPerSecondPerReplica);
        remaining -= count * option.tokensPerSecondPerReplica;
        cost += count * option.marginalCostPerReplicaHour;
        mw += count * option.facilityMWPerReplica;
      }
      const score: [number, number, number] = [Math.max(0, remaining), cost, mw];
      if (bestScore === undefined || score[0] < bestScore[0] - 1e-9 || (Math.abs(score[0] - bestScore[0]) <= 1e-9 && (score[1] < bestScore[1] || (score[1] === bestScore[1] && score[2] < bestScore[2])))) {
        bestScore = score;
        bestChip = chipId;
      }
    }
    fillService(state, candidates.filter(({ option }) => option.pool.chip.id === bestChip).sort((a, b) => byCheapest(a.option, b.option)), required);
  }
  return evaluated('best single chip per service', fleet, options, state);
}
