import type { Precision } from './accelerator.js';

/** A model's shape as the performance model needs it. */
export interface ModelSpec {
  readonly id: string;
  readonly name: string;
  /** Total parameters (all experts for a mixture-of-experts model). */
  readonly params: number;
  /** Parameters active per token (equal to `params` for a dense model). */
  readonly activeParams: number;
  readonly layers: number;
  /** Key/value heads per layer (grouped-query attention); see `headDim`. */
  readonly kvHeads: number;
  /** Dimension of one key or value head. */
  readonly headDim: number;
  /** Model (residual stream) width; derived from parameters and layers when absent. */
  readonly hiddenSize?: number;
  /** Serving precision of weights and KV cache. */
  readonly precision: Precision;
  /** Longest context the model supports, in tokens. */
  readonly contextWindow?: number;
  readonly source: string;
}
