import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { modelError, usageError } from "../../cli/errors.ts";
import { notice } from "../../cli/ui.ts";
import { findManifest } from "../../hub/manifests.ts";
import { installedRecords, readInstallRecord } from "../../hub/store.ts";
import type { ModelInfo, Task, TaskResult } from "../../output/result.ts";
import type { ChatBackend } from "../chat.ts";
import { DEMO_MARK, hasTrainedDemo, trainedDemo } from "../demo.ts";
import { DEMO_MODEL } from "../sources.ts";
import type { DecodedImage, TaskInput } from "../tasks.ts";
import type { AttendImage, AttendModel, AttendModelOptions, AttendRun } from "./session.ts";

/** The question the official attend-and-segment GCG script asks LLaVA. */
export const ATTEND_QUESTION = "Describe the image in detail.";

/** `--backend attend` options of the task commands and chat. */
export interface AttendSettings {
  sam?: string;
  removeCorner: boolean;
  minScore?: number;
  heatmaps: boolean;
  difflmm?: AttendModelOptions["difflmm"];
}

const isDir = (path: string) => existsSync(path) && statSync(path).isDirectory();

function installedDir(name: string): string | undefined {
  return readInstallRecord(findManifest(name)?.name ?? name)?.dir;
}

/** A LLaVA-1.5 or DiffLMM folder: given, or installed (default llava-v1.5-7b). */
function resolveLlava(model: string | undefined): string {
  if (model && isDir(model)) return model;
  const dir = installedDir(model ?? "llava-v1.5-7b");
  const pullable = model === undefined || findManifest(model) !== undefined;
  if (!dir) throw modelError(`the attend backend needs a LLaVA-1.5 or DiffLMM model${model ? `, not ${model}` : ""}: run \`glamm pull ${pullable ? (model ?? "llava-v1.5-7b") : "llava-v1.5-7b"}\` or pass --model DIR`);
  return dir;
}

/**
 * The CLIP folder an installed LLaVA was pulled with (its manifest's vision model): the published config names its
 * tower by Hub id (openai/clip-vit-large-patch14-336), which is no local folder. Undefined for other folders.
 */
export function installedVision(llavaDir: string): string | undefined {
  const vision = installedRecords().find((record) => record.dir === llavaDir)?.dependencies[0];
  return vision ? readInstallRecord(vision)?.dir : undefined;
}

/** A SAM checkpoint: given (file or Hugging Face folder), or the .pth of the installed sam-vit-h. */
function resolveSam(sam: string | undefined): string {
  if (sam) {
    if (!existsSync(sam)) throw modelError(`no SAM checkpoint at ${sam}`);
    return sam;
  }
  const dir = installedDir("sam-vit-h");
  const pth = dir ? readdirSync(dir, { recursive: true }).map(String).find((f) => f.endsWith(".pth")) : undefined;
  if (!dir || !pth) throw modelError("the attend backend needs SAM: run `glamm pull sam-vit-h` or pass --sam FILE");
  return join(dir, pth);
}

/** What an attend run loads, and how results name it (the trained demo's mark when it is the demo). */
export interface AttendSources {
  llava: string;
  sam: string;
  id: string;
  revision: string;
  demo?: string;
}

/**
 * What --model and --sam name for the attend backend. Without --model: the installed llava-v1.5-7b, else the trained
 * attend demo of this build (models/demo: llava-demo, and sam_demo unless --sam is given); `--model demo` is that demo.
 */
export function resolveAttendSources(model: string | undefined, sam: string | undefined): AttendSources {
  const fallBack = model === undefined && !installedDir("llava-v1.5-7b");
  if (!hasTrainedDemo("attend") || (model !== DEMO_MODEL && !fallBack)) {
    const llava = resolveLlava(model);
    return { llava, sam: resolveSam(sam), id: llava, revision: "local" };
  }
  if (fallBack) notice("no LLaVA installed: using the built-in attend demo, trained only on pictures of coloured shapes (it knows nothing else); `glamm pull llava-v1.5-7b` and `glamm pull sam-vit-h` install the real ones");
  const { dir, revision } = trainedDemo();
  return { llava: join(dir, "llava-demo"), sam: sam ? resolveSam(sam) : join(dir, "sam_demo.pth"), id: "llava-demo (trained on synthetic shapes)", revision, demo: DEMO_MARK };
}

/** One answer as a task result; its segments carry the SAM point and score (and the heatmap when asked for). */
export function attendResult(run: AttendRun, task: Task, prompt: string, decoded: DecodedImage, info: ModelInfo, heatmaps: boolean): TaskResult {
  const { width, height } = run.image;
  return {
    backend: "attend",
    image: { path: decoded.path, width, height, sha256: decoded.sha256 },
    model: run.llava.noise ? { ...info, noise: run.llava.noise } : info,
    task,
    prompt,
    rawText: run.text,
    text: run.text,
    segments: run.phrases.map((p) => ({
      phrase: p.phrase,
      start: p.start,
      end: p.end,
      mask: p.mask,
      point: p.point,
      score: p.score,
      ...(heatmaps ? { heatmap: { size: [run.grid, run.grid] as [number, number], values: Array.from(p.heatmap) } } : {}),
    })),
    timings: {},
  };
}

/** One image through attend-and-segment, as a task result (gcg and caption generate; ground forces the text). */
export async function runAttendTask(model: AttendModel, decoded: DecodedImage, input: TaskInput, settings: AttendSettings & { maxTokens: number }, info: ModelInfo): Promise<TaskResult> {
  if (input.task !== "gcg" && input.task !== "caption" && input.task !== "ground") {
    throw usageError(`--backend attend grounds gcg, caption and ground; ${input.task} needs the GLaMM backend`);
  }
  const image = await model.openImage(decoded.image);
  const run = await image.ask({
    question: ATTEND_QUESTION,
    answer: input.task === "ground" ? input.text : undefined,
    maxTokens: settings.maxTokens,
    removeCorner: settings.removeCorner,
    minScore: settings.minScore,
  });
  return attendResult(run, input.task, ATTEND_QUESTION, decoded, info, settings.heatmaps);
}

/** Chat answers by attend-and-segment: LLaVA-1.5's multi-turn conversation, each new answer grounded; no regions. */
export function attendChat(image: AttendImage, decoded: DecodedImage, settings: AttendSettings & { maxTokens: number }, info: ModelInfo): ChatBackend {
  return {
    checkBox: () => {
      throw usageError("/box is not supported with the attend backend (LLaVA-1.5 takes no regions)");
    },
    answer: async (turns) => {
      const question = turns[turns.length - 1].user;
      const history = turns.slice(0, -1).map((turn) => ({ user: turn.user, assistant: turn.assistant ?? "" }));
      const run = await image.ask({ question, history, maxTokens: settings.maxTokens, removeCorner: settings.removeCorner, minScore: settings.minScore });
      return { raw: run.text, result: attendResult(run, "chat", question, decoded, info, settings.heatmaps) };
    },
  };
}
