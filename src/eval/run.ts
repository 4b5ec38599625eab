/**
 * The benchmark evaluations and caption scoring end to end (files in, JSON-ready record out), shared by `glamm eval`
 * and the benchmark. METEOR is scored only when its data was found (see meteor/data.ts).
 */
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { inputError } from "../cli/errors.ts";
import { evaluateCaptions, type CaptionMetrics, type CaptionScorerExtra, type CaptionTokenization } from "./caption/evaluate.ts";
import { STAT_NAMES, type ImageId } from "./coco.ts";
import { evaluateGcgMasks, exactMatchSimilarity, type PhraseSimilarity } from "./gcg.ts";
import { readCaptionGroundTruth, readGcgGroundTruth, readGcgPredictions } from "./gcg-files.ts";
import { imageIdField, isObject, readJsonFile } from "./json.ts";
import type { MeteorSetup } from "./meteor/data.ts";
import { MeteorScorer } from "./meteor/score.ts";
import { evaluateRefseg, readRefsegSamples } from "./refseg.ts";

export interface EvalRecord {
  task: "gcg" | "refseg" | "regcap" | "captions";
  /** Headline metrics, in display order. */
  metrics: Record<string, number>;
  details: Record<string, unknown>;
  perImage?: Record<string, unknown>[];
}

/** METEOR 1.5 as an extra caption scorer, when its data was loaded. */
function meteorScorers(meteor: MeteorSetup | undefined): CaptionScorerExtra[] {
  if (!meteor) return [];
  const scorer = new MeteorScorer(meteor.resources);
  return [{ name: "METEOR", score: (pairs) => scorer.scoreSet(pairs) }];
}

export const METEOR_MISSING = "METEOR was not computed: its data is not installed; `glamm pull meteor-1.5` fetches it (or give --meteor-data DIR)";

const meteorDetail = (meteor: MeteorSetup | undefined) => meteor?.description ?? "not computed (no METEOR data: glamm pull meteor-1.5)";

function captionRecord(captions: CaptionMetrics): Pick<EvalRecord, "metrics"> & { perImage: Record<string, unknown>[] } {
  return {
    metrics: captions.corpus,
    perImage: captions.perImage.map(({ imageId, scores }) => ({ image_id: imageId, ...scores })),
  };
}

export const EXACT_MATCH_DESCRIPTION = "exact lower-cased match (stand-in for bert-base-uncased cosine)";

export async function runGcgEvaluation(options: {
  predDir: string;
  gtDir: string;
  split: string;
  similarity?: PhraseSimilarity;
  /** How recall's phrase similarity was computed, for the record (default: the exact-match stand-in). */
  similarityDescription?: string;
  meteor?: MeteorSetup;
}): Promise<EvalRecord> {
  const gt = readGcgGroundTruth(options.gtDir, options.split);
  const predictions = readGcgPredictions(options.predDir, gt.imageIds);
  const masks = await evaluateGcgMasks(gt, predictions, options.similarity ?? exactMatchSimilarity);
  const references = new Map<ImageId, string[]>();
  for (const c of gt.captions) references.set(c.imageId, [...(references.get(c.imageId) ?? []), c.caption]);
  const captions = evaluateCaptions(gt.imageIds, references, new Map(predictions.map((p) => [p.imageId, p.caption])), meteorScorers(options.meteor));
  const perCaption = captionRecord(captions);
  return {
    task: "gcg",
    metrics: { AP50: masks.ap50, mIoU: masks.mIoU, recall: masks.recall, ...perCaption.metrics },
    details: {
      coco_segm_stats: Object.fromEntries(STAT_NAMES.map((name, i) => [name, masks.coco.stats[i]])),
      recall_true_positives: masks.truePositives,
      recall_actual_positives: masks.actualPositives,
      phrase_similarity: options.similarityDescription ?? (options.similarity ? "custom" : EXACT_MATCH_DESCRIPTION),
      meteor: meteorDetail(options.meteor),
    },
    perImage: perCaption.perImage.map((row) => {
      const outcome = masks.recallPerImage.get(row.image_id as ImageId);
      return {
        ...row,
        mIoU: masks.mIoUPerImage.get(row.image_id as ImageId),
        recall_matches: outcome && "matches" in outcome ? outcome.matches : null,
        recall_error: outcome && "error" in outcome ? outcome.error : undefined,
      };
    }),
  };
}

export function runRefsegEvaluation(pairsPath: string): EvalRecord {
  const result = evaluateRefseg(readRefsegSamples(pairsPath));
  return {
    task: "refseg",
    metrics: { cIoU: result.cIoU, gIoU: result.gIoU },
    details: { masks: result.maskCount, samples: result.perSample.length },
    perImage: result.perSample.map((s) => ({ sample_id: s.sampleId, intersection: s.intersection, union: s.union, iou_mean_over_masks: s.meanIou })),
  };
}

/**
 * Caption results (COCO results format): one JSON list of {image_id, caption} or a directory whose *.json lists are
 * merged (as the official region-captioning script does); one caption per image, as pycocoevalcap's scorers assert.
 */
function readCaptionResults(path: string): Map<ImageId, string> {
  if (!existsSync(path)) throw inputError(`results not found: ${path}`);
  const files = statSync(path).isDirectory()
    ? readdirSync(path)
        .filter((f) => f.endsWith(".json") && f !== "merged.json")
        .sort()
        .map((f) => join(path, f))
    : [path];
  const results = new Map<ImageId, string>();
  for (const file of files) {
    const list = readJsonFile(file, "caption results");
    if (!Array.isArray(list)) throw inputError(`${file}: expected a list of {"image_id", "caption"}`);
    list.forEach((entry, i) => {
      const where = `${file}[${i}]`;
      if (!isObject(entry) || typeof entry.caption !== "string") throw inputError(`${where}: expected {"image_id", "caption"}`);
      const imageId = imageIdField(entry, "image_id", where);
      if (results.has(imageId)) throw inputError(`${where}: a second result for image ${imageId} (one caption per image is expected)`);
      results.set(imageId, entry.caption);
    });
  }
  return results;
}

/** COCOEvalCap on a results file against COCO caption annotations: the images with a result, in annotation order. */
function scoreCaptionFiles(resultsPath: string, gtPath: string, what: string, meteor: MeteorSetup | undefined, tokenize: CaptionTokenization) {
  const gt = readCaptionGroundTruth(gtPath, what);
  const results = readCaptionResults(resultsPath);
  const known = new Set(gt.imageIds);
  for (const id of results.keys()) if (!known.has(id)) throw inputError(`result for image ${id}, which the ground truth does not list`);
  const references = new Map<ImageId, string[]>();
  for (const c of gt.captions) references.set(c.imageId, [...(references.get(c.imageId) ?? []), c.caption]);
  const imageIds = gt.imageIds.filter((id) => results.has(id));
  return { imageIds, record: captionRecord(evaluateCaptions(imageIds, references, results, meteorScorers(meteor), tokenize)) };
}

export function runRegionCaptionEvaluation(resultsPath: string, gtPath: string, meteor?: MeteorSetup): EvalRecord {
  const { imageIds, record } = scoreCaptionFiles(resultsPath, gtPath, "region-captioning ground truth", meteor, "ptb");
  return { task: "regcap", metrics: record.metrics, details: { images: imageIds.length, meteor: meteorDetail(meteor) }, perImage: record.perImage };
}

/** `glamm eval captions`: any captioner's output in the COCO results format against COCO caption annotations. */
export function runCaptionEvaluation(options: { candidates: string; references: string; meteor?: MeteorSetup; tokenize: CaptionTokenization }): EvalRecord {
  const { imageIds, record } = scoreCaptionFiles(options.candidates, options.references, "caption references", options.meteor, options.tokenize);
  return {
    task: "captions",
    metrics: record.metrics,
    details: { images: imageIds.length, tokenize: options.tokenize, meteor: meteorDetail(options.meteor) },
    perImage: record.perImage,
  };
}

const cell = (value: unknown) => (typeof value === "number" ? value.toFixed(4) : value === null || value === undefined ? "-" : String(value));

/** Left-aligned columns separated by two spaces. */
function formatTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((row) => row[c].length)));
  return [header, ...rows].map((row) => row.map((value, c) => value.padEnd(widths[c])).join("  ").trimEnd()).join("\n");
}

/** The headline metrics as a two-column table. */
export function formatMetricsTable(record: EvalRecord): string {
  return formatTable(["metric", "value"], Object.entries(record.metrics).map(([name, value]) => [name, cell(value)]));
}

/** One row per image (per sample), one column per value; ids (image_id, sample_id) as given. */
export function formatPerImageTable(rows: readonly Record<string, unknown>[]): string {
  const columns = [...new Set(rows.flatMap((row) => Object.keys(row)))];
  return formatTable(columns, rows.map((row) => columns.map((c) => (c.endsWith("_id") ? String(row[c]) : cell(row[c])))));
}
