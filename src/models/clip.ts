import { join } from "node:path";
import { readJsonObject } from "../util/json.ts";
import { modelError } from "../cli/errors.ts";
import { GraphBuilder } from "../graph/builder.ts";
import type { WeightSource } from "../weights/index.ts";
import { regionEncoderShape } from "./region-encoder.ts";
import { mmProjector, projectorLayers } from "./projector.ts";
import { checkpointWeight, tensorShape, torchLayerNorm, torchLinear } from "./torch-nn.ts";

const VISION = "vision_model";
const PROJECTOR = "model.mm_projector";

/** CLIPVisionConfig values the checkpoint's tensor shapes do not carry (transformers defaults when absent). */
export interface ClipVisionConfig {
  numLayers: number;
  numHeads: number;
  layerNormEps: number;
  hiddenAct: "quick_gelu" | "gelu";
}

/** CLIP vision sizes read from the tensor shapes. */
export interface ClipVisionShape {
  hidden: number;
  channels: number;
  patchSize: number;
  /** Patches per side of the (square) input. */
  grid: number;
  imageSize: number;
  intermediate: number;
}

type Json = Record<string, unknown>;

function numberField(json: Json, key: string, fallback: number, source: string, integer: boolean): number {
  const value = json[key] ?? fallback;
  if (typeof value !== "number" || !(integer ? Number.isInteger(value) && value > 0 : value > 0)) {
    throw modelError(`${source}: invalid "${key}": ${JSON.stringify(value)}`);
  }
  return value;
}

/** The vision part of a CLIP config.json (CLIPModel's vision_config, or a CLIPVisionModel config). */
export function parseClipVisionConfig(json: Json, source: string): ClipVisionConfig {
  const vision = (json.vision_config ?? (json.model_type === "clip_vision_model" ? json : undefined)) as Json | undefined;
  if (typeof vision !== "object" || vision === null) throw modelError(`${source} has no vision_config`);
  const hiddenAct = vision.hidden_act ?? "quick_gelu";
  if (hiddenAct !== "quick_gelu" && hiddenAct !== "gelu") throw modelError(`${source}: unsupported hidden_act ${JSON.stringify(hiddenAct)}`);
  return {
    numLayers: numberField(vision, "num_hidden_layers", 12, source, true),
    numHeads: numberField(vision, "num_attention_heads", 12, source, true),
    layerNormEps: numberField(vision, "layer_norm_eps", 1e-5, source, false),
    hiddenAct,
  };
}

export function loadClipVisionConfig(dir: string): ClipVisionConfig {
  const path = join(dir, "config.json");
  return parseClipVisionConfig(readJsonObject(path), path);
}

export function clipVisionShape(weights: WeightSource): ClipVisionShape {
  const [hidden, channels, patchSize, patchWidth] = tensorShape(weights, `${VISION}.embeddings.patch_embedding.weight`, 4);
  const [tokens] = tensorShape(weights, `${VISION}.embeddings.position_embedding.weight`, 2);
  const grid = Math.round(Math.sqrt(tokens - 1));
  if (patchSize !== patchWidth || grid * grid !== tokens - 1) throw modelError(`CLIP checkpoint: ${tokens} positions and ${patchSize}x${patchWidth} patches do not make a square grid`);
  const [intermediate] = tensorShape(weights, `${VISION}.encoder.layers.0.mlp.fc1.weight`, 2);
  return { hidden, channels, patchSize, grid, imageSize: grid * patchSize, intermediate };
}

/** GLaMM config.json settings that decide which CLIP hidden states are read. */
export interface GlammVisionSettings {
  /** mm_vision_select_layer: a Python index into the hidden states (embeddings = 0). */
  selectLayer: number;
  /** "patch" drops the CLS token, "cls_patch" keeps it. */
  selectFeature: "patch" | "cls_patch";
  withRegion: boolean;
  /** num_level_reg_features. */
  regionLevels: number;
}

export function glammVisionSettings(config: Json, source = "GLaMM config"): GlammVisionSettings {
  const selectLayer = config.mm_vision_select_layer ?? -2;
  if (!Number.isInteger(selectLayer)) throw modelError(`${source}: invalid "mm_vision_select_layer": ${JSON.stringify(selectLayer)}`);
  const selectFeature = config.mm_vision_select_feature ?? "patch";
  if (selectFeature !== "patch" && selectFeature !== "cls_patch") throw modelError(`${source}: unsupported mm_vision_select_feature ${JSON.stringify(selectFeature)}`);
  return {
    selectLayer: selectLayer as number,
    selectFeature,
    withRegion: config.with_region !== false,
    regionLevels: numberField(config, "num_level_reg_features", 4, source, true),
  };
}

/** Resolves a Python (possibly negative) index into `count` hidden states. */
export function hiddenStateIndex(index: number, count: number): number {
  const resolved = index < 0 ? index + count : index;
  if (resolved < 0 || resolved >= count) throw modelError(`hidden state index ${index} is out of range for ${count} hidden states`);
  return resolved;
}

/** Hidden-state indices of the region encoder levels, finest first: Python `hidden_states[select::-3][::-1][-levels:]`. */
export function regionLevelIndices(selectLayer: number, levels: number, count: number): number[] {
  const picked: number[] = [];
  for (let i = hiddenStateIndex(selectLayer, count); i >= 0; i -= 3) picked.unshift(i);
  return picked.slice(Math.max(picked.length - levels, 0));
}

/** One CLIPEncoderLayer (pre-norm attention and MLP) at `prefix`; the text encoder's attention is causal. */
export function clipEncoderLayer(g: GraphBuilder, weights: WeightSource, config: Pick<ClipVisionConfig, "numHeads" | "layerNormEps" | "hiddenAct">, prefix: string, x: string, causal = false): string {
  const norm = (name: string, value: string) => torchLayerNorm(g, weights, `${prefix}.${name}`, value, config.layerNormEps);
  const h = norm("layer_norm1", x);
  const [q, k, v] = ["q_proj", "k_proj", "v_proj"].map((name) => torchLinear(g, weights, `${prefix}.self_attn.${name}`, h));
  // One com.microsoft node for split heads, scaled scores, softmax and merge (default scale 1/√headDim, as CLIP's).
  const attended = g.multiHeadAttention(q, k, v, { numHeads: config.numHeads, causal });
  const afterAttention = g.add(x, torchLinear(g, weights, `${prefix}.self_attn.out_proj`, attended));
  const fc1 = torchLinear(g, weights, `${prefix}.mlp.fc1`, norm("layer_norm2", afterAttention));
  const activated = config.hiddenAct === "gelu" ? g.gelu(fc1) : g.quickGelu(fc1);
  return g.add(afterAttention, torchLinear(g, weights, `${prefix}.mlp.fc2`, activated));
}

/**
 * CLIPVisionTransformer on pixel values [1, C, S, S] up to the deepest requested hidden state (transformers numbering:
 * 0 = embeddings after pre_layrnorm, i = output of layer i). Returns each requested state [1, 1 + grid², hidden].
 */
export function clipHiddenStates(g: GraphBuilder, weights: WeightSource, config: ClipVisionConfig, pixelValues: string, wanted: readonly number[]): Map<number, string> {
  const shape = clipVisionShape(weights);
  if (shape.hidden % config.numHeads !== 0) throw modelError(`CLIP width ${shape.hidden} is not divisible by ${config.numHeads} heads`);
  const e = `${VISION}.embeddings`;
  const patches = g.conv(pixelValues, checkpointWeight(g, weights, `${e}.patch_embedding.weight`, 4), undefined, { strides: [shape.patchSize, shape.patchSize] });
  const tokens = g.transpose(g.reshape(patches, [1, shape.hidden, shape.grid * shape.grid]), [0, 2, 1]);
  const cls = g.weight(`${e}.class_embedding`, [1, 1, shape.hidden], () => weights.read(`${e}.class_embedding`));
  const embedded = g.add(g.concat([cls, tokens], 1), checkpointWeight(g, weights, `${e}.position_embedding.weight`, 2));
  let x = torchLayerNorm(g, weights, `${VISION}.pre_layrnorm`, embedded, config.layerNormEps);

  const states = new Map<number, string>();
  const deepest = Math.max(...wanted);
  if (deepest > config.numLayers) throw modelError(`hidden state ${deepest} needs ${deepest} CLIP layers; the config has ${config.numLayers}`);
  if (wanted.includes(0)) states.set(0, x);
  for (let layer = 1; layer <= deepest; layer++) {
    x = g.scope(`clip_layer${layer - 1}`, () => clipEncoderLayer(g, weights, config, `${VISION}.encoder.layers.${layer - 1}`, x));
    if (wanted.includes(layer)) states.set(layer, x);
  }
  return states;
}

export interface ClipGraphOptions {
  floatType?: "float32" | "float16";
  weightType?: "float32" | "float16";
  /** "int8": Linear layers (encoder and projector) as int8 weights × dynamically quantized activations. */
  linearWeights?: "float" | "int8";
  /** Also output these hidden states in full (CLS included) as `hidden_state_<i>`, and the projector input as `select_feature`. */
  traceHiddenStates?: readonly number[];
}

/**
 * The image side of GLaMM as one graph: `pixel_values` [1, C, S, S] → `image_features` [1, tokens, hidden] (the rows
 * that replace `<image>`) and, when the model has a region encoder, its inputs `region_level_<k>` [1, grid², width]
 * (finest first, CLS dropped). Layers after the deepest state used are not built.
 */
export function buildClipGraph(clip: WeightSource, config: ClipVisionConfig, glamm: WeightSource, settings: GlammVisionSettings, options: ClipGraphOptions = {}): GraphBuilder {
  const shape = clipVisionShape(clip);
  const count = config.numLayers + 1;
  const select = hiddenStateIndex(settings.selectLayer, count);
  const levels = settings.withRegion ? regionLevelIndices(settings.selectLayer, settings.regionLevels, count) : [];
  const traced = (options.traceHiddenStates ?? []).map((i) => hiddenStateIndex(i, count));
  if (settings.withRegion && regionEncoderShape(glamm).levels !== levels.length) {
    throw modelError(`the region encoder has ${regionEncoderShape(glamm).levels} levels but the config selects ${levels.length} CLIP hidden states (${levels.join(", ")})`);
  }

  const g = new GraphBuilder({ name: "clip_vision", floatType: options.floatType, weightType: options.weightType, linearWeights: options.linearWeights });
  const pixels = g.input("pixel_values", "float32", [1, shape.channels, shape.imageSize, shape.imageSize]);
  const states = clipHiddenStates(g, clip, config, pixels, [select, ...levels, ...traced]);
  const tokens = shape.grid * shape.grid;
  const dropCls = (state: string) => g.slice(state, [1], [tokens + 1], [1]);

  const selected = settings.selectFeature === "patch" ? dropCls(states.get(select)!) : states.get(select)!;
  const features = mmProjector(g, glamm, selected, PROJECTOR);
  const [hidden] = tensorShape(glamm, `${projectorLayers(glamm, PROJECTOR).at(-1)}.weight`, 2);
  const rows = settings.selectFeature === "patch" ? tokens : tokens + 1;
  g.output(features, "image_features", "float32", [1, rows, hidden]);
  levels.forEach((index, k) => g.output(dropCls(states.get(index)!), `region_level_${k}`, "float32", [1, tokens, shape.hidden]));
  if (options.traceHiddenStates) {
    g.output(selected, "select_feature", "float32", [1, rows, shape.hidden]);
    for (const index of new Set(traced)) g.output(states.get(index)!, `hidden_state_${index}`, "float32", [1, tokens + 1, shape.hidden]);
  }
  return g;
}
