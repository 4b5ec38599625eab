import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { modelError } from "../cli/errors.ts";
import type { GraphBuilder } from "../graph/builder.ts";
import { clipVisionShape, loadClipVisionConfig } from "../models/clip.ts";
import { buildDiffLmmClipGraph, buildSdClipBlockGraph } from "../models/difflmm-projector.ts";
import { readLlamaConfig, type LlamaConfig } from "../models/llama-config.ts";
import { buildLlamaGraph, readEmbeddingTable, type LlamaPrecision } from "../models/llama.ts";
import { diffusersWeightsFile, readUNetConfig, readVaeConfig } from "../models/sd-config.ts";
import { buildUNetGraph, unetUpFeatureShapes } from "../models/sd-unet.ts";
import { buildVaeEncoderGraph, vaeLatentSide } from "../models/sd-vae-encoder.ts";
import { readJsonObject, type JsonObject } from "../util/json.ts";
import { openWeights, type WeightSource } from "../weights/index.ts";
import { LoraMergedWeights } from "../weights/lora.ts";
import { ensureCachedGraphs } from "./cache.ts";
import { estimateConvertedBytes, isLanguageMatrix } from "./save-graph.ts";
import { storedInverseFrequency } from "./llava.ts";

/** The four checkpoints DiffLMM is made of, in their official layouts. */
export interface DiffLmmSources {
  /** LoRA folder: config.json, adapter_config.json, adapter_model.*, non_lora_trainables.bin. */
  lora: string;
  /** Base LLM (lmsys/vicuna-7b-v1.5 layout), also the tokenizer. */
  base: string;
  /** diffusers Stable Diffusion folder (unet/, vae/, scheduler/). */
  sd: string;
  clip: string;
}

/** The DiffLMM settings of the LoRA folder's config.json. */
export interface DiffLmmSettings {
  resolution: number;
  timestep: number;
  ensemble: number;
  /** mm_vision_select_layer: the up-block feature SDCLIPBlock reads. */
  selectLayer: number;
  concatClip: boolean;
}

/** What conversion wrote, recorded in manifest.json beside the graphs. */
export interface DiffLmmManifest {
  format: 1;
  fingerprint: string;
  sources: DiffLmmSources;
  precision: LlamaPrecision;
  settings: DiffLmmSettings;
  llama: LlamaConfig;
  /** VAE latent [channels, side] and scaling factor. */
  latent: { channels: number; side: number; scalingFactor: number };
  /** [channels, side] of every up-block feature DiffLMM reads. */
  upFeatures: [number, number][];
  clip: { grid: number; width: number };
}

/** groundLMM hard-codes up_ft_indices=[0, 1, 2, 3]. */
const UP_BLOCKS = 4;

function integer(config: JsonObject, key: string, source: string, min: number, fallback?: number): number {
  const value = config[key] ?? fallback;
  if (!Number.isInteger(value) || (value as number) < min) throw modelError(`${source}: invalid or missing "${key}": ${JSON.stringify(config[key])}`);
  return value as number;
}

/** A DiffLMM LoRA folder: its config.json names the SDCLIPBlock projector. */
export function isDiffLmmConfig(config: JsonObject): boolean {
  return config.mm_projector_type === "SDCLIPBlock";
}

function readDiffLmmSettings(config: JsonObject, source: string): DiffLmmSettings {
  if (!isDiffLmmConfig(config)) throw modelError(`${source}: mm_projector_type ${JSON.stringify(config.mm_projector_type)} is not DiffLMM's SDCLIPBlock`);
  if (config.mm_vision_sd_implicit_caption !== true) throw modelError(`${source}: only mm_vision_sd_implicit_caption true is supported (DiffLMM's setting)`);
  if ((config.image_aspect_ratio ?? "pad") !== "pad") throw modelError(`${source}: image_aspect_ratio ${JSON.stringify(config.image_aspect_ratio)} is not supported (DiffLMM uses "pad")`);
  if ((config.mm_patch_merge_type ?? "flat") !== "flat") throw modelError(`${source}: mm_patch_merge_type ${JSON.stringify(config.mm_patch_merge_type)} is not supported`);
  if (config.mm_use_im_start_end === true) throw modelError(`${source}: mm_use_im_start_end is not supported`);
  const selectLayer = integer(config, "mm_vision_select_layer", source, 0);
  if (selectLayer >= UP_BLOCKS) throw modelError(`${source}: mm_vision_select_layer ${selectLayer} is not one of the up-block features 0..${UP_BLOCKS - 1}`);
  return {
    resolution: integer(config, "mm_vision_resolution", source, 8),
    timestep: integer(config, "mm_vision_sd_timestep", source, 0),
    ensemble: integer(config, "mm_vision_sd_ensemble_size", source, 1, 1),
    selectLayer,
    concatClip: config.mm_vision_sd_concat_clip === true,
  };
}

async function convertInto(dir: string, sources: DiffLmmSources, fingerprint: string, precision: LlamaPrecision, say: (message: string) => void): Promise<DiffLmmManifest> {
  const configPath = join(sources.lora, "config.json");
  const config = readJsonObject(configPath);
  const settings = readDiffLmmSettings(config, configPath);
  const floatType = precision === "fp16" ? "float16" : "float32";
  const opened: WeightSource[] = [];
  const open = <T extends WeightSource>(source: T): T => (opened.push(source), source);
  try {
    const model = open(LoraMergedWeights.open(sources.lora, sources.base));
    const clip = open(openWeights(sources.clip));
    const vae = open(openWeights(diffusersWeightsFile(join(sources.sd, "vae"))));
    const unet = open(openWeights(diffusersWeightsFile(join(sources.sd, "unet"))));
    const llama = readLlamaConfig(config, model);
    const clipShape = clipVisionShape(clip);
    const vaeConfig = readVaeConfig(join(sources.sd, "vae"));
    const side = vaeLatentSide(vae, settings.resolution);
    const upFeatures = unetUpFeatureShapes(unet, side, UP_BLOCKS);
    const [upChannels, grid] = upFeatures[settings.selectLayer];
    if (grid !== clipShape.grid) throw modelError(`up block ${settings.selectLayer} gives a ${grid}x${grid} map but CLIP gives ${clipShape.grid}x${clipShape.grid} patches; they are concatenated cell by cell`);
    const graphs: [string, () => GraphBuilder][] = [
      ["clip", () => buildDiffLmmClipGraph(clip, loadClipVisionConfig(sources.clip), model, settings.resolution, { floatType })],
      ["vae", () => buildVaeEncoderGraph(vae, vaeConfig, { floatType, imageSize: settings.resolution })],
      ["unet", () => buildUNetGraph(unet, readUNetConfig(join(sources.sd, "unet")), { floatType, upBlocks: UP_BLOCKS, latentSide: side, contextLength: clipShape.grid ** 2 })],
      ["projector", () => buildSdClipBlockGraph(model, upChannels, grid, clipShape.hidden, settings, { floatType })],
      ["decoder", () => buildLlamaGraph(model, llama, { precision, probe: { layers: "all", head: "n_heads-2" }, rotaryInverseFrequency: storedInverseFrequency(model, llama) })],
    ];
    for (const [name, build] of graphs) {
      say(`converting DiffLMM ${name}`);
      await build().save(join(dir, `${name}.onnx`));
    }
    const table = readEmbeddingTable(model, llama);
    writeFileSync(join(dir, "embed_tokens.f32"), new Uint8Array(table.buffer, table.byteOffset, table.byteLength));
    return {
      format: 1,
      fingerprint,
      sources,
      precision,
      settings,
      llama,
      latent: { channels: vaeConfig.latentChannels, side, scalingFactor: vaeConfig.scalingFactor },
      upFeatures,
      clip: { grid: clipShape.grid, width: clipShape.hidden },
    };
  } finally {
    for (const source of opened) source.close();
  }
}

/**
 * The converted DiffLMM for these sources (LoRA merged, every graph on disk, large initializers as external data), in
 * the converted-graph cache shared with the other models, keyed by the sources' content hash.
 */
export async function ensureDiffLmmConverted(sources: DiffLmmSources, precision: LlamaPrecision, onProgress?: (message: string) => void): Promise<{ dir: string; manifest: DiffLmmManifest }> {
  const say = onProgress ?? (() => {});
  // Only the SD folders DiffLMM reads (not its text encoder or safety checker) key the entry.
  const parts = [sources.lora, sources.base, join(sources.sd, "unet"), join(sources.sd, "vae"), join(sources.sd, "scheduler"), sources.clip];
  const weighed = [sources.base, diffusersWeightsFile(join(sources.sd, "unet")), diffusersWeightsFile(join(sources.sd, "vae")), sources.clip];
  return ensureCachedGraphs<DiffLmmManifest>({
    sources: parts,
    variant: `difflmm-${precision}`,
    estimatedBytes: () => estimateConvertedBytes(weighed, precision, isLanguageMatrix),
    build: (dir, fingerprint) => convertInto(dir, sources, fingerprint, precision, say),
    onProgress: say,
  });
}
