import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { usageError } from "../cli/errors.ts";
import { LlamaDecoder, type KvCache } from "../models/llama-runner.ts";
import { syntheticLlamaWeights, vicuna7bShape } from "../models/llama-synthetic.ts";
import { buildLlamaGraph, type LlamaPrecision } from "../models/llama.ts";
import { SAM_VIT_H_CONFIG } from "../models/sam-checkpoint.ts";
import { buildSamPointDecoder } from "../models/sam-prompt-decoder.ts";
import { ort } from "../runtime/ort.ts";
import { temporarySession } from "./random-weights.ts";
import { RandomWeights } from "../weights/random.ts";
import type { Benchmark, PreparedBenchmark } from "./runner.ts";
import { countParam } from "./params.ts";

// LLaVA-1.5's prompt: 576 image rows at positions 66..641 of a 659-position prefill.
const IMAGE_SPAN = { start: 66, end: 642 };
const PROMPT = 659;

const wave = (count: number, scale: number) => Float32Array.from({ length: count }, (_, i) => Math.sin(i * 12.9898) * scale);

/** Decode steps of a 7B-wide 2-layer random LLaMA after a LLaVA-sized prefill, with or without the attention probe. */
export const attendDecodeBenchmark: Benchmark = {
  name: "attend-decode",
  description: "7B-wide 2-layer LLaMA decode tokens/s with the attend-and-segment probe (params probe=on|off, precision=fp32|fp16|int4, tokens=N default 16)",
  async prepare({ device, params }): Promise<PreparedBenchmark> {
    const probe = params.probe ?? "on";
    if (probe !== "on" && probe !== "off") throw usageError(`probe must be on or off (got ${probe})`);
    const precision = (params.precision ?? "fp32") as LlamaPrecision;
    if (!["fp32", "fp16", "int4"].includes(precision)) throw usageError(`precision must be fp32, fp16 or int4 (got ${precision})`);
    const tokens = countParam(params, "tokens", 16);
    const config = vicuna7bShape(2);
    const dir = mkdtempSync(join(tmpdir(), "glamm-bench-attend-"));
    const removeDir = () => rmSync(dir, { recursive: true, force: true });
    try {
      const path = join(dir, "decoder.onnx");
      const graph = buildLlamaGraph(syntheticLlamaWeights(config), config, { precision, ...(probe === "on" ? { probe: { layers: "all", head: "n_heads-2" } } : {}) });
      await graph.save(path);
      const decoder = await LlamaDecoder.create(path, config, { device });
      const span = probe === "on" ? IMAGE_SPAN : undefined;
      const all = wave((PROMPT + tokens) * config.hiddenSize, 0.5);
      const prefill = await decoder.forward(all.subarray(0, PROMPT * config.hiddenSize), undefined, { probeSpan: span });
      const row = (i: number) => all.subarray((PROMPT + i) * config.hiddenSize, (PROMPT + i + 1) * config.hiddenSize);
      const run = async () => {
        let cache: KvCache = prefill.present;
        for (let i = 0; i < tokens; i++) cache = (await decoder.forward(row(i), cache, { probeSpan: span })).present;
      };
      return { run, dispose: async () => void (await decoder.release(), removeDir()), unit: { name: "token", perRun: tokens } };
    } catch (error) {
      removeDir();
      throw error;
    }
  },
};

// segment-anything ViT-H's prompt encoder and mask decoder (the encoder is only read for its grid and patch size).
const SAM = { width: 256, mlp: 2048, attentionWidth: 128, maskTokens: 4, layers: 2, upscaled: 32, grid: 64, patch: 16, encoderWidth: 1280 };

function pointDecoderShapes(): Map<string, number[]> {
  const { width, mlp, attentionWidth, maskTokens, layers, upscaled } = SAM;
  const shapes = new Map<string, number[]>();
  const linear = (name: string, out: number, inner: number) => shapes.set(`${name}.weight`, [out, inner]).set(`${name}.bias`, [out]);
  const norm = (name: string, size: number) => shapes.set(`${name}.weight`, [size]).set(`${name}.bias`, [size]);
  const attention = (name: string, inner: number) => {
    for (const proj of ["q_proj", "k_proj", "v_proj"]) linear(`${name}.${proj}`, inner, width);
    linear(`${name}.out_proj`, width, inner);
  };
  const mlp3 = (name: string, out: number) => [width, width, out].forEach((size, i) => linear(`${name}.layers.${i}`, size, width));
  shapes.set("image_encoder.pos_embed", [1, SAM.grid, SAM.grid, SAM.encoderWidth]).set("image_encoder.patch_embed.proj.weight", [SAM.encoderWidth, 3, SAM.patch, SAM.patch]);
  shapes.set("prompt_encoder.pe_layer.positional_encoding_gaussian_matrix", [2, width / 2]);
  for (const name of ["no_mask_embed", "not_a_point_embed", ...[0, 1, 2, 3].map((i) => `point_embeddings.${i}`)]) shapes.set(`prompt_encoder.${name}.weight`, [1, width]);
  for (let l = 0; l < layers; l++) {
    const block = `mask_decoder.transformer.layers.${l}`;
    attention(`${block}.self_attn`, width);
    attention(`${block}.cross_attn_token_to_image`, attentionWidth);
    attention(`${block}.cross_attn_image_to_token`, attentionWidth);
    linear(`${block}.mlp.lin1`, mlp, width);
    linear(`${block}.mlp.lin2`, width, mlp);
    for (let n = 1; n <= 4; n++) norm(`${block}.norm${n}`, width);
  }
  attention("mask_decoder.transformer.final_attn_token_to_image", attentionWidth);
  norm("mask_decoder.transformer.norm_final_attn", width);
  shapes.set("mask_decoder.iou_token.weight", [1, width]).set("mask_decoder.mask_tokens.weight", [maskTokens, width]);
  shapes.set("mask_decoder.output_upscaling.0.weight", [width, width / 4, 2, 2]).set("mask_decoder.output_upscaling.0.bias", [width / 4]);
  norm("mask_decoder.output_upscaling.1", width / 4);
  shapes.set("mask_decoder.output_upscaling.3.weight", [width / 4, upscaled, 2, 2]).set("mask_decoder.output_upscaling.3.bias", [upscaled]);
  for (let t = 0; t < maskTokens; t++) mlp3(`mask_decoder.output_hypernetworks_mlps.${t}`, upscaled);
  mlp3("mask_decoder.iou_prediction_head", maskTokens);
  return shapes;
}

/** SAM ViT-H's point-prompt decoder (three multimask outputs) for N phrases on one image embedding. */
export const attendSamPointsBenchmark: Benchmark = {
  name: "attend-sam-points",
  description: "SAM ViT-H point-prompt decoder, multimask output, batched over phrases, random weights (param phrases=N default 4)",
  async prepare({ device, params }): Promise<PreparedBenchmark> {
    const phrases = countParam(params, "phrases", 4);
    const { graph } = buildSamPointDecoder(new RandomWeights(pointDecoderShapes()), SAM_VIT_H_CONFIG);
    const { session, dispose } = await temporarySession(graph, device);
    const feeds = {
      image_embeddings: new ort.Tensor("float32", wave(SAM.width * SAM.grid * SAM.grid, 0.5), [1, SAM.width, SAM.grid, SAM.grid]),
      point_coords: new ort.Tensor("float32", Float32Array.from({ length: phrases * 2 }, (_, i) => (i * 97) % 1024), [phrases, 1, 2]),
      point_labels: new ort.Tensor("int64", new BigInt64Array(phrases).fill(1n), [phrases, 1]),
    };
    return { run: async () => void (await session.run(feeds)), dispose, unit: { name: "phrase", perRun: phrases } };
  },
};

export const attendBenchmarks: Benchmark[] = [attendDecodeBenchmark, attendSamPointsBenchmark];
