import { modelError } from "../cli/errors.ts";
import { mergeHeads, scaledDotProductAttention, splitHeads } from "../graph/blocks.ts";
import { GraphBuilder } from "../graph/builder.ts";
import type { WeightSource } from "../weights/index.ts";
import { layerNorm, layerNorm2d, linear, ModuleWeights, samMlp, type SamConfig } from "./sam-common.ts";
import { locateSam, type SamGraphOptions } from "./sam-encoder.ts";

/** Sizes of GLaMM's [SEG] projection, SAM prompt encoder and mask decoder, read from the checkpoint. */
export interface MaskDecoderSpec {
  /** LLM hidden size (text_hidden_fcs input). */
  hiddenSize: number;
  /** Prompt / transformer width. */
  promptDim: number;
  /** Image embedding grid side (SAM: 64). */
  grid: number;
  /** The encoder's input side (SAM: 1024), the size masks are first upscaled to in post-processing. */
  imageSize: number;
  numMaskTokens: number;
  depth: number;
  numHeads: number;
  /** Side of low_res_masks (4 × grid for SAM's two stride-2 transposed convolutions). */
  maskSize: number;
}

const SAM_LAYER_NORM_EPS = 1e-5;

export function maskDecoderSpec(sam: ModuleWeights, fcs: ModuleWeights, config: SamConfig): MaskDecoderSpec {
  const [, grid] = sam.dims("image_encoder.pos_embed", 4);
  const patchSize = sam.dims("image_encoder.patch_embed.proj.weight", 4)[2];
  const [, promptDim] = sam.dims("prompt_encoder.no_mask_embed.weight", 2);
  const [, hiddenSize] = fcs.dims("text_hidden_fcs.0.0.weight", 2);
  const [outDim] = fcs.dims("text_hidden_fcs.0.2.weight", 2);
  if (outDim !== promptDim) throw modelError(`text_hidden_fcs projects to ${outDim} but the SAM prompt width is ${promptDim}`);
  const [numMaskTokens] = sam.dims("mask_decoder.mask_tokens.weight", 2);
  const depth = sam.count("mask_decoder.transformer.layers", "norm1.weight");
  const numHeads = config.decoderNumHeads;
  const upscale = [0, 3].map((i) => sam.dims(`mask_decoder.output_upscaling.${i}.weight`, 4)[2]);
  return { hiddenSize, promptDim, grid, imageSize: grid * patchSize, numMaskTokens, depth, numHeads, maskSize: grid * upscale[0] * upscale[1] };
}

/** segment-anything's transformer Attention (q/k/v projections to a possibly downsampled width, then out_proj). */
function decoderAttention(g: GraphBuilder, sam: ModuleWeights, name: string, q: string, k: string, v: string, heads: number): string {
  const internal = sam.dims(`${name}.q_proj.weight`, 2)[0];
  const headDim = internal / heads;
  if (!Number.isInteger(headDim)) throw modelError(`${sam.prefix}${name}: width ${internal} does not split into ${heads} heads`);
  const project = (x: string, proj: string) => splitHeads(g, linear(g, sam, `${name}.${proj}`, x), heads, headDim);
  const out = scaledDotProductAttention(g, project(q, "q_proj"), project(k, "k_proj"), project(v, "v_proj"), headDim);
  return linear(g, sam, `${name}.out_proj`, mergeHeads(g, out));
}

/** TwoWayAttentionBlock: token self-attention, token→image, MLP, image→token; returns [queries, keys]. */
function twoWayBlock(g: GraphBuilder, sam: ModuleWeights, index: number, queries: string, keys: string, queryPe: string, keyPe: string, heads: number): [string, string] {
  const name = `mask_decoder.transformer.layers.${index}`;
  const attend = (module: string, q: string, k: string, v: string) => decoderAttention(g, sam, `${name}.${module}`, q, k, v, heads);
  const norm = (module: string, x: string) => layerNorm(g, sam, `${name}.${module}`, x, SAM_LAYER_NORM_EPS);
  let q: string;
  if (index === 0) {
    q = norm("norm1", attend("self_attn", queries, queries, queries)); // skip_first_layer_pe
  } else {
    const withPe = g.add(queries, queryPe);
    q = norm("norm1", g.add(queries, attend("self_attn", withPe, withPe, queries)));
  }
  const keysWithPe = g.add(keys, keyPe);
  q = norm("norm2", g.add(q, attend("cross_attn_token_to_image", g.add(q, queryPe), keysWithPe, keys)));
  const mlp = linear(g, sam, `${name}.mlp.lin2`, g.relu(linear(g, sam, `${name}.mlp.lin1`, q)));
  q = norm("norm3", g.add(q, mlp));
  const k = norm("norm4", g.add(keys, attend("cross_attn_image_to_token", keysWithPe, g.add(q, queryPe), q)));
  return [q, k];
}

/**
 * PositionEmbeddingRandom's (x, y) grid for a grid×grid image: cell centres scaled to [-1, 1], rows of (x, y),
 * rounded to float32 at each step as torch computes them.
 */
export function denseCoordinateGrid(grid: number): Float32Array {
  const coords = new Float32Array(grid * grid * 2);
  const unit = (i: number) => Math.fround(2 * Math.fround((i + 0.5) / grid) - 1);
  for (let y = 0; y < grid; y++)
    for (let x = 0; x < grid; x++) {
      coords[(y * grid + x) * 2] = unit(x);
      coords[(y * grid + x) * 2 + 1] = unit(y);
    }
  return coords;
}

/**
 * SAM's TwoWayTransformer: `depth` blocks, then the final token→image attention and norm. tokens [N, T, C] (also the
 * query positional encoding), image keys [1 or N, grid², C], pe [grid², C]; returns [queries, keys].
 */
export function twoWayTransformer(g: GraphBuilder, sam: ModuleWeights, tokens: string, imageKeys: string, pe: string, depth: number, heads: number): [string, string] {
  let queries = tokens;
  let keys = imageKeys;
  for (let i = 0; i < depth; i++) [queries, keys] = g.scope(`layer${i}`, () => twoWayBlock(g, sam, i, queries, keys, tokens, pe, heads));
  const final = decoderAttention(g, sam, "mask_decoder.transformer.final_attn_token_to_image", g.add(queries, tokens), g.add(keys, pe), keys, heads);
  return [layerNorm(g, sam, "mask_decoder.transformer.norm_final_attn", g.add(queries, final), SAM_LAYER_NORM_EPS), keys];
}

/** get_dense_pe as [grid², C] rows: [sin, cos] of 2π · coords · gaussian matrix, in float32 whatever the graph's precision. */
export function densePositionalEncoding(g: GraphBuilder, sam: ModuleWeights, grid: number): string {
  const name = "prompt_encoder.pe_layer.positional_encoding_gaussian_matrix";
  const coords = g.initializer("dense_pe_coords", "float32", [grid * grid, 2], denseCoordinateGrid(grid));
  const gaussian = g.initializer(name, "float32", sam.dims(name, 2), () => sam.read(name));
  const angles = g.mul(g.matMul(coords, gaussian), g.constant("float32", [], Float32Array.of(2 * Math.PI)));
  return g.cast(g.concat([g.sin(angles), g.cos(angles)], -1), "float", "dense_pe_rows");
}

/**
 * GLaMM's mask head as one graph, batched over N [SEG] prompts on one image: text_hidden_fcs, the prompt encoder with
 * the projection as the only sparse prompt and the no-mask dense embedding, SAM's two-way transformer and single-mask
 * output. Inputs `seg_hidden_states` [N, hidden], `image_embeddings` [1, C, grid, grid]; outputs `low_res_masks`
 * [N, 1, 4·grid, 4·grid], `iou_predictions` [N, 1], `text_hidden_fcs_out` [N, C], `sparse_embeddings` [N, 1, C],
 * `dense_embeddings_first_pixel` [N, C], `dense_pe` [1, C, grid, grid].
 */
export function buildMaskDecoder(source: WeightSource, config: SamConfig, options: SamGraphOptions = {}): { graph: GraphBuilder; spec: MaskDecoderSpec } {
  const sam = locateSam(source);
  const fcs = ModuleWeights.locate(source, "text_hidden_fcs.0.0.weight", "[SEG] projection (text_hidden_fcs)");
  const spec = maskDecoderSpec(sam, fcs, config);
  const { promptDim: c, grid, numMaskTokens, maskSize } = spec;
  const g = new GraphBuilder({ name: "glamm_mask_decoder", ...options });
  const hidden = g.input("seg_hidden_states", "float32", ["n_seg", spec.hiddenSize]);
  const imageEmbeddings = g.input("image_embeddings", "float32", [1, c, grid, grid]);

  const projected = linear(g, fcs, "text_hidden_fcs.0.2", g.relu(linear(g, fcs, "text_hidden_fcs.0.0", hidden)));
  const sparse = g.unsqueeze(projected, [1]);
  const batchDims = g.shape(hidden, 0, 1);
  const outputTokens = g.concat([sam.weight(g, "mask_decoder.iou_token.weight"), sam.weight(g, "mask_decoder.mask_tokens.weight")], 0);
  const tokenShape = g.concat([batchDims, g.ints([1 + numMaskTokens, c])], 0);
  const tokens = g.concat([g.expand(outputTokens, tokenShape), sparse], 1, "tokens");

  // The image side is shared by every prompt: [1, grid², C], broadcast against the prompts in the first layer.
  const noMaskEmbed = sam.weight(g, "prompt_encoder.no_mask_embed.weight");
  const noMask = g.reshape(noMaskEmbed, [1, c, 1, 1]);
  let keys = g.transpose(g.reshape(g.add(imageEmbeddings, noMask), [1, c, grid * grid]), [0, 2, 1]);
  const pe = densePositionalEncoding(g, sam, grid);
  let queries: string;
  [queries, keys] = twoWayTransformer(g, sam, tokens, keys, pe, spec.depth, spec.numHeads);

  const upscaled = upscale(g, sam, g.reshape(g.transpose(keys, [0, 2, 1]), [-1, c, grid, grid]));
  const upscaledDim = sam.dims("mask_decoder.output_upscaling.3.weight", 4)[1];
  const tokenAt = (i: number) => g.gather(queries, g.ints([i], []), 1);
  // multimask_output=False keeps mask token 0 only, so only its hypernetwork is evaluated.
  const hyper = g.unsqueeze(samMlp(g, sam, "mask_decoder.output_hypernetworks_mlps.0", tokenAt(1)), [1]);
  const masks = g.matMul(hyper, g.reshape(upscaled, [0, upscaledDim, maskSize * maskSize]));
  const iou = samMlp(g, sam, "mask_decoder.iou_prediction_head", tokenAt(0));

  g.output(projected, "text_hidden_fcs_out", "float32", ["n_seg", c]);
  g.output(sparse, "sparse_embeddings", "float32", ["n_seg", 1, c]);
  // The dense prompt is the no-mask embedding at every pixel; its value at (0, 0) per prompt, as the oracle records it.
  g.output(g.expand(noMaskEmbed, g.concat([batchDims, g.ints([c])], 0)), "dense_embeddings_first_pixel", "float32", ["n_seg", c]);
  g.output(g.transpose(g.reshape(pe, [1, grid, grid, c]), [0, 3, 1, 2]), "dense_pe", "float32", [1, c, grid, grid]);
  g.output(g.reshape(masks, [-1, 1, maskSize, maskSize]), "low_res_masks", "float32", ["n_seg", 1, maskSize, maskSize]);
  g.output(g.slice(iou, [0], [1], [1]), "iou_predictions", "float32", ["n_seg", 1]);
  return { graph: g, spec };
}

/** output_upscaling: ConvTranspose → LayerNorm2d → GELU → ConvTranspose → GELU. */
export function upscale(g: GraphBuilder, sam: ModuleWeights, x: string): string {
  const deconv = (i: number, input: string) => {
    const name = `mask_decoder.output_upscaling.${i}`;
    const [, , kh, kw] = sam.dims(`${name}.weight`, 4);
    return g.convTranspose(input, sam.weight(g, `${name}.weight`), sam.weight(g, `${name}.bias`), { strides: [kh, kw] });
  };
  const first = g.gelu(layerNorm2d(g, sam, "mask_decoder.output_upscaling.1", deconv(0, x)));
  return g.gelu(deconv(3, first));
}
