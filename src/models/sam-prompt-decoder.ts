import { modelError } from "../cli/errors.ts";
import { GraphBuilder } from "../graph/builder.ts";
import type { WeightSource } from "../weights/index.ts";
import { densePositionalEncoding, twoWayTransformer, upscale, type MaskDecoderSpec } from "./mask-decoder.ts";
import { samMlp, type ModuleWeights, type SamConfig } from "./sam-common.ts";
import { locateSam, type SamGraphOptions } from "./sam-encoder.ts";

/** Sizes of SAM's prompt encoder and mask decoder, read from the checkpoint (GLaMM's spec without the LLM side). */
export type PointDecoderSpec = Omit<MaskDecoderSpec, "hiddenSize">;

export const POINT_DECODER_IO = {
  imageEmbeddings: "image_embeddings",
  /** [N, P, 2] float32 (x, y) in the resized-input frame, before SAM's +0.5 shift. */
  pointCoords: "point_coords",
  /** [N, P] int64: 1 foreground, 0 background, -1 ignored. */
  pointLabels: "point_labels",
  /** [N, numMaskTokens - 1, maskSize, maskSize]: the multimask outputs. */
  lowResMasks: "low_res_masks",
  /** [N, numMaskTokens - 1]. */
  iouPredictions: "iou_predictions",
} as const;

export function pointDecoderSpec(sam: ModuleWeights, config: SamConfig): PointDecoderSpec {
  const [, grid] = sam.dims("image_encoder.pos_embed", 4);
  const patchSize = sam.dims("image_encoder.patch_embed.proj.weight", 4)[2];
  const [, promptDim] = sam.dims("prompt_encoder.no_mask_embed.weight", 2);
  const [numMaskTokens] = sam.dims("mask_decoder.mask_tokens.weight", 2);
  if (numMaskTokens < 2) throw modelError(`SAM mask decoder has ${numMaskTokens} mask token(s); multimask output needs at least 2`);
  for (const label of [0, 1]) sam.dims(`prompt_encoder.point_embeddings.${label}.weight`, 2);
  const depth = sam.count("mask_decoder.transformer.layers", "norm1.weight");
  const upscaleFactor = [0, 3].map((i) => sam.dims(`mask_decoder.output_upscaling.${i}.weight`, 4)[2]).reduce((a, b) => a * b, 1);
  return { promptDim, grid, imageSize: grid * patchSize, numMaskTokens, depth, numHeads: config.decoderNumHeads, maskSize: grid * upscaleFactor };
}

/**
 * PromptEncoder._embed_points with pad=True (no box): coords + 0.5, a padding point (0, 0) labelled -1 appended,
 * random-Fourier encoding [sin, cos](2π·(2·xy/imageSize − 1)·G) computed in float32, zeroed for label -1, then the
 * not-a-point / negative / positive embedding added by label. Returns [N, P + 1, C].
 */
function embedPoints(g: GraphBuilder, sam: ModuleWeights, spec: PointDecoderSpec, coords: string, labels: string): string {
  const padPoint = g.expand(g.constant("float32", [1, 1, 2], new Float32Array(2)), g.concat([g.shape(coords, 0, 1), g.ints([1, 2])], 0));
  const padLabel = g.expand(g.ints([-1], [1, 1]), g.concat([g.shape(labels, 0, 1), g.ints([1])], 0));
  const shifted = g.concat([g.add(coords, g.constant("float32", [], Float32Array.of(0.5))), padPoint], 1);
  const allLabels = g.unsqueeze(g.concat([labels, padLabel], 1), [2]);
  const unit = g.sub(g.mul(g.div(shifted, g.constant("float32", [], Float32Array.of(spec.imageSize))), g.constant("float32", [], Float32Array.of(2))), g.constant("float32", [], Float32Array.of(1)));
  const name = "prompt_encoder.pe_layer.positional_encoding_gaussian_matrix";
  const gaussian = g.initializer(name, "float32", sam.dims(name, 2), () => sam.read(name));
  const angles = g.mul(g.matMul(unit, gaussian), g.constant("float32", [], Float32Array.of(2 * Math.PI)));
  const encoding = g.cast(g.concat([g.sin(angles), g.cos(angles)], -1), "float");
  const labelIs = (value: number) => g.cast(g.equal(allLabels, g.ints([value], [])), "float");
  const embedding = (weight: string) => g.reshape(sam.weight(g, weight), [1, 1, spec.promptDim]);
  return [
    g.mul(encoding, g.sub(g.scalar(1), labelIs(-1))),
    g.mul(labelIs(-1), embedding("prompt_encoder.not_a_point_embed.weight")),
    g.mul(labelIs(0), embedding("prompt_encoder.point_embeddings.0.weight")),
    g.mul(labelIs(1), embedding("prompt_encoder.point_embeddings.1.weight")),
  ].reduce((sum, term) => g.add(sum, term));
}

/**
 * segment-anything's point-prompt path (SamPredictor.predict_torch with points, no box, no mask input,
 * multimask_output=True) as one graph, batched over N prompts on one image embedding: prompt encoder, the no-mask
 * dense embedding, the two-way transformer, and mask outputs 1..M-1 with their IoU predictions. Inputs and outputs are
 * named in POINT_DECODER_IO. Works on the official key names (image_encoder.*, prompt_encoder.*, mask_decoder.*).
 */
export function buildSamPointDecoder(source: WeightSource, config: SamConfig, options: SamGraphOptions = {}): { graph: GraphBuilder; spec: PointDecoderSpec } {
  const sam = locateSam(source);
  const spec = pointDecoderSpec(sam, config);
  const { promptDim: c, grid, numMaskTokens, maskSize } = spec;
  const io = POINT_DECODER_IO;
  const g = new GraphBuilder({ name: "sam_point_decoder", ...options });
  const imageEmbeddings = g.input(io.imageEmbeddings, "float32", [1, c, grid, grid]);
  g.input(io.pointCoords, "float32", ["n", "points", 2]);
  const labels = g.input(io.pointLabels, "int64", ["n", "points"]);
  // The raw float32 coordinates (not the float16 copy of a float16 graph): the Fourier features need full precision.
  const sparse = embedPoints(g, sam, spec, io.pointCoords, labels);

  const outputTokens = g.concat([sam.weight(g, "mask_decoder.iou_token.weight"), sam.weight(g, "mask_decoder.mask_tokens.weight")], 0);
  const tokens = g.concat([g.expand(outputTokens, g.concat([g.shape(labels, 0, 1), g.ints([1 + numMaskTokens, c])], 0)), sparse], 1, "tokens");
  const noMask = g.reshape(sam.weight(g, "prompt_encoder.no_mask_embed.weight"), [1, c, 1, 1]);
  const imageKeys = g.transpose(g.reshape(g.add(imageEmbeddings, noMask), [1, c, grid * grid]), [0, 2, 1]);
  const [queries, keys] = twoWayTransformer(g, sam, tokens, imageKeys, densePositionalEncoding(g, sam, grid), spec.depth, spec.numHeads);

  const upscaled = upscale(g, sam, g.reshape(g.transpose(keys, [0, 2, 1]), [-1, c, grid, grid]));
  const upscaledDim = sam.dims("mask_decoder.output_upscaling.3.weight", 4)[1];
  const tokenAt = (i: number) => g.gather(queries, g.ints([i], []), 1);
  const multimask = Array.from({ length: numMaskTokens - 1 }, (_, k) => k + 1);
  const hyper = g.concat(
    multimask.map((i) => g.unsqueeze(samMlp(g, sam, `mask_decoder.output_hypernetworks_mlps.${i}`, tokenAt(1 + i)), [1])),
    1,
  );
  const masks = g.matMul(hyper, g.reshape(upscaled, [0, upscaledDim, maskSize * maskSize]));
  const iou = samMlp(g, sam, "mask_decoder.iou_prediction_head", tokenAt(0));
  g.output(g.reshape(masks, [-1, numMaskTokens - 1, maskSize, maskSize]), io.lowResMasks, "float32", ["n", numMaskTokens - 1, maskSize, maskSize]);
  g.output(g.slice(iou, [1], [numMaskTokens], [1]), io.iouPredictions, "float32", ["n", numMaskTokens - 1]);
  return { graph: g, spec };
}
