import type { WeightSource } from "../weights/index.ts";
import { RandomWeights } from "../weights/random.ts";
import { EMBED_TOKENS, FINAL_NORM, LM_HEAD, layerPrefix, type LlamaConfig } from "./llama-config.ts";

/** Vicuna-7B's decoder sizes (GLaMM's LLM) with the number of layers left to the caller. */
export function vicuna7bShape(numLayers: number): LlamaConfig {
  return {
    hiddenSize: 4096,
    numHeads: 32,
    numKvHeads: 32,
    headDim: 128,
    numLayers,
    intermediateSize: 11008,
    vocabSize: 32007,
    logitsSize: 32007,
    rmsNormEps: 1e-6,
    ropeTheta: 10000,
  };
}

function tensorShapes(config: LlamaConfig): Map<string, number[]> {
  const { hiddenSize: h, numHeads, numKvHeads, headDim, intermediateSize: m, vocabSize, logitsSize } = config;
  const shapes = new Map<string, number[]>([[EMBED_TOKENS, [vocabSize, h]]]);
  for (let layer = 0; layer < config.numLayers; layer++) {
    const p = layerPrefix(layer);
    shapes.set(`${p}.input_layernorm.weight`, [h]);
    shapes.set(`${p}.self_attn.q_proj.weight`, [numHeads * headDim, h]);
    shapes.set(`${p}.self_attn.k_proj.weight`, [numKvHeads * headDim, h]);
    shapes.set(`${p}.self_attn.v_proj.weight`, [numKvHeads * headDim, h]);
    shapes.set(`${p}.self_attn.o_proj.weight`, [h, numHeads * headDim]);
    shapes.set(`${p}.post_attention_layernorm.weight`, [h]);
    shapes.set(`${p}.mlp.gate_proj.weight`, [m, h]);
    shapes.set(`${p}.mlp.up_proj.weight`, [m, h]);
    shapes.set(`${p}.mlp.down_proj.weight`, [h, m]);
  }
  shapes.set(FINAL_NORM, [h]);
  shapes.set(LM_HEAD, [logitsSize, h]);
  return shapes;
}

/**
 * A checkpoint of random weights for `config` (norms 1, matrices uniform in ±1/√in), each tensor generated when read:
 * for benchmarks of real-size layers without real weights.
 */
export function syntheticLlamaWeights(config: LlamaConfig): WeightSource {
  return new RandomWeights(tensorShapes(config));
}
