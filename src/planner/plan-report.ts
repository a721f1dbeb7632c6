import type { Objective } from '../domain/fleet-spec-schema.js';

/** The planner's answer, as printed by `switchyard plan --json`. */
export interface Plan {
  /** 'timed-out': the solver found no plan that meets every rule within its time limit, which does not show there is none. */
  readonly status: 'optimal' | 'feasible' | 'infeasible' | 'timed-out';
  readonly policy: { readonly objective: Objective; readonly headroom: number; readonly survive: { readonly lose: 'provider' | 'region'; readonly keep: number } | null; readonly maxShare: { readonly provider: number | null; readonly chipVendor: number | null } };
  /** Value of the optimised objective ($/hour for cost, MW for power, a weighted sum for balanced). */
  readonly objective: number;
  /** Marginal $/hour: chips used on non-committed pools. */
  readonly costPerHour: number;
  /** $/hour of all committed pools, used or not (take-or-pay: sunk). */
  readonly committedCostPerHour: number;
  /** Committed chips left unused, and what they cost. */
  readonly strandedCommitted: { readonly chips: number; readonly costPerHour: number };
  /** Facility MW of the allocated chips (IT power x PUE). */
  readonly powerMW: number;
  /** Proven lower bound on the objective. */
  readonly lowerBound: number;
  /** (objective - lowerBound) / objective. */
  readonly gap: number;
  readonly solveSeconds: number;
  readonly method: string;
  readonly allocations: readonly Allocation[];
  readonly options: readonly (InferenceOptionReport | TrainingOptionReport)[];
  /** Options no plan can use; `site` when the pool's site is too small for one replica or the gang. */
  readonly excludedOptions: readonly { readonly workload: string; readonly pool: string; readonly reason: string; readonly site?: string }[];
  readonly services: readonly ServiceReport[];
  readonly trainingJobs: readonly TrainingJobReport[];
  /** Each provider's and chip vendor's fraction of allocated facility power; empty when nothing is allocated. */
  readonly shares: { readonly provider: Readonly<Record<string, number>>; readonly chipVendor: Readonly<Record<string, number>> };
  readonly survival: readonly SurvivalReport[];
  readonly pools: readonly PoolReport[];
  readonly sites: readonly SiteReport[];
  readonly baselines: readonly BaselineReport[];
  readonly problems: readonly string[];
}

export interface Allocation {
  readonly workload: string;
  readonly kind: 'inference' | 'training';
  readonly pool: string;
  readonly chips: number;
  readonly replicas?: number;
  readonly chipsPerReplica?: number;
  /** Output tokens/s served (inference) or training tokens/s processed (training). */
  readonly tokensPerSecond: number;
  readonly costPerHour: number;
  readonly powerMW: number;
  readonly days?: number;
}

export interface InferenceOptionReport {
  readonly workload: string;
  readonly pool: string;
  readonly chipsPerReplica: number;
  readonly tokensPerSecondPerReplica: number;
  readonly ttftMs: number;
  readonly tpotMs: number;
  readonly marginalCostPerReplicaHour: number;
  readonly powerMWPerReplica: number;
  readonly source: 'analytic' | 'measured';
}

export interface TrainingOptionReport {
  readonly workload: string;
  readonly pool: string;
  readonly chips: number;
  readonly days: number;
  readonly marginalCostPerHour: number;
  readonly powerMW: number;
}

export interface ServiceReport {
  readonly id: string;
  readonly jurisdictions: readonly string[];
  readonly demandTokensPerSecond: number;
  /** Demand x (1 + headroom): what the plan provisions for. */
  readonly requiredTokensPerSecond: number;
  readonly capacityTokensPerSecond: number;
  readonly unmetTokensPerSecond: number;
}

export interface TrainingJobReport {
  readonly id: string;
  readonly pool: string | null;
  readonly chips: number;
  readonly days: number | null;
  readonly deadlineDays: number;
}

export interface SurvivalReport {
  /** The provider (or provider/region) assumed lost. */
  readonly lost: string;
  readonly service: string;
  /** Capacity outside the lost group over demand (without headroom). */
  readonly keptFraction: number;
  readonly required: number | null;
}

export interface PoolReport {
  readonly id: string;
  readonly provider: string;
  readonly region: string;
  readonly jurisdiction: string;
  readonly chip: string;
  readonly pricing: string;
  readonly chips: number;
  readonly used: number;
  readonly powerMW: number;
}

export interface SiteReport {
  readonly id: string;
  readonly powerMW: number;
  readonly limitMW: number;
}

export interface BaselineReport {
  readonly name: string;
  readonly status: 'feasible' | 'infeasible';
  readonly costPerHour: number;
  readonly powerMW: number;
  /** Baseline cost minus plan cost ($/hour); positive means the plan is cheaper. */
  readonly planSavingsPerHour: number;
  readonly violations: readonly string[];
  /** Where the baseline places each workload, as the plan's allocations are given: its cost and MW can be checked (E56). */
  readonly allocations: readonly Allocation[];
}
