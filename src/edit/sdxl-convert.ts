import { existsSync } from "node:fs";
import { join } from "node:path";
import { modelError } from "../cli/errors.ts";
import { ensureCachedGraphs } from "../convert/cache.ts";
import { estimateConvertedBytes, saveGraph } from "../convert/save-graph.ts";
import type { GraphBuilder } from "../graph/builder.ts";
import { buildClipTextGraph, clipTextShape, readClipTextConfig } from "../models/clip-text.ts";
import { diffusersWeightsFile, readUNetConfig, readVaeConfig } from "../models/sd-config.ts";
import { buildVaeDecoderGraph } from "../models/sd-vae-decoder.ts";
import { buildVaeEncoderGraph, vaeLatentSide } from "../models/sd-vae-encoder.ts";
import { buildSdxlUNetGraph, sdxlUNetShape } from "../models/sdxl-unet.ts";
import { readJsonObject, type JsonObject } from "../util/json.ts";
import { openWeights, type WeightSource } from "../weights/index.ts";

export type SdxlPrecision = "fp32" | "fp16";

/** The graphs of an SDXL inpainting folder, by file stem in the cache entry. */
export const SDXL_GRAPHS = ["text_encoder", "text_encoder_2", "unet", "vae_encoder", "vae_decoder"] as const;

/** Sizes conversion read from the configs and tensors, recorded in manifest.json beside the graphs. */
export interface SdxlManifest {
  format: 1;
  fingerprint: string;
  modelDir: string;
  precision: SdxlPrecision;
  /** Pipeline image side: unet.sample_size × 2^(VAE blocks − 1). */
  imageSize: number;
  latentSide: number;
  latentChannels: number;
  /** 9 for an inpainting UNet (latents, mask, masked-image latents). */
  unetInChannels: number;
  scalingFactor: number;
  /** Token positions of both text encoders (model_max_length). */
  textLength: number;
  textWidths: [number, number];
  /** text_encoder_2's projection width (the pooled embedding). */
  pooledWidth: number;
  timeIds: number;
  forceZerosForEmptyPrompt: boolean;
}

/** The weights file of a component, the fp16 variant first as the official demo loads it (variant="fp16"). */
export function componentWeights(modelDir: string, component: string): string {
  const dir = join(modelDir, component);
  if (!existsSync(dir)) throw modelError(`${modelDir} has no ${component}/ folder (not a diffusers SDXL inpainting folder)`);
  return diffusersWeightsFile(dir, "fp16", component.startsWith("text_encoder") ? "model" : "diffusion_pytorch_model");
}

function positiveInt(json: JsonObject, key: string, source: string): number {
  const value = json[key];
  if (!Number.isInteger(value) || (value as number) <= 0) throw modelError(`${source}: invalid or missing "${key}": ${JSON.stringify(value)}`);
  return value as number;
}

/** model_index.json settings the pipeline honours. */
function readPipelineIndex(modelDir: string): { forceZeros: boolean } {
  const source = join(modelDir, "model_index.json");
  if (!existsSync(source)) throw modelError(`${modelDir} has no model_index.json (not a diffusers pipeline folder)`);
  const index = readJsonObject(source);
  if (index.requires_aesthetics_score === true) throw modelError(`${source}: requires_aesthetics_score true (the refiner's 5 time ids) is not supported`);
  const scheduler = Array.isArray(index.scheduler) ? index.scheduler[1] : undefined;
  if (scheduler !== undefined && scheduler !== "EulerDiscreteScheduler") throw modelError(`${source}: scheduler ${JSON.stringify(scheduler)} is not supported (EulerDiscreteScheduler)`);
  return { forceZeros: index.force_zeros_for_empty_prompt !== false };
}

async function convertInto(dir: string, modelDir: string, fingerprint: string, precision: SdxlPrecision, say: (message: string) => void): Promise<SdxlManifest> {
  const floatType = precision === "fp16" ? "float16" : "float32";
  const { forceZeros } = readPipelineIndex(modelDir);
  const opened: WeightSource[] = [];
  const open = (component: string): WeightSource => {
    const source = openWeights(componentWeights(modelDir, component));
    opened.push(source);
    return source;
  };
  try {
    const [te1, te2, unet, vae] = ["text_encoder", "text_encoder_2", "unet", "vae"].map(open);
    const [te1Config, te2Config] = [readClipTextConfig(join(modelDir, "text_encoder")), readClipTextConfig(join(modelDir, "text_encoder_2"))];
    const [shape1, shape2] = [clipTextShape(te1), clipTextShape(te2)];
    if (shape2.projection === 0) throw modelError(`${modelDir}/text_encoder_2 has no text_projection (SDXL's pooled embedding)`);
    if (shape1.positions !== shape2.positions) throw modelError(`the text encoders have ${shape1.positions} and ${shape2.positions} positions`);
    const unetConfig = readUNetConfig(join(modelDir, "unet"));
    const vaeConfig = readVaeConfig(join(modelDir, "vae"));
    const unetJson = readJsonObject(join(modelDir, "unet", "config.json"));
    const vaeJson = readJsonObject(join(modelDir, "vae", "config.json"));
    const sampleSize = positiveInt(unetJson, "sample_size", join(modelDir, "unet", "config.json"));
    const vaeBlocks = vaeJson.block_out_channels;
    if (!Array.isArray(vaeBlocks) || vaeBlocks.length === 0) throw modelError(`${join(modelDir, "vae", "config.json")}: invalid "block_out_channels"`);
    const imageSize = sampleSize * 2 ** (vaeBlocks.length - 1);
    const latentSide = vaeLatentSide(vae, imageSize);
    const unetShape = sdxlUNetShape(unet);
    if (unetShape.crossAttentionDim !== shape1.width + shape2.width) {
      throw modelError(`the UNet's cross_attention_dim ${unetShape.crossAttentionDim} is not the text encoders' ${shape1.width} + ${shape2.width}`);
    }
    if (unetShape.inChannels !== 2 * vaeConfig.latentChannels + 1) {
      throw modelError(`the UNet takes ${unetShape.inChannels} channels; an inpainting UNet takes ${2 * vaeConfig.latentChannels + 1} (latents, mask, masked-image latents)`);
    }
    const timeIds = 6;
    if (unetShape.addEmbeddingInput !== shape2.projection + timeIds * unetConfig.additionTimeEmbedDim) {
      throw modelError(`the UNet's add_embedding takes ${unetShape.addEmbeddingInput} inputs, not ${shape2.projection} + ${timeIds} × ${unetConfig.additionTimeEmbedDim}`);
    }
    const graphs: [string, () => GraphBuilder][] = [
      ["text_encoder", () => buildClipTextGraph(te1, te1Config, { floatType })],
      ["text_encoder_2", () => buildClipTextGraph(te2, te2Config, { floatType })],
      ["unet", () => buildSdxlUNetGraph(unet, unetConfig, { floatType, latentSide, contextLength: shape1.positions, timeIds })],
      // force_upcast: the VAE encodes and decodes in float32 whatever the rest runs in.
      ["vae_encoder", () => buildVaeEncoderGraph(vae, vaeConfig, { imageSize })],
      ["vae_decoder", () => buildVaeDecoderGraph(vae, vaeConfig, { latentSide })],
    ];
    for (const [name, build] of graphs) await saveGraph(build(), dir, name, say);
    return {
      format: 1,
      fingerprint,
      modelDir,
      precision,
      imageSize,
      latentSide,
      latentChannels: vaeConfig.latentChannels,
      unetInChannels: unetShape.inChannels,
      scalingFactor: vaeConfig.scalingFactor,
      textLength: shape1.positions,
      textWidths: [shape1.width, shape2.width],
      pooledWidth: shape2.projection,
      timeIds,
      forceZerosForEmptyPrompt: forceZeros,
    };
  } finally {
    for (const source of opened) source.close();
  }
}

/** The converted SDXL inpainting graphs of a diffusers folder, in the converted-graph cache shared with the other models. */
export async function ensureSdxlConverted(modelDir: string, precision: SdxlPrecision, onProgress?: (message: string) => void): Promise<{ dir: string; manifest: SdxlManifest }> {
  const say = onProgress ?? (() => {});
  const components = ["text_encoder", "text_encoder_2", "unet", "vae"];
  const weights = components.map((c) => componentWeights(modelDir, c));
  const configs = [...components.map((c) => join(modelDir, c, "config.json")), join(modelDir, "model_index.json")];
  return ensureCachedGraphs<SdxlManifest>({
    sources: [...weights, ...configs],
    variant: `sdxl-inpaint-${precision}`,
    estimatedBytes: () => estimateConvertedBytes(weights, precision, () => false),
    build: (dir, fingerprint) => convertInto(dir, modelDir, fingerprint, precision, say),
    onProgress: say,
  });
}
