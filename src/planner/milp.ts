import highsModule, { type Highs, type InitOptions } from 'highs';

// The package's types are written as CommonJS while Node loads its ES module build,
// whose default export is the loader itself.
const highsLoader = highsModule as unknown as (options?: InitOptions) => Promise<Highs>;

/**
 * A mixed-integer linear program as plain data, minimised. The planner builds
 * one; `solveMilp` hands it to HiGHS. Keeping the problem as data lets tests
 * and benchmarks inspect exactly what was solved.
 */
export interface MilpProblem {
  readonly columnCost: number[];
  readonly columnLower: number[];
  readonly columnUpper: number[];
  readonly columnInteger: boolean[];
  readonly rowLower: number[];
  readonly rowUpper: number[];
  /** Row-wise sparse coefficients: rowStarts has one more entry than there are rows. */
  readonly rowStarts: number[];
  readonly rowColumns: number[];
  readonly rowValues: number[];
}

export class MilpBuilder {
  private readonly problem: MilpProblem = {
    columnCost: [],
    columnLower: [],
    columnUpper: [],
    columnInteger: [],
    rowLower: [],
    rowUpper: [],
    rowStarts: [0],
    rowColumns: [],
    rowValues: [],
  };

  addColumn(cost: number, lower: number, upper: number, integer: boolean): number {
    const p = this.problem;
    p.columnCost.push(cost);
    p.columnLower.push(lower);
    p.columnUpper.push(upper);
    p.columnInteger.push(integer);
    return p.columnCost.length - 1;
  }

  /** Adds lower <= sum(coef x) <= upper; returns the row index. Zero coefficients are dropped. */
  addRow(lower: number, upper: number, columns: readonly number[], values: readonly number[]): number {
    const p = this.problem;
    const merged = new Map<number, number>();
    columns.forEach((column, i) => merged.set(column, (merged.get(column) ?? 0) + (values[i] ?? 0)));
    for (const [column, value] of merged) {
      if (value === 0) continue;
      p.rowColumns.push(column);
      p.rowValues.push(value);
    }
    p.rowLower.push(lower);
    p.rowUpper.push(upper);
    p.rowStarts.push(p.rowColumns.length);
    return p.rowLower.length - 1;
  }

  setCost(column: number, cost: number): void {
    this.problem.columnCost[column] = cost;
  }

  build(): MilpProblem {
    return this.problem;
  }
}

export type MilpStatus = 'optimal' | 'feasible' | 'infeasible' | 'no-solution';

export interface MilpSolution {
  readonly status: MilpStatus;
  readonly values: Float64Array;
  readonly rowActivity: Float64Array;
  readonly objective: number;
  /** Best proven lower bound on the objective (the LP bound for a pure LP). */
  readonly lowerBound: number;
  readonly gap: number;
  readonly seconds: number;
  /** Whether the solve stopped at its time limit (HiGHS's status), rather than at its gap or proof. */
  readonly timeLimited: boolean;
}

export interface MilpOptions {
  /** Wall-clock budget: HiGHS's own limit is wall-clock inside the solver. */
  readonly timeLimitSeconds: number;
  readonly relativeGap: number;
  /** Solve the LP relaxation only (integrality dropped). */
  readonly relaxation?: boolean;
  /** A feasible integer point to start branch-and-bound from (one value per column). */
  readonly start?: ArrayLike<number>;
  /** Milliseconds on a monotonic clock, for the seconds a solve took (see solverClock). */
  readonly clock: () => number;
}

/**
 * The wall clock the planner's budget is counted on, the shell's default: HiGHS counts its time
 * limit on the wall clock inside the solver, so the planner's share of the budget is counted alike.
 */
export const solverClock = (): number => performance.now();

let runtime: Promise<Highs> | undefined;

/** Loads the HiGHS WebAssembly runtime once per process (it ships inside the `highs` package). */
export function loadSolver(): Promise<Highs> {
  const loaded = runtime ?? highsLoader();
  runtime = loaded;
  return loaded;
}

export async function solveMilp(problem: MilpProblem, options: MilpOptions): Promise<MilpSolution> {
  const highs = await loadSolver();
  const started = options.clock();
  const numCols = problem.columnCost.length;
  const numRows = problem.rowLower.length;
  if (numCols === 0) {
    // Nothing to decide (a fleet with no workloads): feasible exactly when every row admits zero.
    const feasible = problem.rowLower.every((lower, i) => lower <= 0 && (problem.rowUpper[i] ?? 0) >= 0);
    return { status: feasible ? 'optimal' : 'infeasible', values: new Float64Array(0), rowActivity: new Float64Array(numRows), objective: feasible ? 0 : Number.NaN, lowerBound: feasible ? 0 : Number.NaN, gap: feasible ? 0 : Number.POSITIVE_INFINITY, seconds: 0, timeLimited: false };
  }
  const integer = !options.relaxation && problem.columnInteger.some(Boolean);
  const model = highs.createModel({
    numCols,
    numRows,
    colCost: Float64Array.from(problem.columnCost),
    colLower: Float64Array.from(problem.columnLower),
    colUpper: Float64Array.from(problem.columnUpper, (value) => (Number.isFinite(value) ? value : highs.infinity)),
    rowLower: Float64Array.from(problem.rowLower, (value) => (Number.isFinite(value) ? value : -highs.infinity)),
    rowUpper: Float64Array.from(problem.rowUpper, (value) => (Number.isFinite(value) ? value : highs.infinity)),
    matrix: {
      format: 'csr',
      numRows,
      numCols,
      starts: Int32Array.from(problem.rowStarts),
      indices: Int32Array.from(problem.rowColumns),
      values: Float64Array.from(problem.rowValues),
    },
    ...(integer ? { integrality: Int32Array.from(problem.columnInteger, (flag) => (flag ? 1 : 0)) } : {}),
  });
  try {
    model.options.set({
      output_flag: false,
      time_limit: options.timeLimitSeconds,
      mip_rel_gap: options.relativeGap,
      random_seed: 1,
    });
    if (options.start !== undefined && integer) model.setSolution({ colValue: Float64Array.from(options.start as ArrayLike<number>) });
    const result = model.run();
    const seconds = (options.clock() - started) / 1e3;
    const code = result.modelStatus;
    // HiGHS reports "not solved" (and getSolution throws) when presolve alone proves infeasibility.
    const hasSolution = Number(model.info.get('primal_solution_status')) === 2;
    const solution = hasSolution ? model.getSolution() : { colValue: new Float64Array(numCols), rowValue: new Float64Array(numRows) };
    const objective = hasSolution ? model.getObjectiveValue() : Number.NaN;
    let lowerBound = objective;
    if (integer) {
      const bound = Number(model.info.get('mip_dual_bound'));
      lowerBound = Number.isFinite(bound) ? bound : Number.NEGATIVE_INFINITY;
    }
    const gap = hasSolution ? relativeGap(objective, lowerBound) : Number.POSITIVE_INFINITY;
    let status: MilpStatus;
    if (code === 7 && hasSolution) status = 'optimal';
    else if (code === 8 || code === 9) status = 'infeasible';
    else if (hasSolution) status = 'feasible';
    else status = 'no-solution';
    // HiGHS's model status 13: the time limit was reached.
    return { status, values: solution.colValue, rowActivity: solution.rowValue, objective, lowerBound, gap, seconds, timeLimited: code === 13 };
  } finally {
    model.dispose();
  }
}

/** HiGHS's definition: |primal - dual| / max(1, |primal|)... but relative to the incumbent. */
export function relativeGap(objective: number, lowerBound: number): number {
  if (!Number.isFinite(lowerBound)) return Number.POSITIVE_INFINITY;
  const difference = Math.max(0, objective - lowerBound);
  if (difference <= 1e-9) return 0;
  return difference / Math.max(Math.abs(objective), 1e-9);
}
