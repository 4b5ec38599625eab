import { resizeLikePillow } from "../image/resample.ts";
import { type RgbImage, rgbImage } from "../image/rgb-image.ts";

/**
 * The image arithmetic around the SDXL inpainting call, as GLaMM's demo (app.py generate_new_image,
 * tools/generate_utils.py) and diffusers 0.22.3's VaeImageProcessor do it with Pillow 9.4:
 * centre crop → bicubic to 1024² → (pipeline) LANCZOS to the UNet's size, [-1, 1] image and binarised L mask →
 * … → bicubic back to the crop side → paste through a feathered mask (255 on [border, S − border)², GaussianBlur
 * of radius border/2).
 */

/** Crop box (left, top, right, bottom); `right − left` is `side − 1` when the shorter side is odd. */
export interface CropBox {
  left: number;
  top: number;
  right: number;
  bottom: number;
}

/** An 8-bit single-channel (Pillow "L") image. */
export interface GrayImage {
  width: number;
  height: number;
  data: Uint8Array;
}

/** tools/generate_utils.py center_crop: a square of min(W, H) // 2 each side of (W // 2, H // 2). */
export function centerCropBox(width: number, height: number): CropBox {
  const half = Math.floor(Math.min(width, height) / 2);
  const [cx, cy] = [Math.floor(width / 2), Math.floor(height / 2)];
  return { left: cx - half, top: cy - half, right: cx + half, bottom: cy + half };
}

/** Image.crop(box) for a box inside the image. */
export function cropRgb(image: RgbImage, box: CropBox): RgbImage {
  const [w, h] = [box.right - box.left, box.bottom - box.top];
  if (box.left < 0 || box.top < 0 || box.right > image.width || box.bottom > image.height || w <= 0 || h <= 0) {
    throw new RangeError(`crop box ${JSON.stringify(box)} is not inside the ${image.width}x${image.height} image`);
  }
  const out = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    const from = ((box.top + y) * image.width + box.left) * 3;
    out.set(image.data.subarray(from, from + w * 3), y * w * 3);
  }
  return rgbImage(w, h, out);
}

/** convert("L"): ITU-R 601-2 luma in 16-bit fixed point (Pillow's L24 macro). */
export function rgbToGray(image: RgbImage): GrayImage {
  const data = new Uint8Array(image.width * image.height);
  for (let i = 0, p = 0; i < data.length; i++, p += 3) {
    data[i] = (image.data[p] * 19595 + image.data[p + 1] * 38470 + image.data[p + 2] * 7471 + 0x8000) >>> 16;
  }
  return { width: image.width, height: image.height, data };
}

/** Image.resize of an L image: Pillow resamples each band alike, so the RGB resampler on a gray triple is exact. */
function resizeGray(image: GrayImage, width: number, height: number): GrayImage {
  const rgb = rgbImage(image.width, image.height, new Uint8Array(image.data.length * 3));
  image.data.forEach((v, i) => rgb.data.fill(v, 3 * i, 3 * i + 3));
  const resized = resizeLikePillow(rgb, width, height, "lanczos");
  return { width, height, data: resized.data.filter((_, i) => i % 3 === 0) };
}

/** VaeImageProcessor.preprocess of the image: LANCZOS to size², /255, ×2 − 1, NCHW float32 (1×3×size×size). */
export function pipelineImage(image: RgbImage, size: number): Float32Array {
  const resized = image.width === size && image.height === size ? image : resizeLikePillow(image, size, size, "lanczos");
  const plane = size * size;
  const out = new Float32Array(3 * plane);
  for (let i = 0; i < plane; i++) {
    for (let c = 0; c < 3; c++) out[c * plane + i] = Math.fround(2 * Math.fround(resized.data[3 * i + c] / 255) - 1);
  }
  return out;
}

/** The mask processor: convert("L"), LANCZOS to size², /255, then 1 where ≥ 0.5 (1×1×size×size). */
export function pipelineMask(mask: RgbImage, size: number): Float32Array {
  const gray = rgbToGray(mask);
  const resized = gray.width === size && gray.height === size ? gray : resizeGray(gray, size, size);
  return Float32Array.from(resized.data, (v) => (Math.fround(v / 255) >= 0.5 ? 1 : 0));
}

/** image × (mask < 0.5): repainted pixels become 0 (mid grey). */
export function maskedImage(image: Float32Array, mask: Float32Array): Float32Array {
  const plane = mask.length;
  return image.map((v, i) => (mask[i % plane] < 0.5 ? v : 0));
}

/** One horizontal box-blur pass of Pillow's ImagingLineBoxBlur8 over each row, in place. */
function boxBlurRows(data: Uint8Array, width: number, height: number, floatRadius: number): void {
  const radius = Math.trunc(floatRadius);
  const ww = Math.trunc(Math.fround(16777216 / Math.fround(floatRadius * 2 + 1)));
  const fw = Math.trunc((16777216 - (radius * 2 + 1) * ww) / 2);
  const lastx = width - 1;
  const edgeA = Math.min(radius + 1, width);
  const edgeB = Math.max(width - radius - 1, 0);
  const line = new Uint8Array(width);
  for (let y = 0; y < height; y++) {
    const row = data.subarray(y * width, (y + 1) * width);
    const at = (x: number) => row[x];
    let acc = at(0) * (radius + 1);
    for (let x = 0; x < edgeA - 1; x++) acc += at(x);
    acc += at(lastx) * (radius - edgeA + 1);
    const emit = (x: number, subtract: number, add: number, left: number, right: number) => {
      acc += at(add) - at(subtract);
      line[x] = Math.floor((acc * ww + (at(left) + at(right)) * fw + (1 << 23)) / 16777216);
    };
    if (edgeA <= edgeB) {
      for (let x = 0; x < edgeA; x++) emit(x, 0, x + radius, 0, x + radius + 1);
      for (let x = edgeA; x < edgeB; x++) emit(x, x - radius - 1, x + radius, x - radius - 1, x + radius + 1);
      for (let x = edgeB; x <= lastx; x++) emit(x, x - radius - 1, lastx, x - radius - 1, lastx);
    } else {
      for (let x = 0; x < edgeB; x++) emit(x, 0, x + radius, 0, x + radius + 1);
      for (let x = edgeB; x < edgeA; x++) emit(x, 0, lastx, 0, lastx);
      for (let x = edgeA; x <= lastx; x++) emit(x, x - radius - 1, lastx, x - radius - 1, lastx);
    }
    row.set(line);
  }
}

function transpose(image: GrayImage): GrayImage {
  const { width, height, data } = image;
  const out = new Uint8Array(data.length);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) out[x * height + y] = data[y * width + x];
  return { width: height, height: width, data: out };
}

/** ImageFilter.GaussianBlur(radius) on an L image: Pillow's 3-pass extended box blur (ImagingGaussianBlur). */
export function gaussianBlurGray(image: GrayImage, radius: number): GrayImage {
  const passes = 3;
  const f = Math.fround;
  const sigma2 = f(f(radius * radius) / passes);
  const L = f(Math.sqrt(12 * sigma2 + 1));
  const l = f(Math.floor((L - 1) / 2));
  let a = f(f(2 * l + 1) * f(f(l * f(l + 1)) - f(3 * sigma2)));
  a = f(a / f(6 * f(sigma2 - f(f(l + 1) * f(l + 1)))));
  const boxRadius = f(l + a);
  const out = { ...image, data: image.data.slice() };
  for (let i = 0; i < passes; i++) boxBlurRows(out.data, out.width, out.height, boxRadius);
  const turned = transpose(out);
  for (let i = 0; i < passes; i++) boxBlurRows(turned.data, turned.width, turned.height, boxRadius);
  return transpose(turned);
}

/** create_feathered_mask((side, side), border): 255 on [border, side − border)², blurred with radius border / 2. */
export function featheredMask(side: number, border = 50): GrayImage {
  const data = new Uint8Array(side * side);
  for (let y = border; y < side - border; y++) data.fill(255, y * side + border, y * side + side - border);
  return gaussianBlurGray({ width: side, height: side, data }, border / 2);
}

/** image.paste(patch, box, mask) with an L mask: out = (in·(255 − m) + patch·m + 128) / 255 via Pillow's DIV255. */
export function pasteWithMask(image: RgbImage, patch: RgbImage, box: CropBox, mask: GrayImage): RgbImage {
  if (patch.width !== box.right - box.left || patch.height !== box.bottom - box.top || mask.width !== patch.width || mask.height !== patch.height) {
    throw new RangeError(`paste: patch ${patch.width}x${patch.height} and mask ${mask.width}x${mask.height} do not fit box ${JSON.stringify(box)}`);
  }
  const out = rgbImage(image.width, image.height, image.data.slice());
  for (let y = 0; y < patch.height; y++) {
    for (let x = 0; x < patch.width; x++) {
      const m = mask.data[y * mask.width + x];
      const o = ((box.top + y) * image.width + box.left + x) * 3;
      for (let c = 0; c < 3; c++) {
        const t = out.data[o + c] * (255 - m) + patch.data[(y * patch.width + x) * 3 + c] * m + 128;
        out.data[o + c] = ((t >> 8) + t) >> 8;
      }
    }
  }
  return out;
}
