import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { modelError, usageError } from "../../cli/errors.ts";
import { findManifest } from "../../hub/manifests.ts";
import { readInstallRecord } from "../../hub/store.ts";
import type { ModelInfo, TaskResult } from "../../output/result.ts";
import type { Device } from "../../runtime/ort.ts";
import type { Precision } from "../convert.ts";
import type { TaskInput } from "../tasks.ts";
import { runAttend } from "./run.ts";

/** The question the official attend-and-segment GCG script asks LLaVA. */
export const ATTEND_QUESTION = "Describe the image in detail.";

export interface AttendSettings {
  model?: string;
  vision?: string;
  sam?: string;
  removeCorner: boolean;
  minScore?: number;
  heatmaps: boolean;
  device: Device;
  precision: Precision;
  maxTokens: number;
}

const isDir = (path: string) => existsSync(path) && statSync(path).isDirectory();

function installedDir(name: string): string | undefined {
  return readInstallRecord(findManifest(name)?.name ?? name)?.dir;
}

/** A LLaVA-1.5 folder: given, or the installed llava-v1.5-7b. */
export function resolveLlava(model: string | undefined): string {
  if (model && isDir(model)) return model;
  const dir = installedDir(model ?? "llava-v1.5-7b");
  if (!dir) throw modelError(`the attend backend needs a LLaVA-1.5 model: run \`glamm pull ${model ?? "llava-v1.5-7b"}\` or pass --model DIR`);
  return dir;
}

/** A SAM checkpoint: given (file or Hugging Face folder), or the .pth of the installed sam-vit-h. */
export function resolveSam(sam: string | undefined): string {
  if (sam) {
    if (!existsSync(sam)) throw modelError(`no SAM checkpoint at ${sam}`);
    return sam;
  }
  const dir = installedDir("sam-vit-h");
  const pth = dir ? readdirSync(dir, { recursive: true }).map(String).find((f) => f.endsWith(".pth")) : undefined;
  if (!dir || !pth) throw modelError("the attend backend needs SAM: run `glamm pull sam-vit-h` or pass --sam FILE");
  return join(dir, pth);
}

/** One image through attend-and-segment, as a task result (gcg and caption generate; ground forces the text). */
export async function runAttendTask(imagePath: string, input: TaskInput, settings: AttendSettings, info: ModelInfo): Promise<TaskResult> {
  if (input.task !== "gcg" && input.task !== "caption" && input.task !== "ground") {
    throw usageError(`--backend attend grounds gcg, caption and ground; ${input.task} needs the GLaMM backend`);
  }
  const run = await runAttend({
    model: resolveLlava(settings.model),
    vision: settings.vision,
    sam: resolveSam(settings.sam),
    image: imagePath,
    instruction: ATTEND_QUESTION,
    answer: input.task === "ground" ? input.text : undefined,
    maxTokens: settings.maxTokens,
    removeCorner: settings.removeCorner,
    minScore: settings.minScore,
    device: settings.device,
    precision: settings.precision,
  });
  const { width, height } = run.image;
  return {
    backend: "attend",
    image: { path: imagePath, width, height, sha256: "" },
    model: info,
    task: input.task,
    prompt: ATTEND_QUESTION,
    rawText: run.text,
    text: run.text,
    segments: run.phrases.map((p) => ({
      phrase: p.phrase,
      start: p.start,
      end: p.end,
      mask: p.mask,
      point: p.point,
      score: p.score,
      ...(settings.heatmaps ? { heatmap: { size: [run.grid, run.grid] as [number, number], values: Array.from(p.heatmap) } } : {}),
    })),
    timings: {},
  };
}
