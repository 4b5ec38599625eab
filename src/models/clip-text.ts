import { join } from "node:path";
import { modelError } from "../cli/errors.ts";
import { GraphBuilder } from "../graph/builder.ts";
import { readJsonObject, type JsonObject } from "../util/json.ts";
import type { WeightSource } from "../weights/index.ts";
import { clipEncoderLayer } from "./clip.ts";
import { checkpointWeight, tensorShape, torchLayerNorm, torchLinear } from "./torch-nn.ts";

const TEXT = "text_model";

/** CLIPTextConfig values the tensor shapes do not carry. */
export interface ClipTextConfig {
  numLayers: number;
  numHeads: number;
  layerNormEps: number;
  hiddenAct: "quick_gelu" | "gelu";
  /**
   * eos_token_id: 2 (the SD/SDXL configs) selects transformers' legacy pooling at argmax(input_ids), i.e. the first
   * 49407; any other id pools at the first position holding that id.
   */
  eosTokenId: number;
}

function positive(json: JsonObject, key: string, fallback: number, source: string, integer: boolean): number {
  const value = json[key] ?? fallback;
  if (typeof value !== "number" || !(value > 0) || (integer && !Number.isInteger(value))) throw modelError(`${source}: invalid "${key}": ${JSON.stringify(json[key])}`);
  return value;
}

/** config.json of a transformers CLIPTextModel / CLIPTextModelWithProjection folder. */
export function readClipTextConfig(dir: string): ClipTextConfig {
  const source = join(dir, "config.json");
  const json = readJsonObject(source);
  const hiddenAct = json.hidden_act ?? "quick_gelu";
  if (hiddenAct !== "quick_gelu" && hiddenAct !== "gelu") throw modelError(`${source}: hidden_act ${JSON.stringify(hiddenAct)} is not supported (quick_gelu, gelu)`);
  const eos = json.eos_token_id ?? 2;
  if (!Number.isInteger(eos)) throw modelError(`${source}: invalid "eos_token_id": ${JSON.stringify(eos)}`);
  return {
    numLayers: positive(json, "num_hidden_layers", 12, source, true),
    numHeads: positive(json, "num_attention_heads", 8, source, true),
    layerNormEps: positive(json, "layer_norm_eps", 1e-5, source, false),
    hiddenAct,
    eosTokenId: eos as number,
  };
}

/** Sizes read from the tensors: width, positions, and the projection width (0 without text_projection). */
export function clipTextShape(weights: WeightSource): { width: number; positions: number; projection: number } {
  const [positions, width] = tensorShape(weights, `${TEXT}.embeddings.position_embedding.weight`, 2);
  const projection = weights.has("text_projection.weight") ? tensorShape(weights, "text_projection.weight", 2)[0] : 0;
  return { width, positions, projection };
}

export const CLIP_TEXT_IO = {
  ids: "input_ids",
  penultimate: "hidden_penultimate",
  last: "last_hidden_state",
  pooled: "text_embeds",
} as const;

/**
 * transformers' CLIPTextModel(WithProjection) on `input_ids` int64 [1, L] with the causal mask and no attention mask,
 * as the SDXL pipeline calls it: `hidden_penultimate` (hidden_states[-2], the second-to-last layer's output, no
 * final LayerNorm), `last_hidden_state` (after final_layer_norm) and, with a text_projection, `text_embeds`
 * (text_projection of the final state at the pooled position).
 */
export function buildClipTextGraph(weights: WeightSource, config: ClipTextConfig, options: { floatType?: "float32" | "float16"; weightType?: "float32" | "float16" } = {}): GraphBuilder {
  const { width, positions, projection } = clipTextShape(weights);
  if (width % config.numHeads !== 0) throw modelError(`CLIP text width ${width} does not split into ${config.numHeads} heads`);
  if (config.numLayers < 2) throw modelError(`the CLIP text encoder has ${config.numLayers} layer; the pipeline reads the second-to-last hidden state`);
  const found = weights.keys().filter((k) => k.startsWith(`${TEXT}.encoder.layers.`) && k.endsWith(".layer_norm1.weight")).length;
  if (found !== config.numLayers) throw modelError(`the CLIP text checkpoint holds ${found} layers; its config says ${config.numLayers}`);
  const g = new GraphBuilder({ name: "clip_text", floatType: options.floatType, weightType: options.weightType });
  const ids = g.input(CLIP_TEXT_IO.ids, "int64", [1, positions]);
  const e = `${TEXT}.embeddings`;
  const tokens = g.gather(checkpointWeight(g, weights, `${e}.token_embedding.weight`, 2), ids);
  let x = g.add(tokens, checkpointWeight(g, weights, `${e}.position_embedding.weight`, 2));
  for (let layer = 0; layer < config.numLayers; layer++) {
    x = g.scope(`text_layer${layer}`, () => clipEncoderLayer(g, weights, config, `${TEXT}.encoder.layers.${layer}`, x, true));
    if (layer === config.numLayers - 2) g.output(x, CLIP_TEXT_IO.penultimate, "float32", [1, positions, width]);
  }
  const last = torchLayerNorm(g, weights, `${TEXT}.final_layer_norm`, x, config.layerNormEps);
  g.output(last, CLIP_TEXT_IO.last, "float32", [1, positions, width]);
  if (projection > 0) {
    // float32 holds every token id exactly, so ArgMax over the cast ids is the first maximum as torch's argmax.
    const marker = config.eosTokenId === 2 ? g.cast(ids, "float32") : g.cast(g.equal(ids, g.ints([config.eosTokenId], [])), "float32");
    const position = g.op("ArgMax", [marker], { axis: 1, keepdims: 0, select_last_index: 0 });
    const pooled = g.gather(g.squeeze(last, [0]), position);
    g.output(torchLinear(g, weights, "text_projection", pooled), CLIP_TEXT_IO.pooled, "float32", [1, projection]);
  }
  return g;
}
