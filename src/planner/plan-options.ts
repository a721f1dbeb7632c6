import { demandTokensPerSecond, facilityWattsPerChip, mayRunIn, type Fleet, type Pool, type Service, type TrainingJob } from '../domain/fleet.js';
import { inferenceProfile, type InferenceProfile, type InferenceResult } from '../performance/inference-profile.js';
import { sizeTrainingRun, trainingProfile } from '../performance/training-profile.js';
import { formatCount, formatGiven, formatMegawatts } from './plan-figures.js';

/** One way to serve a service: replicas of one profile on one pool. */
export interface InferenceOption {
  readonly kind: 'inference';
  readonly service: Service;
  readonly pool: Pool;
  readonly profile: InferenceProfile;
  readonly chipsPerReplica: number;
  readonly tokensPerSecondPerReplica: number;
  /** Marginal $/hour of one replica (zero on committed pools). */
  readonly marginalCostPerReplicaHour: number;
  readonly facilityMWPerReplica: number;
  /** Most replicas the pool could hold on its own. */
  readonly maxReplicas: number;
}

/** One way to run a training job: its whole gang on one pool. */
export interface TrainingOption {
  readonly kind: 'training';
  readonly job: TrainingJob;
  readonly pool: Pool;
  readonly chips: number;
  readonly days: number;
  readonly tokensPerSecond: number;
  readonly marginalCostPerHour: number;
  readonly facilityMW: number;
}

/** A (workload, pool) pair that was ruled out, and why. */
export interface ExcludedOption {
  readonly workload: string;
  readonly pool: string;
  readonly reason: string;
  /** Set when the pool's site is what excludes it: one replica or the gang draws more than its whole envelope. */
  readonly site?: string;
}

export interface PlanOptions {
  readonly inference: readonly InferenceOption[];
  readonly training: readonly TrainingOption[];
  readonly excluded: readonly ExcludedOption[];
}

export function marginalPricePerChipHour(pool: Pool): number {
  // Committed capacity is take-or-pay: using it costs nothing more.
  return pool.pricing === 'committed' ? 0 : pool.pricePerChipHour;
}

/**
 * Every feasible (workload, pool) pair. Residency is applied here and never
 * relaxed: a pool outside a workload's jurisdictions is not an option at all.
 */
export function buildPlanOptions(fleet: Fleet): PlanOptions {
  const inference: InferenceOption[] = [];
  const training: TrainingOption[] = [];
  const excluded: ExcludedOption[] = [];
  // Profiles depend on (model, chip, precision, shape) only; pools of the same chip share them.
  const profiles = new Map<string, InferenceResult>();

  for (const service of fleet.services) {
    for (const pool of fleet.pools) {
      if (!mayRunIn(service, pool.jurisdiction)) continue;
      const key = `${service.model.id}|${pool.chip.id}|${service.precision}|${service.inputTokens}|${service.outputTokens}|${service.tpotMs}|${service.ttftMs}`;
      let result = profiles.get(key);
      if (result === undefined) {
        result = inferenceProfile(
          service.model,
          pool.chip,
          { precision: service.precision, inputTokens: service.inputTokens, outputTokens: service.outputTokens, tpotMs: service.tpotMs, ttftMs: service.ttftMs },
          fleet.measuredProfiles,
        );
        profiles.set(key, result);
      }
      if (!result.feasible) {
        excluded.push({ workload: service.id, pool: pool.id, reason: result.reason });
        continue;
      }
      const maxReplicas = Math.floor(pool.chips / result.chipsPerReplica);
      if (maxReplicas < 1) {
        excluded.push({ workload: service.id, pool: pool.id, reason: `a replica needs ${formatCount(result.chipsPerReplica)} chips; the pool has ${formatCount(pool.chips)}` });
        continue;
      }
      const facilityMWPerReplica = (facilityWattsPerChip(pool) * result.chipsPerReplica) / 1e6;
      const tooBig = siteTooSmall(fleet, pool, facilityMWPerReplica);
      if (tooBig !== undefined) {
        excluded.push({ workload: service.id, pool: pool.id, reason: `a replica ${tooBig.reason}`, site: tooBig.site });
        continue;
      }
      inference.push({
        kind: 'inference',
        service,
        pool,
        profile: result,
        chipsPerReplica: result.chipsPerReplica,
        tokensPerSecondPerReplica: result.outputTokensPerSecond,
        marginalCostPerReplicaHour: marginalPricePerChipHour(pool) * result.chipsPerReplica,
        facilityMWPerReplica,
        maxReplicas,
      });
    }
  }

  for (const job of fleet.trainingJobs) {
    for (const pool of fleet.pools) {
      if (!mayRunIn(job, pool.jurisdiction)) continue;
      const profile = trainingProfile(job.model, pool.chip, { precision: job.precision, mfu: job.mfu, stateBytesPerParam: job.stateBytesPerParam });
      const sizing = sizeTrainingRun(profile, job.tokens, job.deadlineDays);
      if (sizing.chips > pool.chips) {
        // Memory bound: no deadline would need fewer chips (R61: 'to finish in 30 days' for a 405B model's state).
        const need = sizing.limitedBy === 'memory' ? 'to hold its training state' : `to finish in ${job.deadlineDays} days`;
        excluded.push({ workload: job.id, pool: pool.id, reason: `needs ${formatCount(sizing.chips)} chips ${need}; the pool has ${formatCount(pool.chips)}` });
        continue;
      }
      const facilityMW = (facilityWattsPerChip(pool) * sizing.chips) / 1e6;
      const tooBig = siteTooSmall(fleet, pool, facilityMW);
      if (tooBig !== undefined) {
        excluded.push({ workload: job.id, pool: pool.id, reason: tooBig.reason, site: tooBig.site });
        continue;
      }
      training.push({
        kind: 'training',
        job,
        pool,
        chips: sizing.chips,
        days: sizing.days,
        tokensPerSecond: sizing.chips * profile.tokensPerSecondPerChip,
        marginalCostPerHour: marginalPricePerChipHour(pool) * sizing.chips,
        facilityMW,
      });
    }
  }
  return { inference, training, excluded };
}

/**
 * How far a figure may pass its limit and still meet it (float noise, and the solver's tolerance on a
 * row): a fraction of a site's envelope or of a service's demand; for a figure that is itself a
 * fraction (a share of the power, a kept fraction of demand), that much of it, added.
 */
export const limitTolerance = 1e-6;

/**
 * Why a replica or a gang drawing `mw` can never run on the pool: more than its site's whole envelope,
 * whatever else is placed. Judged with the evaluation's tolerance, so no plan it accepts is lost (R62).
 */
function siteTooSmall(fleet: Fleet, pool: Pool, mw: number): { readonly site: string; readonly reason: string } | undefined {
  const site = pool.site === undefined ? undefined : fleet.sites.find((s) => s.id === pool.site);
  if (site === undefined || mw <= site.powerMW * (1 + limitTolerance)) return undefined;
  return { site: site.id, reason: `needs ${formatMegawatts(mw, 'up')} MW, more than site ${site.id}'s whole ${formatGiven(site.powerMW)} MW envelope` };
}

export function requiredTokensPerSecond(service: Service, headroom: number): number {
  return demandTokensPerSecond(service) * (1 + headroom);
}
