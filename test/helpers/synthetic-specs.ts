import type { AcceleratorSpec } from '../../src/catalog/accelerator.js';
import { accelerators } from '../../src/catalog/accelerators.js';
import type { ModelSpec } from '../../src/catalog/model-preset.js';
import { modelPresets } from '../../src/catalog/models.js';

/** Specs with round numbers for hand-computed performance-model tests. */
/**
 * 100 TFLOP/s bf16, 10 GB HBM at 1 TB/s, one chip per scale-up domain (only
 * tensor-parallel 1 exists; pipeline depths 1, 2, 4, 8, 16 are still tried),
 * 50% of peak bandwidth in decode, 50% of peak FLOP/s for prefill and decode math.
 */
export function syntheticChip(overrides: Partial<AcceleratorSpec> = {}): AcceleratorSpec {
  return {
    id: 'synthetic',
    name: 'Synthetic test chip',
    vendor: 'test',
    year: 2025,
    peakTflops: { bf16: 100 },
    hbmGB: 10,
    hbmTBps: 1,
    itPowerW: 500,
    powerBasis: 'estimate',
    powerNote: 'synthetic chip for hand-computed tests; the power figure is not used by the performance model',
    scaleUpDomain: 1,
    scaleUpGBps: 100,
    efficiency: { decodeBandwidth: 0.5, prefillCompute: 0.5, trainingMfu: 0.5 },
    pricePerChipHour: {},
    sources: { compute: 'test', memory: 'test', power: 'test', price: 'test', scaleUp: 'test' },
    caveats: 'synthetic',
    ...overrides,
  };
}

/** 1B dense parameters, 10 layers, 1 KV head of width 100, residual width 1000, bf16. */
export function tinyModel(overrides: Partial<ModelSpec> = {}): ModelSpec {
  return {
    id: 'tiny',
    name: 'Tiny test model',
    params: 1e9,
    activeParams: 1e9,
    layers: 10,
    kvHeads: 1,
    headDim: 100,
    hiddenSize: 1000,
    precision: 'bf16',
    source: 'synthetic',
    ...overrides,
  };
}

export function catalogChip(id: string): AcceleratorSpec {
  const chip = accelerators.find((candidate) => candidate.id === id);
  if (chip === undefined) throw new Error(`no catalog chip ${id}`);
  return chip;
}

export function presetModel(id: string): ModelSpec {
  const model = modelPresets.find((candidate) => candidate.id === id);
  if (model === undefined) throw new Error(`no model preset ${id}`);
  return model;
}
