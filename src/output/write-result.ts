import { mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { usageError } from "../cli/errors.ts";
import type { RgbImage } from "../image/rgb-image.ts";
import { writeFilesTogether, type FileContent } from "./atomic.ts";
import { renderHeatmap } from "./heatmap.ts";
import { toGcgEvalPrediction, toGlammJson } from "./json.ts";
import { renderOverlay } from "./overlay.ts";
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
 * Writes one image's outputs: `<stem>.glamm.png` (overlay), `<stem>.glamm.json`, for glamm-eval
 * `<evalDir>/<image_id>.json` in the official GCG prediction format, and the attend backend's heatmaps
 * (`<stem>.heatmap-N.png`). They appear together or not at all; returns their paths.
 */
export async function writeResultFiles(result: TaskResult, image: RgbImage, stem: string, formats: readonly OutputFormat[], evalDir: string): Promise<string[]> {
  const files: FileContent[] = [];
  if (formats.includes("png")) files.push({ path: `${stem}.glamm.png`, data: (await renderOverlay(result, image)).png });
  if (formats.includes("json")) files.push({ path: `${stem}.glamm.json`, data: `${JSON.stringify(toGlammJson(result, `${stem}.glamm.json`), null, 2)}\n` });
  if (formats.includes("glamm-eval")) {
    const prediction = toGcgEvalPrediction(result);
    files.push({ path: resolve(evalDir, `${prediction.image_id}.json`), data: JSON.stringify(prediction) });
  }
  for (const [i, segment] of result.segments.entries()) {
    if (segment.heatmap) files.push({ path: `${stem}.heatmap-${i + 1}.png`, data: await renderHeatmap(image, segment.heatmap.values, segment.heatmap.size[0]) });
  }
  for (const dir of new Set(files.map((f) => dirname(f.path)))) mkdirSync(dir, { recursive: true });
  writeFilesTogether(files);
  return files.map((f) => f.path);
}
