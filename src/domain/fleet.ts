import type { AcceleratorSpec, Precision } from '../catalog/accelerator.js';
import type { ModelSpec } from '../catalog/model-preset.js';
import type { Objective, PricingMode } from './fleet-spec-schema.js';

/**
 * The resolved fleet: every reference replaced by the object it names, every
 * default applied. This is the one domain model the planner, the performance
 * model, the emulator and `up` read; the gateway reads its own config, which `up`
 * writes from it (R50: this said the gateway read it).
 */
export interface Site {
  readonly id: string;
  readonly powerMW: number;
  readonly pue: number;
}

export interface Pool {
  readonly id: string;
  readonly provider: string;
  readonly region: string;
  readonly jurisdiction: string;
  readonly site: string | undefined;
  readonly chip: AcceleratorSpec;
  readonly chips: number;
  readonly pricing: PricingMode;
  readonly pricePerChipHour: number;
  readonly pue: number;
}

export interface Service {
  readonly id: string;
  readonly model: ModelSpec;
  readonly precision: Precision;
  readonly requestsPerSecond: number;
  readonly inputTokens: number;
  readonly outputTokens: number;
  readonly ttftMs: number;
  readonly tpotMs: number;
  readonly jurisdictions: readonly string[];
}

export interface TrainingJob {
  readonly id: string;
  readonly model: ModelSpec;
  readonly precision: Precision;
  readonly tokens: number;
  readonly deadlineDays: number;
  readonly jurisdictions: readonly string[];
  readonly mfu: number | undefined;
  readonly stateBytesPerParam: number;
}

export interface Policy {
  readonly objective: Objective;
  readonly headroom: number;
  readonly survive: { readonly lose: 'provider' | 'region'; readonly keep: number } | undefined;
  readonly maxShare: { readonly provider: number | undefined; readonly chipVendor: number | undefined };
  readonly timeLimitSeconds: number;
  readonly mipGap: number;
}

/** One measured row of a user's own benchmark: it overrides the analytic model for that chip and model. */
export interface MeasuredProfile {
  readonly chip: string;
  readonly model: string;
  readonly tensorParallel: number;
  readonly batch: number;
  /** Output tokens per second of one replica. */
  readonly tokensPerSecond: number;
  readonly ttftMs: number;
  readonly tpotMs: number;
  /** Request shape the row was measured at; a row without one applies to every shape. */
  readonly inputTokens?: number;
  readonly outputTokens?: number;
}

export interface Fleet {
  readonly file: string;
  readonly sites: readonly Site[];
  readonly pools: readonly Pool[];
  readonly services: readonly Service[];
  readonly trainingJobs: readonly TrainingJob[];
  readonly policy: Policy;
  readonly chips: ReadonlyMap<string, AcceleratorSpec>;
  readonly models: ReadonlyMap<string, ModelSpec>;
  readonly measuredProfiles: readonly MeasuredProfile[];
}

/** Output tokens per second a service must be able to serve (before headroom). */
export function demandTokensPerSecond(service: Service): number {
  return service.requestsPerSecond * service.outputTokens;
}

/** The sovereignty rule, for placing workloads and routing to replicas alike: a workload runs only in a jurisdiction it names. */
export function mayRunIn(workload: { readonly jurisdictions: readonly string[] }, jurisdiction: string): boolean {
  return workload.jurisdictions.includes(jurisdiction);
}

/** Facility watts one chip of a pool draws: its IT power share times the site's PUE. */
export function facilityWattsPerChip(pool: Pool): number {
  return pool.chip.itPowerW * pool.pue;
}
