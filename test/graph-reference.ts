// Straightforward float64 reference computations for the graph-builder tests (independent of src/graph).
import { expect } from "bun:test";
import * as ort from "onnxruntime-node";

/** Seeded uniform numbers in [-scale, scale) (mulberry32). */
export function randomArray(seed: number, length: number, scale = 1): Float32Array {
  let state = seed >>> 0;
  const out = new Float32Array(length);
  for (let i = 0; i < length; i++) {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = ((((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1) * scale;
  }
  return out;
}

/** Asserts |actual - expected| <= tolerance·max(1, |expected|) element-wise; returns the max absolute error. */
export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance = 1e-5): number {
  expect(actual.length).toBe(expected.length);
  let maxError = 0;
  for (let i = 0; i < expected.length; i++) {
    const error = Math.abs(actual[i] - expected[i]);
    maxError = Math.max(maxError, error);
    if (!(error <= tolerance * Math.max(1, Math.abs(expected[i])))) throw new Error(`element ${i}: ${actual[i]} vs expected ${expected[i]} (tolerance ${tolerance})`);
  }
  return maxError;
}

/** [m, k] x [k, n]. */
export function matmul(a: ArrayLike<number>, b: ArrayLike<number>, m: number, k: number, n: number): Float64Array {
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let sum = 0;
      for (let p = 0; p < k; p++) sum += a[i * k + p] * b[p * n + j];
      out[i * n + j] = sum;
    }
  return out;
}

export function addRowVector(x: Float64Array, v: ArrayLike<number>): Float64Array {
  return x.map((value, i) => value + v[i % v.length]);
}

export function layerNorm(x: ArrayLike<number>, cols: number, gamma: ArrayLike<number>, beta: ArrayLike<number>, eps: number): Float64Array {
  const out = new Float64Array(x.length);
  for (let r = 0; r < x.length / cols; r++) {
    let mean = 0;
    for (let c = 0; c < cols; c++) mean += x[r * cols + c] / cols;
    let variance = 0;
    for (let c = 0; c < cols; c++) variance += (x[r * cols + c] - mean) ** 2 / cols;
    for (let c = 0; c < cols; c++) out[r * cols + c] = ((x[r * cols + c] - mean) / Math.sqrt(variance + eps)) * gamma[c] + beta[c];
  }
  return out;
}

/** erf with |error| < 1.2e-7 (Numerical Recipes erfc Chebyshev fit). */
export function erf(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const poly =
    -z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
  const erfc = t * Math.exp(poly);
  return x >= 0 ? 1 - erfc : erfc - 1;
}

export const gelu = (x: number) => 0.5 * x * (1 + erf(x / Math.SQRT2));

/** Row-wise softmax over the last axis of size cols. */
export function softmaxRows(x: Float64Array, cols: number): Float64Array {
  const out = new Float64Array(x.length);
  for (let r = 0; r < x.length / cols; r++) {
    let max = -Infinity;
    for (let c = 0; c < cols; c++) max = Math.max(max, x[r * cols + c]);
    let sum = 0;
    for (let c = 0; c < cols; c++) sum += (out[r * cols + c] = Math.exp(x[r * cols + c] - max));
    for (let c = 0; c < cols; c++) out[r * cols + c] /= sum;
  }
  return out;
}

/** LLaMA rotate-half RoPE on [tokens, heads·headDim] rows; positions[t] is the position of token t. */
export function ropeReference(t: ArrayLike<number>, positions: readonly number[], width: number, headDim: number, theta = 10000): Float64Array {
  const half = headDim / 2;
  return Float64Array.from({ length: t.length }, (_, index) => {
    const i = index % headDim;
    const angle = positions[Math.floor(index / width)] * theta ** (-(2 * (i % half)) / headDim);
    const rotated = i < half ? -t[index + half] : t[index - half];
    return t[index] * Math.cos(angle) + rotated * Math.sin(angle);
  });
}

/** softmax(q·kᵀ/√d)·v per head on [B, S, H·D] rows, optionally causal; returns [B, S, H·D]. */
export function attentionReference(q: ArrayLike<number>, k: ArrayLike<number>, v: ArrayLike<number>, batch: number, seq: number, heads: number, headDim: number, causal: boolean): Float64Array {
  const width = heads * headDim;
  const out = new Float64Array(batch * seq * width);
  for (let b = 0; b < batch; b++)
    for (let h = 0; h < heads; h++) {
      const scores = new Float64Array(seq * seq);
      for (let i = 0; i < seq; i++)
        for (let j = 0; j < seq; j++) {
          let dot = 0;
          for (let d = 0; d < headDim; d++) dot += q[(b * seq + i) * width + h * headDim + d] * k[(b * seq + j) * width + h * headDim + d];
          scores[i * seq + j] = causal && j > i ? -Infinity : dot / Math.sqrt(headDim);
        }
      const p = softmaxRows(scores, seq);
      for (let i = 0; i < seq; i++)
        for (let d = 0; d < headDim; d++) {
          let sum = 0;
          for (let j = 0; j < seq; j++) sum += p[i * seq + j] * v[(b * seq + j) * width + h * headDim + d];
          out[(b * seq + i) * width + h * headDim + d] = sum;
        }
    }
  return out;
}

/** Runs a model (bytes or path) once and returns one float output (default "y"). */
export async function runModel(model: Uint8Array | string, feeds: Record<string, ort.Tensor>, output = "y"): Promise<Float32Array> {
  const session = typeof model === "string" ? await ort.InferenceSession.create(model) : await ort.InferenceSession.create(model);
  try {
    return (await session.run(feeds))[output].data as Float32Array;
  } finally {
    await session.release();
  }
}
