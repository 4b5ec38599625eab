import { usageError } from "../cli/errors.ts";
import type { GraphBuilder } from "../graph/builder.ts";
import { buildClipGraph, type ClipVisionConfig } from "../models/clip.ts";
import { buildRegionEncoderGraph } from "../models/region-encoder.ts";
import { ort } from "../runtime/ort.ts";
import { benchFloatType, benchLinearWeights, temporarySession } from "./random-weights.ts";
import { RandomWeights } from "../weights/random.ts";
import type { Benchmark, PreparedBenchmark } from "./runner.ts";
import { countParam } from "./params.ts";

// Real GLaMM sizes: CLIP ViT-L/14 at 336, a 4096-wide LLaMA, the official region encoder (widths 1024 / 256).
const CLIP = { width: 1024, layers: 24, heads: 16, mlp: 4096, patch: 14, image: 336 };
const LLM_HIDDEN = 4096;
const REGION = { levels: 4, width: 1024, posHidden: 256, mid: 1024, roi: 14, gnGroups: 64 };
const GRID = CLIP.image / CLIP.patch;

function clipShapes(layers: number): Map<string, number[]> {
  const { width, mlp, patch } = CLIP;
  const shapes = new Map<string, number[]>([
    ["vision_model.embeddings.patch_embedding.weight", [width, 3, patch, patch]],
    ["vision_model.embeddings.class_embedding", [width]],
    ["vision_model.embeddings.position_embedding.weight", [GRID * GRID + 1, width]],
    ["vision_model.pre_layrnorm.weight", [width]],
    ["vision_model.pre_layrnorm.bias", [width]],
    ["model.mm_projector.0.weight", [LLM_HIDDEN, width]],
    ["model.mm_projector.0.bias", [LLM_HIDDEN]],
    ["model.mm_projector.2.weight", [LLM_HIDDEN, LLM_HIDDEN]],
    ["model.mm_projector.2.bias", [LLM_HIDDEN]],
  ]);
  for (let l = 0; l < layers; l++) {
    const p = `vision_model.encoder.layers.${l}`;
    for (const norm of ["layer_norm1", "layer_norm2"]) for (const k of ["weight", "bias"]) shapes.set(`${p}.${norm}.${k}`, [width]);
    for (const proj of ["q_proj", "k_proj", "v_proj", "out_proj"]) {
      shapes.set(`${p}.self_attn.${proj}.weight`, [width, width]);
      shapes.set(`${p}.self_attn.${proj}.bias`, [width]);
    }
    shapes.set(`${p}.mlp.fc1.weight`, [mlp, width]).set(`${p}.mlp.fc1.bias`, [mlp]);
    shapes.set(`${p}.mlp.fc2.weight`, [width, mlp]).set(`${p}.mlp.fc2.bias`, [width]);
  }
  return shapes;
}

function regionShapes(): Map<string, number[]> {
  const { levels, width, posHidden, mid, roi } = REGION;
  const p = "model.region_encoder";
  const shapes = new Map<string, number[]>();
  for (let l = 0; l < levels; l++) {
    shapes.set(`${p}.mlvl_fuse.input_conv.${l}.weight`, [width, CLIP.width + 2, 1, 1]).set(`${p}.mlvl_fuse.input_conv.${l}.bias`, [width]);
    shapes.set(`${p}.roi_align.pconvs.${l}.weight`, [width, width, 3, 3]).set(`${p}.roi_align.pconvs.${l}.bias`, [width]);
  }
  for (let round = 0; round < 5; round++) {
    shapes.set(`${p}.mlvl_fuse.fuse_convs.${round}.conv.weight`, [width, width, 3, 3]);
    shapes.set(`${p}.mlvl_fuse.fuse_convs.${round}.gn.weight`, [width]).set(`${p}.mlvl_fuse.fuse_convs.${round}.gn.bias`, [width]);
  }
  const linears: [string, number, number][] = [
    ["pos_embedd.0", posHidden, 4],
    ["pos_embedd.3", mid, posHidden],
    ["updims", LLM_HIDDEN, mid],
    ["flatten_linear", mid, width * roi * roi],
  ];
  for (const [name, out, inp] of linears) shapes.set(`${p}.roi_align.${name}.weight`, [out, inp]).set(`${p}.roi_align.${name}.bias`, [out]);
  for (const norm of ["pos_embedd.2", "pos_embedd.5"]) {
    const size = norm === "pos_embedd.2" ? posHidden : mid;
    shapes.set(`${p}.roi_align.${norm}.weight`, [size]).set(`${p}.roi_align.${norm}.bias`, [size]);
  }
  return shapes;
}

const pseudoRandom = (count: number) => Float32Array.from({ length: count }, (_, i) => Math.sin(i * 12.9898) * 0.5);

export const clipBenchmark: Benchmark = {
  name: "clip",
  description: "CLIP ViT-L/14-336 (23 of 24 layers, select layer -2) + mm_projector to 4096, random weights (params dtype=float32|float16, linears=float|int8)",
  async prepare({ device, params }): Promise<PreparedBenchmark> {
    const config: ClipVisionConfig = { numLayers: CLIP.layers, numHeads: CLIP.heads, layerNormEps: 1e-5, hiddenAct: "quick_gelu" };
    // The region encoder shapes are only looked at (its level count), never read.
    const weights = new RandomWeights(new Map([...clipShapes(CLIP.layers), ...regionShapes()]));
    const settings = { selectLayer: -2, selectFeature: "patch" as const, withRegion: true, regionLevels: REGION.levels };
    const { session, dispose } = await temporarySession(buildClipGraph(weights, config, weights, settings, { floatType: benchFloatType(params), linearWeights: benchLinearWeights(params) }), device);
    const pixels = new ort.Tensor("float32", pseudoRandom(3 * CLIP.image * CLIP.image), [1, 3, CLIP.image, CLIP.image]);
    return { run: async () => void (await session.run({ pixel_values: pixels })), dispose, unit: { name: "image", perRun: 1 } };
  },
};

/** The region encoder at GLaMM's sizes with random weights. */
export function regionEncoderGraph(floatType: "float32" | "float16" = "float32", linearWeights: "float" | "int8" = "float"): GraphBuilder {
  return buildRegionEncoderGraph(new RandomWeights(regionShapes()), { gnGroups: REGION.gnGroups }, { grid: GRID, floatType, linearWeights });
}

export const regionEncoderBenchmark: Benchmark = {
  name: "region-encoder",
  description: "GLaMM region encoder (4 levels up to 192², widths 1024/256, output 4096), random weights (params dtype=float32|float16, linears=float|int8, boxes=N, default 2)",
  async prepare({ device, params }): Promise<PreparedBenchmark> {
    const boxes = countParam(params, "boxes", 2);
    if (!Number.isInteger(boxes) || boxes < 1) throw usageError(`boxes must be a positive integer, not ${params.boxes}`);
    const { session, dispose } = await temporarySession(regionEncoderGraph(benchFloatType(params), benchLinearWeights(params)), device);
    const feeds: Record<string, ort.Tensor> = {
      bboxes: new ort.Tensor("float32", Float32Array.from({ length: boxes * 4 }, (_, i) => [0.1, 0.2, 0.6, 0.7][i % 4]), [boxes, 4]),
    };
    for (let l = 0; l < REGION.levels; l++) feeds[`region_level_${l}`] = new ort.Tensor("float32", pseudoRandom(GRID * GRID * CLIP.width), [1, GRID * GRID, CLIP.width]);
    return { run: async () => void (await session.run(feeds)), dispose, unit: { name: "image", perRun: 1 } };
  },
};
