import { type RgbImage, rgbImage } from "./rgb-image.ts";

/**
 * Pillow's Image.resize (libImaging/Resample.c, ImagingResample) for 8-bit RGB, reimplemented bit for bit:
 * separable convolution, horizontal pass first (only over the source rows the vertical pass reads), then the
 * vertical pass; per-output-pixel coefficients computed in double, normalised to sum 1, then fixed point with
 * 22 fractional bits; accumulators start at one half and are clipped to 0..255. Box = the whole image, no
 * reducing_gap (Image.resize's defaults, which transformers and torchvision use).
 */
export type ResampleFilter = "bilinear" | "bicubic" | "lanczos";

interface Filter {
  weight: (x: number) => number;
  support: number;
}

const bilinear: Filter = {
  support: 1,
  weight: (x) => {
    const ax = x < 0 ? -x : x;
    return ax < 1 ? 1 - ax : 0;
  },
};

// Keys' cubic convolution with a = -0.5, written in the same operation order as Pillow's bicubic_filter.
const bicubic: Filter = {
  support: 2,
  weight: (x) => {
    const ax = x < 0 ? -x : x;
    if (ax < 1) return (1.5 * ax - 2.5) * ax * ax + 1;
    if (ax < 2) return (((ax - 5) * ax + 8) * ax - 4) * -0.5;
    return 0;
  },
};

const sinc = (x: number) => (x === 0 ? 1 : Math.sin(x * Math.PI) / (x * Math.PI));

// Pillow's lanczos_filter: sinc(x)·sinc(x/3) truncated to [-3, 3).
const lanczos: Filter = {
  support: 3,
  weight: (x) => (x >= -3 && x < 3 ? sinc(x) * sinc(x / 3) : 0),
};

const FILTERS: Record<ResampleFilter, Filter> = { bilinear, bicubic, lanczos };

const PRECISION_BITS = 32 - 8 - 2;
const HALF = 1 << (PRECISION_BITS - 1);
const FIXED_ONE = 1 << PRECISION_BITS;

/** Per output index: the first source index, the tap count, and `ksize` fixed-point weights. */
interface Coefficients {
  ksize: number;
  first: Int32Array;
  count: Int32Array;
  weights: Int32Array;
}

/** Pillow's precompute_coeffs + normalize_coeffs_8bpc, for output indices start .. start + length - 1 only. */
function precomputeCoefficients(inSize: number, outSize: number, filter: Filter, start: number, length: number): Coefficients {
  const scale = inSize / outSize;
  const filterScale = scale < 1 ? 1 : scale;
  const support = filter.support * filterScale;
  const ksize = Math.ceil(support) * 2 + 1;
  const first = new Int32Array(length);
  const count = new Int32Array(length);
  const weights = new Int32Array(length * ksize);
  const raw = new Float64Array(ksize);
  const invScale = 1 / filterScale;
  for (let i = 0; i < length; i++) {
    const center = (start + i + 0.5) * scale;
    const xmin = Math.max(0, Math.trunc(center - support + 0.5));
    const xmax = Math.min(inSize, Math.trunc(center + support + 0.5)) - xmin;
    let total = 0;
    for (let x = 0; x < xmax; x++) {
      const w = filter.weight((x + xmin - center + 0.5) * invScale);
      raw[x] = w;
      total += w;
    }
    for (let x = 0; x < xmax; x++) {
      const k = total !== 0 ? raw[x] / total : raw[x];
      weights[i * ksize + x] = Math.trunc(k < 0 ? -0.5 + k * FIXED_ONE : 0.5 + k * FIXED_ONE);
    }
    first[i] = xmin;
    count[i] = Math.max(0, xmax);
  }
  return { ksize, first, count, weights };
}

/** One tap of weight 1 per index: exactly what Pillow's skipped pass (same size on that axis) amounts to. */
function identityCoefficients(start: number, length: number): Coefficients {
  const first = new Int32Array(length).map((_, i) => start + i);
  return { ksize: 1, first, count: new Int32Array(length).fill(1), weights: new Int32Array(length).fill(FIXED_ONE) };
}

function clip8(acc: number): number {
  const v = acc >> PRECISION_BITS;
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

function horizontalPass(src: RgbImage, rowStart: number, rows: number, outWidth: number, c: Coefficients): RgbImage {
  const out = new Uint8Array(outWidth * rows * 3);
  const inStride = src.width * 3;
  const { ksize, first, count, weights } = c;
  for (let yy = 0; yy < rows; yy++) {
    const rowOffset = (yy + rowStart) * inStride;
    let o = yy * outWidth * 3;
    for (let xx = 0; xx < outWidth; xx++) {
      let s0 = HALF;
      let s1 = HALF;
      let s2 = HALF;
      let p = rowOffset + first[xx] * 3;
      const kBase = xx * ksize;
      const n = count[xx];
      for (let x = 0; x < n; x++, p += 3) {
        const k = weights[kBase + x];
        s0 += src.data[p] * k;
        s1 += src.data[p + 1] * k;
        s2 += src.data[p + 2] * k;
      }
      out[o++] = clip8(s0);
      out[o++] = clip8(s1);
      out[o++] = clip8(s2);
    }
  }
  return rgbImage(outWidth, rows, out);
}

function verticalPass(src: RgbImage, outHeight: number, c: Coefficients, rowShift: number): RgbImage {
  const rowLength = src.width * 3;
  const out = new Uint8Array(rowLength * outHeight);
  const acc = new Int32Array(rowLength);
  const { ksize, first, count, weights } = c;
  for (let yy = 0; yy < outHeight; yy++) {
    acc.fill(HALF);
    const ymin = first[yy] - rowShift;
    for (let y = 0; y < count[yy]; y++) {
      const k = weights[yy * ksize + y];
      const rowOffset = (ymin + y) * rowLength;
      for (let i = 0; i < rowLength; i++) acc[i] += src.data[rowOffset + i] * k;
    }
    const o = yy * rowLength;
    for (let i = 0; i < rowLength; i++) out[o + i] = clip8(acc[i]);
  }
  return rgbImage(src.width, outHeight, out);
}

/** A rectangle of the resized image, in its pixel coordinates. */
export interface PixelWindow {
  left: number;
  top: number;
  width: number;
  height: number;
}

/**
 * Resizes like Pillow's `Image.resize((width, height), resample)` on an RGB image, bit-exactly. With `window`, only that
 * part of the resized image is computed (each output pixel depends only on its own index, so this is exact).
 */
export function resizeLikePillow(
  image: RgbImage,
  width: number,
  height: number,
  filterName: ResampleFilter,
  window: PixelWindow = { left: 0, top: 0, width, height },
): RgbImage {
  const sizes = [width, height, window.width, window.height];
  if (!sizes.every((v) => Number.isInteger(v) && v > 0)) {
    throw new RangeError(`resize sizes must be positive integers, got ${width}x${height}, window ${window.width}x${window.height}`);
  }
  const { left, top } = window;
  if (!(Number.isInteger(left) && Number.isInteger(top) && left >= 0 && top >= 0 && left + window.width <= width && top + window.height <= height)) {
    throw new RangeError(`window ${JSON.stringify(window)} is outside the ${width}x${height} output`);
  }
  const filter = FILTERS[filterName];
  const vertical =
    height !== image.height
      ? precomputeCoefficients(image.height, height, filter, top, window.height)
      : identityCoefficients(top, window.height);
  const horizontal =
    width !== image.width
      ? precomputeCoefficients(image.width, width, filter, left, window.width)
      : identityCoefficients(left, window.width);
  const rowStart = vertical.first[0];
  const rowEnd = vertical.first[window.height - 1] + vertical.count[window.height - 1];
  const rows = horizontalPass(image, rowStart, rowEnd - rowStart, window.width, horizontal);
  return verticalPass(rows, window.height, vertical, rowStart);
}
