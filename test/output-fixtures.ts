/** Synthetic task results for the output tests: a gradient image and masks drawn from simple shapes. */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import sharp from "sharp";
import type { TaskResult } from "../src/output/result.ts";

export const WIDTH = 120;
export const HEIGHT = 90;

export function gradientImage(width = WIDTH, height = HEIGHT): Uint8Array {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) data.set([(x * 2) % 256, (y * 3) % 256, (x + y) % 256], (y * width + x) * 3);
  }
  return data;
}

export function shapeMask(inside: (x: number, y: number) => boolean, width = WIDTH, height = HEIGHT): Uint8Array {
  const mask = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) mask[y * width + x] = inside(x, y) ? 1 : 0;
  return mask;
}

export const squareMask = () => shapeMask((x, y) => x >= 10 && x < 50 && y >= 30 && y < 70);
export const discMask = () => shapeMask((x, y) => (x - 88) ** 2 + (y - 50) ** 2 <= 20 ** 2);

/** "A red square is next to a blue circle." with the square and the disc as its two masks. */
export function sampleResult(imagePath: string, overrides: Partial<TaskResult> = {}): TaskResult {
  return {
    image: { path: imagePath, width: WIDTH, height: HEIGHT, sha256: "ab".repeat(32) },
    model: { id: "MBZUAI/GLaMM-FullScope", revision: "main", precision: "fp16" },
    task: "gcg",
    prompt: "Could you please give me a detailed description of the image?",
    rawText: "A <p> red square </p> [SEG] is next to a <p> blue circle </p> [SEG].",
    text: "A red square is next to a blue circle.",
    segments: [
      { phrase: "red square", start: 2, end: 12, mask: squareMask() },
      { phrase: "blue circle", start: 26, end: 37, mask: discMask() },
    ],
    timings: { encode: 12.5, generate: 100 },
    ...overrides,
  };
}

/** A temporary directory holding `photo.png` (the gradient image). */
export async function tempDirWithImage(): Promise<{ dir: string; imagePath: string }> {
  const dir = mkdtempSync(join(tmpdir(), "glamm-output-"));
  const imagePath = join(dir, "photo.png");
  writeFileSync(imagePath, await sharp(gradientImage(), { raw: { width: WIDTH, height: HEIGHT, channels: 3 } }).png().toBuffer());
  return { dir, imagePath };
}
