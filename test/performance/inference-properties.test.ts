/**
 * Properties of the analytic inference model over many random chips, models
 * and request shapes (seeded, so every run sees the same cases).
 *
 * Monotonicity is asserted up to the model's layout tolerance: inferenceProfile
 * returns the layout with the FEWEST chips among those within 2% of the best
 * per-chip throughput, not the best one. If every layout's throughput rises (or
 * stays) when a resource grows, the answer can still fall, but by at most 2%:
 *   new answer >= 0.98 x new best >= 0.98 x old best >= 0.98 x old answer.
 * In these seeded cases it happens twice: more bandwidth (case 157, -0.04%) and more
 * HBM capacity (case 119, -1.07%) each bring a smaller replica within 2% of the best
 * layout, which then wins; with a zero tolerance those two assertions fail.
 *
 * The monotonicity properties are checked with and without a TTFT target (a TTFT
 * target caps the decode step too, so the batch shrinks rather than the layout
 * being rejected; see the regression cases in inference-profile.test.ts).
 */
import { describe, expect, it } from 'vitest';
import type { AcceleratorSpec, Precision } from '../../src/catalog/accelerator.js';
import type { ModelSpec } from '../../src/catalog/model-preset.js';
import {
  inferenceProfile,
  maxPipelineStages,
  type InferenceResult,
  type InferenceShape,
} from '../../src/performance/inference-profile.js';
import { weightBytes } from '../../src/performance/precision.js';
import { seededRandom } from '../../src/random/seeded-random.js';

/** Mirrors `layoutTolerance` in src/performance/inference-profile.ts (not exported). */
const layoutTolerance = 0.02;
const cases = 200;


interface Generator {
  readonly between: (low: number, high: number) => number;
  readonly logBetween: (low: number, high: number) => number;
  readonly pick: <T>(options: readonly T[]) => T;
  readonly chance: (probability: number) => boolean;
}

function generator(seed: number): Generator {
  const random = seededRandom(seed);
  return {
    between: (low, high) => low + (high - low) * random(),
    logBetween: (low, high) => Math.exp(Math.log(low) + (Math.log(high) - Math.log(low)) * random()),
    pick: <T>(options: readonly T[]): T => {
      const option = options[Math.floor(random() * options.length)];
      if (option === undefined) throw new Error('empty options');
      return option;
    },
    chance: (probability) => random() < probability,
  };
}

function randomChip(g: Generator): AcceleratorSpec {
  const bf16 = g.logBetween(50, 5000);
  return {
    id: 'random-chip',
    name: 'random chip',
    vendor: 'test',
    year: 2025,
    peakTflops: {
      bf16,
      ...(g.chance(0.5) ? { fp8: bf16 * 2 } : {}),
      ...(g.chance(0.3) ? { int8: bf16 * 2 } : {}),
      ...(g.chance(0.2) ? { fp4: bf16 * 4 } : {}),
    },
    hbmGB: g.logBetween(8, 300),
    hbmTBps: g.between(0.5, 9),
    itPowerW: 1000,
    powerBasis: 'estimate',
    powerNote: 'random chip for property tests',
    scaleUpDomain: g.pick([1, 2, 4, 8, 16, 64, 72]),
    scaleUpGBps: g.between(50, 1500),
    efficiency: { decodeBandwidth: g.between(0.5, 0.9), prefillCompute: g.between(0.3, 0.7), trainingMfu: 0.4 },
    pricePerChipHour: {},
    sources: { compute: '', memory: '', power: '', price: '', scaleUp: '' },
    caveats: '',
  };
}

function randomModel(g: Generator): ModelSpec {
  const params = g.logBetween(0.5e9, 700e9);
  const moe = g.chance(0.3);
  return {
    id: 'random-model',
    name: 'random model',
    params,
    activeParams: moe ? params * g.between(0.05, 0.5) : params,
    layers: Math.round(g.between(12, 128)),
    kvHeads: g.pick([1, 2, 4, 8, 16]),
    headDim: g.pick([64, 128, 256]),
    ...(g.chance(0.5) ? { hiddenSize: g.pick([2048, 4096, 8192, 16384]) } : {}),
    precision: 'bf16',
    source: 'random',
  };
}

function randomShape(g: Generator, withTtft: boolean): InferenceShape {
  const precision: Precision = g.pick(['bf16', 'fp8', 'int8', 'fp4']);
  return {
    precision,
    inputTokens: Math.round(g.logBetween(16, 16_000)),
    outputTokens: Math.round(g.logBetween(16, 4000)),
    tpotMs: g.logBetween(5, 250),
    ...(withTtft ? { ttftMs: g.logBetween(30, 10_000) } : {}),
  };
}

interface Case {
  readonly chip: AcceleratorSpec;
  readonly model: ModelSpec;
  readonly shape: InferenceShape;
  readonly factor: number;
}

function randomCases(seed: number, withTtft: boolean): Case[] {
  const g = generator(seed);
  return Array.from({ length: cases }, () => ({
    chip: randomChip(g),
    model: randomModel(g),
    shape: randomShape(g, withTtft),
    factor: g.between(1.01, 3),
  }));
}

/**
 * Checks that `after` is not below `before` beyond the layout tolerance, that a feasible answer
 * stays feasible, and that any dip at all comes with a smaller replica (the tie-break is the only
 * way the answer can fall: the old layout's own throughput did not fall, so a layout with as many
 * chips or more that beats it would have been preferred to it).
 */
function expectNotLower(label: string, pairs: readonly { before: InferenceResult; after: InferenceResult }[]): void {
  pairs.forEach(({ before, after }, index) => {
    const context = `${label}, case ${index}`;
    if (!before.feasible) return;
    if (!after.feasible) throw new Error(`${context}: became infeasible: ${after.reason}`);
    const floor = before.outputTokensPerSecondPerChip * (1 - layoutTolerance);
    expect(after.outputTokensPerSecondPerChip, context).toBeGreaterThanOrEqual(floor * (1 - 1e-12));
    if (after.outputTokensPerSecondPerChip < before.outputTokensPerSecondPerChip * (1 - 1e-12)) {
      expect(after.chipsPerReplica, `${context}: a dip without a smaller replica`).toBeLessThan(before.chipsPerReplica);
    }
  });
}

describe.each([false, true])('inference properties (seeded random chips, models and shapes; with a TTFT target: %s)', (withTtft) => {
  it('enough of the random cases are feasible for the properties to mean something', () => {
    const feasibleCount = randomCases(1, withTtft).filter(({ chip, model, shape }) => inferenceProfile(model, chip, shape).feasible).length;
    expect(feasibleCount).toBeGreaterThan(cases / 3);
  });

  it('more HBM bandwidth never lowers output tokens/s per chip (beyond the 2% layout tolerance)', () => {
    const pairs = randomCases(11, withTtft).map(({ chip, model, shape, factor }) => ({
      before: inferenceProfile(model, chip, shape),
      after: inferenceProfile(model, { ...chip, hbmTBps: chip.hbmTBps * factor }, shape),
    }));
    expectNotLower('bandwidth', pairs);
  });

  it('a looser TPOT target never lowers output tokens/s per chip (beyond the 2% layout tolerance)', () => {
    const pairs = randomCases(12, withTtft).map(({ chip, model, shape, factor }) => ({
      before: inferenceProfile(model, chip, shape),
      after: inferenceProfile(model, chip, { ...shape, tpotMs: shape.tpotMs * factor }),
    }));
    expectNotLower('tpot', pairs);
  });

  it('more HBM capacity never lowers output tokens/s per chip (beyond the 2% layout tolerance)', () => {
    const pairs = randomCases(13, withTtft).map(({ chip, model, shape, factor }) => ({
      before: inferenceProfile(model, chip, shape),
      after: inferenceProfile(model, { ...chip, hbmGB: chip.hbmGB * factor }, shape),
    }));
    expectNotLower('capacity', pairs);
  });

  it('more peak FLOP/s never lowers output tokens/s per chip (beyond the 2% layout tolerance)', () => {
    const pairs = randomCases(14, withTtft).map(({ chip, model, shape, factor }) => {
      const scaled = Object.fromEntries(Object.entries(chip.peakTflops).map(([precision, rate]) => [precision, rate * factor]));
      const faster: AcceleratorSpec = { ...chip, peakTflops: { ...scaled, bf16: chip.peakTflops.bf16 * factor } };
      return { before: inferenceProfile(model, chip, shape), after: inferenceProfile(model, faster, shape) };
    });
    expectNotLower('flops', pairs);
  });

  it('a faster scale-up interconnect never lowers output tokens/s per chip (beyond the 2% layout tolerance)', () => {
    const pairs = randomCases(15, withTtft).map(({ chip, model, shape, factor }) => ({
      before: inferenceProfile(model, chip, shape),
      after: inferenceProfile(model, { ...chip, scaleUpGBps: chip.scaleUpGBps * factor }, shape),
    }));
    expectNotLower('scale-up', pairs);
  });
});

describe('inference invariants (seeded random cases, with and without TTFT targets)', () => {
  for (const withTtft of [false, true]) {
    it(`every feasible result is self-consistent${withTtft ? ' and meets its TTFT target' : ''}`, () => {
      let feasibleCount = 0;
      randomCases(withTtft ? 22 : 21, withTtft).forEach(({ chip, model, shape }, index) => {
        const result = inferenceProfile(model, chip, shape);
        const context = `case ${index}`;
        if (!result.feasible) {
          expect(result.reason.length, context).toBeGreaterThan(0);
          return;
        }
        feasibleCount += 1;
        expect(result.tpotMs, context).toBeLessThanOrEqual(shape.tpotMs);
        if (shape.ttftMs !== undefined) expect(result.ttftMs, context).toBeLessThanOrEqual(shape.ttftMs);
        expect(result.ttftMs, context).toBeGreaterThan(0);
        expect(Number.isInteger(result.batch), context).toBe(true);
        expect(result.batch, context).toBeGreaterThanOrEqual(1);
        expect(result.chipsPerReplica, context).toBe(result.tensorParallel * result.pipelineStages);
        expect(result.concurrentSequences, context).toBe(result.batch * result.pipelineStages);
        expect(result.tensorParallel, context).toBeLessThanOrEqual(chip.scaleUpDomain);
        expect(result.pipelineStages, context).toBeLessThanOrEqual(maxPipelineStages);
        expect(Number.isInteger(Math.log2(result.tensorParallel)), context).toBe(true);
        expect(Number.isInteger(Math.log2(result.pipelineStages)), context).toBe(true);
        expect(result.outputTokensPerSecond, context).toBeCloseTo(result.requestsPerSecond * shape.outputTokens, 6);
        expect(result.outputTokensPerSecondPerChip * result.chipsPerReplica, context).toBeCloseTo(result.outputTokensPerSecond, 6);
        expect(result.weightGBPerChip * result.chipsPerReplica, context).toBeCloseTo((model.params * weightBytes(shape.precision)) / 1e9, 6);
        // Throughput never beats pure decode: each resident sequence advances one token per step,
        // and prefill only adds replica time.
        expect(result.outputTokensPerSecond, context).toBeLessThanOrEqual((result.concurrentSequences / result.tpotMs) * 1e3 * (1 + 1e-9));
      });
      expect(feasibleCount).toBeGreaterThan(0);
    });
  }
});
