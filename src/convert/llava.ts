import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { modelError } from "../cli/errors.ts";
import { buildClipGraph, clipVisionShape, loadClipVisionConfig } from "../models/clip.ts";
import { readLlamaConfig, type LlamaConfig } from "../models/llama-config.ts";
import { buildLlamaGraph, readEmbeddingTable, type LlamaPrecision } from "../models/llama.ts";
import type { JsonObject } from "../util/json.ts";
import { openWeights, type WeightSource } from "../weights/index.ts";
import { ensureCachedGraphs, type CachedGraphs } from "./cache.ts";
import { estimateConvertedBytes, isLanguageMatrix, saveGraph } from "./save-graph.ts";

const INV_FREQ = /^model\.layers\.\d+\.self_attn\.rotary_emb\.inv_freq$/;

/**
 * The rotary frequencies LLaVA-1.5 checkpoints store per layer (float16-rounded; the official model rotates with
 * them), when present and all equal.
 */
export function storedInverseFrequency(weights: WeightSource, config: LlamaConfig): Float32Array | undefined {
  const keys = weights.keys().filter((key) => INV_FREQ.test(key));
  if (keys.length === 0) return undefined;
  const first = weights.read(keys[0]);
  if (first.length !== config.headDim / 2) throw modelError(`${keys[0]} holds ${first.length} values; head size ${config.headDim} needs ${config.headDim / 2}`);
  for (const key of keys.slice(1)) {
    if (weights.read(key).some((v, i) => v !== first[i])) throw modelError(`the checkpoint's rotary_emb.inv_freq differ between layers (${keys[0]}, ${key})`);
  }
  return first;
}

/** 2: the attention probe reads the last query's own softmax row (format 1 graphs hold far more memory in a prefill). */
const LLAVA_FORMAT = 2;

/** What LLaVA conversion wrote, recorded in manifest.json beside clip.onnx, llama.onnx and embed_tokens.f32. */
export interface LlavaManifest {
  format: typeof LLAVA_FORMAT;
  fingerprint: string;
  precision: LlamaPrecision;
  config: LlamaConfig;
  /** Side of the CLIP patch grid. */
  grid: number;
}

/** Builds LLaVA's CLIP + projector and decoder (with the attention probe) graphs into `dir`, one tensor at a time. */
async function convertLlava(dir: string, modelDir: string, visionDir: string, json: JsonObject, precision: LlamaPrecision, say: (m: string) => void): Promise<Omit<LlavaManifest, "fingerprint">> {
  const configPath = join(modelDir, "config.json");
  const weights = openWeights(modelDir);
  const clipWeights = openWeights(visionDir);
  try {
    const config = readLlamaConfig(json, weights);
    const select = json.mm_vision_select_layer ?? -2;
    if (!Number.isInteger(select)) throw modelError(`${configPath}: invalid "mm_vision_select_layer": ${JSON.stringify(select)}`);
    if ((json.mm_vision_select_feature ?? "patch") !== "patch") throw modelError(`${configPath}: only mm_vision_select_feature "patch" is supported`);
    const settings = { selectLayer: select as number, selectFeature: "patch" as const, withRegion: false, regionLevels: 1 };
    await saveGraph(buildClipGraph(clipWeights, loadClipVisionConfig(visionDir), weights, settings, { traceHiddenStates: [] }), dir, "clip", say);
    const decoder = buildLlamaGraph(weights, config, {
      precision,
      probe: { layers: "all", head: "n_heads-2" },
      rotaryInverseFrequency: storedInverseFrequency(weights, config),
    });
    await saveGraph(decoder, dir, "llama", say);
    const table = readEmbeddingTable(weights, config);
    writeFileSync(join(dir, "embed_tokens.f32"), new Uint8Array(table.buffer, table.byteOffset, table.byteLength));
    return { format: LLAVA_FORMAT, precision, config, grid: clipVisionShape(clipWeights).grid };
  } finally {
    weights.close();
    clipWeights.close();
  }
}

/** LLaVA's graphs in the shared graph cache: converted on first use (once per checkpoint and precision). */
export function ensureLlavaGraphs(modelDir: string, visionDir: string, json: JsonObject, precision: LlamaPrecision, say: (m: string) => void): Promise<CachedGraphs<LlavaManifest>> {
  return ensureCachedGraphs<LlavaManifest>({
    sources: [modelDir, visionDir],
    variant: `llava-${precision}`,
    estimatedBytes: () => estimateConvertedBytes([modelDir, visionDir], precision, isLanguageMatrix),
    build: async (tmp, fingerprint) => ({ ...(await convertLlava(tmp, modelDir, visionDir, json, precision, say)), fingerprint }),
    accept: (manifest) => manifest.format === LLAVA_FORMAT,
    onProgress: say,
  });
}
