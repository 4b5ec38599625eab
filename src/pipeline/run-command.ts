import { join } from "node:path";
import { ExitCode, GlammError, inputError } from "../cli/errors.ts";
import { colorErr, notice, spinner, stderrIsTty } from "../cli/ui.ts";
import type { RgbImage } from "../image/rgb-image.ts";
import { writeGallery } from "../output/gallery.ts";
import { writeFileAtomic } from "../output/atomic.ts";
import { renderHeatmap } from "../output/heatmap.ts";
import type { ModelInfo, TaskResult } from "../output/result.ts";
import { toGlammJson } from "../output/json.ts";
import { writeResultText } from "../output/terminal.ts";
import { writeResultFiles, type OutputFormat } from "../output/write-result.ts";
import { parseDevice } from "../runtime/ort.ts";
import { BatchLog, expandInputs, runBatch, runKey } from "./batch.ts";
import { choosePrecision, type Precision } from "../convert/glamm.ts";
import type { SamplingOptions } from "./generate.ts";
import { GlammModel } from "./glamm/model.ts";
import { resolveModel } from "./sources.ts";
import { chat, glammChat, type ChatBackend } from "./chat.ts";
import { AttendModel } from "./attend/session.ts";
import { attendChat, resolveLlava, resolveSam, runAttendTask, type AttendSettings } from "./attend/task.ts";
import { ImageSession, runTask, type DecodedImage, type TaskInput } from "./tasks.ts";

export interface ImageTaskOptions extends ModelOptions {
  images: string[];
  input: TaskInput;
  out: string;
  /** Set for `--backend attend` (attend-and-segment on LLaVA-1.5); absent for GLaMM. */
  attend?: AttendSettings;
  formats: OutputFormat[];
  maxTokens: number;
  sampling?: SamplingOptions;
  gallery: boolean;
  json: boolean;
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
}

interface ModelOptions {
  model?: string;
  vision?: string;
  device?: string;
  precision: Precision | "auto";
  cache: boolean;
}

/** Resolves, converts (first use) and loads the model a command names, with progress on a terminal. */
async function loadModel(options: ModelOptions, task: string): Promise<{ model: GlammModel; info: ModelInfo }> {
  const device = parseDevice(options.device);
  const precision = choosePrecision(options.precision, device);
  const { sources, id, revision } = resolveModel(options.model, options.vision, task);
  const progress = spinner("loading the model");
  try {
    const model = await GlammModel.load(sources, { precision, device, cache: options.cache, onProgress: progress.update });
    return { model, info: { id, revision, precision } };
  } finally {
    progress.stop();
  }
}

/** A one-line progress report on a terminal: done/total, rate and time left. */
function progressLine(done: number, total: number, started: number): string {
  const seconds = (performance.now() - started) / 1000;
  const rate = done / seconds;
  const eta = rate > 0 ? Math.round((total - done) / rate) : 0;
  return `[${done}/${total}] ${rate.toFixed(2)} images/s, ${eta}s left`;
}

/**
 * Loads the model once, then runs the task on every image: outputs beside each other under --out, a line per image in
 * results.jsonl, resumable, a bad image reported without stopping the batch. Returns how many images failed.
 */
export async function runImageTask(options: ImageTaskOptions): Promise<number> {
  const items = expandInputs(options.images, options.out);
  if (items.length === 0) throw inputError("no images given");
  const backend = options.attend ? await attendBackend(options) : await glammBackend(options);
  const log = new BatchLog(options.out);
  const key = runKey({ input: options.input, backend: backend.key, maxTokens: options.maxTokens, sampling: options.sampling ?? null, formats: options.formats, attend: options.attend ?? null });
  const started = performance.now();
  const batch = items.length > 1;
  const streaming = !options.json && !batch && Boolean(options.stdout.isTTY);
  // Ctrl-C finishes the image in hand (its files and results line) and stops; a second Ctrl-C aborts at once.
  const stop = new AbortController();
  const onInterrupt = () => {
    if (stop.signal.aborted) process.exit(130);
    stop.abort();
    notice("stopping after the current image (Ctrl-C again to abort now); run the same command to resume");
  };
  process.on("SIGINT", onInterrupt);
  try {
    const outcome = await runBatch(items, log, key, {
      signal: stop.signal,
      prepare: (item) => ImageSession.decode(item.path),
      run: async (item, decoded) => {
        const result = await backend.run(decoded, streaming);
        if (streaming) process.stderr.write("\n");
        const outputs = await writeResultFiles(result, decoded.image, item.stem, options.formats, join(options.out, "glamm-eval"));
        outputs.push(...(await writeHeatmaps(result, decoded.image, item.stem)));
        const record = toGlammJson(result, `${item.stem}.glamm.json`);
        if (options.json) options.stdout.write(`${JSON.stringify(record)}\n`);
        else writeResultText(result, options.stdout as NodeJS.WriteStream);
        return { outputs, result: { text: result.text, segments: result.segments.length } };
      },
      onProgress: (done, total) => batch && stderrIsTty() && process.stderr.write(`\r\x1b[K${progressLine(done, total, started)}${done === total ? "\n" : ""}`),
      onError: (item, error) => notice(`${item.path}: ${error.message} (skipped)`),
    });
    if (outcome.skipped > 0) notice(`${outcome.skipped} image(s) already done in ${log.path} (skipped; delete it to redo them)`);
    if (options.gallery) await writeGallery(options.out);
    if (outcome.failed.length > 0) notice(`${outcome.failed.length} of ${items.length} image(s) failed; see ${log.path}`);
    if (outcome.interrupted) throw new GlammError(`interrupted: ${outcome.processed} image(s) done this run, the rest left for the next`, ExitCode.interrupted);
    return outcome.failed.length;
  } finally {
    process.off("SIGINT", onInterrupt);
    await backend.release();
  }
}

interface Backend {
  /** What identifies the model for resuming (results of another model are not reused). */
  key: string;
  run(decoded: DecodedImage, streaming: boolean): Promise<TaskResult>;
  release(): Promise<void>;
}

async function glammBackend(options: ImageTaskOptions): Promise<Backend> {
  const { model, info } = await loadModel(options, options.input.task);
  return {
    key: `${model.manifest.fingerprint}-${info.precision}`,
    run: async (decoded, streaming) => {
      const session = await ImageSession.open(model, decoded);
      const settings = { maxTokens: options.maxTokens, sampling: options.sampling, onText: streaming ? (t: string) => process.stderr.write(colorErr.dim(t)) : undefined };
      return runTask(session, options.input, settings, info);
    },
    release: () => model.release(),
  };
}

/** The attend backend's heatmap pictures (segments with a heatmap): STEM.heatmap-N.png; returns the files written. */
async function writeHeatmaps(result: TaskResult, image: RgbImage, stem: string): Promise<string[]> {
  const files: string[] = [];
  for (const [i, segment] of result.segments.entries()) {
    if (!segment.heatmap) continue;
    writeFileAtomic(`${stem}.heatmap-${i + 1}.png`, await renderHeatmap(image, segment.heatmap.values, segment.heatmap.size[0]));
    files.push(`${stem}.heatmap-${i + 1}.png`);
  }
  return files;
}

/** Loads LLaVA-1.5 and SAM for `--backend attend`, with progress on a terminal. */
async function loadAttend(options: ModelOptions, sam: string | undefined): Promise<{ model: AttendModel; info: ModelInfo; key: string }> {
  const device = parseDevice(options.device);
  const precision = choosePrecision(options.precision, device);
  const llava = resolveLlava(options.model);
  const samPath = resolveSam(sam);
  const progress = spinner("loading LLaVA and SAM");
  try {
    const model = await AttendModel.load({ model: llava, vision: options.vision, sam: samPath, device, precision, onProgress: progress.update });
    return { model, info: { id: llava, revision: "local", precision }, key: `attend-${llava}-${samPath}-${precision}` };
  } finally {
    progress.stop();
  }
}

/** Attend-and-segment: LLaVA and SAM loaded once for the batch, each image encoded once. */
async function attendBackend(options: ImageTaskOptions): Promise<Backend> {
  const settings = { ...options.attend!, maxTokens: options.maxTokens };
  const { model, info, key } = await loadAttend(options, settings.sam);
  return {
    key,
    run: (decoded) => runAttendTask(model, decoded, options.input, settings, info),
    release: () => model.release(),
  };
}

export interface ChatOptions extends ModelOptions {
  image: string;
  out: string;
  maxTokens: number;
  json: boolean;
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stdin: NodeJS.ReadableStream;
  /** Set for `--backend attend`; absent for GLaMM. */
  attend?: AttendSettings;
}

/** The chat's answerer for the chosen backend and what frees its model. */
async function openChat(options: ChatOptions, decoded: DecodedImage): Promise<{ backend: ChatBackend; release(): Promise<void> }> {
  if (options.attend) {
    const { model, info } = await loadAttend(options, options.attend.sam);
    try {
      const image = await model.openImage(decoded.image);
      return { backend: attendChat(image, decoded, { ...options.attend, maxTokens: options.maxTokens }, info), release: () => model.release() };
    } catch (error) {
      await model.release();
      throw error;
    }
  }
  const { model, info } = await loadModel(options, "chat");
  try {
    const session = await ImageSession.open(model, decoded);
    // On a terminal the answer streams (dimmed, on stderr) before its grounded form is printed.
    const streaming = !options.json && Boolean(options.stdout.isTTY);
    const onText = streaming ? (t: string) => process.stderr.write(colorErr.dim(t)) : undefined;
    const backend = glammChat(session, { maxTokens: options.maxTokens, onText }, info);
    const answer: ChatBackend["answer"] = async (turns, boxes) => {
      const result = await backend.answer(turns, boxes);
      if (streaming) process.stderr.write("\n");
      return result;
    };
    return { backend: { ...backend, answer }, release: () => model.release() };
  } catch (error) {
    await model.release();
    throw error;
  }
}

/** `glamm chat`: one image, many turns; each turn's overlay and JSON are saved as NAME.turnN.glamm.* (and heatmaps). */
export async function runChat(options: ChatOptions): Promise<void> {
  const [item] = expandInputs([options.image], options.out);
  const decoded = await ImageSession.decode(item.path);
  const { backend, release } = await openChat(options, decoded);
  try {
    await chat(backend, {
      input: options.stdin,
      prompt: (text) => process.stderr.write(text),
      onAnswer: async (result, turn) => {
        const stem = `${item.stem}.turn${turn}`;
        const outputs = await writeResultFiles(result, decoded.image, stem, ["png", "json"], "");
        outputs.push(...(await writeHeatmaps(result, decoded.image, stem)));
        if (options.json) options.stdout.write(`${JSON.stringify(toGlammJson(result, `${stem}.glamm.json`))}\n`);
        else writeResultText(result, options.stdout as NodeJS.WriteStream);
        return `saved ${outputs.join(", ")}`;
      },
    });
  } finally {
    await release();
  }
}
