import { demandTokensPerSecond, facilityWattsPerChip, type Fleet } from '../domain/fleet.js';
import { shareHolder, survivalGroup } from './evaluate-decision.js';
import { MilpBuilder, type MilpProblem } from './milp.js';
import { requiredTokensPerSecond, type InferenceOption, type PlanOptions } from './plan-options.js';

/** How the objective is weighted; `balanced` divides cost and power by reference values. */
export interface ObjectiveWeights {
  readonly costWeight: number;
  readonly powerWeight: number;
}

/** Tie-break weights: a $1/MW-hour nudge under `cost` (far below any real price) and vice versa. */
export function objectiveWeights(fleet: Fleet, reference: { costPerHour: number; powerMW: number }): ObjectiveWeights {
  switch (fleet.policy.objective) {
    case 'cost':
      return { costWeight: 1, powerWeight: 1 };
    case 'power':
      return { costWeight: 1e-6, powerWeight: 1 };
    case 'balanced':
      // As documented, for a fleet under 1 MW or $1/h too (E56: a floor of 1 weighed its power down to
      // nearly nothing); a baseline that places nothing, or only free capacity, divides by 1.
      return { costWeight: 1 / (reference.costPerHour > 0 ? reference.costPerHour : 1), powerWeight: 1 / (reference.powerMW > 0 ? reference.powerMW : 1) };
  }
}

export interface PlanProblem {
  readonly problem: MilpProblem;
  /** Column of each inference option's replica count. */
  readonly replicaColumns: readonly number[];
  /** Column of each training option's binary choice. */
  readonly trainingColumns: readonly number[];
  /** Columns measuring constraint violation (relaxed mode only). */
  readonly violationColumns: readonly number[];
  /** Divide the solver objective by this to get the objective in its own units (relaxed mode). */
  readonly objectiveScale: number;
}

/**
 * Chvatal-Gomory rounding cuts on a cover row sum(t_o x_o) >= R with whole
 * replicas x_o: for a divisor d, sum(ceil(t_o / d) x_o) >= ceil(R / d) holds for
 * every integer plan. With d the largest replica it says "at least this many
 * replicas"; with d the replica of one of the cheapest options it says "round
 * that option up, or pay for a substitute". Both tighten the LP bound the gap is
 * measured against, and neither removes an integer plan.
 */
/** How many of the cheapest options lend their replica size as a divisor. */
const cheapDivisors = 10;

function addRoundingCuts(builder: MilpBuilder, terms: readonly { column: number; option: InferenceOption }[], required: number, weights: ObjectiveWeights): void {
  if (required <= 0 || terms.length === 0) return;
  const perToken = (option: InferenceOption): number => (weights.costWeight * option.marginalCostPerReplicaHour + weights.powerWeight * option.facilityMWPerReplica) / option.tokensPerSecondPerReplica;
  const largest = Math.max(...terms.map((t) => t.option.tokensPerSecondPerReplica));
  const cheapest = [...terms].sort((a, b) => perToken(a.option) - perToken(b.option)).slice(0, cheapDivisors).map((t) => t.option.tokensPerSecondPerReplica);
  for (const divisor of new Set([largest, ...cheapest])) {
    const bound = Math.ceil(required / divisor - 1e-9);
    if (bound <= 0) continue;
    builder.addRow(bound, Number.POSITIVE_INFINITY, terms.map((t) => t.column), terms.map((t) => Math.ceil(t.option.tokensPerSecondPerReplica / divisor - 1e-9)));
  }
}

/** Penalty per unit of violation in the relaxed model; the plan objective is scaled into [0, 1]. */
export const unmetPenalty = 1000;
export const survivalPenalty = 100;
const sharePenalty = 10;

/**
 * The placement MILP.
 *
 * Variables: integer replicas per (service, pool) option; a binary per
 * (training job, pool) option. Rows, each scaled to O(1): pool capacity,
 * demand x (1 + headroom), survival of the loss of each provider (or region),
 * provider and chip-vendor shares of allocated facility power, site power
 * envelopes, one pool per training job. Residency is not a row: options
 * outside a workload's jurisdictions do not exist.
 *
 * In `relaxed` mode demand, survival, share caps and training placement get
 * penalised slack columns so the best partial plan is still found; capacity,
 * residency and site power stay hard.
 */
export function buildPlanProblem(fleet: Fleet, options: PlanOptions, weights: ObjectiveWeights, relaxed: boolean): PlanProblem {
  const builder = new MilpBuilder();
  const { inference, training } = options;
  // In relaxed mode the real objective is scaled to at most 1 so that penalties dominate it, and
  // further down until every replica is worth its cost: a replica's share of a demand far beyond the
  // fleet is tiny, and at a fixed penalty per fraction of demand the best partial plan served nothing.
  // Scaling the objective, not the penalties, keeps the penalties' order and ratios, so services
  // competing for capacity are weighed as before.
  let objectiveScale = 1;
  if (relaxed) {
    const replicaCost = (o: InferenceOption): number => weights.costWeight * o.marginalCostPerReplicaHour + weights.powerWeight * o.facilityMWPerReplica;
    const maximum =
      inference.reduce((sum, o) => sum + o.maxReplicas * replicaCost(o), 0) +
      training.reduce((sum, o) => sum + weights.costWeight * o.marginalCostPerHour + weights.powerWeight * o.facilityMW, 0);
    objectiveScale = maximum > 0 ? 1 / maximum : 1;
    // The dearest option's scaled cost of serving its service's whole demand (a fraction of 1).
    const dearest = inference.reduce((most, o) => (o.tokensPerSecondPerReplica > 0 ? Math.max(most, (objectiveScale * replicaCost(o) * requiredTokensPerSecond(o.service, fleet.policy.headroom)) / o.tokensPerSecondPerReplica) : most), 1);
    objectiveScale /= dearest;
  }
  const replicaColumns = inference.map((option) =>
    builder.addColumn(objectiveScale * (weights.costWeight * option.marginalCostPerReplicaHour + weights.powerWeight * option.facilityMWPerReplica), 0, option.maxReplicas, true),
  );
  const trainingColumns = training.map((option) =>
    builder.addColumn(objectiveScale * (weights.costWeight * option.marginalCostPerHour + weights.powerWeight * option.facilityMW), 0, 1, true),
  );
  const violationColumns: number[] = [];
  const slack = (penalty: number, upper: number): number => {
    const column = builder.addColumn(penalty, 0, upper, false);
    violationColumns.push(column);
    return column;
  };

  // Pool capacity (in units of the pool's size).
  for (const pool of fleet.pools) {
    const columns: number[] = [];
    const values: number[] = [];
    inference.forEach((option, i) => {
      if (option.pool !== pool) return;
      columns.push(replicaColumns[i] as number);
      values.push(option.chipsPerReplica / pool.chips);
    });
    training.forEach((option, i) => {
      if (option.pool !== pool) return;
      columns.push(trainingColumns[i] as number);
      values.push(option.chips / pool.chips);
    });
    if (columns.length > 0) builder.addRow(Number.NEGATIVE_INFINITY, 1, columns, values);
  }

  const optionsByService = new Map<string, number[]>();
  inference.forEach((option, i) => {
    const list = optionsByService.get(option.service.id) ?? [];
    list.push(i);
    optionsByService.set(option.service.id, list);
  });

  const lose = fleet.policy.survive?.lose ?? 'provider';
  for (const service of fleet.services) {
    const indices = optionsByService.get(service.id) ?? [];
    // Demand with headroom, as a fraction of itself.
    const required = requiredTokensPerSecond(service, fleet.policy.headroom);
    const columns = indices.map((i) => replicaColumns[i] as number);
    const values = indices.map((i) => (inference[i]?.tokensPerSecondPerReplica ?? 0) / required);
    if (relaxed) {
      columns.push(slack(unmetPenalty, 1));
      values.push(1);
    }
    // Added even when empty: a service with no option makes the strict model infeasible, as it should.
    builder.addRow(1, Number.POSITIVE_INFINITY, columns, values);
    // A valid cut that tightens the LP bound: whole replicas, so at least as many as the
    // largest replica needs to cover the demand (the LP alone may take a fraction of one).
    if (!relaxed && indices.length > 0) addRoundingCuts(builder, indices.map((i) => ({ column: replicaColumns[i] as number, option: inference[i] as InferenceOption })), required, weights);

    // Survival: what stays outside each group keeps `keep` of demand.
    const survive = fleet.policy.survive;
    if (survive === undefined || survive.keep <= 0) continue;
    const demand = demandTokensPerSecond(service);
    const groups = new Set(indices.map((i) => survivalGroup((inference[i] as (typeof inference)[number]).pool, lose)));
    for (const group of groups) {
      const outside = indices.filter((i) => survivalGroup((inference[i] as (typeof inference)[number]).pool, lose) !== group);
      const rowColumns = outside.map((i) => replicaColumns[i] as number);
      const rowValues = outside.map((i) => (inference[i]?.tokensPerSecondPerReplica ?? 0) / demand);
      if (relaxed) {
        rowColumns.push(slack(survivalPenalty, survive.keep));
        rowValues.push(1);
      }
      builder.addRow(survive.keep, Number.POSITIVE_INFINITY, rowColumns, rowValues);
      // The same whole-replica cut for what must stay outside the group.
      if (!relaxed && outside.length > 0) addRoundingCuts(builder, outside.map((i) => ({ column: replicaColumns[i] as number, option: inference[i] as InferenceOption })), survive.keep * demand, weights);
    }
  }

  // Share caps on allocated facility power: sum(in group) - cap * sum(all) <= 0.
  const totalMW = fleet.pools.reduce((sum, pool) => sum + (facilityWattsPerChip(pool) * pool.chips) / 1e6, 0);
  for (const [cap, key] of [
    [fleet.policy.maxShare.provider, (pool: (typeof fleet.pools)[number]) => shareHolder(pool, 'provider')],
    [fleet.policy.maxShare.chipVendor, (pool: (typeof fleet.pools)[number]) => shareHolder(pool, 'chipVendor')],
  ] as const) {
    if (cap === undefined || cap >= 1) continue;
    const names = new Set(fleet.pools.map(key));
    for (const name of names) {
      const columns: number[] = [];
      const values: number[] = [];
      inference.forEach((option, i) => {
        columns.push(replicaColumns[i] as number);
        values.push(((key(option.pool) === name ? 1 : 0) - cap) * option.facilityMWPerReplica);
      });
      training.forEach((option, i) => {
        columns.push(trainingColumns[i] as number);
        values.push(((key(option.pool) === name ? 1 : 0) - cap) * option.facilityMW);
      });
      if (relaxed) {
        columns.push(slack(sharePenalty / Math.max(1, totalMW), Number.POSITIVE_INFINITY));
        values.push(-1);
      }
      builder.addRow(Number.NEGATIVE_INFINITY, 0, columns, values);
    }
  }

  // Site power envelopes.
  for (const site of fleet.sites) {
    const columns: number[] = [];
    const values: number[] = [];
    inference.forEach((option, i) => {
      if (option.pool.site !== site.id) return;
      columns.push(replicaColumns[i] as number);
      values.push(option.facilityMWPerReplica / site.powerMW);
    });
    training.forEach((option, i) => {
      if (option.pool.site !== site.id) return;
      columns.push(trainingColumns[i] as number);
      values.push(option.facilityMW / site.powerMW);
    });
    if (columns.length > 0) builder.addRow(Number.NEGATIVE_INFINITY, 1, columns, values);
  }

  // Each training job runs as one gang on exactly one pool.
  for (const job of fleet.trainingJobs) {
    const columns: number[] = [];
    training.forEach((option, i) => {
      if (option.job === job) columns.push(trainingColumns[i] as number);
    });
    const values = columns.map(() => 1);
    if (relaxed) {
      columns.push(slack(unmetPenalty, 1));
      values.push(1);
    }
    builder.addRow(1, 1, columns, values);
  }

  return { problem: builder.build(), replicaColumns, trainingColumns, violationColumns, objectiveScale };
}
