import { modelError } from "../cli/errors.ts";
import type { WeightSource } from "../weights/index.ts";

/** Sizes of a LLaMA decoder, read from config.json and the checkpoint's tensor shapes. */
export interface LlamaConfig {
  hiddenSize: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  numLayers: number;
  intermediateSize: number;
  /** Rows of embed_tokens (ids the embedding accepts). */
  vocabSize: number;
  /** Rows of lm_head (width of the logits). */
  logitsSize: number;
  rmsNormEps: number;
  ropeTheta: number;
  /** Positions the model was trained for (config.json max_position_embeddings): prompt + answer must fit. */
  contextLength?: number;
}

export const EMBED_TOKENS = "model.embed_tokens.weight";
export const LM_HEAD = "lm_head.weight";
export const FINAL_NORM = "model.norm.weight";
export const layerPrefix = (layer: number) => `model.layers.${layer}`;

const LAYER_KEY = /^model\.layers\.(\d+)\.input_layernorm\.weight$/;

function shapeOf(weights: WeightSource, name: string, rank: number): readonly number[] {
  if (!weights.has(name)) throw modelError(`checkpoint has no tensor ${name}`);
  const { shape } = weights.info(name);
  if (shape.length !== rank) throw modelError(`${name} has shape [${shape.join(", ")}], expected ${rank} dims`);
  return shape;
}

function positiveNumber(config: Record<string, unknown>, key: string, fallback?: number): number {
  const value = config[key] ?? fallback;
  if (typeof value !== "number" || !(value > 0)) throw modelError(`config.json: ${key} must be a positive number (got ${JSON.stringify(config[key])})`);
  return value;
}

/** Every size from the tensors; only the head count, eps and rope theta (which no shape carries) from config.json. */
export function readLlamaConfig(config: Record<string, unknown>, weights: WeightSource): LlamaConfig {
  if (config.rope_scaling !== undefined && config.rope_scaling !== null) throw modelError("config.json: rope_scaling is not supported");
  const [vocabSize, hiddenSize] = shapeOf(weights, EMBED_TOKENS, 2);
  const [logitsSize, lmHeadIn] = shapeOf(weights, LM_HEAD, 2);
  if (lmHeadIn !== hiddenSize) throw modelError(`${LM_HEAD} takes ${lmHeadIn} features but the hidden size is ${hiddenSize}`);
  const layers = weights
    .keys()
    .map((key) => LAYER_KEY.exec(key)?.[1])
    .filter((index): index is string => index !== undefined)
    .map(Number);
  const numLayers = layers.length;
  if (numLayers === 0 || Math.max(...layers) !== numLayers - 1) throw modelError(`checkpoint layers are not numbered 0..N-1 (found ${layers.sort((a, b) => a - b).join(", ")})`);
  const numHeads = positiveNumber(config, "num_attention_heads");
  if (hiddenSize % numHeads !== 0) throw modelError(`hidden size ${hiddenSize} is not divisible by ${numHeads} heads`);
  const headDim = hiddenSize / numHeads;
  if (headDim % 2 !== 0) throw modelError(`head size ${headDim} is odd; rotary embeddings need an even size`);
  const [kvWidth] = shapeOf(weights, `${layerPrefix(0)}.self_attn.k_proj.weight`, 2);
  const numKvHeads = kvWidth / headDim;
  if (!Number.isInteger(numKvHeads) || numHeads % numKvHeads !== 0) throw modelError(`k_proj width ${kvWidth} does not give a head count dividing ${numHeads}`);
  const declaredKv = config.num_key_value_heads;
  if (declaredKv !== undefined && declaredKv !== null && declaredKv !== numKvHeads) {
    throw modelError(`config.json says ${declaredKv} key/value heads but k_proj holds ${numKvHeads}`);
  }
  const [intermediateSize] = shapeOf(weights, `${layerPrefix(0)}.mlp.gate_proj.weight`, 2);
  return {
    hiddenSize,
    numHeads,
    numKvHeads,
    headDim,
    numLayers,
    intermediateSize,
    vocabSize,
    logitsSize,
    rmsNormEps: positiveNumber(config, "rms_norm_eps", 1e-6),
    ropeTheta: positiveNumber(config, "rope_theta", 10000),
    contextLength: positiveNumber(config, "max_position_embeddings", 2048),
  };
}
