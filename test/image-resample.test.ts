import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { gunzipSync } from "node:zlib";
import { resizeLikePillow, type ResampleFilter } from "../src/image/resample.ts";
import { rgbImage } from "../src/image/rgb-image.ts";
import { readNpy } from "../src/output/npy.ts";

// Expected outputs come from Pillow itself (test/fixtures/image/make_fixtures.py).
const DIR = "test/fixtures/image/resample";

interface ResampleCase {
  source: string;
  filter: ResampleFilter;
  width: number;
  height: number;
  offset: number;
}

const { cases, pillow } = JSON.parse(readFileSync(`${DIR}/cases.json`, "utf8")) as { cases: ResampleCase[]; pillow: string };
const outputs = gunzipSync(readFileSync(`${DIR}/outputs.bin.gz`));

function loadSource(name: string) {
  const npy = readNpy(`${DIR}/${name}.npy`);
  return rgbImage(npy.shape[1], npy.shape[0], npy.data as Uint8Array);
}

function firstMismatch(a: Uint8Array, b: Uint8Array): string {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return `byte ${i}: got ${a[i]}, Pillow ${b[i]}`;
  return "none";
}

describe(`resizeLikePillow matches Pillow ${pillow} bit for bit`, () => {
  test.each(cases.map((c) => [`${c.source} -> ${c.width}x${c.height} ${c.filter}`, c] as const))("%s", (_, c) => {
    const out = resizeLikePillow(loadSource(c.source), c.width, c.height, c.filter);
    const expected = outputs.subarray(c.offset, c.offset + c.width * c.height * 3);
    expect(out.width).toBe(c.width);
    expect(out.height).toBe(c.height);
    expect(firstMismatch(out.data, expected)).toBe("none");
  });
});

test("resizeLikePillow rejects non-positive or fractional sizes", () => {
  const src = loadSource("noise_7x5");
  expect(() => resizeLikePillow(src, 0, 5, "bilinear")).toThrow(RangeError);
  expect(() => resizeLikePillow(src, 3.5, 5, "bicubic")).toThrow(RangeError);
});

test("a window of the resize equals that part of Pillow's full output", () => {
  const windows = [
    { left: 3, top: 2, width: 30, height: 17 },
    { left: 0, top: 45, width: 74, height: 1 },
  ];
  const c = cases.find((k) => k.source === "noise_37x23" && k.width === 74 && k.filter === "bicubic")!;
  const full = outputs.subarray(c.offset, c.offset + c.width * c.height * 3);
  for (const window of windows) {
    const out = resizeLikePillow(loadSource(c.source), c.width, c.height, c.filter, window);
    const expected = new Uint8Array(window.width * window.height * 3);
    for (let y = 0; y < window.height; y++) {
      const from = ((y + window.top) * c.width + window.left) * 3;
      expected.set(full.subarray(from, from + window.width * 3), y * window.width * 3);
    }
    expect(firstMismatch(out.data, expected)).toBe("none");
  }
  expect(() => resizeLikePillow(loadSource(c.source), 74, 46, "bicubic", { left: 1, top: 0, width: 74, height: 46 })).toThrow(
    RangeError,
  );
});
