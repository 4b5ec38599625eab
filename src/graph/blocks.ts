import type { GraphBuilder } from "./builder.ts";

/** Lowest finite value of a float type: the additive mask value for blocked attention positions. */
const MASK_VALUE = { float32: -3.4028234663852886e38, float16: -65504 } as const;

/** The lowest finite value of the graph's float type: what additive masks put on blocked scores. */
export const lowestFloat = (g: GraphBuilder): number => MASK_VALUE[g.floatType];

/** [B, S, H·D] -> [B, H, S, D]. */
export function splitHeads(g: GraphBuilder, x: string, heads: number, headDim: number): string {
  return g.transpose(g.reshape(x, [0, 0, heads, headDim]), [0, 2, 1, 3]);
}

/** [B, H, S, D] -> [B, S, H·D]. */
export function mergeHeads(g: GraphBuilder, x: string): string {
  return g.reshape(g.transpose(x, [0, 2, 1, 3]), [0, 0, -1]);
}

/**
 * Additive causal mask [Sq, Sk] for queries that are the last Sq of Sk positions (Sk > Sq with a KV cache):
 * query i sees key j iff j <= i + Sk - Sq; blocked entries hold the lowest finite float.
 */
export function causalMask(g: GraphBuilder, q: string, k: string): string {
  const sq = g.squeeze(g.shape(q, 2, 3), [0]);
  const sk = g.squeeze(g.shape(k, 2, 3), [0]);
  const one = g.ints([1], []);
  const queryPositions = g.range(g.sub(sk, sq), sk, one);
  const keyPositions = g.range(g.ints([0], []), sk, one);
  const blocked = g.greater(g.unsqueeze(keyPositions, [0]), g.unsqueeze(queryPositions, [1]));
  return g.where(blocked, g.scalar(lowestFloat(g)), g.scalar(0), "causal_mask");
}

export interface AttentionOptions {
  /** Score scale (default 1/√headDim). */
  scale?: number;
  /** Additive mask broadcastable to [B, H, Sq, Sk]. */
  mask?: string;
  /** Add a causal mask (combined with `mask` when both are given). */
  causal?: boolean;
}

/** softmax(q·kᵀ·scale + mask)·v on [B, H, S, D] tensors, as plain ops; headDim is needed for the default scale. */
export function scaledDotProductAttention(g: GraphBuilder, q: string, k: string, v: string, headDim: number, options: AttentionOptions = {}): string {
  const scale = options.scale ?? 1 / Math.sqrt(headDim);
  let scores = g.mul(g.matMul(q, g.transpose(k, [0, 1, 3, 2])), g.scalar(scale), "scores");
  if (options.mask) scores = g.add(scores, options.mask);
  if (options.causal) scores = g.add(scores, causalMask(g, q, k));
  return g.matMul(g.softmax(scores, -1), v, "attention");
}

/**
 * LLaMA rotary tables for int64 positions [B, S]: cos and sin [B, 1, S, D] (broadcast over heads) of
 * position·θ^(-2i/D), with frequencies duplicated across the two halves (HF `cat(freqs, freqs)`), computed in float32
 * as transformers does and then cast to floatType.
 */
export function rotaryCosSin(g: GraphBuilder, positionIds: string, headDim: number, theta = 10000): [string, string] {
  const half = headDim / 2;
  const inverseFrequency = new Float32Array(half);
  for (let i = 0; i < half; i++) inverseFrequency[i] = 1 / theta ** ((2 * i) / headDim);
  const positions = g.unsqueeze(g.cast(positionIds, "float32"), [1, 3]);
  const frequencies = g.mul(positions, g.constant("float32", [half], inverseFrequency));
  const angles = g.concat([frequencies, frequencies], -1);
  return [g.cast(g.cos(angles), "float", "rope_cos"), g.cast(g.sin(angles), "float", "rope_sin")];
}

/** x·cos + rotate_half(x)·sin with rotate_half(x) = [-x₂, x₁] over the last axis (size headDim). */
export function applyRotaryHalf(g: GraphBuilder, x: string, cos: string, sin: string, headDim: number): string {
  const [first, second] = g.split(x, [headDim / 2, headDim / 2], -1);
  const rotated = g.concat([g.neg(second), first], -1);
  return g.add(g.mul(x, cos), g.mul(rotated, sin), "rope");
}

/** cos/sin caches [maxPositions, headDim / 2] of position·θ^(-2i/D) for RotaryEmbedding and GroupQueryAttention. */
export function rotaryCaches(g: GraphBuilder, headDim: number, maxPositions: number, theta = 10000): [string, string] {
  const half = headDim / 2;
  const cos = new Float32Array(maxPositions * half);
  const sin = new Float32Array(maxPositions * half);
  for (let p = 0; p < maxPositions; p++)
    for (let i = 0; i < half; i++) {
      const angle = Math.fround(p * Math.fround(1 / theta ** ((2 * i) / headDim))); // float32, as transformers computes it
      cos[p * half + i] = Math.cos(angle);
      sin[p * half + i] = Math.sin(angle);
    }
  return [g.floatTensor("rotary.cos_cache", [maxPositions, half], cos), g.floatTensor("rotary.sin_cache", [maxPositions, half], sin)];
}
