import { modelError } from "../cli/errors.ts";
import { GraphBuilder } from "../graph/builder.ts";
import type { WeightSource } from "../weights/index.ts";
import { clipHiddenStates, clipVisionShape, type ClipVisionConfig } from "./clip.ts";
import { checkpointWeight, tensorShape, torchLayerNorm, torchLinear } from "./torch-nn.ts";

const PROJECTOR = "model.mm_projector";
/** The CLIP statistics sd_to_clip_img hard-codes. */
const CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073];
const CLIP_STD = [0.26862954, 0.26130258, 0.27577711];

export interface DiffLmmGraphOptions {
  floatType?: "float32" | "float16";
  weightType?: "float32" | "float16";
}

/** Linear → GELU → Linear of `prefix.0` and `prefix.2`. */
function mlp2(g: GraphBuilder, weights: WeightSource, prefix: string, x: string): string {
  return torchLinear(g, weights, `${prefix}.2`, g.gelu(torchLinear(g, weights, `${prefix}.0`, x)));
}

const hasPe = (weights: WeightSource, name: string) => weights.has(`${PROJECTOR}.${name}`);

/**
 * SDCLIPFeaturizer's CLIP side as one graph: `pixel_values` [1, 3, R, R] (the processor output) → bilinear to R·7/8,
 * un-normalised from [-1, 1] and CLIP-normalised (`clip_pixel_values`) → CLIP hidden_states[-2] without CLS
 * (`clip_patch_features`) → clip_projector (`clip_projected`) + clip_pe → `prompt_embeds`, the UNet's context.
 */
export function buildDiffLmmClipGraph(clip: WeightSource, config: ClipVisionConfig, model: WeightSource, resolution: number, options: DiffLmmGraphOptions = {}): GraphBuilder {
  const shape = clipVisionShape(clip);
  const side = Math.floor((resolution * 7) / 8);
  if (side !== shape.imageSize) throw modelError(`mm_vision_resolution ${resolution} gives CLIP ${side}x${side} inputs; the CLIP checkpoint takes ${shape.imageSize}`);
  const g = new GraphBuilder({ name: "difflmm_clip", ...options });
  const pixels = g.input("pixel_values", "float32", [1, shape.channels, resolution, resolution]);
  const resized = g.resize(pixels, { sizes: [1, shape.channels, side, side], mode: "linear", coordinateTransformationMode: "half_pixel" });
  const column = (values: number[]) => g.floats(values, [1, 3, 1, 1]);
  const unit = g.add(g.mul(resized, g.scalar(0.5)), g.scalar(0.5));
  const clipPixels = g.div(g.sub(unit, column(CLIP_MEAN)), column(CLIP_STD));
  g.output(clipPixels, "clip_pixel_values", "float32");
  const layer = config.numLayers - 1;
  const tokens = shape.grid * shape.grid;
  const patches = g.slice(clipHiddenStates(g, clip, config, clipPixels, [layer]).get(layer)!, [1], [tokens + 1], [1]);
  g.output(patches, "clip_patch_features", "float32");
  const projected = mlp2(g, model, `${PROJECTOR}.clip_projector`, patches);
  g.output(projected, "clip_projected", "float32");
  const context = hasPe(model, "clip_pe") ? g.add(projected, checkpointWeight(g, model, `${PROJECTOR}.clip_pe`, 2)) : projected;
  g.output(context, "prompt_embeds", "float32");
  return g;
}

/** The SDCLIPBlock settings of a DiffLMM config.json. */
export interface SdClipBlockSettings {
  /** mm_vision_select_layer: the up-block feature the projector reads. */
  selectLayer: number;
  concatClip: boolean;
}

/**
 * SDCLIPBlock (the DiffLMM mm_projector) as one graph: `up_ft` [1, C, g, g] → LayerNorm over channels
 * (`proj_sd_norm`, NHWC) → 1x1 conv + GELU (`proj_sd_branch`) → concatenated per cell with `clip_patch_features`
 * [1, g², W] → Linear-GELU-Linear (`proj_linear`) + vt_pe → `image_features` [1, g², hidden].
 */
export function buildSdClipBlockGraph(model: WeightSource, upChannels: number, grid: number, clipWidth: number, settings: SdClipBlockSettings, options: DiffLmmGraphOptions = {}): GraphBuilder {
  const g = new GraphBuilder({ name: "difflmm_projector", ...options });
  const [normWidth] = tensorShape(model, `${PROJECTOR}.sd_norm_layer.weight`, 1);
  if (normWidth !== upChannels) throw modelError(`the projector normalises ${normWidth} channels but UNet up block ${settings.selectLayer} gives ${upChannels}`);
  const upFt = g.input("up_ft", "float32", [1, upChannels, grid, grid]);
  const clipFeatures = g.input("clip_patch_features", "float32", [1, grid * grid, clipWidth]);
  const normed = torchLayerNorm(g, model, `${PROJECTOR}.sd_norm_layer`, g.transpose(upFt, [0, 2, 3, 1]), 1e-5);
  g.output(normed, "proj_sd_norm", "float32");
  const conv = `${PROJECTOR}.sd_proj_layer.0`;
  const branch = g.gelu(g.conv(g.transpose(normed, [0, 3, 1, 2]), checkpointWeight(g, model, `${conv}.weight`, 4), checkpointWeight(g, model, `${conv}.bias`, 1)));
  g.output(branch, "proj_sd_branch", "float32");
  const rows = g.transpose(g.reshape(branch, [0, 0, -1]), [0, 2, 1]);
  const joined = settings.concatClip ? g.concat([rows, clipFeatures], 2) : rows;
  const [, linearIn] = tensorShape(model, `${PROJECTOR}.linear.0.weight`, 2);
  const [branchWidth] = tensorShape(model, `${conv}.weight`, 4);
  if (linearIn !== branchWidth + (settings.concatClip ? clipWidth : 0)) throw modelError(`the projector's linear takes ${linearIn} features; the SD branch and CLIP give ${branchWidth} + ${settings.concatClip ? clipWidth : 0}`);
  const projected = mlp2(g, model, `${PROJECTOR}.linear`, joined);
  g.output(projected, "proj_linear", "float32");
  const features = hasPe(model, "vt_pe") ? g.add(projected, checkpointWeight(g, model, `${PROJECTOR}.vt_pe`, 2)) : projected;
  g.output(features, "image_features", "float32");
  return g;
}
