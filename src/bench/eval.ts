/**
 * `eval-gcg` benchmark: the full GCG evaluation (files read, COCOeval segm, mIoU, recall, BLEU/ROUGE-L/CIDEr) over
 * a seeded synthetic set in the official layout, 1,000 images by default (param images=N).
 */
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { seededRandom } from "../util/random.ts";
import { encodeMask, rleArea, rleToBbox, rleToCoco } from "../output/rle.ts";
import { runGcgEvaluation } from "../eval/run.ts";
import type { Benchmark } from "./runner.ts";
import { countParam } from "./params.ts";

const HEIGHT = 240;
const WIDTH = 320;
const OBJECTS = ["man", "dog", "cat", "car", "tree", "bench", "horse", "bottle", "umbrella", "bicycle"];
const COLOURS = ["red", "blue", "green", "white", "black", "small", "large", "wooden"];

function boxMask(x0: number, y0: number, w: number, h: number) {
  const mask = new Uint8Array(HEIGHT * WIDTH);
  for (let y = y0; y < Math.min(HEIGHT, y0 + h); y++) mask.fill(1, y * WIDTH + x0, y * WIDTH + Math.min(WIDTH, x0 + w));
  return encodeMask(mask, HEIGHT, WIDTH);
}

/** Writes `gt/val_gcg_coco_{mask,caption}_gt.json` and `predictions/{id}.json` under `dir`. */
export function writeSyntheticGcgSet(dir: string, images: number, seed = 7): void {
  const rand = seededRandom(seed);
  const pick = <T>(list: T[]) => list[Math.floor(rand() * list.length)];
  const imageList = [];
  const maskAnnotations = [];
  const captionAnnotations = [];
  mkdirSync(join(dir, "gt"), { recursive: true });
  mkdirSync(join(dir, "predictions"), { recursive: true });
  for (let i = 0; i < images; i++) {
    const id = `syn_${String(i).padStart(5, "0")}`;
    imageList.push({ id, file_name: `${id}.jpg`, height: HEIGHT, width: WIDTH });
    const labels: string[] = [];
    const predMasks = [];
    const phrases: string[] = [];
    for (let k = 0; k < 2 + Math.floor(rand() * 3); k++) {
      const [x, y, w, h] = [Math.floor(rand() * 200), Math.floor(rand() * 150), 20 + Math.floor(rand() * 100), 20 + Math.floor(rand() * 80)];
      const gt = boxMask(x, y, w, h);
      maskAnnotations.push({ id: maskAnnotations.length + 1, image_id: id, category_id: 1, segmentation: rleToCoco(gt), area: rleArea(gt), bbox: rleToBbox(gt), iscrowd: 0 });
      const label = `the ${pick(COLOURS)} ${pick(OBJECTS)}`;
      labels.push(label);
      predMasks.push(rleToCoco(boxMask(Math.min(WIDTH - 1, x + Math.floor(rand() * 15)), y, w, h)));
      phrases.push(rand() < 0.7 ? label : `the ${pick(COLOURS)} ${pick(OBJECTS)}`);
    }
    captionAnnotations.push({ id: i + 1, image_id: id, caption: `${labels.join(" is next to ")}.`, labels });
    const prediction = { image_id: id, caption: `${phrases.join(" stands near ")}.`, phrases, pred_masks: predMasks };
    writeFileSync(join(dir, "predictions", `${id}.json`), JSON.stringify(prediction));
  }
  const categories = [{ id: 1, name: "object" }];
  writeFileSync(join(dir, "gt", "val_gcg_coco_mask_gt.json"), JSON.stringify({ images: imageList, annotations: maskAnnotations, categories }));
  writeFileSync(join(dir, "gt", "val_gcg_coco_caption_gt.json"), JSON.stringify({ images: imageList, annotations: captionAnnotations }));
}

export const evalGcgBenchmark: Benchmark = {
  name: "eval-gcg",
  description: "GCG evaluation (AP, mIoU, recall, captions) of a synthetic set, 1000 images (param images=N)",
  async prepare({ params }) {
    const images = countParam(params, "images", 1000);
    const dir = mkdtempSync(join(tmpdir(), "glamm-bench-eval-"));
    writeSyntheticGcgSet(dir, images);
    return {
      run: async () => {
        await runGcgEvaluation({ predDir: join(dir, "predictions"), gtDir: join(dir, "gt"), split: "val" });
      },
      dispose: async () => rmSync(dir, { recursive: true, force: true }),
      unit: { name: "images", perRun: images },
    };
  },
};
