/**
 * Model presets: the shapes of widely served open-weight models, taken from
 * their published Hugging Face config.json files and papers. Parameter counts
 * are the published totals (exact where the model card gives them).
 */
import type { ModelSpec } from './model-preset.js';

export const modelPresets: readonly ModelSpec[] = [
  {
    id: 'llama-3.1-8b',
    name: 'Llama 3.1 8B',
    params: 8.03e9,
    activeParams: 8.03e9,
    layers: 32,
    kvHeads: 8,
    headDim: 128,
    hiddenSize: 4096,
    precision: 'bf16',
    contextWindow: 131072,
    source: 'huggingface.co/meta-llama/Llama-3.1-8B config.json; Llama 3 Herd of Models (arXiv 2407.21783)',
  },
  {
    id: 'llama-3.1-70b',
    name: 'Llama 3.1 70B',
    params: 70.6e9,
    activeParams: 70.6e9,
    layers: 80,
    kvHeads: 8,
    headDim: 128,
    hiddenSize: 8192,
    precision: 'bf16',
    contextWindow: 131072,
    source: 'huggingface.co/meta-llama/Llama-3.1-70B config.json; Llama 3 Herd of Models (arXiv 2407.21783)',
  },
  {
    id: 'llama-3.1-405b',
    name: 'Llama 3.1 405B',
    params: 405e9,
    activeParams: 405e9,
    layers: 126,
    kvHeads: 8,
    headDim: 128,
    hiddenSize: 16384,
    precision: 'bf16',
    contextWindow: 131072,
    source: 'huggingface.co/meta-llama/Llama-3.1-405B config.json; Llama 3 Herd of Models (arXiv 2407.21783)',
  },
  {
    id: 'llama-2-70b',
    name: 'Llama 2 70B',
    params: 69e9,
    activeParams: 69e9,
    layers: 80,
    kvHeads: 8,
    headDim: 128,
    hiddenSize: 8192,
    precision: 'bf16',
    contextWindow: 4096,
    source: 'huggingface.co/meta-llama/Llama-2-70b-hf config.json; Llama 2 paper (arXiv 2307.09288)',
  },
  {
    // Sparse mixture of experts: 8 experts per layer, 2 routed per token.
    id: 'mixtral-8x7b',
    name: 'Mixtral 8x7B',
    params: 46.7e9,
    activeParams: 12.9e9,
    layers: 32,
    kvHeads: 8,
    headDim: 128,
    hiddenSize: 4096,
    precision: 'bf16',
    contextWindow: 32768,
    source: 'huggingface.co/mistralai/Mixtral-8x7B-v0.1 config.json; Mixtral of Experts (arXiv 2401.04088)',
  },
  {
    /*
     * DeepSeek-V3 uses Multi-head Latent Attention (MLA): instead of per-head
     * keys and values it caches one compressed latent per layer per token,
     * kv_lora_rank (512) + qk_rope_head_dim (64) = 576 values. The performance
     * model sizes the KV cache as 2 x kvHeads x headDim values per layer per
     * token, so the latent is expressed as kvHeads 1 and headDim 288
     * (2 x 1 x 288 = 576). headDim here is therefore a bookkeeping figure, not
     * an attention head width (the real query/key head is 192 and value 128).
     *
     * params is the main model (671B); the released checkpoint is 685B with the
     * 14B multi-token-prediction module, which is not used for plain decoding.
     * Weights were trained and released in FP8, so fp8 is the serving precision;
     * the KV cache follows it (serving stacks may keep the latent in BF16).
     * config.json sets max_position_embeddings 163840 (YaRN factor 40 x 4096),
     * but the model is documented and evaluated at 128K, which is used here.
     */
    id: 'deepseek-v3',
    name: 'DeepSeek-V3',
    params: 671e9,
    activeParams: 37e9,
    layers: 61,
    kvHeads: 1,
    headDim: 288,
    hiddenSize: 7168,
    precision: 'fp8',
    contextWindow: 131072,
    source: 'huggingface.co/deepseek-ai/DeepSeek-V3 config.json; DeepSeek-V3 Technical Report (arXiv 2412.19437)',
  },
];
