import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import sharp from "sharp";
import { GlammError } from "../src/cli/errors.ts";
import { svgTextRenders, type LabelFont } from "../src/output/labels.ts";
import { renderOverlay, writeOverlay } from "../src/output/overlay.ts";
import { gradientImage, HEIGHT, sampleResult, tempDirWithImage, WIDTH } from "./output-fixtures.ts";

const RED: number[] = [230, 25, 75];
const GREEN: number[] = [60, 180, 75];
const BOX_COLOR: number[] = [0, 130, 200];
const LINE = 1; // min(120, 90) / 320 rounds to 1

async function pixelsOf(png: Uint8Array): Promise<Uint8Array> {
  const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
  expect([info.width, info.height, info.channels]).toEqual([WIDTH, HEIGHT, 3]);
  return new Uint8Array(data);
}

/** 0 outside the mask, else the smallest 4-step distance to a background pixel (brute force; outside the image counts as inside). */
function edgeDistance(mask: Uint8Array, x: number, y: number): number {
  if (!mask[y * WIDTH + x]) return 0;
  let best = Infinity;
  mask.forEach((v, i) => {
    if (!v) best = Math.min(best, Math.abs((i % WIDTH) - x) + Math.abs(Math.floor(i / WIDTH) - y));
  });
  return best;
}

const { dir, imagePath } = await tempDirWithImage();
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const box = { x1: 60, y1: 5, x2: 110, y2: 25 };
const result = sampleResult(imagePath, { boxes: [box] });
const original = gradientImage();
const image = { width: WIDTH, height: HEIGHT, data: original };
const fonts: LabelFont[] = ["bitmap", ...((await svgTextRenders()) ? (["svg"] as const) : [])];
if (fonts.length === 1) console.warn("skipping SVG-text overlay checks: libvips has no usable font here");

describe.each(fonts)("overlay with %s labels", (labelFont) => {
  test("mask interiors tinted 50% with the phrase colour, edges outlined, the rest unchanged, labels inked", async () => {
    const overlay = await renderOverlay(result, image, { labelFont });
    expect(overlay.lineWidth).toBe(LINE);
    const out = await pixelsOf(overlay.png);
    const inLabel = (x: number, y: number) => overlay.labels.some((l) => x >= l.x && x < l.x + l.width && y >= l.y && y < l.y + l.height);
    const onBox = (x: number, y: number) =>
      x >= box.x1 && x < box.x2 && y >= box.y1 && y < box.y2 && (x < box.x1 + LINE + 1 || x >= box.x2 - LINE - 1 || y < box.y1 + LINE + 1 || y >= box.y2 - LINE - 1);
    const [square, disc] = result.segments.map((s) => s.mask);
    let tinted = 0;
    let outlined = 0;
    for (let y = 0; y < HEIGHT; y++) {
      for (let x = 0; x < WIDTH; x++) {
        if (inLabel(x, y)) continue;
        const i = (y * WIDTH + x) * 3;
        const got = [...out.subarray(i, i + 3)];
        const orig = [...original.subarray(i, i + 3)];
        const [mask, color] = square[y * WIDTH + x] ? [square, RED] : disc[y * WIDTH + x] ? [disc, GREEN] : [null, null];
        if (onBox(x, y)) expect(got).toEqual(BOX_COLOR);
        else if (!mask) expect(got).toEqual(orig);
        else if (edgeDistance(mask, x, y) <= LINE) (expect(got).toEqual(color), outlined++);
        else (expect(got).toEqual(orig.map((v, c) => Math.floor(v * 0.5 + color[c] * 0.5))), tinted++);
      }
    }
    expect(tinted).toBeGreaterThan(1000);
    expect(outlined).toBeGreaterThan(100);

    expect(overlay.labels.map((l) => l.text)).toEqual(["red square", "blue circle", "region 1"]);
    for (const label of overlay.labels) {
      let background = 0;
      let ink = 0;
      for (let y = label.y; y < label.y + label.height; y++) {
        for (let x = label.x; x < label.x + label.width; x++) {
          const i = (y * WIDTH + x) * 3;
          if ([...out.subarray(i, i + 3)].every((v, c) => v === label.color[c])) background++;
          else ink++;
        }
      }
      expect(background).toBeGreaterThan(ink);
      expect(ink).toBeGreaterThan(10);
    }
  });
});

test("labels stay inside the image and do not overlap", async () => {
  const { labels } = await renderOverlay(result, image, { labelFont: "bitmap" });
  for (const [i, a] of labels.entries()) {
    expect(a.x >= 0 && a.y >= 0 && a.x + a.width <= WIDTH && a.y + a.height <= HEIGHT).toBe(true);
    for (const b of labels.slice(i + 1)) {
      const apart = a.x + a.width <= b.x || b.x + b.width <= a.x || a.y + a.height <= b.y || b.y + b.height <= a.y;
      expect(apart).toBe(true);
    }
  }
});

test("writeOverlay decodes the image file and writes a PNG; size mismatches are input errors", async () => {
  const path = join(dir, "photo.glamm.png");
  await writeOverlay(path, result, { labelFont: "bitmap" });
  const meta = await sharp(readFileSync(path)).metadata();
  expect([meta.format, meta.width, meta.height]).toEqual(["png", WIDTH, HEIGHT]);
  await expect(renderOverlay(result, { width: 10, height: 10, data: new Uint8Array(300) })).rejects.toThrow(GlammError);
});

test("large images get thicker outlines and labels scale", async () => {
  const big = sampleResult(imagePath, { segments: [], image: { ...result.image, width: 1280, height: 960 } });
  big.segments = [{ phrase: "x", start: 0, end: 1, mask: new Uint8Array(1280 * 960).fill(1, 1280 * 100, 1280 * 200) }];
  const overlay = await renderOverlay(big, { width: 1280, height: 960, data: new Uint8Array(1280 * 960 * 3) }, { labelFont: "bitmap" });
  expect(overlay.lineWidth).toBe(3);
  expect(overlay.labels[0].height).toBeGreaterThan(20);
});
