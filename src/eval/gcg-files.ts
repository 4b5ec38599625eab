/**
 * Readers for the official GCG evaluation files: `{split}_gcg_coco_mask_gt.json` (COCO instances with RLE masks),
 * `{split}_gcg_coco_caption_gt.json` (COCO captions plus per-image "labels") and one prediction file per image,
 * `{image_id}.json`, in the flat layout `{"image_id", "caption", "phrases", "pred_masks"}` or nested under one key.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { inputError } from "../cli/errors.ts";
import { rleArea, rleFromCoco, type Rle } from "../output/rle.ts";
import type { GroundTruthInstance, ImageId } from "./coco.ts";
import { arrayField, imageIdField, isObject, readJsonFile, stringList } from "./json.ts";

export interface CaptionGroundTruth {
  imageId: ImageId;
  caption: string;
  labels: string[];
}

export interface GcgPrediction {
  imageId: ImageId;
  caption: string;
  phrases: string[];
  masks: Rle[];
}

export interface GcgGroundTruth {
  /** Image ids in the caption file's order: the order the official script walks. */
  imageIds: ImageId[];
  maskImageIds: Set<ImageId>;
  /** Mask annotations in file order. */
  masks: GroundTruthInstance[];
  captions: CaptionGroundTruth[];
}

export function readMaskGroundTruth(path: string): { imageIds: ImageId[]; masks: GroundTruthInstance[] } {
  const file = readJsonFile(path, "GCG mask ground truth");
  const imageIds = arrayField(file, "images", path).map((image, i) => imageIdField(image as Record<string, unknown>, "id", `${path} images[${i}]`));
  const masks = arrayField(file, "annotations", path).map((value, i): GroundTruthInstance => {
    const where = `${path} annotations[${i}]`;
    if (!isObject(value)) throw inputError(`${where}: expected an object`);
    const rle = rleFromCoco(value.segmentation, `${where}.segmentation`);
    const id = value.id;
    if (typeof id !== "number") throw inputError(`${where}: "id" must be a number`);
    return {
      id,
      imageId: imageIdField(value, "image_id", where),
      categoryId: typeof value.category_id === "number" ? value.category_id : 1,
      rle,
      area: typeof value.area === "number" ? value.area : rleArea(rle),
      iscrowd: Boolean(value.iscrowd),
    };
  });
  return { imageIds, masks };
}

export function readCaptionGroundTruth(path: string, what = "GCG caption ground truth"): { imageIds: ImageId[]; captions: CaptionGroundTruth[] } {
  const file = readJsonFile(path, what);
  const imageIds = arrayField(file, "images", path).map((image, i) => imageIdField(image as Record<string, unknown>, "id", `${path} images[${i}]`));
  const captions = arrayField(file, "annotations", path).map((value, i): CaptionGroundTruth => {
    const where = `${path} annotations[${i}]`;
    if (!isObject(value) || typeof value.caption !== "string") throw inputError(`${where}: expected an object with a "caption" string`);
    return { imageId: imageIdField(value, "image_id", where), caption: value.caption, labels: stringList(value.labels ?? [], `${where}.labels`) };
  });
  return { imageIds, captions };
}

export function readGcgGroundTruth(gtDir: string, split: string): GcgGroundTruth {
  const mask = readMaskGroundTruth(join(gtDir, `${split}_gcg_coco_mask_gt.json`));
  const caption = readCaptionGroundTruth(join(gtDir, `${split}_gcg_coco_caption_gt.json`));
  return { imageIds: caption.imageIds, maskImageIds: new Set(mask.imageIds), masks: mask.masks, captions: caption.captions };
}

/** Parses one prediction file's content (the official script accepts a flat object or one nested under a key). */
export function parseGcgPrediction(value: unknown, imageId: ImageId, where: string): GcgPrediction {
  if (!isObject(value)) throw inputError(`${where}: expected a JSON object`);
  const first = Object.values(value)[0];
  const body = isObject(first) && "caption" in first ? first : value;
  if (typeof body.caption !== "string") throw inputError(`${where}: "caption" must be a string`);
  const masks = body.pred_masks ?? [];
  if (!Array.isArray(masks)) throw inputError(`${where}: "pred_masks" must be a list of RLE objects`);
  return {
    imageId,
    caption: body.caption,
    phrases: stringList(body.phrases ?? [], `${where}.phrases`),
    masks: masks.map((m, i) => rleFromCoco(m, `${where}.pred_masks[${i}]`)),
  };
}

/** Reads `{predDir}/{imageId}.json` for every image id. */
export function readGcgPredictions(predDir: string, imageIds: readonly ImageId[]): GcgPrediction[] {
  if (!existsSync(predDir)) throw inputError(`prediction directory not found: ${predDir}`);
  return imageIds.map((imageId) => {
    const path = join(predDir, `${imageId}.json`);
    return parseGcgPrediction(readJsonFile(path, `prediction for image ${imageId}`), imageId, path);
  });
}
