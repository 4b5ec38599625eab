import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { GlammError } from "../src/cli/errors.ts";
import { parseGcgPrediction } from "../src/eval/gcg-files.ts";
import { readGlammJson, toGcgEvalPrediction, writeGcgEvalPrediction, writeGlammJson } from "../src/output/json.ts";
import schema from "../src/output/schema.json";
import { HEIGHT, sampleResult, shapeMask, tempDirWithImage, WIDTH } from "./output-fixtures.ts";
import { validate } from "./output-schema-validator.ts";

/** Independent reading of a pycocotools compressed RLE string into a row-major mask (BigInt arithmetic). */
function decodeCocoString(counts: string, h: number, w: number): Uint8Array {
  const runs: number[] = [];
  let p = 0;
  while (p < counts.length) {
    let x = 0n;
    let shift = 0n;
    let c: number;
    do {
      c = counts.charCodeAt(p++) - 48;
      x |= BigInt(c & 0x1f) << shift;
      shift += 5n;
    } while (c & 0x20);
    if (c & 0x10) x -= 1n << shift;
    if (runs.length > 2) x += BigInt(runs[runs.length - 2]);
    runs.push(Number(x));
  }
  const columnMajor: number[] = [];
  runs.forEach((run, i) => columnMajor.push(...new Array(run).fill(i % 2)));
  const mask = new Uint8Array(h * w);
  columnMajor.forEach((v, k) => (mask[(k % h) * w + Math.floor(k / h)] = v));
  return mask;
}

function referenceBbox(mask: Uint8Array, h: number, w: number): number[] {
  const xs: number[] = [];
  const ys: number[] = [];
  mask.forEach((v, i) => v && (xs.push(i % w), ys.push(Math.floor(i / w))));
  if (!xs.length) return [0, 0, 0, 0];
  return [Math.min(...xs), Math.min(...ys), Math.max(...xs) - Math.min(...xs) + 1, Math.max(...ys) - Math.min(...ys) + 1];
}

describe("NAME.glamm.json", async () => {
  const { dir, imagePath } = await tempDirWithImage();
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  // a mask touching the first pixel exercises the leading zero-length run
  const corner = shapeMask((x, y) => x < 3 && y < 2);
  const result = sampleResult(imagePath, {
    boxes: [{ x1: 5, y1: 6, x2: 40, y2: 50, caption: "a box" }],
  });
  result.segments.push({ phrase: "", start: 38, end: 38, mask: corner });
  const jsonPath = join(dir, "photo.glamm.json");
  writeGlammJson(jsonPath, result);
  const written = JSON.parse(readFileSync(jsonPath, "utf8"));

  test("masks decode (independently) to the input masks; bbox and area match", () => {
    expect(written.segments).toHaveLength(3);
    written.segments.forEach((segment: any, i: number) => {
      expect(segment.mask.size).toEqual([HEIGHT, WIDTH]);
      const mask = decodeCocoString(segment.mask.counts, HEIGHT, WIDTH);
      expect(Buffer.from(mask).equals(Buffer.from(result.segments[i].mask))).toBe(true);
      expect(segment.bbox).toEqual(referenceBbox(result.segments[i].mask, HEIGHT, WIDTH));
      expect(segment.area).toBe(result.segments[i].mask.reduce((a, b) => a + b, 0));
    });
  });

  test("metadata, spans and relative image path", () => {
    expect(written.schemaVersion).toBe(1);
    expect(written.image).toEqual({ path: "photo.png", width: WIDTH, height: HEIGHT, sha256: "ab".repeat(32) });
    expect(written.model).toEqual(result.model);
    expect([written.task, written.prompt, written.text, written.rawText]).toEqual([result.task, result.prompt, result.text, result.rawText]);
    expect(written.segments.map((s: any) => [s.phrase, s.start, s.end])).toEqual([["red square", 2, 12], ["blue circle", 26, 37], ["", 38, 38]]);
    expect(written.boxes).toEqual(result.boxes);
    expect(written.timings).toEqual(result.timings);
  });

  test("validates against schema.json; the validator rejects broken documents", () => {
    expect(validate(schema, written)).toEqual([]);
    const broken = structuredClone(written);
    broken.segments[0].bbox = [1, 2, 3];
    broken.task = "dance";
    delete broken.image.sha256;
    broken.extra = true;
    expect(validate(schema, broken).length).toBe(4);
  });

  test("readGlammJson reads it back and refuses bad files with an input error", () => {
    expect(readGlammJson(jsonPath).segments[1].phrase).toBe("blue circle");
    const bad = join(dir, "bad.glamm.json");
    for (const change of [(d: any) => (d.schemaVersion = 2), (d: any) => (d.segments[0].mask.size = [1, 1]), (d: any) => delete d.model]) {
      const doc = structuredClone(written);
      change(doc);
      writeFileSync(bad, JSON.stringify(doc));
      expect(() => readGlammJson(bad)).toThrow(GlammError);
    }
    writeFileSync(bad, "{");
    expect(() => readGlammJson(bad)).toThrow(/not valid JSON/);
  });

  test("a mask of the wrong size is an input error", () => {
    const wrong = sampleResult(imagePath);
    wrong.segments[0].mask = new Uint8Array(10);
    expect(() => writeGlammJson(join(dir, "wrong.glamm.json"), wrong)).toThrow(GlammError);
  });
});

describe("--format glamm-eval", async () => {
  const { dir, imagePath } = await tempDirWithImage();
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const result = sampleResult(imagePath);

  test("the official prediction layout, readable by the official-format reader", () => {
    const path = writeGcgEvalPrediction(dir, result);
    expect(path).toBe(join(dir, "photo.json"));
    const written = JSON.parse(readFileSync(path, "utf8"));
    expect(Object.keys(written)).toEqual(["image_id", "caption", "phrases", "pred_masks"]);
    // caption and phrases as eval/gcg/infer.py makes them (see test/fixtures/output/official_captions.json)
    expect(written.image_id).toBe("photo");
    expect(written.caption).toBe("A red square is next to a blue circle .");
    expect(written.phrases).toEqual(["red square", "blue circle"]);
    written.pred_masks.forEach((rle: any, i: number) => {
      expect(rle.size).toEqual([HEIGHT, WIDTH]);
      expect(Buffer.from(decodeCocoString(rle.counts, HEIGHT, WIDTH)).equals(Buffer.from(result.segments[i].mask))).toBe(true);
    });
    const parsed = parseGcgPrediction(written, "photo", path);
    expect(parsed.phrases).toEqual(["red square", "blue circle"]);
    expect(parsed.masks).toHaveLength(2);
  });

  test("image id drops any extension", () => {
    expect(toGcgEvalPrediction(sampleResult("/x/sa_123.jpeg")).image_id).toBe("sa_123");
  });
});
