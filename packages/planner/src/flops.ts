/**
 * FLOPs of one forward pass of a decoder (or encoder) layer stack, from the model's config.json.
 * Per layer and token: 2 x weights multiplied through — Q and O projections 2 H^2, K and V
 * projections 2 H Hkv (Hkv = H x kv heads / heads: grouped-query attention), MLP 3 H F when gated
 * (Llama's SwiGLU) else 2 H F — plus attention: scores and mixing, 2 x 2 x T x H for a sequence of
 * T tokens (onnxruntime's graph computes the full T x T matrix, causal or not). Embedding lookups,
 * norms and activations are left out (well under 1% for these models).
 */
export interface ModelShape {
  hiddenSize: number;
  layers: number;
  intermediateSize: number;
  heads: number;
  kvHeads: number;
  gated: boolean;
}

/** Model families whose MLP is gated (three H x F matrices per layer). */
const GATED_MODEL_TYPES = new Set([
  'llama',
  'mistral',
  'mixtral',
  'qwen2',
  'qwen3',
  'gemma',
  'gemma2',
  'phi3',
  'olmo',
  'olmo2',
]);

export function modelShape(config: Record<string, unknown>, hiddenSize: number): ModelShape {
  const num = (...keys: string[]): number | undefined => {
    for (const k of keys) if (typeof config[k] === 'number') return config[k];
    return undefined;
  };
  const heads = num('num_attention_heads', 'n_head', 'num_heads') ?? 1;
  return {
    hiddenSize,
    layers: num('num_hidden_layers', 'n_layer', 'num_layers') ?? 1,
    intermediateSize: num('intermediate_size', 'n_inner', 'ffn_dim') ?? 4 * hiddenSize,
    heads,
    kvHeads: num('num_key_value_heads') ?? heads,
    gated: GATED_MODEL_TYPES.has(String(config.model_type)),
  };
}

/** Weights each token is multiplied through, summed over layers. */
export function matmulParams(s: ModelShape): number {
  const H = s.hiddenSize;
  const Hkv = (H * s.kvHeads) / s.heads;
  return s.layers * (2 * H * H + 2 * H * Hkv + (s.gated ? 3 : 2) * H * s.intermediateSize);
}

/** FLOPs to run sequences whose lengths sum to `tokens` and whose squared lengths sum to `squares`. */
export function forwardFlops(s: ModelShape, tokens: number, squares: number): { total: number; attention: number } {
  const attention = s.layers * 4 * s.hiddenSize * squares;
  return { total: 2 * matmulParams(s) * tokens + attention, attention };
}

/** FLOPs per token at a mean sequence length (attention grows with the length). */
export function flopsPerToken(s: ModelShape, meanLength: number): number {
  return 2 * matmulParams(s) + s.layers * 4 * s.hiddenSize * meanLength;
}
