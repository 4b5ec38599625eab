import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { usageError } from "../cli/errors.ts";
import type { RgbImage } from "../image/rgb-image.ts";
import { writeGcgEvalPrediction, writeGlammJson } from "./json.ts";
import { writeOverlay } from "./overlay.ts";
import type { TaskResult } from "./result.ts";

export const outputFormats = ["png", "json", "glamm-eval"] as const;
export type OutputFormat = (typeof outputFormats)[number];

export function parseFormats(text: string): OutputFormat[] {
  const formats = text.split(",").map((f) => f.trim()).filter(Boolean);
  const unknown = formats.filter((f) => !outputFormats.includes(f as OutputFormat));
  if (unknown.length || formats.length === 0) throw usageError(`--format takes a comma-separated list of ${outputFormats.join(", ")}, got "${text}"`);
  return formats as OutputFormat[];
}

/**
 * Writes one image's outputs: `<stem>.glamm.png` (overlay), `<stem>.glamm.json`, and for glamm-eval
 * `<evalDir>/<image_id>.json` in the official GCG prediction format. Every file is written atomically.
 */
export async function writeResultFiles(result: TaskResult, image: RgbImage, stem: string, formats: readonly OutputFormat[], evalDir: string): Promise<string[]> {
  mkdirSync(dirname(stem), { recursive: true });
  const written: string[] = [];
  if (formats.includes("png")) {
    await writeOverlay(`${stem}.glamm.png`, result, {}, image);
    written.push(`${stem}.glamm.png`);
  }
  if (formats.includes("json")) {
    writeGlammJson(`${stem}.glamm.json`, result);
    written.push(`${stem}.glamm.json`);
  }
  if (formats.includes("glamm-eval")) {
    mkdirSync(evalDir, { recursive: true });
    written.push(writeGcgEvalPrediction(evalDir, result));
  }
  return written;
}
