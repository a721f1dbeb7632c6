import type { AcceleratorSpec, Precision } from '../catalog/accelerator.js';
import type { ModelSpec } from '../catalog/model-preset.js';
import { peakFlops } from './precision.js';

/** Share of HBM training state may take; the rest holds activations (with recomputation) and buffers. */
export const trainingStateHbmFraction = 0.8;
const secondsPerDay = 86_400;

export interface TrainingOptions {
  readonly precision: Precision;
  /** Model-FLOPs utilisation; the chip's default when absent. */
  readonly mfu?: number | undefined;
  /** Bytes of weights, gradients and optimizer state per parameter (16 for mixed-precision Adam). */
  readonly stateBytesPerParam: number;
}

export interface TrainingProfile {
  readonly chip: string;
  readonly model: string;
  readonly mfu: number;
  /** Training tokens per second one chip processes: peak x MFU / (6 x active parameters). */
  readonly tokensPerSecondPerChip: number;
  /** Fewest chips whose HBM holds the training state (ZeRO-style sharding assumed). */
  readonly memoryFloorChips: number;
}

export function trainingProfile(model: ModelSpec, chip: AcceleratorSpec, options: TrainingOptions): TrainingProfile {
  const mfu = options.mfu ?? chip.efficiency.trainingMfu;
  // 6 FLOPs per active parameter per token: 2 forward, 4 backward (Kaplan et al. 2020).
  const flopsPerToken = 6 * model.activeParams;
  const stateBytes = model.params * options.stateBytesPerParam;
  return {
    chip: chip.id,
    model: model.id,
    mfu,
    tokensPerSecondPerChip: (peakFlops(chip, options.precision) * mfu) / flopsPerToken,
    memoryFloorChips: Math.ceil(stateBytes / (chip.hbmGB * 1e9 * trainingStateHbmFraction)),
  };
}

export interface TrainingSizing {
  /** Chips needed to finish `tokens` within `deadlineDays` (never below the memory floor). */
  readonly chips: number;
  /** Days the run takes on that many chips. */
  readonly days: number;
  readonly limitedBy: 'deadline' | 'memory';
}

export function sizeTrainingRun(profile: TrainingProfile, tokens: number, deadlineDays: number): TrainingSizing {
  const forDeadline = Math.ceil(tokens / (deadlineDays * secondsPerDay * profile.tokensPerSecondPerChip));
  const chips = Math.max(forDeadline, profile.memoryFloorChips);
  return { chips, days: trainingDays(profile, tokens, chips), limitedBy: chips === forDeadline ? 'deadline' : 'memory' };
}

export function trainingDays(profile: TrainingProfile, tokens: number, chips: number): number {
  return tokens / (chips * profile.tokensPerSecondPerChip * secondsPerDay);
}
