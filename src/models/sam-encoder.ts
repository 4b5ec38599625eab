import { modelError } from "../cli/errors.ts";
import { GraphBuilder } from "../graph/builder.ts";
import type { WeightSource } from "../weights/index.ts";
import { layerNorm, layerNorm2d, linear, linearRows, ModuleWeights, skipLayerNorm, type SamConfig } from "./sam-common.ts";

/** Sizes of segment-anything's ImageEncoderViT as a checkpoint and its config determine them. */
export interface SamEncoderSpec {
  /** Input side S: the graph takes [1, 3, S, S]. */
  imageSize: number;
  patchSize: number;
  /** Token grid side S / patchSize (64 for SAM). */
  grid: number;
  embedDim: number;
  depth: number;
  numHeads: number;
  headDim: number;
  windowSize: number;
  globalAttnIndexes: number[];
  /** Channels of the neck output (the image embedding). */
  outChans: number;
}

export interface SamGraphOptions {
  floatType?: "float32" | "float16";
  weightType?: "float32" | "float16";
  /** "int8": the Linear layers of every block but the first as int8 weights × dynamically quantized activations (see GraphOptions). */
  linearWeights?: "float" | "int8";
}

/** The grounding encoder (SAM) tensors of a GLaMM or plain SAM checkpoint. */
export const locateSam = (source: WeightSource): ModuleWeights => ModuleWeights.locate(source, "image_encoder.pos_embed", "SAM image encoder");

export function samEncoderSpec(sam: ModuleWeights, config: SamConfig): SamEncoderSpec {
  const [, grid, gridW, embedDim] = sam.dims("image_encoder.pos_embed", 4);
  const [convOut, channels, patchSize, patchW] = sam.dims("image_encoder.patch_embed.proj.weight", 4);
  if (grid !== gridW || patchSize !== patchW || channels !== 3 || convOut !== embedDim) {
    throw modelError(`SAM image encoder: pos_embed [1, ${grid}, ${gridW}, ${embedDim}] does not fit a square ${patchSize}x${patchW} RGB patch embedding of width ${convOut}`);
  }
  const depth = sam.count("image_encoder.blocks", "norm1.weight");
  const numHeads = config.encoderNumHeads;
  const headDim = embedDim / numHeads;
  const relPosWidth = sam.dims("image_encoder.blocks.0.attn.rel_pos_h", 2)[1];
  if (depth === 0 || !Number.isInteger(headDim) || relPosWidth !== headDim) {
    throw modelError(`SAM image encoder: ${depth} blocks of width ${embedDim} do not split into ${numHeads} heads of rel_pos width ${relPosWidth}`);
  }
  const outside = config.encoderGlobalAttnIndexes.filter((i) => i >= depth);
  if (outside.length) throw modelError(`SAM image encoder: global attention at block(s) ${outside.join(", ")} but only ${depth} blocks`);
  const outChans = sam.dims("image_encoder.neck.0.weight", 4)[0];
  return {
    imageSize: grid * patchSize,
    patchSize,
    grid,
    embedDim,
    depth,
    numHeads,
    headDim,
    windowSize: config.windowSize,
    globalAttnIndexes: [...config.encoderGlobalAttnIndexes],
    outChans,
  };
}

/**
 * segment-anything's get_rel_pos table resampling: rel_pos [length, width] linearly interpolated
 * (align_corners=False) to `target` rows.
 */
export function interpolateRelPos(relPos: Float32Array, length: number, width: number, target: number): Float32Array {
  const out = new Float32Array(target * width);
  const scale = length / target;
  for (let i = 0; i < target; i++) {
    const source = Math.max((i + 0.5) * scale - 0.5, 0);
    const i0 = Math.min(Math.floor(source), length - 1);
    const i1 = Math.min(i0 + 1, length - 1);
    const t = source - i0;
    for (let c = 0; c < width; c++) out[i * width + c] = (1 - t) * relPos[i0 * width + c] + t * relPos[i1 * width + c];
  }
  return out;
}

/** get_rel_pos's row index for each (query, key) pair, row-major [qSize, kSize]. */
export function relPosIndices(qSize: number, kSize: number): number[] {
  const qScale = Math.max(kSize / qSize, 1);
  const kScale = Math.max(qSize / kSize, 1);
  const indices: number[] = [];
  for (let q = 0; q < qSize; q++) for (let k = 0; k < kSize; k++) indices.push(Math.trunc(q * qScale - k * kScale + (kSize - 1) * kScale));
  return indices;
}

/** The [size, headDim, size] table R with scores += q · R[row] (get_rel_pos then transposed for MatMul). */
function relPosTable(g: GraphBuilder, sam: ModuleWeights, name: string, size: number): string {
  const [length, width] = sam.dims(name, 2);
  const needed = 2 * size - 1;
  const table =
    length === needed ? sam.weight(g, name) : sam.derived(g, name, [needed, width], (data) => interpolateRelPos(data, length, width, needed));
  const gathered = g.gather(table, g.ints(relPosIndices(size, size), [size, size])); // [q, k, width]
  return g.transpose(gathered, [0, 2, 1]);
}

/**
 * Multi-head self-attention with decomposed relative position bias on x [batch, size, size, C]. q, k and v come from
 * the fused qkv Linear's three row ranges (no split copy); the rel-pos terms (add_decomposed_rel_pos, on the unscaled
 * queries) become one additive bias [batch, heads, tokens, tokens] of com.microsoft MultiHeadAttention, which takes
 * q, k, v and returns the output as [batch, tokens, C] (no head transposes) and adds the bias to its scores itself.
 */
function attention(g: GraphBuilder, sam: ModuleWeights, name: string, x: string, batch: number, size: number, spec: SamEncoderSpec, int8: boolean): string {
  const { numHeads: heads, headDim, embedDim } = spec;
  const tokens = size * size;
  const flat = g.reshape(x, [batch, tokens, embedDim]);
  const [q, k, v] = [0, 1, 2].map((i) => linearRows(g, sam, `${name}.qkv`, flat, i * embedDim, embedDim, int8)); // [batch, tokens, C]
  // rel_h[b, h, qh, qw, kh] = q[b, qh, qw, h] · Rh[qh, kh]; rel_w[b, h, qh, qw, kw] = q[b, qh, qw, h] · Rw[qw, kw].
  const byRow = g.reshape(q, [batch, size, size * heads, headDim]);
  const relH = g.reshape(g.matMul(byRow, relPosTable(g, sam, `${name}.rel_pos_h`, size)), [batch, size, size, heads, size]);
  const byColumn = g.reshape(g.transpose(g.reshape(q, [batch, size, size, embedDim]), [0, 2, 1, 3]), [batch, size, size * heads, headDim]);
  const relW = g.reshape(g.matMul(byColumn, relPosTable(g, sam, `${name}.rel_pos_w`, size)), [batch, size, size, heads, size]);
  const bias = g.add(g.unsqueeze(g.transpose(relH, [0, 3, 1, 2, 4]), [5]), g.unsqueeze(g.transpose(relW, [0, 3, 2, 1, 4]), [4]));
  const attended = g.multiHeadAttention(q, k, v, { numHeads: heads, scale: headDim ** -0.5, attentionBias: g.reshape(bias, [batch, heads, tokens, tokens]) });
  return linear(g, sam, `${name}.proj`, g.reshape(attended, [batch, size, size, embedDim]), int8);
}

/** window_partition: [1, grid, grid, C] zero-padded to a multiple of `window`, cut into [windows, window, window, C]. */
function windowPartition(g: GraphBuilder, x: string, grid: number, window: number, channels: number): { windows: string; count: number } {
  const perSide = Math.ceil(grid / window);
  const pad = perSide * window - grid;
  const padded = pad ? g.op("Pad", [x, g.ints([0, 0, 0, 0, 0, pad, pad, 0])]) : x;
  const blocks = g.reshape(padded, [1, perSide, window, perSide, window, channels]);
  const windows = g.reshape(g.transpose(blocks, [0, 1, 3, 2, 4, 5]), [perSide * perSide, window, window, channels]);
  return { windows, count: perSide * perSide };
}

/** window_unpartition: the inverse of windowPartition, padding removed. */
function windowUnpartition(g: GraphBuilder, windows: string, grid: number, window: number, channels: number): string {
  const perSide = Math.ceil(grid / window);
  const blocks = g.reshape(windows, [1, perSide, perSide, window, window, channels]);
  const padded = g.reshape(g.transpose(blocks, [0, 1, 3, 2, 4, 5]), [1, perSide * window, perSide * window, channels]);
  return perSide * window === grid ? padded : g.slice(padded, [0, 0], [grid, grid], [1, 2]);
}

function block(g: GraphBuilder, sam: ModuleWeights, index: number, x: string, spec: SamEncoderSpec): string {
  const name = `image_encoder.blocks.${index}`;
  const { grid, embedDim } = spec;
  // With int8 Linear layers the first block stays in float: its error, carried by the residual stream through every
  // later block, cost most of the mask IoU on a zero-padded 4:3 image (0.979 -> 0.996 against fp32, random ViT-H).
  const int8 = g.linearWeights === "int8" && index > 0;
  const normed = layerNorm(g, sam, `${name}.norm1`, x, 1e-6);
  let attended: string;
  if (spec.globalAttnIndexes.includes(index)) {
    attended = attention(g, sam, `${name}.attn`, normed, 1, grid, spec, int8);
  } else {
    const { windows, count } = windowPartition(g, normed, grid, spec.windowSize, embedDim);
    const out = attention(g, sam, `${name}.attn`, windows, count, spec.windowSize, spec, int8);
    attended = windowUnpartition(g, out, grid, spec.windowSize, embedDim);
  }
  const tokens = [1, grid * grid, embedDim]; // SkipLayerNormalization takes 3-D inputs
  const [mlpIn, h] = skipLayerNorm(g, sam, `${name}.norm2`, g.reshape(attended, tokens), g.reshape(x, tokens), 1e-6);
  const mlpOut = linear(g, sam, `${name}.mlp.lin2`, g.gelu(linear(g, sam, `${name}.mlp.lin1`, mlpIn, int8), { contrib: true }), int8);
  return g.reshape(g.add(h, mlpOut), [1, grid, grid, embedDim], `block${index}`);
}

/**
 * SAM's ImageEncoderViT as one ONNX graph: input `pixel_values` [1, 3, S, S] (normalised, zero-padded),
 * output `image_embeddings` [1, outChans, grid, grid].
 */
export function buildSamEncoder(source: WeightSource, config: SamConfig, options: SamGraphOptions = {}): { graph: GraphBuilder; spec: SamEncoderSpec } {
  const sam = locateSam(source);
  const spec = samEncoderSpec(sam, config);
  const g = new GraphBuilder({ name: "sam_image_encoder", ...options });
  const pixels = g.input("pixel_values", "float32", [1, 3, spec.imageSize, spec.imageSize]);
  const { patchSize: p } = spec;
  const patches = g.conv(pixels, sam.weight(g, "image_encoder.patch_embed.proj.weight"), sam.weight(g, "image_encoder.patch_embed.proj.bias"), { strides: [p, p] });
  let x = g.add(g.transpose(patches, [0, 2, 3, 1]), sam.weight(g, "image_encoder.pos_embed"));
  for (let i = 0; i < spec.depth; i++) x = g.scope(`block${i}`, () => block(g, sam, i, x, spec));
  let neck = g.conv(g.transpose(x, [0, 3, 1, 2]), sam.weight(g, "image_encoder.neck.0.weight"));
  neck = layerNorm2d(g, sam, "image_encoder.neck.1", neck);
  neck = g.conv(neck, sam.weight(g, "image_encoder.neck.2.weight"), undefined, { pads: [1, 1, 1, 1] });
  neck = layerNorm2d(g, sam, "image_encoder.neck.3", neck);
  g.output(neck, "image_embeddings", "float32", [1, spec.outChans, spec.grid, spec.grid]);
  return { graph: g, spec };
}
