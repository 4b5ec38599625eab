import { inputError } from "../cli/errors.ts";
import { GraphBuilder } from "../graph/builder.ts";
import { ort } from "../runtime/ort.ts";

/**
 * segment-anything's Sam.postprocess_masks as a graph: low-res logits [N, 1, h, w] → bilinear (align_corners=False) to
 * inputSize² → crop to `input_hw` (the resized image) → bilinear to `original_hw`. Outputs `pred_mask_logits` [N, H, W]
 * and `pred_masks` ([N, H, W] uint8, logits > 0). `input_hw`, `original_hw`: int64 [2] (height, width).
 */
export function buildMaskPostprocess(inputSize: number, lowResSize: number): GraphBuilder {
  const g = new GraphBuilder({ name: "sam_postprocess_masks" });
  const lowRes = g.input("low_res_masks", "float32", ["n_seg", 1, lowResSize, lowResSize]);
  const inputHw = g.input("input_hw", "int64", [2]);
  const originalHw = g.input("original_hw", "int64", [2]);
  const scale = inputSize / lowResSize;
  const bilinear = { mode: "linear", coordinateTransformationMode: "half_pixel" } as const;
  const padded = g.resize(lowRes, { ...bilinear, scales: [1, 1, scale, scale] });
  const cropped = g.slice(padded, g.ints([0, 0]), inputHw, [2, 3]);
  const logits = g.resize(cropped, { ...bilinear, sizes: g.concat([g.shape(lowRes, 0, 2), originalHw], 0) });
  const planes = g.squeeze(logits, [1]);
  g.output(planes, "pred_mask_logits", "float32", ["n_seg", "height", "width"]);
  g.output(g.cast(g.greater(planes, g.scalar(0)), "uint8"), "pred_masks", "uint8", ["n_seg", "height", "width"]);
  return g;
}

export interface PostprocessedMasks {
  /** [N, H, W] float32 logits at the original size. */
  logits: Float32Array;
  /** [N, H, W] 0/1. */
  binary: Uint8Array;
  dims: [number, number, number];
}

/** Runs a buildMaskPostprocess session on low_res_masks [N, 1, s, s] for an image resized to inputHw from originalHw. */
export async function postprocessMasks(
  session: ort.InferenceSession,
  lowResMasks: Float32Array,
  count: number,
  inputHw: readonly [number, number],
  originalHw: readonly [number, number],
): Promise<PostprocessedMasks> {
  const side = Math.round(Math.sqrt(lowResMasks.length / Math.max(count, 1)));
  if (count < 1 || side * side * count !== lowResMasks.length) throw inputError(`low-res masks of ${lowResMasks.length} values are not ${count} square planes`);
  if (![...inputHw, ...originalHw].every((n) => Number.isSafeInteger(n) && n > 0)) {
    throw inputError(`mask sizes must be positive integers (resized ${inputHw.join("x")}, original ${originalHw.join("x")})`);
  }
  const hw = (pair: readonly [number, number]) => new ort.Tensor("int64", BigInt64Array.from(pair, BigInt), [2]);
  const out = await session.run({
    low_res_masks: new ort.Tensor("float32", lowResMasks, [count, 1, side, side]),
    input_hw: hw(inputHw),
    original_hw: hw(originalHw),
  });
  return {
    logits: out.pred_mask_logits.data as Float32Array,
    binary: out.pred_masks.data as Uint8Array,
    dims: [count, originalHw[0], originalHw[1]],
  };
}
