import type { Fleet } from '../domain/fleet.js';
import { bestSingleChipPerService, greedyCheapestFirst, type Baseline } from './baselines.js';
import { evaluateDecision, type Evaluation } from './evaluate-decision.js';
import { explainShortfalls } from './explain-shortfalls.js';
import { solverClock, type MilpOptions } from './milp.js';
import { solvePlacement, type PlacementSolution } from './solve-placement.js';
import { buildPlanOptions, type PlanOptions } from './plan-options.js';
import { buildPlanProblem, objectiveWeights, type ObjectiveWeights } from './plan-problem.js';
import type { BaselineReport, Plan } from './plan-report.js';

export interface PlanSettings {
  /** Wall-clock budget per solve; the fleet's policy value otherwise. */
  readonly timeLimitSeconds?: number;
  readonly mipGap?: number;
  /** Milliseconds on a monotonic clock, for the budget and the seconds reported (default: the wall clock, solverClock). */
  readonly clock?: () => number;
}

/**
 * Plans a fleet: builds every feasible (workload, pool) option from the
 * performance model, solves the placement MILP with HiGHS, and reports the
 * result beside two baselines. When the spec cannot be met it solves a
 * relaxed model and says why.
 */
export async function planFleet(fleet: Fleet, settings: PlanSettings = {}): Promise<Plan> {
  const clock = settings.clock ?? solverClock;
  const started = clock();
  const options = buildPlanOptions(fleet);
  const greedy = greedyCheapestFirst(fleet, options);
  const single = bestSingleChipPerService(fleet, options);
  const weights = objectiveWeights(fleet, greedy.evaluation);
  const solveOptions = { timeLimitSeconds: settings.timeLimitSeconds ?? fleet.policy.timeLimitSeconds, relativeGap: settings.mipGap ?? fleet.policy.mipGap, clock };

  const problems: string[] = [];
  let method = '';
  const strictOutcome = await solveStrict(fleet, options, weights, solveOptions);
  const strict = strictOutcome === 'timed-out' ? undefined : strictOutcome;
  let relaxedSolution: { solution: PlacementSolution; evaluation: Evaluation; replicaCosts: readonly number[] } | undefined;
  if (strict === undefined) {
    relaxedSolution = await solveRelaxed(fleet, options, weights, solveOptions);
    method = `${relaxedSolution.solution.method}, on the relaxed model (demand, survival, share caps and training placement as penalised slack)`;
  }

  let evaluation: Evaluation;
  let status: Plan['status'];
  let objective: number;
  let lowerBound: number;
  let gap: number;
  if (strict !== undefined) {
    method = strict.solution.method;
    evaluation = strict.evaluation;
    status = strict.solution.status === 'optimal' ? 'optimal' : 'feasible';
    objective = strict.solution.objective;
    lowerBound = strict.solution.lowerBound;
    gap = strict.solution.gap;
    if (strict.solution.status !== 'optimal') problems.push(stoppedShort(strict.solution, solveOptions));
  } else if (relaxedSolution !== undefined) {
    evaluation = relaxedSolution.evaluation;
    status = 'infeasible';
    objective = weights.costWeight * evaluation.costPerHour + weights.powerWeight * evaluation.powerMW;
    lowerBound = Number.NaN;
    gap = Number.NaN;
    if (strictOutcome === 'timed-out') {
      // Out of time before any plan that meets every rule: only what the options alone prove is
      // infeasible; shortfalls read off a relaxed plan cut short would blame the wrong constraint.
      const proven = explainShortfalls(fleet, options, evaluation, true);
      if (proven.length > 0) problems.push(...proven);
      else {
        status = 'timed-out';
        problems.push(`no plan was found within the solver's ${solveOptions.timeLimitSeconds} s time limit, which does not show the fleet infeasible: raise --time-limit (policy.timeLimitSeconds); the plan shown is the relaxed model's`);
      }
    } else if (relaxedSolution.solution.timeLimited || relaxedSolution.solution.status !== 'optimal') {
      // Proven infeasible, but the partial plan is not the best one (cut short, or ended above its gap):
      // what binds in it may not bind in the best one. What the options prove comes first, alone when
      // there is any (R59: 46 false lines beside a service with no pool); else what the plan shows, said
      // as read off it (R60: a fleet short everywhere got no cause at all).
      const relaxed = relaxedSolution.solution;
      const why = relaxed.timeLimited
        ? `the relaxed model's solve stopped at its ${String(solveOptions.timeLimitSeconds)} s limit`
        : `the relaxed model's plan ended ${Number.isFinite(relaxed.gap) ? `${(relaxed.gap * 100).toFixed(1)}% from its bound` : 'with no bound'}, short of its target gap`;
      const proven = explainShortfalls(fleet, options, evaluation, true);
      if (proven.length > 0) {
        problems.push(...proven, `${why}: the partial plan shown may not be the best one, so what binds is said only where the options alone prove it; mend those, and plan again for the rest`);
      } else {
        const read = explainShortfalls(fleet, options, evaluation, false, relaxedSolution.replicaCosts);
        problems.push(...(read.length > 0 ? read : evaluation.violations), `${why}: what binds above is read off that partial plan, and the best one may bind elsewhere${relaxed.timeLimited ? '; raise --time-limit (policy.timeLimitSeconds) for a firmer account' : ''}`);
      }
    } else {
      const explained = explainShortfalls(fleet, options, evaluation, false, relaxedSolution.replicaCosts);
      problems.push(...(explained.length > 0 ? explained : evaluation.violations));
    }
    if (problems.length === 0) problems.push('no plan meets every constraint, and the relaxed plan found none to report: raise the time limit');
  } else {
    throw new Error('unreachable: relaxed model always has a solution');
  }

  const baselines = [greedy, single].map((baseline) => baselineReport(baseline, evaluation.costPerHour));
  return {
    status,
    policy: {
      objective: fleet.policy.objective,
      headroom: fleet.policy.headroom,
      survive: fleet.policy.survive ?? null,
      maxShare: { provider: fleet.policy.maxShare.provider ?? null, chipVendor: fleet.policy.maxShare.chipVendor ?? null },
    },
    objective,
    costPerHour: evaluation.costPerHour,
    committedCostPerHour: evaluation.committedCostPerHour,
    strandedCommitted: evaluation.strandedCommitted,
    powerMW: evaluation.powerMW,
    lowerBound,
    gap,
    solveSeconds: (clock() - started) / 1e3,
    method,
    allocations: evaluation.allocations,
    options: [
      ...options.inference.map((o) => ({
        workload: o.service.id,
        pool: o.pool.id,
        chipsPerReplica: o.chipsPerReplica,
        tokensPerSecondPerReplica: o.tokensPerSecondPerReplica,
        ttftMs: o.profile.ttftMs,
        tpotMs: o.profile.tpotMs,
        marginalCostPerReplicaHour: o.marginalCostPerReplicaHour,
        powerMWPerReplica: o.facilityMWPerReplica,
        source: o.profile.source,
      })),
      ...options.training.map((o) => ({ workload: o.job.id, pool: o.pool.id, chips: o.chips, days: o.days, marginalCostPerHour: o.marginalCostPerHour, powerMW: o.facilityMW })),
    ],
    excludedOptions: options.excluded,
    services: evaluation.services,
    trainingJobs: evaluation.trainingJobs,
    shares: evaluation.shares,
    survival: evaluation.survival,
    pools: evaluation.pools,
    sites: evaluation.sites,
    baselines,
    problems,
  };
}

type SolveOptions = Pick<MilpOptions, 'timeLimitSeconds' | 'relativeGap' | 'clock'>;

/** The strict model's plan; undefined when none meets every rule, 'timed-out' when the solver ran out of time before finding one. */
async function solveStrict(fleet: Fleet, options: PlanOptions, weights: ObjectiveWeights, solveOptions: SolveOptions): Promise<{ solution: PlacementSolution; evaluation: Evaluation } | 'timed-out' | undefined> {
  const built = buildPlanProblem(fleet, options, weights, false);
  const solution = await solvePlacement(fleet, options, built, weights, false, solveOptions);
  if (solution.status === 'no-solution') return 'timed-out';
  if (solution.status !== 'optimal' && solution.status !== 'feasible') return undefined;
  const evaluation = evaluateDecision(fleet, options, {
    replicas: built.replicaColumns.map((column) => Math.round(solution.values[column] ?? 0)),
    trainingChosen: built.trainingColumns.map((column) => (solution.values[column] ?? 0) > 0.5),
  });
  // The solver's tolerances are not the user's: a plan that breaks a rule after rounding is not feasible.
  if (evaluation.violations.length > 0) return undefined;
  return { solution, evaluation };
}

async function solveRelaxed(fleet: Fleet, options: PlanOptions, weights: ObjectiveWeights, solveOptions: SolveOptions) {
  const built = buildPlanProblem(fleet, options, weights, true);
  const solution = await solvePlacement(fleet, options, built, weights, true, solveOptions);
  const values = solution.values;
  const evaluation = evaluateDecision(fleet, options, {
    replicas: built.replicaColumns.map((column) => Math.round(values[column] ?? 0)),
    trainingChosen: built.trainingColumns.map((column) => (values[column] ?? 0) > 0.5),
  });
  // What a replica costs in that objective, for telling a shortfall left for cost from one the solve left.
  const replicaCosts = built.replicaColumns.map((column) => built.problem.columnCost[column] ?? 0);
  return { solution, evaluation, replicaCosts };
}

/**
 * Why a plan is short of its target gap: the time limit, when a solve reached it (a longer one may
 * find a better plan), or else the decomposition's last step ending above the target (E56: said to
 * be the time limit after 3 s of 60, and a longer limit gives the same plan).
 */
function stoppedShort(solution: PlacementSolution, solveOptions: SolveOptions): string {
  const within = `${(solution.gap * 100).toFixed(2)}%`;
  if (solution.timeLimited) return `the solver stopped at its ${String(solveOptions.timeLimitSeconds)} s limit; the plan is within ${within} of the best possible`;
  const short = `the solve ended within ${within} of the best possible, short of its ${(solveOptions.relativeGap * 100).toFixed(2)}% target gap, before its ${String(solveOptions.timeLimitSeconds)} s limit`;
  // The decomposition's steps are fixed: time left over would not be used.
  if (solution.method.startsWith('LP relaxation')) return `${short}: the decomposition's steps are all done (the last, a MILP restricted to +/-3 replicas around the plan), and a longer limit gives the same plan; the gap is measured against the LP relaxation's bound, below the best integer plan, so the true gap may be smaller`;
  return short;
}

function baselineReport(baseline: Baseline, planCost: number): BaselineReport {
  const { evaluation } = baseline;
  return {
    name: baseline.name,
    status: evaluation.violations.length === 0 ? 'feasible' : 'infeasible',
    costPerHour: evaluation.costPerHour,
    powerMW: evaluation.powerMW,
    planSavingsPerHour: evaluation.costPerHour - planCost,
    violations: evaluation.violations,
    allocations: evaluation.allocations,
  };
}
