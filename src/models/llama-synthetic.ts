import { modelError } from "../cli/errors.ts";
import type { TensorInfo, WeightSource } from "../weights/index.ts";
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
 * A checkpoint of random weights for `config` (norms 1, matrices uniform in ±1/√in), each tensor generated when read
 * from a seed derived from its name: for benchmarks of real-size layers without real weights.
 */
export function syntheticLlamaWeights(config: LlamaConfig, seed = 1): WeightSource {
  const shapes = tensorShapes(config);
  const shapeOf = (name: string) => {
    const shape = shapes.get(name);
    if (!shape) throw modelError(`synthetic checkpoint has no tensor ${name}`);
    return shape;
  };
  const read = (name: string, as = "float32"): Float32Array => {
    if (as !== "float32") throw modelError(`synthetic checkpoint tensors are float32 only (asked for ${as})`);
    const shape = shapeOf(name);
    const out = new Float32Array(shape.reduce((a, b) => a * b, 1));
    if (shape.length === 1) return out.fill(1);
    const bound = 1 / Math.sqrt(shape[1]);
    let state = [...name].reduce((s, c) => Math.imul(s ^ c.charCodeAt(0), 0x01000193) >>> 0, (0x811c9dc5 ^ seed) >>> 0);
    for (let i = 0; i < out.length; i++) {
      state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
      out[i] = (state / 4294967296 - 0.5) * 2 * bound;
    }
    return out;
  };
  return {
    keys: () => [...shapes.keys()],
    has: (name) => shapes.has(name),
    info: (name): TensorInfo => ({ dtype: "F32", shape: shapeOf(name) }),
    read: read as WeightSource["read"],
    close: () => {},
  };
}
