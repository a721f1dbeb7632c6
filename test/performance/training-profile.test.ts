/**
 * Training figures computed by hand from src/performance/training-profile.ts:
 *   tokens/s per chip = peak FLOP/s x MFU / (6 x active parameters)
 *   memory floor      = ceil(params x stateBytesPerParam / (HBM bytes x 0.8))
 *   chips for a run   = max(ceil(tokens / (days x 86400 x tokens/s per chip)), memory floor)
 *   days              = tokens / (chips x tokens/s per chip x 86400)
 */
import { describe, expect, it } from 'vitest';
import type { AcceleratorSpec } from '../../src/catalog/accelerator.js';
import {
  sizeTrainingRun,
  trainingDays,
  trainingProfile,
  trainingStateHbmFraction,
  type TrainingProfile,
} from '../../src/performance/training-profile.js';
import { catalogChip, presetModel, syntheticChip as sharedSyntheticChip, tinyModel } from '../helpers/synthetic-specs.js';

/** The shared synthetic chip with an fp8 rate and an 8-chip scale-up domain. */
function syntheticChip(overrides: Partial<AcceleratorSpec> = {}): AcceleratorSpec {
  return sharedSyntheticChip({ peakTflops: { bf16: 100, fp8: 200 }, scaleUpDomain: 8, ...overrides });
}

const adam = { precision: 'bf16', stateBytesPerParam: 16 } as const;

describe('trainingProfile', () => {
  it('uses the documented state fraction', () => {
    expect(trainingStateHbmFraction).toBe(0.8);
  });

  it('computes tokens/s per chip from peak x MFU / (6 x active params)', () => {
    // 100e12 x 0.5 / (6 x 1e9) = 5e13 / 6e9 = 8333.33 tokens/s
    const profile = trainingProfile(tinyModel(), syntheticChip(), adam);
    expect(profile.mfu).toBe(0.5);
    expect(profile.tokensPerSecondPerChip).toBeCloseTo(8333.3333, 3);
    expect(profile.chip).toBe('synthetic');
    expect(profile.model).toBe('tiny');
  });

  it('computes the memory floor from 16 bytes per parameter over 80% of HBM', () => {
    // 1e9 x 16 B = 16e9 B; 10e9 x 0.8 = 8e9 B per chip; ceil(2) = 2 chips.
    expect(trainingProfile(tinyModel(), syntheticChip(), adam).memoryFloorChips).toBe(2);
    // 1.1e9 params: 17.6e9 / 8e9 = 2.2 -> 3 chips.
    expect(trainingProfile(tinyModel({ params: 1.1e9, activeParams: 1.1e9 }), syntheticChip(), adam).memoryFloorChips).toBe(3);
  });

  it('counts active parameters for FLOPs but all parameters for memory (mixture of experts)', () => {
    // 8e9 total, 2e9 active: 5e13 / (6 x 2e9) = 4166.67 tokens/s; 8e9 x 16 / 8e9 = 16 chips.
    const profile = trainingProfile(tinyModel({ params: 8e9, activeParams: 2e9 }), syntheticChip(), adam);
    expect(profile.tokensPerSecondPerChip).toBeCloseTo(4166.6667, 3);
    expect(profile.memoryFloorChips).toBe(16);
  });

  it('lets an explicit MFU override the chip default', () => {
    // 100e12 x 0.25 / 6e9 = 4166.67
    const profile = trainingProfile(tinyModel(), syntheticChip(), { ...adam, mfu: 0.25 });
    expect(profile.mfu).toBe(0.25);
    expect(profile.tokensPerSecondPerChip).toBeCloseTo(4166.6667, 3);
  });

  it('treats an undefined MFU as the chip default', () => {
    const profile = trainingProfile(tinyModel(), syntheticChip(), { ...adam, mfu: undefined });
    expect(profile.mfu).toBe(0.5);
  });

  it('uses the peak of the training precision (fp8 rate when the chip has one)', () => {
    // 200e12 x 0.5 / 6e9 = 16,666.67
    const fp8 = trainingProfile(tinyModel(), syntheticChip(), { ...adam, precision: 'fp8' });
    expect(fp8.tokensPerSecondPerChip).toBeCloseTo(16_666.6667, 3);
    // No fp8 on the chip: falls back to the bf16 rate.
    const noFp8 = trainingProfile(tinyModel(), syntheticChip({ peakTflops: { bf16: 100 } }), { ...adam, precision: 'fp8' });
    expect(noFp8.tokensPerSecondPerChip).toBeCloseTo(8333.3333, 3);
  });

  it('matches the hand figures for Llama 3.1 405B on H100 (bf16, default MFU 0.40)', () => {
    // 989e12 x 0.40 / (6 x 405e9) = 3.956e14 / 2.43e12 = 162.798 tokens/s per GPU
    // memory floor: 405e9 x 16 = 6.48e12 B over 80e9 x 0.8 = 6.4e10 B -> ceil(101.25) = 102 GPUs
    const profile = trainingProfile(presetModel('llama-3.1-405b'), catalogChip('h100'), adam);
    expect(profile.mfu).toBe(0.4);
    expect(profile.tokensPerSecondPerChip).toBeCloseTo(162.798, 3);
    expect(profile.memoryFloorChips).toBe(102);
  });
});

describe('sizeTrainingRun and trainingDays', () => {
  const profile: TrainingProfile = trainingProfile(tinyModel(), syntheticChip(), adam); // 8333.33 tokens/s, floor 2

  it('sizes a run to a deadline', () => {
    // 1e12 tokens in 10 days: one chip does 10 x 86400 x 8333.33 = 7.2e9 tokens,
    // ceil(1e12 / 7.2e9) = ceil(138.89) = 139 chips (above the floor of 2).
    // days on 139 chips = 1e12 / (139 x 8333.33 x 86400) = 1e12 / 1.0008e11 = 9.992 days.
    const sizing = sizeTrainingRun(profile, 1e12, 10);
    expect(sizing.chips).toBe(139);
    expect(sizing.limitedBy).toBe('deadline');
    expect(sizing.days).toBeCloseTo(1e12 / (139 * (5e13 / 6e9) * 86_400), 9);
    expect(sizing.days).toBeCloseTo(9.992, 3);
    expect(sizing.days).toBeLessThanOrEqual(10);
  });

  it('never goes below the memory floor', () => {
    // 1e9 tokens in 10 days: ceil(1e9 / 7.2e9) = 1 chip, but the state needs 2.
    // days on 2 chips = 1e9 / (2 x 8333.33 x 86400) = 1e9 / 1.44e9 = 0.6944 days.
    const sizing = sizeTrainingRun(profile, 1e9, 10);
    expect(sizing.chips).toBe(2);
    expect(sizing.limitedBy).toBe('memory');
    expect(sizing.days).toBeCloseTo(0.69444, 4);
  });

  it('recomputes days for any chip count', () => {
    // 7.2e9 tokens on 1 chip: exactly 10 days; on 4 chips: 2.5 days.
    expect(trainingDays(profile, 7.2e9, 1)).toBeCloseTo(10, 9);
    expect(trainingDays(profile, 7.2e9, 4)).toBeCloseTo(2.5, 9);
  });

  it('sizes Llama 3.1 405B on H100 for 15.6T tokens in 54 days', () => {
    // ceil(15.6e12 / (54 x 86400 x 162.798)) = ceil(20538.4) = 20,539 GPUs
    const h100 = trainingProfile(presetModel('llama-3.1-405b'), catalogChip('h100'), adam);
    const sizing = sizeTrainingRun(h100, 15.6e12, 54);
    expect(sizing.chips).toBe(20_539);
    expect(sizing.limitedBy).toBe('deadline');
    expect(sizing.days).toBeLessThanOrEqual(54);
    expect(sizing.days).toBeGreaterThan(53.99);
  });
});
