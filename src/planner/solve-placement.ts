import type { Fleet } from '../domain/fleet.js';
import { evaluateDecision, type Decision } from './evaluate-decision.js';
import { relativeGap, solveMilp, type MilpOptions, type MilpProblem, type MilpSolution } from './milp.js';
import type { PlanOptions } from './plan-options.js';
import type { ObjectiveWeights, PlanProblem } from './plan-problem.js';
import { roundAndRepair } from './round-and-repair.js';

export interface PlacementSolution extends MilpSolution {
  readonly method: string;
}

/** Up to this many integer columns the full MILP is solved directly: it proves optimality quickly. */
const directLimit = 300;

/**
 * Solves the placement MILP. Small problems go to HiGHS whole. Large ones,
 * where branch-and-cut struggles to find good integer points, are decomposed:
 *  1. the LP relaxation gives the lower bound and a fractional plan;
 *  2. (strict model) the LP plan is rounded and repaired into a feasible
 *     integer plan by `roundAndRepair`;
 *  3. HiGHS solves the MILP restricted to a box around the LP plan and the
 *     repaired plan (each integer column within one unit of either; columns
 *     both leave at zero stay zero), starting from the repaired plan;
 *  4. if time remains and the gap is still above target, a wider box (three
 *     units) is solved from the best plan so far.
 * The reported gap is always against the LP bound of the whole problem.
 */
export async function solvePlacement(fleet: Fleet, options: PlanOptions, built: PlanProblem, weights: ObjectiveWeights, relaxed: boolean, settings: MilpOptions): Promise<PlacementSolution> {
  const problem = built.problem;
  const started = settings.clock();
  const elapsed = (): number => (settings.clock() - started) / 1e3;
  const integerColumns = problem.columnInteger.filter(Boolean).length;
  if (integerColumns <= directLimit) {
    return { ...(await solveMilp(problem, settings)), method: 'MILP (HiGHS branch-and-cut)' };
  }

  const lp = await solveMilp(problem, { ...settings, relaxation: true });
  if (lp.status !== 'optimal') {
    return { ...lp, status: lp.status === 'feasible' ? 'no-solution' : lp.status, method: 'LP relaxation' };
  }
  const bound = lp.objective;
  // Whether a step ran out of time, or time ran out for the next one: the plan then depends on the budget.
  let outOfTime = lp.timeLimited;
  let best: PlacementSolution | undefined;
  let start: Float64Array | undefined;

  if (!relaxed) {
    const decision = roundAndRepair(
      fleet,
      options,
      weights,
      built.replicaColumns.map((column) => lp.values[column] ?? 0),
      built.trainingColumns.map((column) => lp.values[column] ?? 0),
    );
    const evaluation = evaluateDecision(fleet, options, decision);
    if (evaluation.violations.length === 0) {
      start = toColumns(problem, built, decision);
      const objective = dot(problem.columnCost, start);
      best = { status: 'feasible', values: start, rowActivity: new Float64Array(0), objective, lowerBound: bound, gap: relativeGap(objective, bound), seconds: elapsed(), timeLimited: false, method: 'LP relaxation, rounded and repaired' };
    }
  }

  for (const width of [1, 3]) {
    const remaining = settings.timeLimitSeconds - elapsed();
    if (best !== undefined && best.gap <= settings.relativeGap) break;
    if (remaining < 0.5) {
      outOfTime = true;
      break;
    }
    // Inside the box HiGHS works to a tighter gap than the target: the target is measured against the
    // LP bound of the whole problem, which the box's own bound can only exceed.
    const boxed = await solveMilp(box(problem, lp.values, start, width), { ...settings, relativeGap: Math.min(settings.relativeGap, 0.001), timeLimitSeconds: remaining, ...(start === undefined ? {} : { start }) });
    outOfTime ||= boxed.timeLimited;
    if ((boxed.status === 'optimal' || boxed.status === 'feasible') && (best === undefined || boxed.objective < best.objective - 1e-9)) {
      best = { ...boxed, status: 'feasible', lowerBound: bound, gap: relativeGap(boxed.objective, bound), seconds: elapsed(), method: `LP relaxation, rounding and repair, then MILP restricted to a box of +/-${width} around it (HiGHS)` };
      start = Float64Array.from(boxed.values);
    }
  }

  if (best === undefined) {
    // Nothing integral found near the LP: fall back to the whole MILP for the time left.
    const full = await solveMilp(problem, { ...settings, timeLimitSeconds: Math.max(1, settings.timeLimitSeconds - elapsed()) });
    // Out of budget already if the boxes were skipped for want of it, unless this MILP still proved its plan (R59).
    return { ...full, lowerBound: Math.max(bound, full.lowerBound), gap: relativeGap(full.objective, Math.max(bound, full.lowerBound)), seconds: elapsed(), timeLimited: full.timeLimited || (outOfTime && full.status !== 'optimal'), method: 'full MILP (HiGHS) after decomposition found no integer plan' };
  }
  return { ...best, status: best.gap <= settings.relativeGap ? 'optimal' : 'feasible', seconds: elapsed(), timeLimited: outOfTime };
}

function toColumns(problem: MilpProblem, built: PlanProblem, decision: Decision): Float64Array {
  const values = new Float64Array(problem.columnCost.length);
  built.replicaColumns.forEach((column, i) => {
    values[column] = decision.replicas[i] ?? 0;
  });
  built.trainingColumns.forEach((column, i) => {
    values[column] = decision.trainingChosen[i] === true ? 1 : 0;
  });
  return values;
}

function dot(a: readonly number[], b: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < a.length; i += 1) sum += (a[i] ?? 0) * (b[i] ?? 0);
  return sum;
}

/** The problem with each integer column boxed to within `width` of its LP value or its start value. */
function box(problem: MilpProblem, lp: ArrayLike<number>, start: ArrayLike<number> | undefined, width: number): MilpProblem {
  const columnLower = problem.columnLower.slice();
  const columnUpper = problem.columnUpper.slice();
  for (let column = 0; column < columnLower.length; column += 1) {
    if (!problem.columnInteger[column]) continue;
    const value = lp[column] ?? 0;
    const seed = start?.[column] ?? Math.round(value);
    const lower = columnLower[column] ?? 0;
    const upper = columnUpper[column] ?? 0;
    if (value <= 1e-7 && seed === 0) {
      columnUpper[column] = lower;
      continue;
    }
    columnLower[column] = Math.max(lower, Math.min(Math.floor(value + 1e-7), seed) - width);
    columnUpper[column] = Math.min(upper, Math.max(Math.ceil(value - 1e-7), seed) + width);
  }
  return { ...problem, columnLower, columnUpper };
}
