/**
 * The analytic inference model checked against figures computed by hand from
 * the formulas in src/performance/inference-profile.ts, plus its feasibility
 * rules, precision fallback and measured-profile override.
 *
 * Constants used below (src/performance/inference-profile.ts):
 *   usableHbmFraction 0.9, stageHopLatencySeconds 20 us, maxPipelineStages 16,
 *   layout tolerance 2% (the fewest chips within 2% of the best per-chip throughput wins).
 */
import { describe, expect, it } from 'vitest';
import type { ModelSpec } from '../../src/catalog/model-preset.js';
import type { MeasuredProfile } from '../../src/domain/fleet.js';
import {
  inferenceProfile,
  maxPipelineStages,
  usableHbmFraction,
  type InferenceProfile,
  type InferenceResult,
  type InferenceShape,
} from '../../src/performance/inference-profile.js';
import { computePrecision, kvBytes, peakFlops, weightBytes } from '../../src/performance/precision.js';
import { catalogChip, presetModel, syntheticChip, tinyModel } from '../helpers/synthetic-specs.js';


function feasible(result: InferenceResult): InferenceProfile {
  if (!result.feasible) throw new Error(`expected a feasible profile, got: ${result.reason}`);
  return result;
}

function reasonOf(result: InferenceResult): string {
  if (result.feasible) throw new Error('expected an infeasible profile');
  return result.reason;
}

/** 1000 tokens in, 200 out, 20 ms per output token. */
const shape: InferenceShape = { precision: 'bf16', inputTokens: 1000, outputTokens: 200, tpotMs: 20 };

describe('inferenceProfile: hand-computed, compute-bound decode (synthetic chip, tiny model)', () => {
  /*
   * Memory, layout tensor-parallel 1 x pipeline 1:
   *   usable HBM           = 10 GB x 0.9                      = 9e9 B
   *   weights              = 1e9 params x 2 B (bf16)           = 2e9 B
   *   KV per token         = 2 x layers 10 x kvHeads 1 x headDim 100 x 2 B = 4000 B
   *   KV per sequence      = (1000 + 200) tokens x 4000 B      = 4.8e6 B = 0.0048 GB
   *   memory batch         = floor((9e9 - 2e9) / 4.8e6)         = floor(1458.3) = 1458
   * Decode step at batch B (average context 1000 + 200/2 = 1100 tokens):
   *   bandwidth            = 1 TB/s x 0.5                      = 5e11 B/s
   *   memory time          = 2e9 / 5e11 + B x 1100 x 4000 / 5e11 = 0.004 + 8.8e-6 B s
   *   FLOPs per sequence   = 2 x 1e9 + attention 4 x 10 layers x 1100 x 1000 = 2.044e9
   *   decode FLOP/s        = 100 TFLOP/s x 0.5                 = 5e13
   *   compute time         = B x 2.044e9 / 5e13                = 4.088e-5 B s
   *   compute > memory once 3.208e-5 B > 0.004, i.e. B >= 125: compute-bound at large batch.
   *   no tensor parallelism, one stage: no communication, no hop.
   * Largest batch within TPOT 20 ms: 4.088e-5 B <= 0.02  =>  B <= 489.2  =>  B = 489
   *   (489 < 1458: limited by TPOT), TPOT = 489 x 4.088e-5 = 0.01999032 s = 19.99032 ms.
   * Prefill of 1000 tokens:
   *   FLOPs                = 2 x 1e9 x 1000 + (4 x 10 x 1000 x 1000) x 1000 / 2 = 2e12 + 2e10 = 2.02e12
   *   time                 = max(2.02e12 / 5e13, 2e9 / 5e11)    = max(0.0404, 0.004) = 0.0404 s
   *   TTFT                 = prefill + one decode step         = 0.0404 + 0.01999032 = 60.39032 ms
   * Replica-seconds per request:
   *   prefill              = 2.02e12 / (1 chip x 5e13)         = 0.0404 s
   *   decode               = 200 tokens x 0.01999032 / 489     = 200 x 4.088e-5 = 0.008176 s
   *   requests/s           = 1 / 0.048576                      = 20.586298
   *   output tokens/s      = 20.586298 x 200                   = 4117.2596 (one chip, so also per chip)
   * Other layouts: pipeline 2 gets batch 488 per stage (the 20 us hop eats into TPOT), i.e.
   *   200 / (0.0202 + 200 x 0.01998944 / 976) = 8230.3 per replica = 4115.1 per chip, below
   *   the single chip; deeper pipelines lose more to hops. The single chip wins.
   */
  const result = feasible(inferenceProfile(tinyModel(), syntheticChip(), shape));

  it('picks the single-chip layout', () => {
    expect(result.source).toBe('analytic');
    expect(result.tensorParallel).toBe(1);
    expect(result.pipelineStages).toBe(1);
    expect(result.chipsPerReplica).toBe(1);
  });

  it('sizes memory and the KV cache', () => {
    expect(result.weightGBPerChip).toBeCloseTo(2, 9);
    expect(result.kvGBPerSequence).toBeCloseTo(0.0048, 9);
  });

  it('grows the batch until the TPOT target binds, compute-bound', () => {
    expect(result.batch).toBe(489);
    expect(result.concurrentSequences).toBe(489);
    expect(result.batchLimitedBy).toBe('tpot');
    expect(result.decodeBoundBy).toBe('compute');
    expect(result.tpotMs).toBeCloseTo(19.99032, 6);
  });

  it('adds one decode step to the prefill time for TTFT', () => {
    expect(result.ttftMs).toBeCloseTo(60.39032, 6);
    expect(result.prefillMs).toBeCloseTo(40.4, 6);
    // One chip, no pipeline: the prefill occupies the replica for all of its time.
    expect(result.prefillReplicaMs).toBeCloseTo(40.4, 6);
  });

  it('charges prefill to the whole replica and shares decode steps across the batch', () => {
    expect(result.requestsPerSecond).toBeCloseTo(1 / 0.048576, 6);
    expect(result.outputTokensPerSecond).toBeCloseTo(200 / 0.048576, 4);
    expect(result.outputTokensPerSecond).toBeCloseTo(4117.2596, 3);
    expect(result.outputTokensPerSecondPerChip).toBeCloseTo(4117.2596, 3);
  });

  it('uses the constants it documents', () => {
    expect(usableHbmFraction).toBe(0.9);
    expect(maxPipelineStages).toBe(16);
  });
});

describe('inferenceProfile: hand-computed, bandwidth-bound and memory-limited (layout tie-break)', () => {
  /*
   * Same model and shape, but a chip with 10,000 TFLOP/s (decode FLOP/s 5e15), so decode is
   * bound by bandwidth. Per layout (tensor-parallel 1 x pipeline P, hop 20 us per extra stage):
   *   weights per chip 2e9/P, KV per sequence per chip 4.8e6/P,
   *   memory batch per stage = floor((9e9 - 2e9/P) / (4.8e6/P) / P)
   *   step(B) = 0.004 + 8.8e-6 B + (P-1) x 2e-5      (compute 2.044e9 B / 5e15 is far smaller)
   *   prefill replica-seconds = 2.02e12 / (P x 5e15)
   *   tokens/s per chip = 200 / (prefillRS + 200 x step / (B x P)) / P
   *
   *   P=1:  batch floor(7e9/4.8e6) = 1458 (TPOT allows 1818)  step 0.0168304
   *         200 / (4.04e-4 + 200 x 0.0168304/1458) = 73,727 per chip
   *   P=2:  batch floor(8e9/2.4e6/2) = 1666 (TPOT allows 1815) step 0.004 + 0.0146608 + 0.00002 = 0.0186808
   *         replica: 200 / (2.02e-4 + 200 x 0.0186808/3332) = 200 / 0.00132329 = 151,137.7; per chip 75,568.85
   *   P=4:  batch floor(8.5e9/1.2e6/4) = 1770              step 0.004 + 0.015576 + 0.00006 = 0.019636
   *         200 / (1.01e-4 + 200 x 0.019636/7080) / 4 = 76,256 per chip  <- best
   *   P=8:  TPOT binds at floor((0.02 - 0.00414)/8.8e-6) = 1802 -> 76,234 per chip
   *   P=16: TPOT binds at floor((0.02 - 0.0043)/8.8e-6) = 1784 -> 75,584 per chip
   * Within 2% of the best (>= 0.98 x 76,256 = 74,731): P = 2, 4, 8, 16; the fewest chips win: P = 2.
   * TTFT for P=2: prefill = max(2.02e12/5e15, 2e9/5e11) + 1 hop = max(4.04e-4, 0.004) + 2e-5 = 0.00402
   *   (reading the weights once dominates), + step 0.0186808 = 22.7008 ms.
   */
  const fastChip = syntheticChip({ peakTflops: { bf16: 10_000 } });
  const result = feasible(inferenceProfile(tinyModel(), fastChip, shape));

  it('chooses the smallest layout within 2% of the best, not the best', () => {
    expect(result.tensorParallel).toBe(1);
    expect(result.pipelineStages).toBe(2);
    expect(result.chipsPerReplica).toBe(2);
    expect(result.outputTokensPerSecondPerChip).toBeLessThan(76_256);
    expect(result.outputTokensPerSecondPerChip).toBeGreaterThanOrEqual(0.98 * 76_256);
  });

  it('is limited by HBM capacity and bound by bandwidth', () => {
    expect(result.batch).toBe(1666);
    expect(result.concurrentSequences).toBe(3332);
    expect(result.batchLimitedBy).toBe('memory');
    expect(result.decodeBoundBy).toBe('bandwidth');
    expect(result.weightGBPerChip).toBeCloseTo(1, 9);
  });

  it('matches the hand-computed latency and throughput', () => {
    expect(result.tpotMs).toBeCloseTo(18.6808, 6);
    expect(result.ttftMs).toBeCloseTo(22.7008, 6);
    expect(result.outputTokensPerSecond).toBeCloseTo(200 / (2.02e-4 + (200 * 0.0186808) / 3332), 4);
    expect(result.outputTokensPerSecond).toBeCloseTo(151_137.7, 0);
    expect(result.outputTokensPerSecondPerChip).toBeCloseTo(75_568.85, 1);
  });
});

describe('inferenceProfile: infeasible shapes say why', () => {
  it('rejects a model whose weights exceed HBM x 16 pipeline stages x scale-up domain', () => {
    // 100B params x 2 B = 200 GB; the largest layout (1 x 16) gives 16 x 9 GB = 144 GB usable.
    const result = inferenceProfile(tinyModel({ params: 100e9, activeParams: 100e9 }), syntheticChip(), shape);
    expect(result.feasible).toBe(false);
    const reason = reasonOf(result);
    expect(reason).toMatch(/^weights/);
    expect(reason).toContain('200 GB');
    expect(reason).toContain('144 GB usable');
  });

  it('rejects a TPOT target below the batch-1 step time', () => {
    // Batch 1 on every layout reads all 2e9 B of weights at 5e11 B/s: >= 4 ms per step > 1 ms.
    const reason = reasonOf(inferenceProfile(tinyModel(), syntheticChip(), { ...shape, tpotMs: 1 }));
    expect(reason).toContain('TPOT');
    expect(reason).toContain('1 ms');
  });

  it('rejects a TTFT target below the prefill time', () => {
    // Prefill alone takes 40.4 ms on every layout (2.02e12 FLOPs at 5e13 FLOP/s); target 30 ms.
    const reason = reasonOf(inferenceProfile(tinyModel(), syntheticChip(), { ...shape, ttftMs: 30 }));
    expect(reason).toContain('TTFT');
    expect(reason).toContain('30 ms');
  });

  it('rejects a context whose KV cache cannot fit beside the weights', () => {
    // A 1e9-token prompt: 4e12 B of KV per sequence. On 1 x P a chip holds 4e12/P per sequence for
    // each of P stage batches, i.e. 4e12 B per stage-batch slot, against at most 9e9 B free: batch 0
    // on every layout, while the weights themselves fit.
    const reason = reasonOf(inferenceProfile(tinyModel(), syntheticChip(), { ...shape, inputTokens: 1e9 }));
    expect(reason).toContain('KV cache does not fit');
  });
});

describe('inferenceProfile: mixture of experts', () => {
  it('decodes faster per chip than a dense model of the same total size', () => {
    const dense = feasible(inferenceProfile(tinyModel(), syntheticChip(), shape));
    const moe = feasible(inferenceProfile(tinyModel({ activeParams: 0.25e9 }), syntheticChip(), shape));
    // Same weights in memory (same chips needed), a quarter of the FLOPs per token.
    expect(moe.weightGBPerChip * moe.chipsPerReplica).toBeCloseTo(dense.weightGBPerChip * dense.chipsPerReplica, 9);
    expect(moe.outputTokensPerSecondPerChip).toBeGreaterThan(dense.outputTokensPerSecondPerChip);
  });

  it('holds for Mixtral 8x7B against a dense model with its total parameters, on H100', () => {
    const mixtral = presetModel('mixtral-8x7b');
    const denseTwin: ModelSpec = { ...mixtral, id: 'dense-twin', activeParams: mixtral.params };
    const h100 = catalogChip('h100');
    const mlperfLike: InferenceShape = { precision: 'bf16', inputTokens: 1000, outputTokens: 300, tpotMs: 50 };
    const moe = feasible(inferenceProfile(mixtral, h100, mlperfLike));
    const dense = feasible(inferenceProfile(denseTwin, h100, mlperfLike));
    expect(moe.outputTokensPerSecondPerChip).toBeGreaterThan(dense.outputTokensPerSecondPerChip);
  });
});

describe('precision: fp8 uses the chip rate when there is one, falls back when not', () => {
  const model = presetModel('llama-3.1-8b');
  const fp8: InferenceShape = { precision: 'fp8', inputTokens: 1000, outputTokens: 200, tpotMs: 50 };

  it('runs fp8 at the fp8 rate on H100', () => {
    const h100 = catalogChip('h100');
    expect(computePrecision(h100, 'fp8')).toBe('fp8');
    expect(peakFlops(h100, 'fp8')).toBe(1979e12);
    const result = feasible(inferenceProfile(model, h100, fp8));
    expect(result.precision).toBe('fp8');
    expect(result.computePrecision).toBe('fp8');
  });

  it("runs fp8 as fp8 where the chip's fp8 rate equals its bf16 (TPU v6e), not as bf16 (E25: perf said 'runs at the chip's bf16 rate')", () => {
    const v6e = catalogChip('tpu-v6e');
    expect(v6e.peakTflops.fp8).toBe(v6e.peakTflops.bf16);
    expect(computePrecision(v6e, 'fp8')).toBe('fp8');
    expect(peakFlops(v6e, 'fp8')).toBe(peakFlops(v6e, 'bf16'));
  });

  it('runs fp8 weights at the bf16 rate on TPU v5e, which has no fp8', () => {
    const v5e = catalogChip('tpu-v5e');
    expect(v5e.peakTflops.fp8).toBeUndefined();
    expect(computePrecision(v5e, 'fp8')).toBe('bf16');
    expect(peakFlops(v5e, 'fp8')).toBe(197e12);
    // int8 has a native rate on v5e.
    expect(computePrecision(v5e, 'int8')).toBe('int8');
    const result = feasible(inferenceProfile(model, v5e, fp8));
    expect(result.precision).toBe('fp8');
    expect(result.computePrecision).toBe('bf16');
    // The weights still take one byte per parameter: 8.03 GB over the replica.
    expect(result.weightGBPerChip * result.chipsPerReplica).toBeCloseTo(8.03, 6);
  });

  it('stores narrow precisions narrowly, KV at no less than one byte', () => {
    expect(weightBytes('bf16')).toBe(2);
    expect(weightBytes('fp8')).toBe(1);
    expect(weightBytes('fp4')).toBe(0.5);
    expect(kvBytes('fp4')).toBe(1);
    expect(kvBytes('bf16')).toBe(2);
  });

  it('falls back from fp4 to fp8 on H100 and to bf16 on a chip with only bf16', () => {
    expect(computePrecision(catalogChip('h100'), 'fp4')).toBe('fp8');
    expect(computePrecision(syntheticChip(), 'fp4')).toBe('bf16');
    expect(peakFlops(syntheticChip(), 'fp4')).toBe(100e12);
  });
});

describe('measured profiles override the analytic model', () => {
  const rows: MeasuredProfile[] = [
    // 1000 tok/s per chip, meets TPOT 20 and TTFT 90? no (100 > 90).
    { chip: 'synthetic', model: 'tiny', tensorParallel: 1, batch: 32, tokensPerSecond: 1000, ttftMs: 100, tpotMs: 15 },
    // 900 tok/s per chip, the fastest TPOT.
    { chip: 'synthetic', model: 'tiny', tensorParallel: 2, batch: 64, tokensPerSecond: 1800, ttftMs: 80, tpotMs: 12 },
    // 3000 tok/s per chip but misses a 20 ms TPOT target.
    { chip: 'synthetic', model: 'tiny', tensorParallel: 1, batch: 128, tokensPerSecond: 3000, ttftMs: 500, tpotMs: 40 },
    // Another chip's row never applies.
    { chip: 'other', model: 'tiny', tensorParallel: 1, batch: 1, tokensPerSecond: 99_999, ttftMs: 1, tpotMs: 1 },
  ];

  it('picks the best tokens/s per chip among rows meeting TPOT', () => {
    const result = feasible(inferenceProfile(tinyModel(), syntheticChip(), shape, rows));
    expect(result.source).toBe('measured');
    expect(result.tensorParallel).toBe(1);
    expect(result.pipelineStages).toBe(1);
    expect(result.chipsPerReplica).toBe(1);
    expect(result.batch).toBe(32);
    expect(result.outputTokensPerSecond).toBe(1000);
    expect(result.outputTokensPerSecondPerChip).toBe(1000);
    expect(result.requestsPerSecond).toBeCloseTo(1000 / 200, 12);
    expect(result.tpotMs).toBe(15);
    expect(result.ttftMs).toBe(100);
    // TTFT less a step; the 200 ms a request takes of the replica less its decode share (93.75 ms), at most that.
    expect(result.prefillMs).toBe(85);
    expect(result.prefillReplicaMs).toBe(85);
    expect(result.batchLimitedBy).toBe('measured');
    expect(result.decodeBoundBy).toBe('measured');
  });

  it('also applies the TTFT target', () => {
    const result = feasible(inferenceProfile(tinyModel(), syntheticChip(), { ...shape, ttftMs: 90 }, rows));
    expect(result.source).toBe('measured');
    expect(result.tensorParallel).toBe(2);
    expect(result.chipsPerReplica).toBe(2);
    expect(result.outputTokensPerSecondPerChip).toBe(900);
  });

  it('picks a faster-but-looser row when the target allows it', () => {
    const result = feasible(inferenceProfile(tinyModel(), syntheticChip(), { ...shape, tpotMs: 50 }, rows));
    expect(result.batch).toBe(128);
    expect(result.outputTokensPerSecondPerChip).toBe(3000);
  });

  it('is infeasible when no row meets the targets, even if the analytic model would be feasible', () => {
    const result = inferenceProfile(tinyModel(), syntheticChip(), { ...shape, tpotMs: 10 }, rows);
    expect(result.feasible).toBe(false);
    const reason = reasonOf(result);
    expect(reason).toContain('no measured profile');
    expect(reason).toContain('fastest measured TPOT 12 ms');
  });

  it('applies a row measured at a request shape only to shapes within 25% of it', () => {
    const atShape: MeasuredProfile[] = [{ ...rows[0]!, inputTokens: shape.inputTokens, outputTokens: shape.outputTokens }];
    expect(feasible(inferenceProfile(tinyModel(), syntheticChip(), shape, atShape)).source).toBe('measured');
    const near = { ...shape, inputTokens: Math.round(shape.inputTokens * 1.2) };
    expect(feasible(inferenceProfile(tinyModel(), syntheticChip(), near, atShape)).source).toBe('measured');
    const far = { ...shape, outputTokens: shape.outputTokens * 2 };
    expect(feasible(inferenceProfile(tinyModel(), syntheticChip(), far, atShape)).source).toBe('analytic');
  });

  it('ignores rows for other chips or models', () => {
    const onlyOther = rows.filter((row) => row.chip === 'other');
    const result = feasible(inferenceProfile(tinyModel(), syntheticChip(), shape, onlyOther));
    expect(result.source).toBe('analytic');
    expect(result.batch).toBe(489);
  });
});

describe('a TTFT target shrinks the batch instead of rejecting the layout (regression)', () => {
  /*
   * Regression: evaluateLayout used to grow the batch to the largest that met the TPOT target and
   * then reject the layout if prefill + that decode step exceeded the TTFT target, never trying a
   * smaller batch, so loosening TPOT or adding HBM could turn a feasible answer infeasible. A TTFT
   * target now caps the step time too (the batch shrinks to meet both).
   *
   * TPOT 20 ms, TTFT 65 ms: feasible, 1 x 1, batch 489, TPOT 19.99 ms, TTFT 60.39 ms (hand case above).
   * TPOT 40 ms, TTFT 65 ms: used to grow to ~978 sequences (TTFT ~80.4 ms > 65) and be reported
   *   infeasible, although the batch-489 configuration above meets both targets.
   */
  it('feasible with TPOT 20 ms and TTFT 65 ms (the configuration that also meets the looser target)', () => {
    const tight = feasible(inferenceProfile(tinyModel(), syntheticChip(), { ...shape, tpotMs: 20, ttftMs: 65 }));
    expect(tight.tpotMs).toBeLessThanOrEqual(40);
    expect(tight.ttftMs).toBeLessThanOrEqual(65);
  });

  it('a looser TPOT target (40 ms) keeps the shape feasible under the same TTFT target', () => {
    const loose = inferenceProfile(tinyModel(), syntheticChip(), { ...shape, tpotMs: 40, ttftMs: 65 });
    expect(loose.feasible).toBe(true);
    if (!loose.feasible) return;
    expect(loose.ttftMs).toBeLessThanOrEqual(65);
    expect(loose.batchLimitedBy).toBe('ttft');
  });

  /*
   * Bandwidth-bound chip (10,000 TFLOP/s), TTFT 23 ms: with 10 GB the memory-limited batch gives
   * TTFT 22.70 ms (case above). With 20 GB every layout's batch used to grow until TPOT bound
   * (~20 ms step), so TTFT ~ 24 ms > 23 ms on every layout: infeasible with more memory.
   */
  it('more HBM keeps the shape feasible under the same TTFT target', () => {
    const fastChip = syntheticChip({ peakTflops: { bf16: 10_000 } });
    feasible(inferenceProfile(tinyModel(), fastChip, { ...shape, ttftMs: 23 }));
    const more = inferenceProfile(tinyModel(), { ...fastChip, hbmGB: 20 }, { ...shape, ttftMs: 23 });
    expect(more.feasible).toBe(true);
  });
});
