import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GlammError } from "../src/cli/errors.ts";
import { readLlamaConfig } from "../src/models/llama-config.ts";
import { LlamaDecoder } from "../src/models/llama-runner.ts";
import { buildLlamaGraph, type LlamaPrecision } from "../src/models/llama.ts";
import { buildSamPointDecoder } from "../src/models/sam-prompt-decoder.ts";
import { readNpy } from "../src/output/npy.ts";
import { readChunksFile } from "../src/pipeline/attend/grouping.ts";
import { openSamCheckpoint } from "../src/models/sam-checkpoint.ts";
import { createSession, ort } from "../src/runtime/ort.ts";
import { readJsonObject } from "../src/util/json.ts";
import { openWeights } from "../src/weights/index.ts";
import { writeSafetensors } from "../src/weights/safetensors-writer.ts";

const ROOT = "../shared/oracle-aas/tiny-a";
const REFS = `${ROOT}/refs/teacher_forced`;
const present = existsSync(`${ROOT}/refs/index.json`);
if (!present) console.warn(`skipping attend-and-segment unit tests on the oracle checkpoints: no ${ROOT}`);

let scratch = "";
beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), "glamm-attend-units-"));
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

// transformers' convert_sam_to_hf.py renames, applied in its order (segment-anything name -> SamModel name).
const TO_HF: Array<[string, string]> = [
  ["iou_prediction_head.layers.0", "iou_prediction_head.proj_in"],
  ["iou_prediction_head.layers.1", "iou_prediction_head.layers.0"],
  ["iou_prediction_head.layers.2", "iou_prediction_head.proj_out"],
  ["mask_decoder.output_upscaling.0", "mask_decoder.upscale_conv1"],
  ["mask_decoder.output_upscaling.1", "mask_decoder.upscale_layer_norm"],
  ["mask_decoder.output_upscaling.3", "mask_decoder.upscale_conv2"],
  ["mask_downscaling.0", "mask_embed.conv1"],
  ["mask_downscaling.1", "mask_embed.layer_norm1"],
  ["mask_downscaling.3", "mask_embed.conv2"],
  ["mask_downscaling.4", "mask_embed.layer_norm2"],
  ["mask_downscaling.6", "mask_embed.conv3"],
  ["point_embeddings", "point_embed"],
  ["pe_layer.positional_encoding_gaussian_matrix", "shared_embedding.positional_embedding"],
  ["image_encoder", "vision_encoder"],
  ["neck.0", "neck.conv1"],
  ["neck.1", "neck.layer_norm1"],
  ["neck.2", "neck.conv2"],
  ["neck.3", "neck.layer_norm2"],
  ["patch_embed.proj", "patch_embed.projection"],
  [".norm", ".layer_norm"],
  ["blocks", "layers"],
];

function hfName(key: string): string {
  let name = TO_HF.reduce((k, [from, to]) => (k.includes(from) ? k.replaceAll(from, to) : k), key);
  const hyper = /output_hypernetworks_mlps\.\d+\.layers\.(\d+)/.exec(name);
  if (hyper) name = name.replace(`layers.${hyper[1]}`, ["proj_in", "layers.0", "proj_out"][Number(hyper[1])]);
  return name;
}

/** Runs the point decoder of `samPath` on the oracle's SAM image embedding and teacher-forced points. */
async function decodeOraclePoints(samPath: string) {
  const { weights, config } = openSamCheckpoint(samPath);
  const { graph } = buildSamPointDecoder(weights, config);
  const session = await createSession(graph.toBytes(), { device: "cpu" });
  weights.close();
  const coords = readNpy(`${REFS}/sam_point_coords.npy`);
  const n = coords.shape[0];
  const features = readNpy(`${ROOT}/refs/sam_features.npy`);
  const out = await session.run({
    image_embeddings: new ort.Tensor("float32", features.data as Float32Array, [1, ...features.shape]),
    point_coords: new ort.Tensor("float32", coords.data as Float32Array, [n, 1, 2]),
    point_labels: new ort.Tensor("int64", new BigInt64Array(n).fill(1n), [n, 1]),
  });
  await session.release();
  return { iou: out.iou_predictions.data as Float32Array, lowRes: out.low_res_masks.data as Float32Array };
}

function maxError(actual: Float32Array, expected: Float32Array): number {
  expect(actual.length).toBe(expected.length);
  return expected.reduce((worst, v, i) => Math.max(worst, Math.abs(actual[i] - v)), 0);
}

describe.skipIf(!present)("SAM point decoder", () => {
  test("official .pth: IoU predictions and the three low-res masks equal segment-anything's", async () => {
    const { iou, lowRes } = await decodeOraclePoints(`${ROOT}/sam_tiny.pth`);
    expect(maxError(iou, readNpy(`${REFS}/sam_iou_predictions.npy`).data as Float32Array)).toBeLessThan(1e-5);
    expect(maxError(lowRes, readNpy(`${REFS}/sam_low_res_masks.npy`).data as Float32Array)).toBeLessThan(1e-5);
  });

  test("Hugging Face SamModel layout (converted with transformers' renames) gives the same masks", async () => {
    const source = openWeights(`${ROOT}/sam_tiny.pth`);
    const dir = join(scratch, "sam-hf");
    const sizes = readJsonObject(`${ROOT}/sam_tiny.json`);
    const tensors = source.keys().map((key) => ({ name: hfName(key), shape: [...source.info(key).shape], data: () => source.read(key) }));
    expect(tensors.some((t) => t.name === "mask_decoder.iou_prediction_head.proj_out.weight")).toBe(true);
    expect(tensors.some((t) => t.name === "vision_encoder.layers.0.layer_norm1.weight")).toBe(true);
    await Bun.write(join(dir, "config.json"), JSON.stringify({
      vision_config: { num_attention_heads: sizes.encoder_num_heads, global_attn_indexes: sizes.encoder_global_attn_indexes, window_size: sizes.window_size },
      mask_decoder_config: { num_attention_heads: sizes.decoder_num_heads },
    }));
    writeSafetensors(join(dir, "model.safetensors"), tensors);
    source.close();
    const hf = openSamCheckpoint(dir);
    expect(hf.layout).toBe("transformers");
    expect(hf.config).toEqual(openSamCheckpoint(`${ROOT}/sam_tiny.pth`).config);
    hf.weights.close();
    const { iou, lowRes } = await decodeOraclePoints(dir);
    expect(maxError(iou, readNpy(`${REFS}/sam_iou_predictions.npy`).data as Float32Array)).toBeLessThan(1e-5);
    expect(maxError(lowRes, readNpy(`${REFS}/sam_low_res_masks.npy`).data as Float32Array)).toBeLessThan(1e-5);
  });
});

describe.skipIf(!present)("LLaMA attention probe", () => {
  const dir = `${ROOT}/llava-v1.5-tiny-a`;
  const embeds = present ? (readNpy(`${REFS}/inputs_embeds.npy`).data as Float32Array) : new Float32Array(0);

  /** The prefill of the teacher-forced run through a probed decoder, reading keys [start, end). */
  async function prefillProbe(precision: LlamaPrecision, spans: { start: number; end: number }[]): Promise<Float32Array[]> {
    const weights = openWeights(dir);
    const config = readLlamaConfig(readJsonObject(`${dir}/config.json`), weights);
    const inverseFrequency = weights.read("model.layers.0.self_attn.rotary_emb.inv_freq");
    const graph = buildLlamaGraph(weights, config, { precision, probe: { layers: "all", head: "n_heads-2" }, rotaryInverseFrequency: inverseFrequency });
    const decoder = await LlamaDecoder.create(graph.toBytes(), config, { device: "cpu" });
    weights.close();
    const probes: Float32Array[] = [];
    for (const span of spans) probes.push((await decoder.forward(embeds, undefined, { probeSpan: span })).probe!);
    await decoder.release();
    return probes;
  }

  /** The oracle's step-0 attention rows of head n_heads-2, [layers, keys]. */
  function oracleRows(): { rows: Float32Array; layers: number; keys: number } {
    const all = readNpy(`${REFS}/attn_lastrow_step00.npy`);
    const [layers, heads, keys] = all.shape;
    const rows = new Float32Array(layers * keys);
    for (let l = 0; l < layers; l++) rows.set((all.data as Float32Array).subarray((l * heads + heads - 2) * keys, (l * heads + heads - 1) * keys), l * keys);
    return { rows, layers, keys };
  }

  test("fp32 and fp16 read head n_heads-2 of every layer (oracle rows)", async () => {
    const { rows, keys } = oracleRows();
    const [fp32] = await prefillProbe("fp32", [{ start: 0, end: keys }]);
    const [fp16] = await prefillProbe("fp16", [{ start: 0, end: keys }]);
    expect(maxError(fp32, rows)).toBeLessThan(1e-5);
    expect(maxError(fp16, rows)).toBeLessThan(5e-3);
  }, 30_000);

  test("int4: the probe is the softmax row over all keys, and a span reads its slice", async () => {
    const { layers, keys } = oracleRows();
    const [full, image] = await prefillProbe("int4", [{ start: 0, end: keys }, { start: 66, end: 642 }]);
    expect(image.length).toBe(layers * 576);
    for (let l = 0; l < layers; l++) {
      const row = full.subarray(l * keys, (l + 1) * keys);
      expect(Math.abs(row.reduce((a, b) => a + b, 0) - 1)).toBeLessThan(1e-5);
      expect(maxError(image.subarray(l * 576, (l + 1) * 576), row.slice(66, 642))).toBe(0);
    }
  }, 30_000);
});

test("a malformed --chunks file is an input error (exit code 2)", () => {
  const path = join(tmpdir(), `glamm-chunks-${process.pid}.json`);
  writeFileSync(path, JSON.stringify([{ phrase: "a dog", start_char: 5 }]));
  try {
    expect(() => readChunksFile(path)).toThrow(GlammError);
    try {
      readChunksFile(path);
    } catch (error) {
      expect((error as GlammError).exitCode).toBe(2);
    }
  } finally {
    rmSync(path, { force: true });
  }
});
