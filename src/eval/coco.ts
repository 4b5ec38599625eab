/**
 * COCOeval for segmentation (pycocotools cocoeval.py): evaluate, accumulate and summarize with the
 * default parameters (IoU .50:.05:.95, 101 recall points, maxDets 1/10/100, all/small/medium/large).
 */
import { rleIou, type Rle } from "../output/rle.ts";
import { compareIds, npMean } from "./numeric.ts";

export type ImageId = string | number;

export interface GroundTruthInstance {
  id: number;
  imageId: ImageId;
  categoryId: number;
  rle: Rle;
  /** The annotation's own "area" field (COCOeval does not recompute it for ground truth). */
  area: number;
  iscrowd: boolean;
}

export interface DetectionInstance {
  id: number;
  imageId: ImageId;
  categoryId: number;
  rle: Rle;
  area: number;
  score: number;
}

function linspace(start: number, stop: number, num: number): number[] {
  const step = (stop - start) / (num - 1);
  const values = Array.from({ length: num }, (_, i) => i * step + start);
  values[num - 1] = stop;
  return values;
}

export const IOU_THRESHOLDS = linspace(0.5, 0.95, 10);
export const RECALL_THRESHOLDS = linspace(0, 1, 101);
export const MAX_DETS = [1, 10, 100];
export const AREA_RANGES: { label: "all" | "small" | "medium" | "large"; range: [number, number] }[] = [
  { label: "all", range: [0, 1e10] },
  { label: "small", range: [0, 32 ** 2] },
  { label: "medium", range: [32 ** 2, 96 ** 2] },
  { label: "large", range: [96 ** 2, 1e10] },
];

export const STAT_NAMES = [
  "AP@[.50:.95] all md100",
  "AP@.50 all md100",
  "AP@.75 all md100",
  "AP small",
  "AP medium",
  "AP large",
  "AR@1",
  "AR@10",
  "AR@100",
  "AR small",
  "AR medium",
  "AR large",
] as const;

interface ImageEval {
  dtScores: number[];
  /** [threshold][detection]: matched gt id, 0 when unmatched. */
  dtMatches: number[][];
  dtIgnore: boolean[][];
  gtIgnore: boolean[];
}

export interface CocoSegmEvaluation {
  /** The 12 summary numbers, in STAT_NAMES order (-1 where nothing was evaluated). */
  stats: number[];
  /** precision[t][r][k][a][m] as accumulate() builds it (T=10, R=101, K, A=4, M=3). */
  precision: number[][][][][];
  /** recall[t][k][a][m]. */
  recall: number[][][][];
  imageIds: ImageId[];
  categoryIds: number[];
}

const key = (imageId: ImageId, categoryId: number) => `${typeof imageId}:${imageId}\u0000${categoryId}`;

function groupBy<T extends { imageId: ImageId; categoryId: number }>(items: readonly T[]): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item.imageId, item.categoryId);
    const list = groups.get(k);
    if (list) list.push(item);
    else groups.set(k, [item]);
  }
  return groups;
}

/** Stable sort indices by descending score (np.argsort(-score, kind="mergesort")). */
const byScore = (dts: readonly DetectionInstance[]) =>
  dts.map((_, i) => i).sort((a, b) => dts[b].score - dts[a].score || a - b);

function evaluateImage(
  gtAll: readonly GroundTruthInstance[],
  dtAll: readonly DetectionInstance[],
  ious: number[][],
  areaRange: [number, number],
  maxDet: number,
): ImageEval | null {
  if (gtAll.length === 0 && dtAll.length === 0) return null;
  const outside = (area: number) => area < areaRange[0] || area > areaRange[1];
  const gtIgnoreFlags = gtAll.map((g) => g.iscrowd || outside(g.area));
  const gtOrder = gtAll.map((_, i) => i).sort((a, b) => Number(gtIgnoreFlags[a]) - Number(gtIgnoreFlags[b]) || a - b);
  const gt = gtOrder.map((i) => gtAll[i]);
  const gtIgnore = gtOrder.map((i) => gtIgnoreFlags[i]);
  const dtOrder = byScore(dtAll).slice(0, maxDet);
  const dt = dtOrder.map((i) => dtAll[i]);
  const T = IOU_THRESHOLDS.length;
  const gtMatched = IOU_THRESHOLDS.map(() => new Array<number>(gt.length).fill(0));
  const dtMatches = IOU_THRESHOLDS.map(() => new Array<number>(dt.length).fill(0));
  const dtIgnore = IOU_THRESHOLDS.map(() => new Array<boolean>(dt.length).fill(false));
  if (ious.length > 0) {
    for (let t = 0; t < T; t++) {
      for (let d = 0; d < dt.length; d++) {
        let best = Math.min(IOU_THRESHOLDS[t], 1 - 1e-10);
        let m = -1;
        for (let g = 0; g < gt.length; g++) {
          if (gtMatched[t][g] > 0 && !gt[g].iscrowd) continue;
          if (m > -1 && !gtIgnore[m] && gtIgnore[g]) break;
          // ious rows follow the score-sorted detections; columns the original gt order
          const iou = ious[d][gtOrder[g]];
          if (iou < best) continue;
          best = iou;
          m = g;
        }
        if (m === -1) continue;
        dtIgnore[t][d] = gtIgnore[m];
        dtMatches[t][d] = gt[m].id;
        gtMatched[t][m] = dt[d].id;
      }
    }
  }
  for (let t = 0; t < T; t++) {
    for (let d = 0; d < dt.length; d++) {
      dtIgnore[t][d] = dtIgnore[t][d] || (dtMatches[t][d] === 0 && outside(dt[d].area));
    }
  }
  return { dtScores: dt.map((d) => d.score), dtMatches, dtIgnore, gtIgnore };
}

/** First index i with sorted[i] >= value (np.searchsorted side="left"). */
function searchLeft(sorted: readonly number[], value: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid] < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function accumulateCell(evals: readonly ImageEval[], maxDet: number, t: number): { precision: number[]; recall: number } | null {
  const scores: number[] = [];
  const matched: boolean[] = [];
  const ignored: boolean[] = [];
  let npig = 0;
  for (const e of evals) {
    const n = Math.min(maxDet, e.dtScores.length);
    for (let d = 0; d < n; d++) {
      scores.push(e.dtScores[d]);
      matched.push(e.dtMatches[t][d] !== 0);
      ignored.push(e.dtIgnore[t][d]);
    }
    npig += e.gtIgnore.filter((ig) => !ig).length;
  }
  if (npig === 0) return null;
  const order = scores.map((_, i) => i).sort((a, b) => scores[b] - scores[a] || a - b);
  const rc: number[] = [];
  const pr: number[] = [];
  let tp = 0;
  let fp = 0;
  for (const i of order) {
    if (!ignored[i]) {
      if (matched[i]) tp++;
      else fp++;
    }
    rc.push(tp / npig);
    pr.push(tp / (fp + tp + Number.EPSILON));
  }
  const recall = rc.length ? rc[rc.length - 1] : 0;
  for (let i = pr.length - 1; i > 0; i--) if (pr[i] > pr[i - 1]) pr[i - 1] = pr[i];
  const precision = new Array<number>(RECALL_THRESHOLDS.length).fill(0);
  for (let r = 0; r < RECALL_THRESHOLDS.length; r++) {
    const index = searchLeft(rc, RECALL_THRESHOLDS[r]);
    if (index >= pr.length) break; // the official try/except stops filling here
    precision[r] = pr[index];
  }
  return { precision, recall };
}

/** Runs COCOeval(iouType="segm") evaluate + accumulate + summarize. */
export function evaluateSegmentation(
  gts: readonly GroundTruthInstance[],
  dts: readonly DetectionInstance[],
  options: { imageIds?: ImageId[]; categoryIds?: number[] } = {},
): CocoSegmEvaluation {
  const imageIds = [...new Set(options.imageIds ?? gts.map((g) => g.imageId))].sort(compareIds);
  const categoryIds = [...new Set(options.categoryIds ?? gts.map((g) => g.categoryId))].sort((a, b) => a - b);
  const gtGroups = groupBy(gts);
  const dtGroups = groupBy(dts);
  const T = IOU_THRESHOLDS.length;
  const R = RECALL_THRESHOLDS.length;
  const K = categoryIds.length;
  const A = AREA_RANGES.length;
  const M = MAX_DETS.length;
  const precision = Array.from({ length: T }, () =>
    Array.from({ length: R }, () => Array.from({ length: K }, () => Array.from({ length: A }, () => new Array<number>(M).fill(-1)))),
  );
  const recall = Array.from({ length: T }, () => Array.from({ length: K }, () => Array.from({ length: A }, () => new Array<number>(M).fill(-1))));
  const maxDetLast = MAX_DETS[M - 1];

  categoryIds.forEach((categoryId, k) => {
    const perImage = imageIds.map((imageId) => {
      const gt = gtGroups.get(key(imageId, categoryId)) ?? [];
      const dt = dtGroups.get(key(imageId, categoryId)) ?? [];
      const kept = byScore(dt).slice(0, maxDetLast).map((i) => dt[i]);
      const ious = gt.length === 0 || kept.length === 0 ? [] : rleIou(kept.map((d) => d.rle), gt.map((g) => g.rle), gt.map((g) => g.iscrowd));
      return { gt, dt, ious };
    });
    AREA_RANGES.forEach(({ range }, a) => {
      const evals = perImage
        .map(({ gt, dt, ious }) => evaluateImage(gt, dt, ious, range, maxDetLast))
        .filter((e): e is ImageEval => e !== null);
      if (evals.length === 0) return;
      MAX_DETS.forEach((maxDet, m) => {
        for (let t = 0; t < T; t++) {
          const cell = accumulateCell(evals, maxDet, t);
          if (!cell) continue;
          recall[t][k][a][m] = cell.recall;
          for (let r = 0; r < R; r++) precision[t][r][k][a][m] = cell.precision[r];
        }
      });
    });
  });

  return { stats: summarize(precision, recall), precision, recall, imageIds, categoryIds };
}

function meanOfValid(values: number[]): number {
  const valid = values.filter((v) => v > -1);
  return valid.length === 0 ? -1 : npMean(valid);
}

function summarize(precision: number[][][][][], recall: number[][][][]): number[] {
  const areaIndex = (label: string) => AREA_RANGES.findIndex((r) => r.label === label);
  const thresholdIndices = (iouThr?: number) =>
    iouThr === undefined ? IOU_THRESHOLDS.map((_, t) => t) : IOU_THRESHOLDS.flatMap((v, t) => (v === iouThr ? [t] : []));
  const ap = (iouThr?: number, area = "all", maxDets = 100) => {
    const a = areaIndex(area);
    const m = MAX_DETS.indexOf(maxDets);
    // numpy's s[t][:, :, :, a, m] flattens in (t, r, k) order
    const values = thresholdIndices(iouThr).flatMap((t) => precision[t].flatMap((byK) => byK.map((byA) => byA[a][m])));
    return meanOfValid(values);
  };
  const ar = (iouThr?: number, area = "all", maxDets = 100) => {
    const a = areaIndex(area);
    const m = MAX_DETS.indexOf(maxDets);
    const values = thresholdIndices(iouThr).flatMap((t) => recall[t].map((byA) => byA[a][m]));
    return meanOfValid(values);
  };
  return [
    ap(),
    ap(0.5),
    ap(0.75),
    ap(undefined, "small"),
    ap(undefined, "medium"),
    ap(undefined, "large"),
    ar(undefined, "all", 1),
    ar(undefined, "all", 10),
    ar(),
    ar(undefined, "small"),
    ar(undefined, "medium"),
    ar(undefined, "large"),
  ];
}
