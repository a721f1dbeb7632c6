import { bytesPerValue, type AcceleratorSpec, type Precision } from '../catalog/accelerator.js';

/**
 * Which peak rate a chip runs a given precision at. A chip without a native
 * rate for the precision runs it at the next wider one it has (weights stay
 * stored at the narrow precision: weight-only quantisation still saves memory
 * and bandwidth).
 */
const fallbackChain: Readonly<Record<Precision, readonly Precision[]>> = {
  fp4: ['fp4', 'fp8', 'int8', 'bf16'],
  fp8: ['fp8', 'bf16'],
  int8: ['int8', 'fp8', 'bf16'],
  bf16: ['bf16'],
};

export function computePrecision(chip: AcceleratorSpec, precision: Precision): Precision {
  // The fastest rate the chain offers: a serving stack runs int8 weights through the
  // fp8 units on a chip whose native int8 is slower (Blackwell Ultra cut dense int8). Of rates
  // alike, the earlier in the chain (the precision asked): TPU v6e's fp8 runs as fp8, at its bf16 rate.
  let best: Precision = 'bf16';
  let bestRate = 0;
  for (const candidate of fallbackChain[precision]) {
    const rate = chip.peakTflops[candidate] ?? 0;
    if (rate > bestRate) {
      best = candidate;
      bestRate = rate;
    }
  }
  return best;
}

/** Peak dense FLOP/s (not TFLOP/s) the chip reaches at a precision. */
export function peakFlops(chip: AcceleratorSpec, precision: Precision): number {
  const rate = chip.peakTflops[computePrecision(chip, precision)] ?? chip.peakTflops.bf16;
  return rate * 1e12;
}

/** Bytes per stored value; KV caches are kept at no less than one byte per element. */
export function weightBytes(precision: Precision): number {
  return bytesPerValue[precision];
}

export function kvBytes(precision: Precision): number {
  return Math.max(1, bytesPerValue[precision]);
}
