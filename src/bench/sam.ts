import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { usageError } from "../cli/errors.ts";
import type { GraphBuilder } from "../graph/builder.ts";
import { buildMaskDecoder } from "../models/mask-decoder.ts";
import { SAM_VIT_H_CONFIG } from "../models/sam-checkpoint.ts";
import { buildSamEncoder } from "../models/sam-encoder.ts";
import { buildMaskPostprocess, postprocessMasks } from "../pipeline/masks.ts";
import { SamEmbeddingCache } from "../pipeline/sam-cache.ts";
import { createSession, ort } from "../runtime/ort.ts";
import { benchFloatType, benchLinearWeights, temporarySession } from "./random-weights.ts";
import { RandomWeights } from "../weights/random.ts";
import type { Benchmark, PreparedBenchmark } from "./runner.ts";
import { countParam } from "./params.ts";

// GLaMM's grounding encoder: SAM ViT-H (build_sam_vit_h) and a 4096-wide LLaMA's [SEG] projection.
const VIT_H = { width: 1280, depth: 32, mlp: 5120, headDim: 80, grid: 64, patch: 16, window: 14, neck: 256 };
const DECODER = { width: 256, mlp: 2048, attentionWidth: 128, maskTokens: 4, layers: 2, upscaled: 32 };
const LLM_HIDDEN = 4096;
const PREFIX = "model.grounding_encoder.";

function linearShapes(shapes: Map<string, number[]>, name: string, out: number, inner: number): void {
  shapes.set(`${name}.weight`, [out, inner]).set(`${name}.bias`, [out]);
}

function normShapes(shapes: Map<string, number[]>, name: string, width: number): void {
  shapes.set(`${name}.weight`, [width]).set(`${name}.bias`, [width]);
}

function encoderShapes(shapes: Map<string, number[]>, depth = VIT_H.depth): void {
  const { width, mlp, headDim, grid, patch, window, neck } = VIT_H;
  const p = `${PREFIX}image_encoder`;
  shapes.set(`${p}.pos_embed`, [1, grid, grid, width]);
  shapes.set(`${p}.patch_embed.proj.weight`, [width, 3, patch, patch]).set(`${p}.patch_embed.proj.bias`, [width]);
  for (let i = 0; i < depth; i++) {
    const b = `${p}.blocks.${i}`;
    const span = SAM_VIT_H_CONFIG.encoderGlobalAttnIndexes.includes(i) ? grid : window;
    normShapes(shapes, `${b}.norm1`, width);
    normShapes(shapes, `${b}.norm2`, width);
    shapes.set(`${b}.attn.rel_pos_h`, [2 * span - 1, headDim]).set(`${b}.attn.rel_pos_w`, [2 * span - 1, headDim]);
    linearShapes(shapes, `${b}.attn.qkv`, 3 * width, width);
    linearShapes(shapes, `${b}.attn.proj`, width, width);
    linearShapes(shapes, `${b}.mlp.lin1`, mlp, width);
    linearShapes(shapes, `${b}.mlp.lin2`, width, mlp);
  }
  shapes.set(`${p}.neck.0.weight`, [neck, width, 1, 1]).set(`${p}.neck.2.weight`, [neck, neck, 3, 3]);
  normShapes(shapes, `${p}.neck.1`, neck);
  normShapes(shapes, `${p}.neck.3`, neck);
}

function attentionShapes(shapes: Map<string, number[]>, name: string, inner: number): void {
  const { width } = DECODER;
  for (const proj of ["q_proj", "k_proj", "v_proj"]) linearShapes(shapes, `${name}.${proj}`, inner, width);
  linearShapes(shapes, `${name}.out_proj`, width, inner);
}

function mlpShapes(shapes: Map<string, number[]>, name: string, out: number): void {
  const { width } = DECODER;
  [width, width, out].forEach((size, i) => linearShapes(shapes, `${name}.layers.${i}`, size, width));
}

function decoderShapes(shapes: Map<string, number[]>): void {
  const { width, mlp, attentionWidth, maskTokens, layers, upscaled } = DECODER;
  const d = `${PREFIX}mask_decoder`;
  shapes.set(`${PREFIX}prompt_encoder.pe_layer.positional_encoding_gaussian_matrix`, [2, width / 2]);
  shapes.set(`${PREFIX}prompt_encoder.no_mask_embed.weight`, [1, width]);
  for (let l = 0; l < layers; l++) {
    const b = `${d}.transformer.layers.${l}`;
    attentionShapes(shapes, `${b}.self_attn`, width);
    attentionShapes(shapes, `${b}.cross_attn_token_to_image`, attentionWidth);
    attentionShapes(shapes, `${b}.cross_attn_image_to_token`, attentionWidth);
    linearShapes(shapes, `${b}.mlp.lin1`, mlp, width);
    linearShapes(shapes, `${b}.mlp.lin2`, width, mlp);
    for (let n = 1; n <= 4; n++) normShapes(shapes, `${b}.norm${n}`, width);
  }
  attentionShapes(shapes, `${d}.transformer.final_attn_token_to_image`, attentionWidth);
  normShapes(shapes, `${d}.transformer.norm_final_attn`, width);
  shapes.set(`${d}.iou_token.weight`, [1, width]).set(`${d}.mask_tokens.weight`, [maskTokens, width]);
  shapes.set(`${d}.output_upscaling.0.weight`, [width, width / 4, 2, 2]).set(`${d}.output_upscaling.0.bias`, [width / 4]);
  normShapes(shapes, `${d}.output_upscaling.1`, width / 4);
  shapes.set(`${d}.output_upscaling.3.weight`, [width / 4, upscaled, 2, 2]).set(`${d}.output_upscaling.3.bias`, [upscaled]);
  for (let t = 0; t < maskTokens; t++) mlpShapes(shapes, `${d}.output_hypernetworks_mlps.${t}`, upscaled);
  mlpShapes(shapes, `${d}.iou_prediction_head`, maskTokens);
  linearShapes(shapes, "model.text_hidden_fcs.0.0", LLM_HIDDEN, LLM_HIDDEN);
  linearShapes(shapes, "model.text_hidden_fcs.0.2", width, LLM_HIDDEN);
}

/** Random weights in GLaMM's state-dict layout for the grounding encoder (its first `depth` blocks) and [SEG] projection. */
export function glammSamWeights(depth?: number): RandomWeights {
  const shapes = new Map<string, number[]>();
  encoderShapes(shapes, depth);
  decoderShapes(shapes);
  return new RandomWeights(shapes);
}

const IMAGE_SIDE = VIT_H.grid * VIT_H.patch;
const EMBEDDING_DIMS = [1, VIT_H.neck, VIT_H.grid, VIT_H.grid];
const wave = (count: number, scale = 1) => Float32Array.from({ length: count }, (_, i) => Math.sin(i * 0.618) * scale);

/** The ViT-H encoder graph with its first `depth` blocks (global attention where ViT-H has it), random weights. */
export function samEncoderGraph(depth: number, floatType: "float32" | "float16" = "float32", linearWeights: "float" | "int8" = "float"): GraphBuilder {
  const config = { ...SAM_VIT_H_CONFIG, encoderGlobalAttnIndexes: SAM_VIT_H_CONFIG.encoderGlobalAttnIndexes.filter((i) => i < depth) };
  return buildSamEncoder(glammSamWeights(depth), config, { floatType, linearWeights }).graph;
}

export const samEncoderBenchmark: Benchmark = {
  name: "sam-encoder",
  description: "SAM ViT-H image encoder at 1024², random weights (params dtype=float32|float16, linears=float|int8, blocks=N of 32: the first N, global attention at 7, 15, ...)",
  async prepare({ device, params }): Promise<PreparedBenchmark> {
    const depth = countParam(params, "blocks", VIT_H.depth);
    if (depth > VIT_H.depth) throw usageError(`blocks must be at most ${VIT_H.depth} (got ${depth})`);
    const { session, dispose } = await temporarySession(samEncoderGraph(depth, benchFloatType(params), benchLinearWeights(params)), device);
    const pixels = new ort.Tensor("float32", wave(3 * IMAGE_SIDE * IMAGE_SIDE, 2), [1, 3, IMAGE_SIDE, IMAGE_SIDE]);
    return { run: async () => void (await session.run({ pixel_values: pixels })), dispose, unit: { name: "image", perRun: 1 } };
  },
};

export const samDecoderBenchmark: Benchmark = {
  name: "sam-decoder",
  description: "GLaMM mask head ([SEG] projection + SAM prompt encoder + mask decoder), random weights (params masks=N default 1, dtype)",
  async prepare({ device, params }): Promise<PreparedBenchmark> {
    const masks = countParam(params, "masks", 1);
    const { graph } = buildMaskDecoder(glammSamWeights(), SAM_VIT_H_CONFIG, { floatType: benchFloatType(params) });
    const { session, dispose } = await temporarySession(graph, device);
    const feeds = {
      seg_hidden_states: new ort.Tensor("float32", wave(masks * LLM_HIDDEN), [masks, LLM_HIDDEN]),
      image_embeddings: new ort.Tensor("float32", wave(EMBEDDING_DIMS.reduce((a, b) => a * b, 1), 0.5), EMBEDDING_DIMS),
    };
    return { run: async () => void (await session.run(feeds)), dispose, unit: { name: "mask", perRun: masks } };
  },
};

export const samPostprocessBenchmark: Benchmark = {
  name: "sam-postprocess",
  description: "postprocess_masks (256² → 1024² → crop → original size, > 0) in onnxruntime (params masks=N default 3, width/height default 1920x1080)",
  async prepare({ device, params }): Promise<PreparedBenchmark> {
    const masks = countParam(params, "masks", 3);
    const original = [countParam(params, "height", 1080), countParam(params, "width", 1920)] as const;
    const scale = IMAGE_SIDE / Math.max(...original);
    const resized = [Math.trunc(original[0] * scale + 0.5), Math.trunc(original[1] * scale + 0.5)] as const;
    const lowRes = 4 * VIT_H.grid;
    const session = await createSession(buildMaskPostprocess(IMAGE_SIDE, lowRes).toBytes(), { device });
    const logits = wave(masks * lowRes * lowRes, 8);
    return {
      run: async () => void (await postprocessMasks(session, logits, masks, resized, original)),
      dispose: () => session.release(),
      unit: { name: "mask", perRun: masks },
    };
  },
};

export const samCacheHitBenchmark: Benchmark = {
  name: "sam-cache-hit",
  description: "reading one cached SAM ViT-H image embedding [1, 256, 64, 64] (checksum verified) from the on-disk cache",
  async prepare(): Promise<PreparedBenchmark> {
    const dir = mkdtempSync(join(tmpdir(), "glamm-bench-sam-cache-"));
    const cache = new SamEmbeddingCache({ dir });
    const key = { imageSha256: "0".repeat(64), modelId: "bench", precision: "fp32" };
    cache.put(key, { dims: EMBEDDING_DIMS, data: wave(EMBEDDING_DIMS.reduce((a, b) => a * b, 1)) });
    return {
      run: async () => {
        if (!cache.get(key)) throw new Error("the benchmark's cache entry vanished");
      },
      dispose: async () => rmSync(dir, { recursive: true, force: true }),
      unit: { name: "embedding", perRun: 1 },
    };
  },
};

/** The SAM benchmarks, for `glamm bench` to register. */
export const samBenchmarks: Benchmark[] = [samEncoderBenchmark, samDecoderBenchmark, samPostprocessBenchmark, samCacheHitBenchmark];
