import type { Fleet } from '../domain/fleet.js';
import { demandTokensPerSecond, type Service } from '../domain/fleet.js';
import { evaluateDecision, survivalGroup, type Decision, type Evaluation } from './evaluate-decision.js';
import { requiredTokensPerSecond, type InferenceOption, type PlanOptions } from './plan-options.js';

/**
 * Simple strategies a planner is measured against. Both honour residency, pool
 * capacity and site power, and survival the simple way (no provider or region
 * may hold more of a service than it can afford to lose); neither balances
 * share caps, and the evaluation says what they break.
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

class Ledger {
  private readonly freeChips = new Map<string, number>();
  private readonly freeSiteMW = new Map<string, number>();

  constructor(fleet: Fleet) {
    for (const pool of fleet.pools) this.freeChips.set(pool.id, pool.chips);
    for (const site of fleet.sites) this.freeSiteMW.set(site.id, site.powerMW);
  }

  /** How many units of (chips, MW) each fit in a pool now. */
  fits(pool: InferenceOption['pool'], chips: number, mw: number): number {
    const byChips = Math.floor((this.freeChips.get(pool.id) ?? 0) / chips);
    const siteFree = pool.site === undefined ? Number.POSITIVE_INFINITY : (this.freeSiteMW.get(pool.site) ?? 0);
    const byPower = mw > 0 ? Math.floor(siteFree / mw + 1e-9) : Number.POSITIVE_INFINITY;
    return Math.max(0, Math.min(byChips, byPower));
  }

  take(pool: InferenceOption['pool'], chips: number, mw: number): void {
    this.freeChips.set(pool.id, (this.freeChips.get(pool.id) ?? 0) - chips);
    if (pool.site !== undefined) this.freeSiteMW.set(pool.site, (this.freeSiteMW.get(pool.site) ?? 0) - mw);
  }
}

function placeTraining(fleet: Fleet, options: PlanOptions, ledger: Ledger): boolean[] {
  const chosen = options.training.map(() => false);
  for (const job of fleet.trainingJobs) {
    const candidates = options.training
      .map((option, index) => ({ option, index }))
      .filter(({ option }) => option.job === job)
      .sort((a, b) => a.option.marginalCostPerHour - b.option.marginalCostPerHour || a.option.facilityMW - b.option.facilityMW);
    const pick = candidates.find(({ option }) => ledger.fits(option.pool, option.chips, option.facilityMW) >= 1);
    if (pick === undefined) continue;
    ledger.take(pick.option.pool, pick.option.chips, pick.option.facilityMW);
    chosen[pick.index] = true;
  }
  return chosen;
}

/** Most tokens/s one survival group may hold for a service so that losing it still keeps `keep` of demand. */
class GroupLimit {
  private readonly held = new Map<string, number>();

  constructor(
    private readonly fleet: Fleet,
    private readonly service: Service,
  ) {}

  room(option: InferenceOption): number {
    const survive = this.fleet.policy.survive;
    if (survive === undefined) return Number.POSITIVE_INFINITY;
    const limit = requiredTokensPerSecond(this.service, this.fleet.policy.headroom) - survive.keep * demandTokensPerSecond(this.service);
    return limit - (this.held.get(this.key(option)) ?? 0);
  }

  add(option: InferenceOption, tokens: number): void {
    this.held.set(this.key(option), (this.held.get(this.key(option)) ?? 0) + tokens);
  }

  private key(option: InferenceOption): string {
    return survivalGroup(option.pool, this.fleet.policy.survive?.lose ?? 'provider');
  }
}

function fillService(option: InferenceOption, index: number, remaining: number, ledger: Ledger, replicas: number[], limit: GroupLimit): number {
  // Round up to meet demand, but never past what the survival group may hold.
  const wanted = Math.min(Math.ceil(remaining / option.tokensPerSecondPerReplica - 1e-9), Math.floor(limit.room(option) / option.tokensPerSecondPerReplica + 1e-9));
  const count = Math.min(wanted, ledger.fits(option.pool, option.chipsPerReplica, option.facilityMWPerReplica));
  if (count <= 0) return remaining;
  ledger.take(option.pool, count * option.chipsPerReplica, count * option.facilityMWPerReplica);
  limit.add(option, count * option.tokensPerSecondPerReplica);
  replicas[index] = (replicas[index] ?? 0) + count;
  return remaining - count * option.tokensPerSecondPerReplica;
}

/** Training gangs first (they need whole pools), then services by descending demand, cheapest capacity first. */
export function greedyCheapestFirst(fleet: Fleet, options: PlanOptions): Baseline {
  const ledger = new Ledger(fleet);
  const trainingChosen = placeTraining(fleet, options, ledger);
  const replicas = options.inference.map(() => 0);
  const services = [...fleet.services].sort((a, b) => requiredTokensPerSecond(b, 0) - requiredTokensPerSecond(a, 0));
  for (const service of services) {
    let remaining = requiredTokensPerSecond(service, fleet.policy.headroom);
    const candidates = options.inference.map((option, index) => ({ option, index })).filter(({ option }) => option.service === service);
    candidates.sort((a, b) => byCheapest(a.option, b.option));
    const limit = new GroupLimit(fleet, service);
    for (const { option, index } of candidates) {
      if (remaining <= 0) break;
      remaining = fillService(option, index, remaining, ledger, replicas, limit);
    }
  }
  const decision: Decision = { replicas, trainingChosen };
  return { name: 'greedy cheapest-first', evaluation: evaluateDecision(fleet, options, decision) };
}

/**
 * Each service on the one chip type that serves it cheapest on its own (all of
 * that chip's pools in its jurisdictions), the way a team standardised on one
 * accelerator would deploy.
 */
export function bestSingleChipPerService(fleet: Fleet, options: PlanOptions): Baseline {
  const ledger = new Ledger(fleet);
  const trainingChosen = placeTraining(fleet, options, ledger);
  const replicas = options.inference.map(() => 0);
  const services = [...fleet.services].sort((a, b) => requiredTokensPerSecond(b, 0) - requiredTokensPerSecond(a, 0));
  for (const service of services) {
    const required = requiredTokensPerSecond(service, fleet.policy.headroom);
    const candidates = options.inference.map((option, index) => ({ option, index })).filter(({ option }) => option.service === service);
    const chipIds = [...new Set(candidates.map(({ option }) => option.pool.chip.id))];
    // Score each chip type by the cost of serving the demand on its pools alone (unserved demand ranks last).
    let bestChip: string | undefined;
    let bestScore: [number, number, number] | undefined;
    for (const chipId of chipIds) {
      const ofChip = candidates.filter(({ option }) => option.pool.chip.id === chipId).sort((a, b) => byCheapest(a.option, b.option));
      let remaining = required;
      let cost = 0;
      let mw = 0;
      const limit = new GroupLimit(fleet, service);
      for (const { option } of ofChip) {
        if (remaining <= 0) break;
        const wanted = Math.min(Math.ceil(remaining / option.tokensPerSecondPerReplica - 1e-9), Math.floor(limit.room(option) / option.tokensPerSecondPerReplica + 1e-9));
        const count = Math.max(0, Math.min(wanted, ledger.fits(option.pool, option.chipsPerReplica, option.facilityMWPerReplica)));
        limit.add(option, count * option.tokensPerSecondPerReplica);
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
    let remaining = required;
    const limit = new GroupLimit(fleet, service);
    for (const { option, index } of candidates.filter(({ option }) => option.pool.chip.id === bestChip).sort((a, b) => byCheapest(a.option, b.option))) {
      if (remaining <= 0) break;
      remaining = fillService(option, index, remaining, ledger, replicas, limit);
    }
  }
  return { name: 'best single chip per service', evaluation: evaluateDecision(fleet, options, { replicas, trainingChosen }) };
}
