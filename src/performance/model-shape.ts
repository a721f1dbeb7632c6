import type { ModelSpec } from '../catalog/model-preset.js';

/**
 * Residual-stream width. Presets carry it; otherwise it is derived from the
 * dense-transformer rule params ~= 12 x layers x width^2 applied to the active
 * parameters (within ~5% for Llama-class models).
 */
export function hiddenSize(model: ModelSpec): number {
  return model.hiddenSize ?? Math.sqrt(model.activeParams / (12 * model.layers));
}

/** Elements of KV cache one token adds across all layers (keys and values). */
export function kvElementsPerToken(model: ModelSpec): number {
  return 2 * model.layers * model.kvHeads * model.headDim;
}

/**
 * Fraction of all weights a decode step reads when `tokens` tokens are in the
 * batch. Dense models read everything. For a mixture of experts each token
 * touches a fraction f = active/total of the weights; with B independent tokens
 * the expected touched fraction is 1 - (1 - f)^B, never below f.
 */
export function weightFractionRead(model: ModelSpec, tokens: number): number {
  const f = model.activeParams / model.params;
  if (f >= 1) return 1;
  return Math.max(f, 1 - Math.pow(1 - f, Math.max(1, tokens)));
}

/**
 * FLOPs of attention scores and mixing for one token at context position
 * `context` (QK^T and AV, 2 FLOPs per multiply-add): 4 x layers x context x width.
 */
export function attentionFlopsPerToken(model: ModelSpec, context: number): number {
  return 4 * model.layers * context * hiddenSize(model);
}
