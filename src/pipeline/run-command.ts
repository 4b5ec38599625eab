import { join } from "node:path";
import { ExitCode, GlammError, inputError } from "../cli/errors.ts";
import { fsError } from "../cli/fs-error.ts";
import { notice, spinner, stderrIsTty, streamedDraft } from "../cli/ui.ts";
import type { RgbImage } from "../image/rgb-image.ts";
import { writeGallery } from "../output/gallery.ts";
import type { ModelInfo, TaskResult } from "../output/result.ts";
import { toGlammJson } from "../output/json.ts";
import { writeResultText } from "../output/terminal.ts";
import { writeResultFiles, type OutputFormat } from "../output/write-result.ts";
import { parseDevice } from "../runtime/ort.ts";
import { expandInputs, runBatch, runKey } from "./batch.ts";
import { choosePrecision, type Precision } from "../convert/glamm.ts";
import type { SamplingOptions } from "./generate.ts";
import { GlammModel } from "./glamm/model.ts";
import { planBatch } from "./shard-run.ts";
import type { Shard } from "./shard.ts";
import { resolveModel } from "./sources.ts";
import { chat, glammChat, type ChatBackend, type ChatIo } from "./chat.ts";
import { AttendModel } from "./attend/session.ts";
import { attendChat, installedVision, resolveAttendSources, runAttendTask, type AttendSettings } from "./attend/task.ts";
import { checkTaskFits, ImageSession, runTask, type DecodedImage, type TaskInput } from "./tasks.ts";

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
  /** This process's share of the images (--shard, SLURM array task, Kubernetes completion index); absent: all. */
  shard?: Shard;
}

interface ModelOptions {
  model?: string;
  vision?: string;
  device?: string;
  precision: Precision | "auto";
  cache: boolean;
}

/** Resolves, converts (first use) and loads the model a command names, with progress on a terminal. */
export async function loadModel(options: ModelOptions, task: string): Promise<{ model: GlammModel; info: ModelInfo }> {
  const device = parseDevice(options.device);
  const precision = choosePrecision(options.precision, device);
  const { sources, id, revision, demo } = resolveModel(options.model, options.vision, task);
  const progress = spinner("loading the model");
  try {
    const model = await GlammModel.load(sources, { precision, device, cache: options.cache, onProgress: progress.update });
    return { model, info: { id, revision, precision, ...(demo ? { demo } : {}) } };
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
 * Watches a stdout that may be a pipe: once its reader is gone (EPIPE, e.g. `| head -n1`), nothing more is written
 * to it and `onClosed` runs, so the batch ends quietly after the image in hand.
 */
function pipeWriter(stdout: NodeJS.WritableStream, onClosed: () => void): { write(text: string): void; readonly closed: boolean } {
  let closed = false;
  const close = () => {
    if (!closed) onClosed();
    closed = true;
  };
  stdout.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code !== "EPIPE") throw error;
    close();
  });
  return {
    write: (text) => {
      if (closed) return;
      try {
        stdout.write(text);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "EPIPE") throw error;
        close();
      }
    },
    get closed() {
      return closed;
    },
  };
}

/** The last line of a run: where its outputs are (stdout on a terminal, else stderr so pipes get only results). */
export function reportOutputs(out: string, processed: number, stdout: NodeJS.WritableStream & { isTTY?: boolean }, json: boolean): void {
  const line = `outputs in ${out.replace(/\/+$/, "")}/ (${processed} image(s) new this run; results.jsonl lists every finished image)`;
  if (stdout.isTTY && !json) stdout.write(`${line}\n`);
  else notice(line);
}

/**
 * Loads the model once, then runs the task on every image: outputs beside each other under --out, a line per image in
 * results.jsonl, resumable, a bad image reported without stopping the batch. Returns how many images failed.
 */
export async function runImageTask(options: ImageTaskOptions): Promise<number> {
  if (options.images.length === 0) throw inputError("no images given");
  const { items, total, log, storage } = await planBatch(options.images, options.out, options.shard, { gallery: options.gallery });
  const backend = await (options.attend ? attendBackend(options) : glammBackend(options)).catch(async (error) => {
    await storage.close();
    throw error;
  });
  const key = runKey({ input: options.input, backend: backend.key, maxTokens: options.maxTokens, sampling: options.sampling ?? null, formats: options.formats, attend: options.attend ?? null });
  const started = performance.now();
  const batch = total > 1;
  const draft = !options.json && !batch && options.stdout.isTTY ? streamedDraft() : undefined;
  // Ctrl-C finishes the image in hand (its files and results line) and stops; a second Ctrl-C aborts at once.
  const stop = new AbortController();
  let interruptedBySignal = false;
  const onInterrupt = () => {
    if (interruptedBySignal) process.exit(130);
    interruptedBySignal = true;
    stop.abort();
    notice("stopping after the current image (Ctrl-C again to abort now); run the same command to resume");
  };
  process.on("SIGINT", onInterrupt);
  const stdout = pipeWriter(options.stdout, () => stop.abort());
  try {
    const outcome = await runBatch(items, log, key, {
      signal: stop.signal,
      prepare: (item) => storage.withLocalInput(item, async (path) => ({ ...(await ImageSession.decode(path)), path: item.path })),
      run: async (item, decoded) => {
        const result = await backend.run(decoded, draft?.write);
        const outputs = await writeOutputs(result, decoded.image, item.stem, options.formats, join(storage.localOut, "glamm-eval"));
        draft?.erase();
        if (options.json) stdout.write(`${JSON.stringify(toGlammJson(result, storage.finalName(`${item.stem}.glamm.json`)))}\n`);
        else writeResultText(result, options.stdout as NodeJS.WriteStream);
        return { outputs: await storage.publish(outputs), result: { text: result.text, segments: result.segments.length } };
      },
      onProgress: (done, todo) => {
        storage.sync(log.path);
        if (batch && stderrIsTty()) process.stderr.write(`\r\x1b[K${progressLine(done, todo, started)}${done === todo ? "\n" : ""}`);
      },
      onError: (item, error) => notice(`${error.message.includes(item.path) ? error.message : `${item.path}: ${error.message}`} (skipped)`),
    });
    if (outcome.skipped > 0) notice(`${outcome.skipped} image(s) already done in ${storage.finalName(log.path)} (skipped; delete it to redo them)`);
    if (outcome.claimedElsewhere > 0) notice(`${outcome.claimedElsewhere} image(s) left to another glamm working on ${options.out}`);
    if (options.gallery) await writeGallery(options.out);
    if (outcome.failed.length > 0) notice(`${outcome.failed.length} of ${items.length} image(s) failed; see ${storage.finalName(log.path)}`);
    if (interruptedBySignal) throw new GlammError(`interrupted: ${outcome.processed} image(s) done this run, the rest left for the next`, ExitCode.interrupted);
    if (!stdout.closed) reportOutputs(options.out, outcome.processed, options.stdout, options.json);
    return outcome.failed.length;
  } finally {
    process.off("SIGINT", onInterrupt);
    await backend.release();
    await storage.close();
  }
}

/** Writes an image's output files together; a full disk or an unwritable folder becomes one line naming the file. */
async function writeOutputs(result: TaskResult, image: RgbImage, stem: string, formats: readonly OutputFormat[], evalDir: string): Promise<string[]> {
  try {
    return await writeResultFiles(result, image, stem, formats, evalDir);
  } catch (error) {
    throw fsError(error, "cannot write") ?? error;
  }
}

interface Backend {
  /** What identifies the model for resuming (results of another model are not reused). */
  key: string;
  /** `onText` streams the answer as it is generated. */
  run(decoded: DecodedImage, onText?: (text: string) => void): Promise<TaskResult>;
  release(): Promise<void>;
}

async function glammBackend(options: ImageTaskOptions): Promise<Backend> {
  const { model, info } = await loadModel(options, options.input.task);
  try {
    checkTaskFits(model, options.input, options.maxTokens);
  } catch (error) {
    await model.release();
    throw error;
  }
  return {
    key: `${model.manifest.fingerprint}-${info.precision}`,
    run: async (decoded, onText) => {
      const session = await ImageSession.open(model, decoded);
      const settings = { maxTokens: options.maxTokens, sampling: options.sampling, onText };
      return runTask(session, options.input, settings, info);
    },
    release: () => model.release(),
  };
}

/** Loads LLaVA-1.5 and SAM for `--backend attend`, with progress on a terminal. */
async function loadAttend(options: ModelOptions, settings: AttendSettings): Promise<{ model: AttendModel; info: ModelInfo; key: string }> {
  const device = parseDevice(options.device);
  const precision = choosePrecision(options.precision, device);
  const { llava, sam, id, revision, demo } = resolveAttendSources(options.model, settings.sam);
  const progress = spinner("loading LLaVA and SAM");
  try {
    const model = await AttendModel.load({ model: llava, vision: options.vision ?? installedVision(llava), sam, device, precision, difflmm: settings.difflmm, onProgress: progress.update });
    const info = { id, revision, precision, ...(demo ? { demo } : {}) };
    return { model, info, key: `attend-${llava}-${sam}-${precision}-${JSON.stringify(settings.difflmm ?? {})}` };
  } finally {
    progress.stop();
  }
}

/** Attend-and-segment: LLaVA and SAM loaded once for the batch, each image encoded once. */
async function attendBackend(options: ImageTaskOptions): Promise<Backend> {
  const settings = { ...options.attend!, maxTokens: options.maxTokens };
  const { model, info, key } = await loadAttend(options, settings);
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
  /** Makes chat's `/edit` for the image and its output stem (absent: no /edit). */
  editor?(image: DecodedImage, stem: string): NonNullable<ChatIo["onEdit"]>;
}

/** The chat's answerer for the chosen backend and what frees its model. */
async function openChat(options: ChatOptions, decoded: DecodedImage): Promise<{ backend: ChatBackend; release(): Promise<void> }> {
  if (options.attend) {
    const { model, info } = await loadAttend(options, options.attend);
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
    checkTaskFits(model, { task: "chat" }, options.maxTokens);
    const session = await ImageSession.open(model, decoded);
    // On a terminal the answer streams (dimmed, on stderr), then is replaced by its grounded form.
    const draft = !options.json && options.stdout.isTTY ? streamedDraft() : undefined;
    const backend = glammChat(session, { maxTokens: options.maxTokens, onText: draft?.write }, info);
    const answer: ChatBackend["answer"] = async (turns, boxes) => {
      const result = await backend.answer(turns, boxes);
      draft?.erase();
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
        const outputs = await writeOutputs(result, decoded.image, stem, ["png", "json"], "");
        if (options.json) options.stdout.write(`${JSON.stringify(toGlammJson(result, `${stem}.glamm.json`))}\n`);
        else writeResultText(result, options.stdout as NodeJS.WriteStream);
        return `saved ${outputs.join(", ")}`;
      },
      onEdit: options.editor?.(decoded, item.stem),
    });
  } finally {
    await release();
  }
}
