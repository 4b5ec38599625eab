import { readFile } from "node:fs/promises";
import sharp from "sharp";
import { inputError } from "../cli/errors.ts";
import { type RgbImage, rgbImage } from "./rgb-image.ts";

/**
 * Image loading that reproduces what the official GLaMM inference (app.py, eval/*) gets from
 * `cv2.cvtColor(cv2.imread(path), cv2.COLOR_BGR2RGB)` (IMREAD_COLOR):
 * - EXIF orientation applied;
 * - alpha dropped, never composited (PNG: libpng strips it; the same as PIL's convert("RGB"));
 * - embedded ICC profiles ignored (OpenCV does no colour management);
 * - 16-bit samples reduced to their high byte (libpng's png_set_strip_16), greyscale replicated to R=G=B;
 * - CMYK converted with OpenCV's naive icvCvt_CMYK2BGR formula on Adobe-inverted samples, not through a profile;
 * - multi-frame GIF/TIFF: the first frame (older cv2 builds cannot read GIF at all).
 * JPEG decodes bit-identically to libjpeg-turbo (checked against Pillow in the tests).
 */
export interface DecodeOptions {
  /** Refuse images with more pixels than this (width x height before orientation). */
  maxPixels?: number;
}

export const DEFAULT_MAX_PIXELS = 100_000_000;

const LOAD_OPTIONS = { failOn: "error", ignoreIcc: true, pages: 1, page: 0, autoOrient: true, limitInputPixels: false } as const;

export async function decodeImageFile(path: string, options: DecodeOptions = {}): Promise<RgbImage> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code === "ENOENT" ? "no such file" : code === "EISDIR" ? "is a directory" : (error as Error).message;
    throw inputError(`cannot read image ${path}: ${reason}`);
  }
  return decodeImage(bytes, path, options);
}

/** Decodes encoded image bytes; `name` (usually the path) appears in error messages. */
export async function decodeImage(bytes: Uint8Array, name: string, options: DecodeOptions = {}): Promise<RgbImage> {
  const maxPixels = options.maxPixels ?? DEFAULT_MAX_PIXELS;
  const metadata = await sharp(bytes, LOAD_OPTIONS)
    .metadata()
    .catch((error: Error) => {
      throw inputError(`${name} is not a readable image (${error.message})`);
    });
  const { width, height } = metadata;
  if (!width || !height) throw inputError(`${name} is not a readable image (no dimensions)`);
  if (width * height > maxPixels) {
    throw inputError(
      `${name} is ${width}x${height} (${(width * height / 1e6).toFixed(1)} MP), over the ${maxPixels / 1e6} MP limit`,
    );
  }
  try {
    return metadata.space === "cmyk" ? await decodeCmyk(bytes) : await decodeRgb(bytes);
  } catch (error) {
    throw inputError(`${name} could not be decoded (${(error as Error).message})`);
  }
}

async function decodeRgb(bytes: Uint8Array): Promise<RgbImage> {
  const { data, info } = await sharp(bytes, LOAD_OPTIONS)
    .removeAlpha()
    .toColourspace("srgb")
    .raw({ depth: "uchar" })
    .toBuffer({ resolveWithObject: true });
  if (info.channels !== 3) throw new Error(`expected 3 channels after conversion, got ${info.channels}`);
  return rgbImage(info.width, info.height, new Uint8Array(data.buffer, data.byteOffset, data.length));
}

async function decodeCmyk(bytes: Uint8Array): Promise<RgbImage> {
  const { data, info } = await sharp(bytes, LOAD_OPTIONS)
    .pipelineColourspace("cmyk")
    .toColourspace("cmyk")
    .raw({ depth: "uchar" })
    .toBuffer({ resolveWithObject: true });
  const stride = info.channels;
  if (stride < 4) throw new Error(`expected CMYK samples, got ${stride} channels`);
  const out = rgbImage(info.width, info.height);
  for (let p = 0, o = 0; o < out.data.length; p += stride, o += 3) {
    // libvips un-inverts Adobe CMYK; OpenCV works on libjpeg's inverted samples (255 - ink).
    const k = 255 - data[p + 3];
    for (let c = 0; c < 3; c++) out.data[o + c] = k - ((k * data[p + c]) >> 8);
  }
  return out;
}
