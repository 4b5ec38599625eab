import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { loadClipPreprocessConfig } from "../src/image/clip-config.ts";
import { decodeImageFile } from "../src/image/decode.ts";
import { preprocessClip, preprocessSam } from "../src/image/preprocess.ts";
import { readNpy } from "../src/output/npy.ts";
import { expectWithin } from "./helpers/tolerance.ts";

// The official GLaMM pipeline's own outputs for tiny-a/image.png (see ../shared/oracle/README.md).
const ORACLE = "../shared/oracle/tiny-a";
const present = existsSync(`${ORACLE}/refs/index.json`);
if (!present) console.warn(`skipping image oracle tests: ${ORACLE} not found`);

function within(actual: Float32Array, file: string, pick: (i: number) => number = (i) => i) {
  expectWithin(actual, readNpy(file).data as Float32Array, pick);
}

function equalBytes(actual: Uint8Array, file: string) {
  const ref = readNpy(file);
  expect(Buffer.from(actual).equals(Buffer.from(ref.data as Uint8Array))).toBe(true);
  return ref.shape;
}

describe.skipIf(!present)("tiny-a oracle image references", () => {
  const index = present ? JSON.parse(readFileSync(`${ORACLE}/refs/index.json`, "utf8")) : {};
  const image = present ? decodeImageFile(`${ORACLE}/image.png`) : Promise.reject();

  test("CLIP: resized+cropped uint8 equal, pixel values within tolerance", async () => {
    const config = loadClipPreprocessConfig(`${ORACLE}/clip-vit-tiny-336`);
    const out = preprocessClip(await image, config);
    expect(equalBytes(out.resizedCropped.data, `${ORACLE}/refs/image/clip_resized_cropped_uint8.npy`)).toEqual([
      out.resizedCropped.height,
      out.resizedCropped.width,
      3,
    ]);
    expect(out.pixelValues.dims).toEqual(index.tensors["image/clip_pixel_values"].shape);
    within(out.pixelValues.data, `${ORACLE}/refs/image/clip_pixel_values.npy`);
  });

  test("SAM: resized uint8 equal, sizes, pixel values (every 8th row/column) within tolerance", async () => {
    const decoded = await image;
    const out = preprocessSam(decoded);
    expect(out.originalSize).toEqual(index.orig_hw);
    expect(out.resizedSize).toEqual(index.resize_hw);
    equalBytes(out.resized.data, `${ORACLE}/refs/image/sam_resized_uint8.npy`);
    const [, , side] = out.pixelValues.dims;
    const sub = Math.ceil(side / 8);
    within(out.pixelValues.data, `${ORACLE}/refs/image/sam_pixel_values_sub8.npy`, (i) => {
      const c = Math.floor(i / (sub * sub));
      const y = Math.floor(i / sub) % sub;
      const x = i % sub;
      return c * side * side + y * 8 * side + x * 8;
    });
  });
});
