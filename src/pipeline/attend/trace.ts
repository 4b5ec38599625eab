import type { NpyArray } from "../../output/npy.ts";
import { f32, i64, u8, type TraceResult } from "../trace-output.ts";
import { bicubicUpsample } from "./maps.ts";
import { runAttend, type AttendOptions } from "./run.ts";
import type { AttendRun } from "./session.ts";

export type AttendTraceOptions = Pick<AttendOptions, "model" | "vision" | "sam" | "image" | "instruction" | "answer" | "maxTokens" | "removeCorner" | "chunks" | "device" | "difflmm" | "precision" | "onProgress">;

const stack = (planes: readonly Float32Array[]): Float32Array => {
  const out = new Float32Array(planes.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const plane of planes) {
    out.set(plane, offset);
    offset += plane.length;
  }
  return out;
};

/** The image-level arrays (refs/ top level of the oracle). */
function imageArrays(run: AttendRun): [string, NpyArray][] {
  const { image, llava, samImage } = run;
  const [h, w] = samImage.input.resizedSize;
  const side = samImage.input.pixelValues.dims[2];
  return [
    ["image", u8(image.data, [image.height, image.width, 3])],
    ["image_square", u8(llava.square.data, [llava.square.height, llava.square.width, 3])],
    ["sam_input_image", u8(samImage.input.resized.data, [h, w, 3])],
    ["sam_preprocessed", f32(samImage.input.pixelValues.data, [3, side, side])],
    ["sam_features", f32(samImage.embeddings, samImage.dims)],
    ...(llava.traceArrays ?? []),
  ];
}

/** The per-run arrays (refs/<run>/ of the oracle), full-size where the oracle subsamples. */
function runArrays(run: AttendRun): [string, NpyArray][] {
  const { grid, groups, masks, image } = run;
  const n = groups.length;
  const steps = run.stepMaps.length;
  const { side, window } = run.square;
  const squareMaps = run.groupMaps.map((map) => bicubicUpsample(map, grid, side, { top: 0, left: 0, height: side, width: side }));
  const patchRows = grid * grid;
  const hidden = run.llava.imageFeatures.length / patchRows;
  return [
    ["input_ids", i64(run.promptIds)],
    ["pixel_values", f32(run.llava.pixelValues, [3, run.llava.pixelSide, run.llava.pixelSide])],
    ["clip_patch_features", f32(run.llava.patchFeatures, [patchRows, run.llava.patchFeatures.length / patchRows])],
    ["image_features", f32(run.llava.imageFeatures, [patchRows, run.llava.imageFeatures.length / patchRows])],
    ["inputs_embeds", f32(run.inputsEmbeds, [run.inputsEmbeds.length / hidden, hidden])],
    ["sequences", i64([run.promptIds[0], ...run.tokens])],
    ["logits", f32(stack(run.logits), [steps, run.logits[0]?.length ?? 0])],
    ["attn_per_step", f32(stack(run.stepMaps), [steps, grid, grid])],
    ["attn_mean", f32(run.meanMap, [grid, grid])],
    ["attn_centered", f32(stack(run.centredMaps), [steps, grid, grid])],
    ["tokens_offset", i64(run.tokens)],
    ["group_scores", f32(stack(run.groupMaps), [n, grid, grid])],
    ["upsample_scores_square", f32(stack(squareMaps), [n, side, side])],
    ["upsample_scores", f32(stack(run.upsampled), [n, window.height, window.width])],
    ["upsample_scores_max", f32(Float32Array.from(run.maxima, (m) => m.value), [n])],
    ["max_indices", i64(run.maxima.map((m) => m.index))],
    ["points_xy", i64(run.maxima.flatMap((m) => [m.x, m.y]), [n, 2])],
    ["sam_point_coords", f32(masks.coords, [n, 1, 2])],
    ["sam_point_labels", i64(new Array<number>(n).fill(1), [n, 1])],
    ["sam_iou_predictions", f32(masks.iou, [n, masks.outputs])],
    ["sam_low_res_masks", f32(masks.lowRes, [n, masks.outputs, ...lowResSide(masks.lowRes.length, n * masks.outputs)])],
    ["sam_mask_areas_all", i64(masks.areasAll ?? [], [n, masks.outputs])],
    ["sam_mask_logits_kept", f32(masks.keptLogits, [n, image.height, image.width])],
    ["final_masks", u8(masks.keptMasks, [n, image.height, image.width])],
    ["final_mask_areas", i64(masks.keptAreas)],
    ["final_scores", f32(masks.keptScores, [n])],
  ];
}

function lowResSide(values: number, planes: number): [number, number] {
  const side = planes ? Math.round(Math.sqrt(values / planes)) : 0;
  return [side, side];
}

/** Runs one attend-and-segment case and returns every array of the oracle's trace contract plus trace.json's info. */
export async function runAttendTrace(options: AttendTraceOptions): Promise<TraceResult> {
  const run = await runAttend({ ...options, withAllMaskAreas: true });
  const arrays = new Map<string, NpyArray>([...imageArrays(run), ...runArrays(run)]);
  const { window, side } = run.square;
  const info = {
    backend: "attend",
    prompt: run.prompt,
    question: options.instruction,
    ...(options.answer === undefined ? {} : { forced_answer: options.answer }),
    text: run.text,
    sequences: [run.promptIds[0], ...run.tokens],
    image_token_start_index: run.imageSpan.start,
    image_token_end_index: run.imageSpan.end,
    n_steps: run.stepMaps.length,
    token_char_start: run.tokenStarts,
    token_char_end: run.tokenEnds,
    phrases: run.groups.map((g) => g.phrase),
    groups: run.groups.map((g) => ({ phrase: g.phrase, core_word: run.text.slice(g.startChar, g.endChar), tokens: g.tokens, start_char: g.startChar, end_char: g.endChar })),
    crop: { upsample_size: side, crop_h_start: window.top, crop_h_end: window.top + window.height, crop_w_start: window.left, crop_w_end: window.left + window.width },
    sam_input_size: run.samImage.input.resizedSize,
    sam_original_size: run.samImage.input.originalSize,
    points: run.maxima.map((m) => [m.x, m.y]),
    scores: Array.from(run.masks.keptScores),
    remove_corner: options.removeCorner ?? false,
    ...(run.llava.noise ? { diffusion_noise: run.llava.noise } : {}),
  };
  return { arrays, info };
}
