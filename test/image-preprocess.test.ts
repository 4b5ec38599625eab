import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { ExitCode, GlammError } from "../src/cli/errors.ts";
import { parseClipPreprocessConfig } from "../src/image/clip-config.ts";
import { expandToSquare, longestSideSize, preprocessClip, preprocessSam, shortestEdgeSize } from "../src/image/preprocess.ts";
import { rgbImage } from "../src/image/rgb-image.ts";
import { readNpy } from "../src/output/npy.ts";

// References: transformers / segment-anything / LLaVA steps transcribed in Python over Pillow (make_fixtures.py).
const DIR = "test/fixtures/image/preprocess";

interface PreprocessCase {
  kind: "clip" | "sam" | "square";
  id: string;
  source: string;
  config?: Record<string, unknown>;
  long_side?: number;
  mean?: number[];
}
const cases = JSON.parse(readFileSync(`${DIR}/cases.json`, "utf8")) as PreprocessCase[];

function source(name: string) {
  const npy = readNpy(`${DIR}/${name}.npy`);
  return rgbImage(npy.shape[1], npy.shape[0], npy.data as Uint8Array);
}

function expectBytes(actual: Uint8Array, file: string) {
  const expected = readNpy(file).data as Uint8Array;
  expect(actual.length).toBe(expected.length);
  expect(Buffer.from(actual).equals(Buffer.from(expected))).toBe(true);
}

function expectFloats(actual: { data: Float32Array; dims: number[] }, file: string, tolerance = 0) {
  const expected = readNpy(file);
  expect(actual.dims).toEqual(expected.shape);
  let worst = 0;
  for (let i = 0; i < actual.data.length; i++) worst = Math.max(worst, Math.abs(actual.data[i] - (expected.data[i] as number)));
  expect(worst).toBeLessThanOrEqual(tolerance);
}

describe("preprocessing matches the Python reference exactly", () => {
  test.each(cases.map((c) => [c.id, c] as const))("%s", (_, c) => {
    const image = source(c.source);
    if (c.kind === "clip") {
      const out = preprocessClip(image, parseClipPreprocessConfig(c.config!, c.id));
      expectBytes(out.resizedCropped.data, `${DIR}/${c.id}_cropped.npy`);
      expectFloats(out.pixelValues, `${DIR}/${c.id}_pixels.npy`);
    } else if (c.kind === "sam") {
      const out = preprocessSam(image, c.long_side);
      expectBytes(out.resized.data, `${DIR}/${c.id}_resized.npy`);
      expectFloats(out.pixelValues, `${DIR}/${c.id}_pixels.npy`);
      expect(out.originalSize).toEqual([image.height, image.width]);
      expect(out.resizedSize).toEqual([out.resized.height, out.resized.width]);
    } else {
      expectBytes(expandToSquare(image, c.mean!).data, `${DIR}/${c.id}.npy`);
    }
  });
});

test("output sizes follow transformers' and segment-anything's rounding", () => {
  expect(shortestEdgeSize(480, 640, 336)).toEqual([336, 448]);
  expect(shortestEdgeSize(1000, 333, 336)).toEqual([1009, 336]); // int(336 * 1000 / 333) = int(1009.009...)
  expect(longestSideSize(480, 640, 1024)).toEqual([768, 1024]);
  expect(longestSideSize(333, 1000, 1024)).toEqual([341, 1024]); // 340.99... + 0.5 -> 341
  expect(longestSideSize(3000, 4000, 1024)).toEqual([768, 1024]);
});

test("SAM refuses an image too thin to resize", () => {
  const thin = rgbImage(5000, 1);
  expect(() => preprocessSam(thin)).toThrow(GlammError);
  try {
    preprocessSam(thin);
  } catch (error) {
    expect((error as GlammError).exitCode).toBe(ExitCode.input);
  }
});

test("CLIP config: int sizes accepted, unsupported resample refused as a model error", () => {
  const config = parseClipPreprocessConfig({ size: 224, crop_size: 224 }, "cfg");
  expect([config.shortestEdge, config.cropHeight, config.cropWidth, config.resample]).toEqual([224, 224, 224, "bicubic"]);
  expect(() => parseClipPreprocessConfig({ resample: 1 }, "cfg")).toThrow("unsupported \"resample\" 1");
  expect(() => parseClipPreprocessConfig({ image_mean: [0.5] }, "cfg")).toThrow("invalid \"image_mean\"");
});

test("CLIP config: size {height, width} resizes to exactly that size, aspect not kept (transformers semantics)", () => {
  const config = parseClipPreprocessConfig({ size: { height: 3, width: 5 }, do_center_crop: false, do_normalize: false }, "cfg");
  expect(config.exactSize).toEqual([3, 5]);
  // A flat 7x2 image stays flat whatever the filter; only the plane size tells the resize target.
  const flat = rgbImage(7, 2, new Uint8Array(7 * 2 * 3).fill(51));
  const out = preprocessClip(flat, config);
  expect(out.pixelValues.dims).toEqual([1, 3, 3, 5]);
  for (const v of out.pixelValues.data) expect(v).toBeCloseTo(51 / 255, 6);
  expect(() => parseClipPreprocessConfig({ size: { height: 0, width: 5 } }, "cfg")).toThrow("invalid \"size\"");
});
