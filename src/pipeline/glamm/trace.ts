import { join } from "node:path";
import { hiddenStateIndex, regionLevelIndices } from "../../models/clip.ts";
import type { PixelBox } from "../../models/region-encoder.ts";
import type { NpyArray } from "../../output/npy.ts";
import type { Device, ort } from "../../runtime/ort.ts";
import { tokenizerImageToken } from "../../text/tokenizer.ts";
import { readJsonObject } from "../../util/json.ts";
import type { Precision } from "../../convert/glamm.ts";
import { generate, teacherForced } from "../generate.ts";
import { GlammModel, type EncodedImage } from "./model.ts";
import { buildPrompt } from "../prompt.ts";
import { ImageSession } from "../tasks.ts";
import { resolveModel } from "../sources.ts";
import { f32, i64, u8, type TraceResult } from "../trace-output.ts";

export interface GlammTraceOptions {
  model?: string;
  vision?: string;
  image: string;
  instruction: string;
  boxes: PixelBox[];
  /** Teacher-forced answer: one forward pass over prompt + answer, masks for its [SEG]s. */
  answer?: string;
  maxTokens: number;
  device?: Device;
  precision?: Precision;
  onProgress?(message: string): void;
}

const tensor = (t: ort.Tensor): NpyArray => f32(t.data as Float32Array, [...t.dims]);

/**
 * The CLIP hidden states the oracle records: the region encoder's levels, the select layer and the last layer
 * (indices into the hidden_states tuple, embeddings = 0), in increasing order.
 */
function tracedHiddenStates(config: Record<string, unknown>, layers: number): number[] {
  const count = layers + 1;
  const selectLayer = (config.mm_vision_select_layer as number | undefined) ?? -2;
  const select = hiddenStateIndex(selectLayer, count);
  const levels = config.with_region === false ? [] : regionLevelIndices(selectLayer, (config.num_level_reg_features as number | undefined) ?? 4, count);
  return [...new Set([...levels, select, count - 1])].sort((a, b) => a - b);
}

function imageArrays(arrays: Map<string, NpyArray>, encoded: EncodedImage): void {
  const { clipInput, samInput, clipOutputs } = encoded;
  arrays.set("image/clip_pixel_values", f32(clipInput.pixelValues.data, [...clipInput.pixelValues.dims]));
  const crop = clipInput.resizedCropped;
  arrays.set("image/clip_resized_cropped_uint8", u8(crop.data, [crop.height, crop.width, 3]));
  arrays.set("image/sam_resized_uint8", u8(samInput.resized.data, [samInput.resized.height, samInput.resized.width, 3]));
  arrays.set("image/sam_pixel_values", f32(samInput.pixelValues.data, [...samInput.pixelValues.dims]));
  arrays.set("clip/select_layer_-2_patch", tensor(clipOutputs.select_feature));
  arrays.set("clip/projector_out", tensor(clipOutputs.image_features));
  arrays.set("sam/image_embeddings", f32(encoded.samEmbeddings.data, encoded.samEmbeddings.dims));
}

function clipHiddenStates(arrays: Map<string, NpyArray>, encoded: EncodedImage, indices: number[]): void {
  const states = indices.map((i) => encoded.clipOutputs[`hidden_state_${i}`]);
  const [, tokens, width] = states[0].dims;
  const stacked = new Float32Array(states.length * tokens * width);
  states.forEach((s, k) => stacked.set(s.data as Float32Array, k * tokens * width));
  arrays.set("clip/hidden_states_selected", f32(stacked, [states.length, tokens, width]));
}

/** Runs one case through the real GLaMM pipeline and collects the trace contract's intermediates. */
export async function runGlammTrace(options: GlammTraceOptions): Promise<TraceResult> {
  const { sources } = resolveModel(options.model, options.vision);
  const model = await GlammModel.load(sources, { precision: options.precision ?? "fp32", device: options.device, trace: true, cache: false, onProgress: options.onProgress });
  try {
    const { image, sha256 } = await ImageSession.decode(options.image);
    const encoded = await model.encodeImage(image, sha256);
    const arrays = new Map<string, NpyArray>();
    imageArrays(arrays, encoded);
    const config = readJsonObject(join(sources.glamm, "config.json"));
    const clipLayers = Object.keys(encoded.clipOutputs).filter((n) => n.startsWith("hidden_state_")).length - 1;
    clipHiddenStates(arrays, encoded, tracedHiddenStates(config, clipLayers));

    const prompt = buildPrompt(options.instruction, options.answer);
    const ids = tokenizerImageToken(prompt, model.tokenizer);
    arrays.set("input_ids", i64(ids, [1, ids.length]));

    let regions: Float32Array | undefined;
    if (options.boxes.length > 0) {
      const region = await model.regionFeatures(encoded, options.boxes);
      regions = region.outputs.region_features.data as Float32Array;
      arrays.set("bboxes_norm", f32(region.bboxesNorm, [options.boxes.length, 4]));
      for (const [name, t] of Object.entries(region.outputs)) arrays.set(name, tensor(t));
    }
    const sequence = model.splice(ids, encoded, regions);
    const segId = model.tokenizer.specialTokenId("[SEG]");
    const hidden = model.manifest.llama.hiddenSize;
    let seg: { positions: number[]; hiddenStates: Float32Array };
    let text: string;
    if (options.answer !== undefined) {
      const tf = await teacherForced(model.decoder, sequence, segId);
      seg = tf.seg;
      const length = sequence.expandedIds.length;
      arrays.set("final_hidden_states", f32(tf.hiddenStates, [length, hidden]));
      const mask = new Uint8Array(length);
      for (const p of seg.positions) mask[p] = 1;
      arrays.set("seg_token_mask", u8(mask, [length]));
      arrays.set("logits_at_seg_positions", f32(tf.logitsAtSeg, [seg.positions.length, model.manifest.llama.logitsSize]));
      text = options.answer;
    } else {
      const eos = model.tokenizer.eosTokenId ?? 2;
      const gen = await generate(model.decoder, model.table, sequence, { maxNewTokens: options.maxTokens, eosTokenId: eos, segTokenId: segId });
      seg = gen.seg;
      arrays.set("logits_last", f32(gen.logitsLast, [gen.logitsLast.length]));
      arrays.set("final_hidden_last", f32(gen.finalHiddenLast, [hidden]));
      arrays.set("generated_ids", i64(gen.tokens));
      arrays.set("generate_output_ids", i64([...ids, ...gen.tokens], [1, ids.length + gen.tokens.length]));
      text = model.tokenizer.decode(gen.tokens, { skipSpecialTokens: false });
    }
    arrays.set("seg_positions", i64(seg.positions));
    arrays.set("seg_hidden_states", f32(seg.hiddenStates, [seg.positions.length, hidden]));
    // dense_pe depends on the weights only; without a [SEG] one zero prompt still yields it.
    const masks = await model.masks(encoded, seg.positions.length > 0 ? seg.hiddenStates : new Float32Array(hidden));
    arrays.set("sam/dense_pe", tensor(masks.decoderOutputs.dense_pe));
    if (seg.positions.length > 0) {
      for (const name of ["text_hidden_fcs_out", "sparse_embeddings", "dense_embeddings_first_pixel", "low_res_masks", "iou_predictions"]) arrays.set(name, tensor(masks.decoderOutputs[name]));
      arrays.set("pred_mask_logits", f32(masks.logits, masks.dims));
      arrays.set("pred_masks_binary", u8(masks.binary, masks.dims));
    }
    const info = {
      backend: "glamm",
      prompt,
      instruction: options.instruction,
      answer: options.answer ?? null,
      text,
      boxes: options.boxes,
      segCount: seg.positions.length,
      model: sources,
      precision: model.manifest.precision,
    };
    return { arrays, info };
  } finally {
    await model.release();
  }
}
