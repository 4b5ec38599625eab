import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import {
  centerCropBox,
  cropRgb,
  featheredMask,
  gaussianBlurGray,
  maskedImage,
  pasteWithMask,
  pipelineImage,
  pipelineMask,
} from "../src/edit/crop-paste.ts";
import { decodeImageFile } from "../src/image/decode.ts";
import { resizeLikePillow } from "../src/image/resample.ts";
import { rgbImage } from "../src/image/rgb-image.ts";
import type { NpyArray } from "../src/output/npy.ts";
import { numbers } from "./helpers/oracle-compare.ts";
import { expectWithin } from "./helpers/tolerance.ts";
import { editConfig, editConfigs, editRuns, skipWithoutEditOracle } from "./edit-oracle.ts";


/** The contract's uint8 rule: |Δ| ≤ 1 on ≥ 99.9 % of elements and ≤ 3 everywhere (`step` = the ref's subsampling). */
function expectImage(name: string, ours: Uint8Array, width: number, ref: NpyArray, step = 1, channels = 3): void {
  const [rows, cols] = ref.shape;
  const refData = numbers(ref);
  expect(refData.length, name).toBe(rows * cols * channels);
  let over1 = 0;
  let worst = 0;
  for (let y = 0; y < rows; y++) {
    for (let x = 0; x < cols; x++) {
      for (let c = 0; c < channels; c++) {
        const d = Math.abs(ours[((y * step) * width + x * step) * channels + c] - refData[(y * cols + x) * channels + c]);
        worst = Math.max(worst, d);
        if (d > 1) over1++;
      }
    }
  }
  expect(worst, `${name}: max |Δ|`).toBeLessThanOrEqual(3);
  expect(over1 / refData.length, `${name}: share with |Δ| > 1`).toBeLessThanOrEqual(0.001);
}

describe("crop / resize / paste arithmetic", () => {
  test("centre crop boxes, odd sides included", () => {
    expect(centerCropBox(375, 501)).toEqual({ left: 0, top: 63, right: 374, bottom: 437 }); // the README's example
    expect(centerCropBox(512, 384)).toEqual({ left: 64, top: 0, right: 448, bottom: 384 });
    expect(centerCropBox(7, 7)).toEqual({ left: 0, top: 0, right: 6, bottom: 6 });
    expect(centerCropBox(1, 9)).toEqual({ left: 0, top: 4, right: 0, bottom: 4 });
    expect(() => cropRgb(rgbImage(1, 9), centerCropBox(1, 9))).toThrow(/crop box/);
  });

  test("crop copies the right pixels of an odd-sized image", () => {
    const image = rgbImage(5, 3, Uint8Array.from({ length: 45 }, (_, i) => i));
    const box = centerCropBox(5, 3); // side 3 → 2×2 at (1, 0)
    expect(box).toEqual({ left: 1, top: 0, right: 3, bottom: 2 });
    expect(Array.from(cropRgb(image, box).data)).toEqual([3, 4, 5, 6, 7, 8, 18, 19, 20, 21, 22, 23]);
  });

  test("Gaussian blur keeps a constant image and spreads an edge symmetrically", () => {
    const flat = gaussianBlurGray({ width: 9, height: 13, data: new Uint8Array(117).fill(200) }, 2.5);
    expect(new Set(flat.data)).toEqual(new Set([200]));
    const mask = featheredMask(401, 50);
    const at = (x: number, y: number) => mask.data[y * 401 + x];
    expect(at(0, 0)).toBe(0);
    expect(at(200, 200)).toBe(255);
    expect(at(50, 200)).toBeGreaterThan(100);
    expect(at(50, 200)).toBeLessThan(155);
    for (const [x, y] of [[50, 200], [30, 70], [349, 20]]) expect(at(x, y)).toBe(at(400 - x, y));
    for (let x = 1; x <= 200; x++) expect(at(x, 200)).toBeGreaterThanOrEqual(at(x - 1, 200));
  });

  test("paste with an all-255 mask writes the patch, with all-0 keeps the image", () => {
    const image = rgbImage(4, 3, new Uint8Array(36).fill(10));
    const patch = rgbImage(2, 2, new Uint8Array(12).fill(250));
    const box = { left: 1, top: 1, right: 3, bottom: 3 };
    const full = pasteWithMask(image, patch, box, { width: 2, height: 2, data: new Uint8Array(4).fill(255) });
    const none = pasteWithMask(image, patch, box, { width: 2, height: 2, data: new Uint8Array(4) });
    expect(full.data[(1 * 4 + 1) * 3]).toBe(250);
    expect(full.data[0]).toBe(10);
    expect(Array.from(none.data)).toEqual(Array.from(image.data));
    const half = pasteWithMask(image, patch, box, { width: 2, height: 2, data: new Uint8Array(4).fill(128) });
    expect(half.data[(2 * 4 + 2) * 3]).toBe(Math.round((10 * 127 + 250 * 128) / 255));
  });

  test("odd portrait: pasting the unchanged crop back through the feathered mask gives the original", () => {
    for (const [w, h] of [[37, 51], [375, 501], [129, 128]]) {
      const image = rgbImage(w, h, Uint8Array.from({ length: w * h * 3 }, (_, i) => (i * 2654435761) >>> 24));
      const box = centerCropBox(w, h);
      const side = box.right - box.left;
      expect(side).toBe(Math.min(w, h) - (Math.min(w, h) % 2));
      const pasted = pasteWithMask(image, cropRgb(image, box), box, featheredMask(side));
      expect(pasted.width).toBe(w);
      expect(Buffer.from(pasted.data).equals(Buffer.from(image.data))).toBe(true);
    }
  });

  test("the pipeline mask is binary and the masked image zero where it is 1", () => {
    const mask = rgbImage(7, 5, Uint8Array.from({ length: 105 }, (_, i) => (Math.floor(i / 3) % 7 >= 3 ? 255 : 0)));
    const binary = pipelineMask(mask, 4);
    expect(new Set(binary).size).toBeLessThanOrEqual(2);
    const image = pipelineImage(rgbImage(4, 4, new Uint8Array(48).fill(255)), 4);
    const masked = maskedImage(image, binary);
    binary.forEach((m, i) => expect(masked[i]).toBe(m >= 0.5 ? 0 : 1));
  });
});

describe("crop / resize / paste against the edit oracle", () => {
  skipWithoutEditOracle();
  for (const name of editConfigs) {
    const oracle = editConfig(name);
    const json = (file: string) => JSON.parse(readFileSync(join(oracle.modelDir, file), "utf8"));
    const unet = json("unet/config.json");
    const vae = json("vae/config.json");
    const size = unet.sample_size * 2 ** (vae.block_out_channels.length - 1);

    test(`${name}: crops, 1024² resizes, pipeline image/mask, masked image`, async () => {
      const image = await decodeImageFile(join(oracle.root, "image.png"));
      const mask = await decodeImageFile(join(oracle.root, "mask.png"));
      const box = centerCropBox(image.width, image.height);
      expect([box.left, box.top, box.right, box.bottom]).toEqual(numbers(oracle.ref("c_box")));
      const crop = cropRgb(image, box);
      const cropMask = cropRgb(mask, centerCropBox(mask.width, mask.height));
      expectImage("crop_image_sub2", crop.data, crop.width, oracle.ref("crop_image_sub2"), 2);
      expectImage("crop_mask", cropMask.data.filter((_, i) => i % 3 === 0), cropMask.width, oracle.ref("crop_mask"), 1, 1);
      const image1024 = resizeLikePillow(crop, 1024, 1024, "bicubic");
      const mask1024 = resizeLikePillow(cropMask, 1024, 1024, "bicubic");
      expectImage("image_1024_sub4", image1024.data, 1024, oracle.ref("image_1024_sub4"), 4);
      expectImage("mask_1024_sub4", mask1024.data, 1024, oracle.ref("mask_1024_sub4"), 4);

      const pipeImage = pipelineImage(image1024, size);
      const pipeMask = pipelineMask(mask1024, size);
      expectWithin(pipeImage, oracle.ref("pipe_image").data as Float32Array, undefined, "pipe_image");
      expect(Array.from(pipeMask), "pipe_mask").toEqual(numbers(oracle.ref("pipe_mask")));
      const masked = maskedImage(pipeImage, pipeMask);
      const sub = oracle.ref("masked_image_sub2");
      const half = sub.shape[3];
      expectWithin(masked, sub.data as Float32Array, (i) => {
        const [c, y, x] = [Math.floor(i / (half * half)), Math.floor(i / half) % half, i % half];
        return c * size * size + 2 * y * size + 2 * x;
      }, "masked_image_sub2");
    });

    for (const run of editRuns(oracle)) {
      test(`${name} ${run}: resize back, feathered mask and final paste`, async () => {
        const image = await decodeImageFile(join(oracle.root, "image.png"));
        const box = centerCropBox(image.width, image.height);
        const side = box.right - box.left;
        const output = oracle.ref("pipe_output", run);
        const generated = rgbImage(output.shape[1], output.shape[0], output.data as Uint8Array);
        const resized = resizeLikePillow(generated, side, side, "bicubic");
        expectImage("st_out_resized_sub2", resized.data, side, oracle.ref("st_out_resized_sub2", run), 2);
        const feather = featheredMask(side);
        expectImage("feather_mask", feather.data, side, oracle.ref("feather_mask"), 1, 1);
        const result = pasteWithMask(image, resized, box, feather);
        expectImage("result", result.data, image.width, oracle.ref("result", run));
      });
    }
  }
});
