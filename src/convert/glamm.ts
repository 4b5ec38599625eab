import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { GraphBuilder } from "../graph/builder.ts";
import { buildClipGraph, clipVisionShape, glammVisionSettings, loadClipVisionConfig } from "../models/clip.ts";
import { readLlamaConfig, type LlamaConfig } from "../models/llama-config.ts";
import { buildLlamaGraph, readEmbeddingTable, type LlamaPrecision } from "../models/llama.ts";
import { buildMaskDecoder } from "../models/mask-decoder.ts";
import { buildRegionEncoderGraph, regionEncoderSettings } from "../models/region-encoder.ts";
import { samConfigFrom } from "../models/sam-checkpoint.ts";
import { buildSamEncoder } from "../models/sam-encoder.ts";
import { cudaStatus } from "../runtime/cuda.ts";
import { ortNativeDir, type Device } from "../runtime/ort.ts";
import { readJsonObject } from "../util/json.ts";
import { openWeights } from "../weights/index.ts";
import { cachedGraphsLocation, ensureCachedGraphs } from "./cache.ts";
import { estimateConvertedBytes, isLanguageMatrix, saveGraph } from "./save-graph.ts";
import { buildMaskPostprocess } from "../pipeline/masks.ts";

export type Precision = LlamaPrecision;

/** fp16 where CUDA runs, int4 on the CPU (a 7B decoder in fp32 needs 28 GB of memory). */
export function choosePrecision(requested: Precision | "auto", device: Device): Precision {
  if (requested !== "auto") return requested;
  return device !== "cpu" && cudaStatus(ortNativeDir()).available ? "fp16" : "int4";
}

/** Bumped when the graphs' inputs or outputs change (2: the LLaMA decoder's KV cache buffers and logits rows). */
const CONVERTED_FORMAT = 2;

/** A GLaMM checkpoint in the official layout and the CLIP tower it reads images with. */
export interface GlammSources {
  glamm: string;
  clip: string;
}

/** What conversion wrote, recorded in manifest.json beside the graphs. */
export interface ConvertedManifest {
  format: typeof CONVERTED_FORMAT;
  fingerprint: string;
  sources: GlammSources;
  precision: Precision;
  trace: boolean;
  llama: LlamaConfig;
  /** CLIP patches per side and image rows the projector yields. */
  clip: { grid: number; imageSize: number };
  sam: { imageSize: number; lowResSize: number };
  withRegion: boolean;
  graphs: string[];
}

export interface ConvertOptions {
  precision: Precision;
  /** Also expose the intermediates `glamm trace` writes (hidden states, RoIAlign levels, ...). */
  trace?: boolean;
  onProgress?(message: string): void;
}

/** Vision blocks run in half precision only for fp16; int4 quantizes the language model alone. */
const visionFloat = (precision: Precision) => (precision === "fp16" ? "float16" : "float32");

/** Builds every graph of the model into `dir`, one block at a time so only one block's weights are in memory. */
async function convertInto(dir: string, sources: GlammSources, fingerprint: string, options: ConvertOptions): Promise<ConvertedManifest> {
  const say = options.onProgress ?? (() => {});
  const config = readJsonObject(join(sources.glamm, "config.json"));
  const glamm = openWeights(sources.glamm);
  const clip = openWeights(sources.clip);
  try {
    const floatType = visionFloat(options.precision);
    const llama = readLlamaConfig(config, glamm);
    const settings = glammVisionSettings(config);
    const clipShape = clipVisionShape(clip);
    const clipConfig = loadClipVisionConfig(sources.clip);
    const graphs: [string, () => GraphBuilder][] = [
      [
        "clip",
        () =>
          buildClipGraph(clip, clipConfig, glamm, settings, {
            floatType,
            ...(options.trace ? { traceHiddenStates: Array.from({ length: clipConfig.numLayers + 1 }, (_, i) => i) } : {}),
          }),
      ],
      ["llama", () => buildLlamaGraph(glamm, llama, { precision: options.precision })],
    ];
    if (settings.withRegion) {
      graphs.push(["region", () => buildRegionEncoderGraph(glamm, regionEncoderSettings(config), { floatType, grid: clipShape.grid, trace: options.trace })]);
    }
    const samConfig = samConfigFrom(config);
    const sam = buildSamEncoder(glamm, samConfig, { floatType });
    const decoder = buildMaskDecoder(glamm, samConfig, { floatType });
    graphs.push(["sam-encoder", () => sam.graph], ["mask-decoder", () => decoder.graph]);
    graphs.push(["postprocess", () => buildMaskPostprocess(sam.spec.imageSize, decoder.spec.maskSize)]);

    for (const [name, build] of graphs) await saveGraph(build(), dir, name, say);
    say("writing the token embedding table");
    const table = readEmbeddingTable(glamm, llama);
    writeFileSync(join(dir, "embed_tokens.f32"), new Uint8Array(table.buffer, table.byteOffset, table.byteLength));
    return {
      format: CONVERTED_FORMAT,
      fingerprint,
      sources,
      precision: options.precision,
      trace: Boolean(options.trace),
      llama,
      clip: { grid: clipShape.grid, imageSize: clipShape.imageSize },
      sam: { imageSize: sam.spec.imageSize, lowResSize: decoder.spec.maskSize },
      withRegion: settings.withRegion,
      graphs: graphs.map(([name]) => name),
    };
  } finally {
    glamm.close();
    clip.close();
  }
}

const glammVariant = (options: ConvertOptions): string => `${options.precision}${options.trace ? "-trace" : ""}`;

/** Where the converted model for these sources and options is (or will be) in the converted-graph cache. */
export const convertedLocation = (sources: GlammSources, options: ConvertOptions) => cachedGraphsLocation([sources.glamm, sources.clip], glammVariant(options), options.onProgress);

/**
 * The converted model for these sources and options: built on first use into the shared converted-graph cache
 * (see ensureCachedGraphs), keyed by the sources' content hash and the precision.
 */
export async function ensureConverted(sources: GlammSources, options: ConvertOptions): Promise<{ dir: string; manifest: ConvertedManifest }> {
  const paths = [sources.glamm, sources.clip];
  return ensureCachedGraphs({
    sources: paths,
    variant: glammVariant(options),
    estimatedBytes: () => estimateConvertedBytes(paths, options.precision, isLanguageMatrix),
    build: (dir, fingerprint) => convertInto(dir, sources, fingerprint, options),
    // Converted by an older glamm: its graphs no longer fit this one's inputs and outputs.
    accept: (manifest) => manifest.format === CONVERTED_FORMAT,
    onProgress: options.onProgress,
  });
}
