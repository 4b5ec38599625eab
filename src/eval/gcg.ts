/**
 * GCG metrics as eval/gcg/evaluate.py of GLaMM computes them: mask AP (COCOeval segm), mIoU (greedy one-to-one
 * pairing per image), and recall (a GT phrase counts when a greedy match has IoU >= 0.5 and phrase similarity
 * >= 0.5), including the official script's quirks.
 */
import { inputError } from "../cli/errors.ts";
import { rleArea, rleIntersectionUnion, type Rle } from "../output/rle.ts";
import { evaluateSegmentation, type CocoSegmEvaluation, type DetectionInstance, type ImageId } from "./coco.ts";
import type { GcgGroundTruth, GcgPrediction } from "./gcg-files.ts";
import { npArgmax, npMax, npMean } from "./numeric.ts";

/** Cosine-similarity matrix [a.length][b.length] between two phrase lists. */
export type PhraseSimilarity = (a: string[], b: string[]) => number[][] | Promise<number[][]>;

/** The oracle's stand-in for BERT: 1 when the lower-cased phrases are equal, else 0. */
export const exactMatchSimilarity: PhraseSimilarity = (a, b) =>
  a.map((x) => b.map((y) => (x.toLowerCase() === y.toLowerCase() ? 1 : 0)));

/** compute_iou of eval/utils.py: sum(and)/sum(or), NaN for two empty masks (numpy's 0/0). */
function maskIou(a: Rle, b: Rle): number {
  const { intersection, union } = rleIntersectionUnion(a, b);
  return intersection / union;
}

const iouMatrix = (rows: readonly Rle[], cols: readonly Rle[]) => rows.map((r) => cols.map((c) => maskIou(r, c)));

/** compute_miou: repeatedly take the largest IoU and delete its row and column. */
export function greedyMeanIou(predMasks: readonly Rle[], gtMasks: readonly Rle[]): number {
  let matrix = iouMatrix(predMasks, gtMasks);
  const paired: number[] = [];
  while (matrix.length > 0 && matrix[0].length > 0 && npMax(matrix) > 0) {
    const [i, j] = npArgmax(matrix);
    paired.push(matrix[i][j]);
    matrix = matrix.filter((_, r) => r !== i).map((row) => row.filter((_, c) => c !== j));
  }
  return paired.length ? npMean(paired) : 0;
}

export type RecallOutcome = { matches: [number, number][] } | { error: string };

/**
 * find_best_matches: greedy by IoU; stops at the first pair below either threshold. The official code indexes
 * the similarity matrix with the IoU matrix's indices, so fewer phrases than masks raises (an IndexError it
 * catches), and that image then adds no true positives.
 */
export function findBestMatches(ious: number[][], sims: number[][], iouThreshold = 0.5, simThreshold = 0.5): RecallOutcome {
  const matches: [number, number][] = [];
  const nCols = ious[0]?.length ?? 0;
  while (ious.length > 0 && nCols > 0) {
    const [i, j] = npArgmax(ious);
    if (ious[i][j] < iouThreshold) break;
    if (i >= sims.length || j >= (sims[i]?.length ?? 0)) {
      return { error: `IndexError: index ${i >= sims.length ? i : j} is out of bounds for axis ${i >= sims.length ? 0 : 1} with size ${i >= sims.length ? sims.length : (sims[0]?.length ?? 0)}` };
    }
    if (sims[i][j] < simThreshold) break;
    matches.push([i, j]);
    for (let c = 0; c < nCols; c++) ious[i][c] = 0;
    for (const row of ious) row[j] = 0;
    sims[i].fill(0);
    for (const row of sims) row[j] = 0;
  }
  return { matches };
}

export interface GcgMaskMetrics {
  ap50: number;
  coco: CocoSegmEvaluation;
  mIoU: number;
  mIoUPerImage: Map<ImageId, number>;
  recall: number;
  truePositives: number;
  actualPositives: number;
  recallPerImage: Map<ImageId, RecallOutcome>;
}

function masksByImage<T extends { imageId: ImageId }>(items: readonly T[]): Map<ImageId, T[]> {
  const map = new Map<ImageId, T[]>();
  for (const item of items) map.set(item.imageId, [...(map.get(item.imageId) ?? []), item]);
  return map;
}

/** Detections as coco.loadRes builds them from the per-image files: ids from 1 in file order, score 1. */
export function toDetections(gt: GcgGroundTruth, predictions: readonly GcgPrediction[]): DetectionInstance[] {
  const detections: DetectionInstance[] = [];
  for (const prediction of predictions) {
    if (prediction.masks.length > 0 && !gt.maskImageIds.has(prediction.imageId)) {
      throw inputError(`prediction for image ${prediction.imageId} has masks but the mask ground truth has no such image`);
    }
    for (const rle of prediction.masks) {
      detections.push({ id: detections.length + 1, imageId: prediction.imageId, categoryId: 1, rle, area: rleArea(rle), score: 1 });
    }
  }
  return detections;
}

export async function evaluateGcgMasks(
  gt: GcgGroundTruth,
  predictions: readonly GcgPrediction[],
  similarity: PhraseSimilarity = exactMatchSimilarity,
): Promise<GcgMaskMetrics> {
  const detections = toDetections(gt, predictions);
  const coco = evaluateSegmentation(gt.masks, detections, { categoryIds: [1] });
  const gtByImage = masksByImage(gt.masks);
  const dtByImage = masksByImage(detections);
  const captionByImage = masksByImage(gt.captions);
  const predictionByImage = new Map(predictions.map((p) => [p.imageId, p]));

  const mIoUPerImage = new Map<ImageId, number>();
  for (const imageId of gt.imageIds) {
    const gtMasks = (gtByImage.get(imageId) ?? []).map((g) => g.rle);
    const predMasks = (dtByImage.get(imageId) ?? []).map((d) => d.rle);
    mIoUPerImage.set(imageId, greedyMeanIou(predMasks, gtMasks));
  }

  let truePositives = 0;
  let actualPositives = 0;
  const recallPerImage = new Map<ImageId, RecallOutcome>();
  for (const imageId of gt.imageIds) {
    const gtCaption = captionByImage.get(imageId)?.[0];
    const prediction = predictionByImage.get(imageId);
    if (!gtCaption || !prediction) {
      recallPerImage.set(imageId, { error: "IndexError: no caption annotation for this image" });
      continue;
    }
    actualPositives += gtCaption.labels.length;
    const gtMasks = (gtByImage.get(imageId) ?? []).map((g) => g.rle);
    const predMasks = (dtByImage.get(imageId) ?? []).map((d) => d.rle);
    let outcome: RecallOutcome;
    try {
      const ious = iouMatrix(gtMasks, predMasks);
      outcome = findBestMatches(ious, await similarity(gtCaption.labels, prediction.phrases));
    } catch (error) {
      outcome = { error: (error as Error).message };
    }
    if ("matches" in outcome) truePositives += outcome.matches.length;
    recallPerImage.set(imageId, outcome);
  }

  return {
    ap50: coco.stats[1],
    coco,
    mIoU: mIoUPerImage.size ? npMean([...mIoUPerImage.values()]) : 0,
    mIoUPerImage,
    recall: actualPositives > 0 ? truePositives / actualPositives : 0,
    truePositives,
    actualPositives,
    recallPerImage,
  };
}
