import { existsSync, statSync } from "node:fs";
import { basename, dirname, extname, join } from "node:path";
import { modelError } from "../cli/errors.ts";
import type { SamConfig } from "./sam-common.ts";
import { readJsonObject, type JsonObject } from "../util/json.ts";
import { openWeights, type WeightSource } from "../weights/index.ts";

const isCount = (value: unknown): value is number => Number.isSafeInteger(value) && (value as number) > 0;
const isIndexList = (value: unknown): value is number[] => Array.isArray(value) && value.every((i) => Number.isSafeInteger(i) && i >= 0);

/** segment-anything's build_sam_vit_h (the grounding encoder GLaMM builds) and its mask decoder's 8 heads. */
export const SAM_VIT_H_CONFIG: SamConfig = {
  encoderNumHeads: 16,
  encoderGlobalAttnIndexes: [7, 15, 23, 31],
  windowSize: 14,
  decoderNumHeads: 8,
};

/**
 * The SAM config of a GLaMM config.json: the official ViT-H values, overridden by the reference oracle's
 * `oracle_sam_config` block when present.
 */
export function samConfigFrom(config: Record<string, unknown>): SamConfig {
  const block = config.oracle_sam_config;
  if (block === undefined || block === null) return SAM_VIT_H_CONFIG;
  if (typeof block !== "object") throw modelError("config.json: oracle_sam_config is not an object");
  const given = block as Record<string, unknown>;
  const pick = (key: string, fallback: number): number => {
    const value = given[key] ?? fallback;
    if (!isCount(value)) throw modelError(`config.json: oracle_sam_config.${key} must be a positive integer`);
    return value;
  };
  const indexes = given.encoder_global_attn_indexes ?? SAM_VIT_H_CONFIG.encoderGlobalAttnIndexes;
  if (!isIndexList(indexes)) {
    throw modelError("config.json: oracle_sam_config.encoder_global_attn_indexes must be a list of block indexes");
  }
  return {
    encoderNumHeads: pick("encoder_num_heads", SAM_VIT_H_CONFIG.encoderNumHeads),
    encoderGlobalAttnIndexes: indexes,
    windowSize: pick("window_size", SAM_VIT_H_CONFIG.windowSize),
    decoderNumHeads: pick("decoder_num_heads", SAM_VIT_H_CONFIG.decoderNumHeads),
  };
}

/** segment-anything's sam_model_registry sizes, keyed by the image encoder width that identifies each variant. */
const REGISTRY: Record<number, { variant: string; config: SamConfig }> = {
  768: { variant: "vit_b", config: { encoderNumHeads: 12, encoderGlobalAttnIndexes: [2, 5, 8, 11], windowSize: 14, decoderNumHeads: 8 } },
  1024: { variant: "vit_l", config: { encoderNumHeads: 16, encoderGlobalAttnIndexes: [5, 11, 17, 23], windowSize: 14, decoderNumHeads: 8 } },
  1280: { variant: "vit_h", config: SAM_VIT_H_CONFIG },
};

/** A SAM checkpoint with official segment-anything key names, and the sizes its tensors do not carry. */
export interface SamCheckpoint {
  weights: WeightSource;
  config: SamConfig;
  layout: "segment-anything" | "transformers";
}


type ConfigKeys = Record<keyof SamConfig, [JsonObject, string]>;

/** Where each size sits: the encoder's three in `encoder`, the decoder's head count in `decoder`, under these key names. */
const configKeys = (encoder: JsonObject, decoder: JsonObject, [heads, globalIndexes, window, decoderHeads]: readonly string[]): ConfigKeys => ({
  encoderNumHeads: [encoder, heads],
  encoderGlobalAttnIndexes: [encoder, globalIndexes],
  windowSize: [encoder, window],
  decoderNumHeads: [decoder, decoderHeads],
});

/** Each size from its JSON key, else from `fallback` (the variant's registry values, when the width is an official one). */
function pickConfig(source: string, keys: ConfigKeys, fallback: SamConfig | undefined): SamConfig {
  const read = <K extends keyof SamConfig>(field: K, valid: (v: unknown) => boolean): SamConfig[K] => {
    const [block, key] = keys[field];
    const value = block[key] ?? fallback?.[field];
    if (!valid(value)) throw modelError(`${source}: invalid or missing "${key}": ${JSON.stringify(value)}`);
    return value as SamConfig[K];
  };
  return {
    encoderNumHeads: read("encoderNumHeads", isCount),
    encoderGlobalAttnIndexes: read("encoderGlobalAttnIndexes", isIndexList),
    windowSize: read("windowSize", isCount),
    decoderNumHeads: read("decoderNumHeads", isCount),
  };
}

function registryDefaults(width: number, path: string): SamConfig {
  const entry = REGISTRY[width];
  if (!entry) throw modelError(`${path}: a SAM image encoder of width ${width} is no official variant (vit_b/l/h); put its sizes in ${basename(path, extname(path))}.json beside it`);
  return entry.config;
}

function blockOf(json: JsonObject, key: string): JsonObject {
  const block = json[key];
  return typeof block === "object" && block !== null && !Array.isArray(block) ? (block as JsonObject) : {};
}

/**
 * Key renames of transformers' convert_sam_to_hf.py, inverted: Hugging Face SamModel name -> segment-anything name.
 * MLP layers are handled apart (proj_in / layers.k / proj_out -> layers.0 / layers.k+1 / layers.last).
 */
const HF_RENAMES: Array<[RegExp, string]> = [
  [/^vision_encoder\./, "image_encoder."],
  [/^image_encoder\.layers\./, "image_encoder.blocks."],
  [/\.patch_embed\.projection\./, ".patch_embed.proj."],
  [/\.neck\.conv1\./, ".neck.0."],
  [/\.neck\.layer_norm1\./, ".neck.1."],
  [/\.neck\.conv2\./, ".neck.2."],
  [/\.neck\.layer_norm2\./, ".neck.3."],
  [/^(shared_image_embedding|prompt_encoder\.shared_embedding)\.positional_embedding$/, "prompt_encoder.pe_layer.positional_encoding_gaussian_matrix"],
  [/^prompt_encoder\.point_embed\./, "prompt_encoder.point_embeddings."],
  [/^prompt_encoder\.mask_embed\.conv1\./, "prompt_encoder.mask_downscaling.0."],
  [/^prompt_encoder\.mask_embed\.layer_norm1\./, "prompt_encoder.mask_downscaling.1."],
  [/^prompt_encoder\.mask_embed\.conv2\./, "prompt_encoder.mask_downscaling.3."],
  [/^prompt_encoder\.mask_embed\.layer_norm2\./, "prompt_encoder.mask_downscaling.4."],
  [/^prompt_encoder\.mask_embed\.conv3\./, "prompt_encoder.mask_downscaling.6."],
  [/^mask_decoder\.upscale_conv1\./, "mask_decoder.output_upscaling.0."],
  [/^mask_decoder\.upscale_layer_norm\./, "mask_decoder.output_upscaling.1."],
  [/^mask_decoder\.upscale_conv2\./, "mask_decoder.output_upscaling.3."],
  [/\.layer_norm(\d|_final_attn)/, ".norm$1"],
];

const HF_MLP = /^(mask_decoder\.(?:iou_prediction_head|output_hypernetworks_mlps\.\d+))\.(proj_in|proj_out|layers\.(\d+))\.(weight|bias)$/;

/** The segment-anything name of a Hugging Face SamModel tensor (undefined for tensors SAM has no use for). */
export function officialSamKey(hfKey: string, hiddenMlpLayers: (mlp: string) => number): string {
  const mlp = HF_MLP.exec(hfKey);
  if (mlp) {
    const [, module, part, hidden, kind] = mlp;
    const index = part === "proj_in" ? 0 : part === "proj_out" ? hiddenMlpLayers(module) + 1 : Number(hidden) + 1;
    return `${module}.layers.${index}.${kind}`;
  }
  return HF_RENAMES.reduce((key, [pattern, replacement]) => key.replace(pattern, replacement), hfKey);
}

/** A Hugging Face SamModel state dict seen under segment-anything's key names. */
export function fromTransformersLayout(hf: WeightSource): WeightSource {
  const hiddenCounts = new Map<string, number>();
  for (const key of hf.keys()) {
    const mlp = HF_MLP.exec(key);
    if (mlp?.[3] !== undefined) hiddenCounts.set(mlp[1], Math.max(hiddenCounts.get(mlp[1]) ?? 0, Number(mlp[3]) + 1));
  }
  const toHf = new Map<string, string>();
  for (const key of hf.keys()) {
    const official = officialSamKey(key, (module) => hiddenCounts.get(module) ?? 0);
    if (!toHf.has(official)) toHf.set(official, key);
  }
  const hfName = (name: string) => {
    const key = toHf.get(name);
    if (key === undefined) throw modelError(`the SAM checkpoint has no tensor for ${name}`);
    return key;
  };
  return {
    keys: () => [...toHf.keys()],
    has: (name) => toHf.has(name),
    info: (name) => hf.info(hfName(name)),
    read: ((name: string, as?: never) => hf.read(hfName(name), as)) as WeightSource["read"],
    close: () => hf.close(),
  };
}

/**
 * Opens a plain SAM checkpoint: the official segment-anything state dict (.pth), sizes from `<name>.json` beside it
 * (as the oracle writes) or else the registry defaults of its variant; or a Hugging Face SamModel (a folder or a
 * .safetensors file; sizes from the folder's config.json, else transformers' defaults for its variant).
 */
export function openSamCheckpoint(path: string): SamCheckpoint {
  const raw = openWeights(path);
  const isHf = raw.has("vision_encoder.pos_embed");
  const weights = isHf ? fromTransformersLayout(raw) : raw;
  if (!weights.has("image_encoder.pos_embed")) {
    raw.close();
    throw modelError(`${path} is not a SAM checkpoint (no image_encoder.pos_embed or vision_encoder.pos_embed)`);
  }
  const width = weights.info("image_encoder.pos_embed").shape[3];
  const folder = existsSync(path) && statSync(path).isDirectory() ? path : dirname(path);
  if (isHf) {
    const configPath = join(folder, "config.json");
    if (!existsSync(configPath)) return { weights, config: registryDefaults(width, path), layout: "transformers" };
    const json = readJsonObject(configPath);
    const keys = configKeys(blockOf(json, "vision_config"), blockOf(json, "mask_decoder_config"), ["num_attention_heads", "global_attn_indexes", "window_size", "num_attention_heads"]);
    return { weights, config: pickConfig(configPath, keys, REGISTRY[width]?.config), layout: "transformers" };
  }
  const sizesPath = join(dirname(path), `${basename(path, extname(path))}.json`);
  if (!existsSync(sizesPath)) return { weights, config: registryDefaults(width, path), layout: "segment-anything" };
  const json = readJsonObject(sizesPath);
  const keys = configKeys(json, json, ["encoder_num_heads", "encoder_global_attn_indexes", "window_size", "decoder_num_heads"]);
  return { weights, config: pickConfig(sizesPath, keys, REGISTRY[width]?.config), layout: "segment-anything" };
}
