/**
 * The result files: `NAME.glamm.json` (schema.json, version 1) and `--format glamm-eval`, the per-image prediction file
 * of the official GCG evaluation (groundingLMM eval/gcg/infer.py writes `{image_id}.json` holding
 * {"image_id", "caption", "phrases", "pred_masks"}, each mask a pycocotools compressed RLE with counts as text).
 */
import { dirname, extname, basename, isAbsolute, relative, resolve, sep } from "node:path";
import { inputError } from "../cli/errors.ts";
import { isObject, readJsonFile } from "../eval/json.ts";
import { version } from "../version.ts";
import { writeFileAtomic } from "./atomic.ts";
import { officialGcgCaption } from "./markup.ts";
import type { Task, TaskResult } from "./result.ts";
import { TASKS } from "./result.ts";
import { decodeRle, encodeMask, rleArea, rleFromCoco, rleToBbox, rleToCoco, type Rle } from "./rle.ts";

export const SCHEMA_VERSION = 1;

export interface CompressedRle {
  size: [number, number];
  counts: string;
}

export interface GlammJsonSegment {
  phrase: string;
  start: number;
  end: number;
  mask: CompressedRle;
  bbox: [number, number, number, number];
  area: number;
  point?: [number, number];
  score?: number;
  heatmap?: { size: [number, number]; values: number[] };
}

/** `image.path` is relative to the JSON file's directory (absolute when the image is on another drive). */
export interface GlammJson extends Omit<TaskResult, "segments"> {
  schemaVersion: typeof SCHEMA_VERSION;
  generator: string;
  segments: GlammJsonSegment[];
}

const toPosix = (path: string) => path.split(sep).join("/");

function compressedRle(rle: Rle): CompressedRle {
  return rleToCoco(rle) as CompressedRle;
}

/** The document written for `result` at `jsonPath` (the image path is made relative to the JSON's directory). */
export function toGlammJson(result: TaskResult, jsonPath: string): GlammJson {
  const { width, height } = result.image;
  // "-": the image came from stdin and has no path; an object-storage image (s3://...) keeps its address; a file is
  // named relative to the JSON.
  const keepAsIs = result.image.path === "-" || /^[a-z][a-z0-9+.-]*:\/\//i.test(result.image.path);
  const fromJson = keepAsIs ? result.image.path : relative(dirname(resolve(jsonPath)), resolve(result.image.path));
  const segments = result.segments.map((segment): GlammJsonSegment => {
    const rle = encodeMask(segment.mask, height, width);
    const extras = { ...(segment.point ? { point: segment.point } : {}), ...(segment.score !== undefined ? { score: segment.score } : {}), ...(segment.heatmap ? { heatmap: segment.heatmap } : {}) };
    return { phrase: segment.phrase, start: segment.start, end: segment.end, mask: compressedRle(rle), bbox: rleToBbox(rle), area: rleArea(rle), ...extras };
  });
  return {
    schemaVersion: SCHEMA_VERSION,
    generator: `glamm ${version}`,
    image: { ...result.image, path: keepAsIs || isAbsolute(fromJson) ? fromJson : toPosix(fromJson) },
    model: { ...result.model },
    ...(result.backend ? { backend: result.backend } : {}),
    task: result.task,
    prompt: result.prompt,
    rawText: result.rawText,
    text: result.text,
    segments,
    ...(result.boxes ? { boxes: result.boxes.map((box) => ({ ...box })) } : {}),
    timings: { ...result.timings },
  };
}

export function writeGlammJson(path: string, result: TaskResult): void {
  writeFileAtomic(path, `${JSON.stringify(toGlammJson(result, path), null, 2)}\n`);
}

const fail = (path: string, message: string) => inputError(`${path}: not a glamm result file (${message})`);

function checkFields(object: unknown, fields: Record<string, string>, path: string, where: string): Record<string, unknown> {
  if (!isObject(object)) throw fail(path, `${where} must be an object`);
  for (const [field, type] of Object.entries(fields)) {
    const value = object[field];
    const ok = type === "integer" ? Number.isSafeInteger(value) && (value as number) >= 0 : typeof value === type;
    if (!ok) throw fail(path, `${where}.${field} must be ${type === "integer" ? "a non-negative integer" : `a ${type}`}`);
  }
  return object;
}

/** Reads and checks a `.glamm.json` file; masks are checked against the image size but not decoded. */
export function readGlammJson(path: string): GlammJson {
  const doc = checkFields(readJsonFile(path, "glamm result"), { schemaVersion: "number", prompt: "string", rawText: "string", text: "string" }, path, "file");
  if (doc.schemaVersion !== SCHEMA_VERSION) {
    throw fail(path, `schemaVersion ${doc.schemaVersion}; this glamm reads version ${SCHEMA_VERSION}`);
  }
  const image = checkFields(doc.image, { path: "string", width: "integer", height: "integer", sha256: "string" }, path, "image");
  checkFields(doc.model, { id: "string", revision: "string", precision: "string" }, path, "model");
  if (!TASKS.includes(doc.task as Task)) throw fail(path, `task must be one of ${TASKS.join(", ")}`);
  if (!isObject(doc.timings)) throw fail(path, "timings must be an object");
  if (!Array.isArray(doc.segments)) throw fail(path, "segments must be a list");
  doc.segments.forEach((segment, i) => {
    checkFields(segment, { phrase: "string", start: "integer", end: "integer", area: "integer" }, path, `segments[${i}]`);
    const mask = (segment as GlammJsonSegment).mask;
    const size = isObject(mask) ? mask.size : undefined;
    if (!Array.isArray(size) || size[0] !== image.height || size[1] !== image.width || typeof mask.counts !== "string") {
      throw fail(path, `segments[${i}].mask must be a compressed RLE of size [${image.height}, ${image.width}]`);
    }
  });
  if (doc.boxes !== undefined) {
    if (!Array.isArray(doc.boxes)) throw fail(path, "boxes must be a list");
    doc.boxes.forEach((box, i) => checkFields(box, { x1: "number", y1: "number", x2: "number", y2: "number" }, path, `boxes[${i}]`));
  }
  return doc as unknown as GlammJson;
}

/** A segment's mask, row-major height x width. */
export function decodeSegmentMask(segment: GlammJsonSegment, where = "segment mask"): Uint8Array {
  return decodeRle(rleFromCoco(segment.mask, where));
}

/** The image file a `.glamm.json` names, resolved against the JSON file's directory. */
export function resultImagePath(jsonPath: string, doc: GlammJson): string {
  return resolve(dirname(jsonPath), doc.image.path);
}

export interface GcgEvalPrediction {
  image_id: string;
  caption: string;
  phrases: string[];
  pred_masks: CompressedRle[];
}

/** The official script's image id: the file name without its extension (it slices off the last 4 characters, ".jpg"). */
export const gcgEvalImageId = (imagePath: string): string => basename(imagePath, extname(imagePath));

export function toGcgEvalPrediction(result: TaskResult): GcgEvalPrediction {
  const { caption, phrases } = officialGcgCaption(result.rawText);
  const { width, height } = result.image;
  return {
    image_id: gcgEvalImageId(result.image.path),
    caption,
    phrases,
    pred_masks: result.segments.map((segment) => compressedRle(encodeMask(segment.mask, height, width))),
  };
}

/** Writes `{image_id}.json` into `dir`, the name the official evaluation looks for; returns the path. */
export function writeGcgEvalPrediction(dir: string, result: TaskResult): string {
  const prediction = toGcgEvalPrediction(result);
  const path = resolve(dir, `${prediction.image_id}.json`);
  writeFileAtomic(path, JSON.stringify(prediction));
  return path;
}
