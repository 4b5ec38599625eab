/**
 * Referring-segmentation cIoU / gIoU exactly as GLaMM's eval/referring_seg loop computes them: per-class
 * (background, foreground) histograms in float32, AverageMeter sums, `gIoU = sum / (count + 1e-5)` and
 * `cIoU = I / (U + 1e-10)`, all in float32.
 */
import { inputError } from "../cli/errors.ts";
import { rleFromCoco, rleIntersectionUnion, rleArea, type Rle } from "../output/rle.ts";
import { arrayField, isObject, readJsonFile } from "./json.ts";

const f32 = Math.fround;

export interface RefsegSample {
  sampleId: number | string;
  pairs: { gt: Rle; pred: Rle }[];
}

export interface RefsegSampleResult {
  sampleId: number | string;
  /** [background, foreground] pixel counts, summed over the sample's masks. */
  intersection: [number, number];
  union: [number, number];
  /** Per-class IoU averaged over the sample's masks (float32). */
  meanIou: [number, number];
}

export interface RefsegMetrics {
  cIoU: number;
  gIoU: number;
  maskCount: number;
  perSample: RefsegSampleResult[];
}

/** intersectionAndUnionGPU(pred, gt, K=2): [background, foreground] intersection and union. */
function classIntersectionUnion(gt: Rle, pred: Rle): { intersection: [number, number]; union: [number, number] } {
  const { intersection, union } = rleIntersectionUnion(gt, pred);
  const total = gt.height * gt.width;
  const both0 = total - union;
  const area0 = 2 * total - rleArea(gt) - rleArea(pred);
  return { intersection: [both0, intersection], union: [area0 - both0, union] };
}

export function evaluateRefseg(samples: readonly RefsegSample[]): RefsegMetrics {
  const sumIntersection = [0, 0];
  const sumUnion = [0, 0];
  const sumIou = [0, 0];
  let count = 0;
  const perSample = samples.map((sample): RefsegSampleResult => {
    const n = sample.pairs.length;
    if (n === 0) throw inputError(`refseg sample ${sample.sampleId} has no mask pairs`);
    const intersection: [number, number] = [0, 0];
    const union: [number, number] = [0, 0];
    const iou: [number, number] = [0, 0];
    for (const { gt, pred } of sample.pairs) {
      const counts = classIntersectionUnion(gt, pred);
      for (let c = 0; c < 2; c++) {
        const i = f32(counts.intersection[c]);
        const u = f32(counts.union[c]);
        intersection[c] = f32(intersection[c] + i);
        union[c] = f32(union[c] + u);
        iou[c] = f32(iou[c] + f32(i / f32(u + f32(1e-5))));
        if (u === 0) iou[c] = f32(iou[c] + 1);
      }
    }
    const meanIou: [number, number] = [f32(iou[0] / n), f32(iou[1] / n)];
    for (let c = 0; c < 2; c++) {
      sumIntersection[c] = f32(sumIntersection[c] + intersection[c]);
      sumUnion[c] = f32(sumUnion[c] + union[c]);
      sumIou[c] = f32(sumIou[c] + f32(meanIou[c] * n));
    }
    count += n;
    return { sampleId: sample.sampleId, intersection, union, meanIou };
  });
  return {
    cIoU: f32(sumIntersection[1] / f32(sumUnion[1] + f32(1e-10))),
    gIoU: f32(sumIou[1] / f32(f32(count) + 1e-5)),
    maskCount: count,
    perSample,
  };
}

/** Reads `{"samples": [{"sample_id", "pairs": [{"gt": RLE, "pred": RLE}, ...]}, ...]}`. */
export function readRefsegSamples(path: string): RefsegSample[] {
  const file = readJsonFile(path, "referring-segmentation pairs");
  return arrayField(file, "samples", path).map((sample, s) => {
    const where = `${path} samples[${s}]`;
    if (!isObject(sample)) throw inputError(`${where}: expected an object`);
    const sampleId = typeof sample.sample_id === "number" || typeof sample.sample_id === "string" ? sample.sample_id : s;
    const pairs = arrayField(sample, "pairs", where).map((pair, p) => {
      if (!isObject(pair)) throw inputError(`${where}.pairs[${p}]: expected {"gt", "pred"}`);
      const gt = rleFromCoco(pair.gt, `${where}.pairs[${p}].gt`);
      const pred = rleFromCoco(pair.pred, `${where}.pairs[${p}].pred`);
      if (gt.height !== pred.height || gt.width !== pred.width) throw inputError(`${where}.pairs[${p}]: gt and pred sizes differ`);
      return { gt, pred };
    });
    return { sampleId, pairs };
  });
}
