import { modelError } from "../cli/errors.ts";
import type { GraphBuilder } from "../graph/builder.ts";
import { quantizeInt8 } from "../graph/int8.ts";
import type { WeightSource } from "../weights/index.ts";

/** Shape of a checkpoint tensor, with a model error naming it when it is missing or of another rank. */
export function tensorShape(weights: WeightSource, name: string, rank: number): number[] {
  if (!weights.has(name)) throw modelError(`checkpoint has no tensor ${name}`);
  const shape = [...weights.info(name).shape];
  if (shape.length !== rank) throw modelError(`tensor ${name} has shape [${shape.join(", ")}], expected ${rank} dimensions`);
  return shape;
}

/** [rows, cols] row-major -> [cols, rows] row-major. */
export function transposed(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c];
  return out;
}

/** A checkpoint tensor as a graph weight of its stored shape (read when the model is written). */
export function checkpointWeight(g: GraphBuilder, weights: WeightSource, name: string, rank: number): string {
  return g.weight(name, tensorShape(weights, name, rank), () => weights.read(name));
}

/** PyTorch nn.LayerNorm `prefix` (weight and bias) over the last axis of x. */
export function torchLayerNorm(g: GraphBuilder, weights: WeightSource, prefix: string, x: string, epsilon: number): string {
  return g.layerNorm(x, checkpointWeight(g, weights, `${prefix}.weight`, 1), checkpointWeight(g, weights, `${prefix}.bias`, 1), epsilon, prefix);
}

/** PyTorch nn.LayerNorm `prefix` on x + skip, as one SkipLayerNormalization node; returns [normed, x + skip]. */
export function torchSkipLayerNorm(g: GraphBuilder, weights: WeightSource, prefix: string, x: string, skip: string, epsilon: number): [string, string] {
  return g.skipLayerNorm(x, skip, checkpointWeight(g, weights, `${prefix}.weight`, 1), checkpointWeight(g, weights, `${prefix}.bias`, 1), epsilon, prefix);
}

/**
 * PyTorch nn.Linear `prefix` (weight [out, in], optional bias) applied to x [.., in]; returns [.., out]. `int8`
 * (default: the graph's linearWeights) picks the int8 form (see GraphOptions.linearWeights).
 */
export function torchLinear(g: GraphBuilder, weights: WeightSource, prefix: string, x: string, int8 = g.linearWeights === "int8"): string {
  const [out] = tensorShape(weights, `${prefix}.weight`, 2);
  return torchLinearRows(g, weights, prefix, x, 0, out, int8);
}

/**
 * Output features [start, start + count) of PyTorch nn.Linear `prefix` as a Linear of their own (e.g. q, k or v of a
 * fused qkv projection): the weight rows and bias entries of that range.
 */
export function torchLinearRows(g: GraphBuilder, weights: WeightSource, prefix: string, x: string, start: number, count: number, int8 = g.linearWeights === "int8"): string {
  const [out, inp] = tensorShape(weights, `${prefix}.weight`, 2);
  if (start < 0 || start + count > out) throw modelError(`${prefix}: features ${start}..${start + count} outside its ${out} outputs`);
  const whole = start === 0 && count === out;
  const name = whole ? prefix : `${prefix}.out${start}-${start + count}`;
  const rows = () => weights.read(`${prefix}.weight`).subarray(start * inp, (start + count) * inp);
  const bias = () => {
    if (!weights.has(`${prefix}.bias`)) return undefined;
    if (whole) return checkpointWeight(g, weights, `${prefix}.bias`, 1);
    return g.weight(`${name}.bias`, [count], () => weights.read(`${prefix}.bias`).slice(start, start + count));
  };
  if (int8) {
    const weight = g.int8Weight(name, inp, count, () => quantizeInt8(rows(), inp, count, "NK"));
    return g.dynamicQuantizeMatMul(x, weight, { bias: bias(), name });
  }
  const weight = g.weight(`${name}.weight`, [inp, count], () => transposed(rows(), count, inp));
  return g.linear(x, weight, bias(), name);
}
