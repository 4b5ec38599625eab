import { join } from "node:path";
import { readJsonObject } from "../util/json.ts";
import { modelError } from "../cli/errors.ts";
import type { ResampleFilter } from "./resample.ts";

/** The CLIPImageProcessor settings (transformers 4.30 semantics) that GLaMM's global image encoder uses. */
export interface ClipPreprocessConfig {
  doResize: boolean;
  /** Resize target: the shortest side (aspect kept), or with `size: {height, width}` an exact (h, w) (aspect not kept). */
  shortestEdge: number;
  exactSize: [number, number] | null;
  resample: ResampleFilter;
  doCenterCrop: boolean;
  cropHeight: number;
  cropWidth: number;
  doRescale: boolean;
  rescaleFactor: number;
  doNormalize: boolean;
  mean: [number, number, number];
  std: [number, number, number];
}

// PIL.Image.Resampling values as stored in preprocessor_config.json.
const PIL_FILTERS: Record<number, ResampleFilter> = { 2: "bilinear", 3: "bicubic" };

type Json = Record<string, unknown>;

function field<T>(json: Json, key: string, fallback: T, valid: (v: unknown) => boolean, source: string): T {
  const value = json[key];
  if (value === undefined) return fallback;
  if (!valid(value)) throw modelError(`${source}: invalid "${key}": ${JSON.stringify(value)}`);
  return value as T;
}

const isPositiveInt = (v: unknown) => Number.isInteger(v) && (v as number) > 0;
const isBool = (v: unknown) => typeof v === "boolean";
const isTriple = (v: unknown) => Array.isArray(v) && v.length === 3 && v.every((x) => typeof x === "number");

/** Sizes may be an int or a dict, as transformers' get_size_dict accepts them. */
function sizeField(json: Json, key: string, source: string): Json | number | undefined {
  const value = json[key];
  if (value === undefined || typeof value === "number" || (typeof value === "object" && value !== null)) {
    return value as Json | number | undefined;
  }
  throw modelError(`${source}: invalid "${key}": ${JSON.stringify(value)}`);
}

export function parseClipPreprocessConfig(json: Json, source: string): ClipPreprocessConfig {
  const size = sizeField(json, "size", source) ?? 224;
  const exact = typeof size === "object" && size.shortest_edge === undefined && size.height !== undefined && size.width !== undefined;
  const shortestEdge = typeof size === "number" ? size : exact ? Math.min(size.height as number, size.width as number) : size.shortest_edge;
  if (exact && !(isPositiveInt(size.height) && isPositiveInt(size.width))) throw modelError(`${source}: invalid "size": ${JSON.stringify(size)}`);
  const crop = sizeField(json, "crop_size", source) ?? 224;
  const [cropHeight, cropWidth] = typeof crop === "number" ? [crop, crop] : [crop.height, crop.width];
  for (const [name, v] of [["size.shortest_edge", shortestEdge], ["crop_size", cropHeight], ["crop_size", cropWidth]]) {
    if (!isPositiveInt(v)) throw modelError(`${source}: invalid or unsupported "${name}": ${JSON.stringify(v)}`);
  }
  const resampleCode = field(json, "resample", 3, Number.isInteger, source);
  const resample = PIL_FILTERS[resampleCode];
  if (!resample) throw modelError(`${source}: unsupported "resample" ${resampleCode} (only 2 bilinear, 3 bicubic)`);
  return {
    doResize: field(json, "do_resize", true, isBool, source),
    shortestEdge: shortestEdge as number,
    exactSize: exact ? [(size as Json).height as number, (size as Json).width as number] : null,
    resample,
    doCenterCrop: field(json, "do_center_crop", true, isBool, source),
    cropHeight: cropHeight as number,
    cropWidth: cropWidth as number,
    doRescale: field(json, "do_rescale", true, isBool, source),
    rescaleFactor: field(json, "rescale_factor", 1 / 255, (v) => typeof v === "number", source),
    doNormalize: field(json, "do_normalize", true, isBool, source),
    mean: field(json, "image_mean", [0.48145466, 0.4578275, 0.40821073], isTriple, source),
    std: field(json, "image_std", [0.26862954, 0.26130258, 0.27577711], isTriple, source),
  };
}

/** Reads `<visionDir>/preprocessor_config.json`. */
export function loadClipPreprocessConfig(visionDir: string): ClipPreprocessConfig {
  const path = join(visionDir, "preprocessor_config.json");
  return parseClipPreprocessConfig(readJsonObject(path), path);
}
