import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import {
  decodeRle,
  encodeMask,
  rleArea,
  rleFromCoco,
  rleFromString,
  rleIou,
  rleMerge,
  rleToBbox,
  rleToString,
} from "../src/output/rle.ts";

const GT = "../shared/oracle-eval/set-a/gt/val_gcg_coco_mask_gt.json";
const haveOracle = existsSync(GT);
if (!haveOracle) console.warn(`skipping oracle RLE checks: ${GT} is absent`);

/** Independent reading of the pycocotools string code, with BigInt arithmetic. */
function referenceCounts(s: string): number[] {
  const counts: number[] = [];
  let p = 0;
  while (p < s.length) {
    let x = 0n;
    let k = 0n;
    let c = 0;
    do {
      c = s.charCodeAt(p++) - 48;
      x |= BigInt(c & 0x1f) << (5n * k);
      k++;
    } while (c & 0x20);
    if (c & 0x10) x -= 1n << (5n * k);
    if (counts.length > 2) x += BigInt(counts[counts.length - 2]);
    counts.push(Number(x));
  }
  return counts;
}

/** Independent column-major fill, returned row-major. */
function referenceMask(counts: number[], h: number, w: number): Uint8Array {
  const columnMajor: number[] = [];
  counts.forEach((n, i) => columnMajor.push(...new Array(n).fill(i % 2)));
  const mask = new Uint8Array(h * w);
  columnMajor.forEach((v, p) => (mask[(p % h) * w + Math.floor(p / h)] = v));
  return mask;
}

function pixelBbox(mask: Uint8Array, h: number, w: number): number[] {
  let [x0, y0, x1, y1] = [w, h, -1, -1];
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      if (mask[y * w + x]) [x0, y0, x1, y1] = [Math.min(x0, x), Math.min(y0, y), Math.max(x1, x), Math.max(y1, y)];
  return x1 < 0 ? [0, 0, 0, 0] : [x0, y0, x1 - x0 + 1, y1 - y0 + 1];
}

const oracleAnnotations = (): { segmentation: { size: [number, number]; counts: string }; area: number; bbox: number[] }[] =>
  JSON.parse(readFileSync(GT, "utf8")).annotations;

describe.if(haveOracle)("RLE against pycocotools-written ground truth", () => {
  test("string decode, mask decode, re-encode, area and bbox", () => {
    const annotations = oracleAnnotations();
    expect(annotations.length).toBeGreaterThan(20);
    for (const { segmentation, area, bbox } of annotations) {
      const [h, w] = segmentation.size;
      const rle = rleFromString(segmentation.counts, h, w);
      expect(rle.counts).toEqual(referenceCounts(segmentation.counts));
      const mask = decodeRle(rle);
      expect(mask).toEqual(referenceMask(rle.counts, h, w));
      expect(rleToString(encodeMask(mask, h, w).counts)).toBe(segmentation.counts);
      expect(rleArea(rle)).toBe(area);
      expect(rleToBbox(rle) as number[]).toEqual(bbox);
      expect(rleToBbox(rle) as number[]).toEqual(pixelBbox(mask, h, w));
    }
  });

  test("iou (plain and crowd) and merge agree with pixel counts", () => {
    const rles = oracleAnnotations().slice(0, 20).map((a) => rleFromCoco(a.segmentation));
    const sameSize = rles.filter((r) => r.height === rles[1].height && r.width === rles[1].width);
    const masks = sameSize.map(decodeRle);
    expect(masks.length).toBeGreaterThanOrEqual(3);
    const ious = rleIou(sameSize, sameSize, sameSize.map((_, i) => i % 2 === 1));
    for (let d = 0; d < masks.length; d++) {
      for (let g = 0; g < masks.length; g++) {
        let inter = 0;
        let union = 0;
        let areaD = 0;
        masks[d].forEach((v, p) => {
          inter += v & masks[g][p];
          union += v | masks[g][p];
          areaD += v;
        });
        const expected = inter === 0 ? 0 : inter / (g % 2 === 1 ? areaD : union);
        expect(ious[d][g]).toBeCloseTo(expected, 12);
      }
    }
    const merged = decodeRle(rleMerge(sameSize.slice(0, 3)));
    const intersected = decodeRle(rleMerge(sameSize.slice(0, 2), true));
    merged.forEach((v, p) => expect(v).toBe(masks[0][p] | masks[1][p] | masks[2][p]));
    intersected.forEach((v, p) => expect(v).toBe(masks[0][p] & masks[1][p]));
  });
});

describe("RLE basics", () => {
  test("column-major order, leading zero run, large counts with negative deltas", () => {
    // 2x3 mask, row-major [[1,0,0],[1,1,0]] -> column-major 1,1,0,1,0,0 -> runs 0,2,1,1,2
    const rle = encodeMask([1, 0, 0, 1, 1, 0], 2, 3);
    expect(rle.counts).toEqual([0, 2, 1, 1, 2]);
    expect(rleToBbox(rle)).toEqual([0, 0, 2, 2]);
    const counts = [5_000_000, 3, 70_000, 1, 123_456_789, 0, 42];
    const text = rleToString(counts);
    expect(referenceCounts(text)).toEqual(counts);
    expect(rleFromString(text, 1, 1).counts).toEqual(counts);
  });

  test("empty mask and bad input", () => {
    const empty = encodeMask(new Uint8Array(12), 3, 4);
    expect(empty.counts).toEqual([12]);
    expect(rleArea(empty)).toBe(0);
    expect(rleToBbox(empty)).toEqual([0, 0, 0, 0]);
    expect(() => rleFromCoco({ size: [2, 2], counts: "3" })).toThrow("covers 3 pixels");
    expect(() => rleFromCoco({ size: [2, 2], counts: [[1, 2]] })).toThrow("polygons are not supported");
    expect(() => rleFromString("\u0001", 1, 1)).toThrow("invalid character");
  });
});
