import { standardInputName } from '../../domain/read-spec-file.js';
import { loadFleet } from '../../domain/load-fleet.js';
import { formatProblem } from '../../domain/spec-problem.js';
import { planFleet } from '../../planner/plan-fleet.js';
import { formatPlan } from '../format-plan.js';
import { toJson, type Output } from '../output.js';

export interface PlanCommandOptions {
  readonly json?: boolean;
  readonly timeLimit?: number;
  readonly gap?: number;
}

/**
 * `switchyard plan FILE`: exit 0 with a feasible plan, 3 with an infeasible one (still printed, marked), 2 on a
 * bad spec (with --json, also `{"status": "invalid-spec", "problems": [...]}` on stdout).
 */
export async function planCommand(file: string, options: PlanCommandOptions, output: Output): Promise<number> {
  const loaded = loadFleet(file);
  if (!loaded.ok) {
    for (const problem of loaded.problems) output.err(formatProblem(problem));
    // A script reading stdout gets the problems as data, not nothing.
    if (options.json === true) output.out(toJson({ status: 'invalid-spec', problems: loaded.problems }));
    return 2;
  }
  const plan = await planFleet(loaded.value, {
    ...(options.timeLimit === undefined ? {} : { timeLimitSeconds: options.timeLimit }),
    ...(options.gap === undefined ? {} : { mipGap: options.gap }),
  });
  output.out(options.json === true ? toJson(plan) : formatPlan(plan, file === '-' ? standardInputName : file));
  return plan.status === 'infeasible' || plan.status === 'timed-out' ? 3 : 0;
}
