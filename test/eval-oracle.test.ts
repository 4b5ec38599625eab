import { describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { evaluateCaptions } from "../src/eval/caption/evaluate.ts";
import type { ImageId } from "../src/eval/coco.ts";
import { readCaptionGroundTruth } from "../src/eval/gcg-files.ts";
import { runGcgEvaluation, runRefsegEvaluation, runRegionCaptionEvaluation } from "../src/eval/run.ts";
import { WordPieceTokenizer } from "../src/eval/wordpiece.ts";

const ORACLE = "../shared/oracle-eval";
// Every set present (set-a, ...), as the GLaMM conformance test loops over its configurations.
const sets = existsSync(ORACLE) ? readdirSync(ORACLE).filter((d) => existsSync(`${ORACLE}/${d}/expected.json`)) : [];
if (sets.length === 0) test.skip(`eval oracle checks: skipped, no ${ORACLE}/*/expected.json`, () => {});

/** 1e-6 relative, as the oracle README states (and tight absolute agreement at zero). */
function expectClose(actual: unknown, wanted: number, what: string): void {
  expect(typeof actual, what).toBe("number");
  const tolerance = wanted === 0 ? 1e-12 : 1e-6 * Math.abs(wanted);
  if (!(Math.abs((actual as number) - wanted) <= tolerance)) throw new Error(`${what}: ${actual} vs oracle ${wanted}`);
}

function expectCaptionMetrics(metrics: Record<string, number>, perImage: Record<string, unknown>[], oracle: any): void {
  const names = Object.keys(oracle.caption_metrics).filter((n) => n !== "METEOR");
  expect(names.length).toBe(6);
  for (const name of names) expectClose(metrics[name], oracle.caption_metrics[name], name);
  expect(perImage.length).toBe(Object.keys(oracle.caption_metrics_per_image).length);
  for (const row of perImage) {
    const want = oracle.caption_metrics_per_image[String(row.image_id)];
    for (const name of names) expectClose(row[name], want[name], `${name} of ${row.image_id}`);
  }
}

for (const set of sets) {
  const SET = `${ORACLE}/${set}`;
  const expected = JSON.parse(readFileSync(`${SET}/expected.json`, "utf8"));

  describe(`eval matches the official GLaMM evaluation on oracle ${set}`, () => {
    test("GCG: COCOeval segm stats, AP50, precision curve, mIoU, recall, captions", async () => {
      const record = await runGcgEvaluation({ predDir: `${SET}/predictions`, gtDir: `${SET}/gt`, split: "val" });
      const gcg = expected.gcg;
      expectClose(record.metrics.AP50, gcg.AP50, "AP50");
      const stats = record.details.coco_segm_stats as Record<string, number>;
      gcg.coco_segm_stats_names.forEach((name: string, i: number) => expectClose(Object.values(stats)[i], gcg.coco_segm_stats[i], name));
      expectClose(record.metrics.mIoU, gcg.mIoU, "mIoU");
      expectClose(record.metrics.recall, gcg.recall, "recall");
      expect(record.details.recall_true_positives).toBe(gcg.recall_true_positives);
      expect(record.details.recall_actual_positives).toBe(gcg.recall_actual_positives);
      const failed = gcg.recall_images_with_exception.map((e: { image_id: string }) => e.image_id);
      for (const row of record.perImage!) {
        const id = String(row.image_id);
        expectClose(row.mIoU, gcg.mIoU_per_image[id], `mIoU of ${id}`);
        if (failed.includes(id)) expect(row.recall_matches).toBeNull();
        else expect(row.recall_matches).toEqual(gcg.recall_matches_per_image_gt_dt_index_pairs[id]);
      }
      expectCaptionMetrics(record.metrics, record.perImage!, gcg);
    });

    test("GCG: 101-point precision at IoU .5 (area all, 100 dets)", async () => {
      const { evaluateGcgMasks } = await import("../src/eval/gcg.ts");
      const { readGcgGroundTruth, readGcgPredictions } = await import("../src/eval/gcg-files.ts");
      const gt = readGcgGroundTruth(`${SET}/gt`, "val");
      const metrics = await evaluateGcgMasks(gt, readGcgPredictions(`${SET}/predictions`, gt.imageIds));
      const curve = metrics.coco.precision[0].map((byK) => byK[0][0][2]);
      expected.gcg.coco_precision_iou50_area_all_md100_101pts.forEach((p: number, r: number) => expectClose(curve[r], p, `precision[${r}]`));
    });

    test("PTB tokenization equals the oracle's tokenized captions", () => {
      const { captions } = readCaptionGroundTruth(`${SET}/gt/val_gcg_coco_caption_gt.json`);
      const ids = [...new Set(captions.map((c) => c.imageId))];
      const references = new Map<ImageId, string[]>(ids.map((id) => [id, captions.filter((c) => c.imageId === id).map((c) => c.caption)]));
      const candidates = new Map<ImageId, string>(
        ids.map((id) => [id, JSON.parse(readFileSync(`${SET}/predictions/${id}.json`, "utf8")).caption as string]),
      );
      const { tokenized } = evaluateCaptions(ids, references, candidates);
      for (const { imageId, candidate, references: refs } of tokenized) {
        expect([candidate]).toEqual(expected.gcg.tokenized_captions.res[imageId]);
        expect(refs).toEqual(expected.gcg.tokenized_captions.gts[imageId]);
      }
    });

    test("region captioning", () => {
      const record = runRegionCaptionEvaluation(`${SET}/region_captioning/results.json`, `${SET}/region_captioning/gt_captions.json`);
      expectCaptionMetrics(record.metrics, record.perImage!, expected.region_captioning);
    });

    test("referring segmentation cIoU / gIoU in float32, per sample", () => {
      const record = runRefsegEvaluation(`${SET}/refseg/refseg_pairs.json`);
      const oracle = expected.referring_segmentation;
      expectClose(record.metrics.cIoU, oracle.cIoU, "cIoU");
      expectClose(record.metrics.gIoU, oracle.gIoU, "gIoU");
      expect(record.details.masks).toBe(oracle.gIoU_count_after_all_reduce);
      record.perImage!.forEach((row, i) => {
        const want = oracle.per_sample[i];
        expect(row.intersection).toEqual(want.intersection);
        expect(row.union).toEqual(want.union);
        (row.iou_mean_over_masks as number[]).forEach((v, c) => expectClose(v, want.accuracy_iou_mean_over_masks[c], `sample ${i} class ${c}`));
      });
    });
  });
}

const BERT = `${ORACLE}/bert-tiny-a`;
describe.if(existsSync(`${BERT}/index.json`))("WordPiece ids equal the official slow BertTokenizer", () => {
  test("every oracle phrase, including the hard ones", () => {
    const tokenizer = WordPieceTokenizer.fromVocabFile(`${BERT}/vocab.txt`);
    const { phrases } = JSON.parse(readFileSync(`${BERT}/index.json`, "utf8"));
    expect(phrases.length).toBeGreaterThan(50);
    for (const { phrase, input_ids } of phrases) expect({ phrase, ids: tokenizer.encode(phrase) }).toEqual({ phrase, ids: input_ids });
  });
});
