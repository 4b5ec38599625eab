import { inputError } from "../cli/errors.ts";
import type { ClipPreprocessConfig } from "./clip-config.ts";
import { resizeLikePillow } from "./resample.ts";
import { type RgbImage, rgbImage } from "./rgb-image.ts";

/** A float32 NCHW tensor with batch 1. */
export interface ImageTensor {
  data: Float32Array;
  dims: [1, 3, number, number];
}

export interface ClipInput {
  pixelValues: ImageTensor;
  /** The image after resize and centre crop, before rescale/normalise (uint8 HWC). */
  resizedCropped: RgbImage;
}

/** transformers' get_resize_output_image_size(default_to_square=False): shortest side to `shortest`, as (h, w). */
export function shortestEdgeSize(height: number, width: number, shortest: number): [number, number] {
  const [short, long] = width <= height ? [width, height] : [height, width];
  const newLong = Math.trunc((shortest * long) / short);
  return width <= height ? [newLong, shortest] : [shortest, newLong];
}

/** A `width` x `height` canvas filled with `fill`, with `image` pasted at (top, left) (which may be negative). */
function pasteOnCanvas(image: RgbImage, width: number, height: number, top: number, left: number, fill: readonly number[]): RgbImage {
  const out = rgbImage(width, height);
  if (fill.some((v) => v !== 0)) for (let i = 0; i < out.data.length; i += 3) out.data.set(fill, i);
  const x0 = Math.max(0, -left);
  const x1 = Math.min(image.width, width - left);
  for (let y = Math.max(0, -top); y < Math.min(image.height, height - top); y++) {
    const from = (y * image.width + x0) * 3;
    out.data.set(image.data.subarray(from, from + (x1 - x0) * 3), ((y + top) * width + x0 + left) * 3);
  }
  return out;
}

/** Channel-first float32 planes of `(pixel * scale - mean) / std`, rounded to float32 after each step like NumPy/torch. */
function normalizedPlanes(
  image: RgbImage,
  planeHeight: number,
  planeWidth: number,
  scale: number,
  mean: readonly number[],
  std: readonly number[],
): ImageTensor {
  const data = new Float32Array(3 * planeHeight * planeWidth);
  const plane = planeHeight * planeWidth;
  for (let c = 0; c < 3; c++) {
    const m = Math.fround(mean[c]);
    const s = Math.fround(std[c]);
    const lut = new Float32Array(256);
    for (let v = 0; v < 256; v++) lut[v] = Math.fround(Math.fround(v * scale) - m) / s;
    for (let y = 0; y < image.height; y++) {
      for (let x = 0; x < image.width; x++) {
        data[c * plane + y * planeWidth + x] = lut[image.data[(y * image.width + x) * 3 + c]];
      }
    }
  }
  return { data, dims: [1, 3, planeHeight, planeWidth] };
}

/**
 * CLIPImageProcessor.preprocess (transformers 4.30) on an RGB uint8 image: Pillow resize of the shortest side (or to
 * the exact size when the config's size is {height, width}), centre
 * crop (offsets floor((size - crop) / 2), zero padding where the image is smaller), rescale, normalise. Only the
 * cropped part of the resized image is computed.
 */
export function preprocessClip(image: RgbImage, config: ClipPreprocessConfig): ClipInput {
  const target = config.exactSize ?? shortestEdgeSize(image.height, image.width, config.shortestEdge);
  const [h, w] = config.doResize ? target : [image.height, image.width];
  const [cropH, cropW] = config.doCenterCrop ? [config.cropHeight, config.cropWidth] : [h, w];
  const top = Math.floor((h - cropH) / 2);
  const left = Math.floor((w - cropW) / 2);
  const y0 = Math.max(0, top);
  const x0 = Math.max(0, left);
  const window = { top: y0, left: x0, height: Math.min(h, top + cropH) - y0, width: Math.min(w, left + cropW) - x0 };
  const inside = resizeLikePillow(image, w, h, config.resample, window);
  const cropped =
    window.width === cropW && window.height === cropH ? inside : pasteOnCanvas(inside, cropW, cropH, y0 - top, x0 - left, [0, 0, 0]);
  const scale = config.doRescale ? config.rescaleFactor : 1;
  const mean = config.doNormalize ? config.mean : [0, 0, 0];
  const std = config.doNormalize ? config.std : [1, 1, 1];
  return { pixelValues: normalizedPlanes(cropped, cropH, cropW, scale, mean, std), resizedCropped: cropped };
}

/**
 * LLaVA's expand2square (image_aspect_ratio "pad"): centre the image on a square canvas filled with the processor
 * mean colour, `int(m * 255)` per channel; offset floor((long - short) / 2).
 */
export function expandToSquare(image: RgbImage, mean: readonly number[]): RgbImage {
  if (image.width === image.height) return image;
  const side = Math.max(image.width, image.height);
  const fill = mean.map((m) => Math.trunc(m * 255));
  return pasteOnCanvas(image, side, side, Math.floor((side - image.height) / 2), Math.floor((side - image.width) / 2), fill);
}

/** SAM's pixel statistics, hard-coded in the official grounding_enc_processor. */
export const SAM_PIXEL_MEAN = [123.675, 116.28, 103.53] as const;
export const SAM_PIXEL_STD = [58.395, 57.12, 57.375] as const;
/** The official input side (ResizeLongestSide(args.image_size=1024), IMG_SIZE = 1024 padding, SAM img_size 1024). */
export const SAM_INPUT_SIZE = 1024;

/** segment-anything's ResizeLongestSide.get_preprocess_shape: (h, w) with the long side = `longSide`. */
export function longestSideSize(height: number, width: number, longSide: number): [number, number] {
  const scale = (longSide * 1.0) / Math.max(height, width);
  return [Math.trunc(height * scale + 0.5), Math.trunc(width * scale + 0.5)];
}

export interface SamInput {
  /** (x - mean) / std, zero-padded right and bottom to inputSize x inputSize. */
  pixelValues: ImageTensor;
  /** ResizeLongestSide.apply_image output (Pillow bilinear). */
  resized: RgbImage;
  resizedSize: [number, number];
  originalSize: [number, number];
}

/** The official grounding-encoder input: ResizeLongestSide(inputSize).apply_image, then grounding_enc_processor. */
export function preprocessSam(image: RgbImage, inputSize = SAM_INPUT_SIZE): SamInput {
  const [h, w] = longestSideSize(image.height, image.width, inputSize);
  if (h < 1 || w < 1) {
    throw inputError(`a ${image.width}x${image.height} image is too elongated to fit a ${inputSize}-pixel long side`);
  }
  const resized = resizeLikePillow(image, w, h, "bilinear");
  return {
    pixelValues: normalizedPlanes(resized, inputSize, inputSize, 1, SAM_PIXEL_MEAN, SAM_PIXEL_STD),
    resized,
    resizedSize: [h, w],
    originalSize: [image.height, image.width],
  };
}
