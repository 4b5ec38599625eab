import { existsSync, mkdirSync, statSync } from "node:fs";
import { dirname } from "node:path";
import { ExitCode, GlammError, inputError, modelError } from "../cli/errors.ts";
import { fsError } from "../cli/fs-error.ts";
import { notice, spinner, stderrIsTty } from "../cli/ui.ts";
import { EDIT_DEFAULTS } from "../edit/edit-options.ts";
import { recordedNoise, seededNoise } from "../edit/noise-source.ts";
import { checkEditMask, inpaint, SdxlInpaintModel, type EditSettings, type InpaintResult } from "../edit/sdxl-inpaint.ts";
import { findManifest } from "../hub/manifests.ts";
import { readInstallRecord } from "../hub/store.ts";
import { decodeImageFile } from "../image/decode.ts";
import { rgbImage, type RgbImage } from "../image/rgb-image.ts";
import { writeFilesTogether } from "../output/atomic.ts";
import type { TaskResult } from "../output/result.ts";
import { encodeMask, rleToString } from "../output/rle.ts";
import { parseDevice } from "../runtime/ort.ts";
import { runBatch, runKey } from "./batch.ts";
import { encodePng } from "./edit-trace.ts";
import { loadModel, reportOutputs } from "./run-command.ts";
import { planBatch } from "./shard-run.ts";
import { referringSegmentationInstruction } from "./prompt.ts";
import { checkTaskFits, ImageSession, type DecodedImage } from "./tasks.ts";

/** Where the region to repaint comes from. */
export type EditMaskSource =
  | { kind: "file"; path: string }
  | { kind: "box"; box: [number, number, number, number] }
  | { kind: "glamm"; expression: string; from: "union" | "last"; model?: string; vision?: string };

export interface EditRunOptions extends EditSettings {
  images: string[];
  mask: EditMaskSource;
  /** Installed model name or diffusers folder (default: the pulled sdxl-inpaint). */
  inpaintModel?: string;
  noise?: string;
  seed: number;
  device?: string;
  out: string;
  json: boolean;
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
}

export const DEFAULT_INPAINT_MODEL = "sdxl-inpaint";

/** --inpaint-model: a diffusers folder as given, else an installed model by name or repo. */
export function resolveInpaintModel(name = DEFAULT_INPAINT_MODEL): string {
  if (existsSync(name) && statSync(name).isDirectory()) return name;
  const manifestName = findManifest(name)?.name ?? name;
  const installed = readInstallRecord(manifestName)?.dir;
  if (installed) return installed;
  throw modelError(`the inpainting model ${name} is neither a diffusers folder nor installed; run \`glamm pull ${DEFAULT_INPAINT_MODEL}\` or pass a folder with --inpaint-model`);
}

/** A white-on-black RGB mask (app.py's prepare_mask) from a binary mask. */
function maskImage(width: number, height: number, inside: (i: number) => boolean): RgbImage {
  const image = rgbImage(width, height);
  for (let i = 0; i < width * height; i++) if (inside(i)) image.data.fill(255, 3 * i, 3 * i + 3);
  return image;
}

function boxMask(image: RgbImage, [x1, y1, x2, y2]: [number, number, number, number]): RgbImage {
  const [left, top, right, bottom] = [Math.max(0, Math.round(x1)), Math.max(0, Math.round(y1)), Math.min(image.width, Math.round(x2)), Math.min(image.height, Math.round(y2))];
  if (right <= left || bottom <= top) throw inputError(`--box ${x1},${y1},${x2},${y2} covers no pixel of the ${image.width}x${image.height} image`);
  return maskImage(image.width, image.height, (i) => {
    const [x, y] = [i % image.width, Math.floor(i / image.width)];
    return x >= left && x < right && y >= top && y < bottom;
  });
}

/** The mask as pycocotools-style RLE (size [h, w], counts string), as the other tasks' JSON holds masks. */
function maskRle(mask: RgbImage): { size: [number, number]; counts: string } {
  const binary = Uint8Array.from({ length: mask.width * mask.height }, (_, i) => (mask.data[3 * i] >= 128 ? 1 : 0));
  return { size: [mask.height, mask.width], counts: rleToString(encodeMask(binary, mask.height, mask.width).counts) };
}

/** What NAME.edit.json records about one edit (besides the output names). */
function editRecord(decoded: DecodedImage, model: SdxlInpaintModel, settings: EditSettings, mask: RgbImage, maskSource: unknown, noise: unknown, result: InpaintResult): Record<string, unknown> {
  const { prompt, negativePrompt, steps, guidance, strength } = settings;
  return {
    image: { path: decoded.path, width: decoded.image.width, height: decoded.image.height, sha256: decoded.sha256 },
    task: "edit",
    model: { dir: model.modelDir, precision: model.manifest.precision },
    prompt,
    negativePrompt: negativePrompt ?? null,
    steps,
    guidance,
    strength,
    mask: { source: maskSource, ...maskRle(mask) },
    noise,
    stepsRun: result.stepsRun,
    cropBox: result.box,
    timings: result.timings,
  };
}

/** `<stem>.<tag>.png`, `<stem>.<tag>-mask.png` and `<stem>.<tag>.json` (the record plus the output names), written together. */
async function writeEditFiles(stem: string, tag: string, edited: RgbImage, mask: RgbImage, record: Record<string, unknown>): Promise<{ files: string[]; written: Record<string, unknown> }> {
  const outputs = { image: `${stem}.${tag}.png`, mask: `${stem}.${tag}-mask.png` };
  const written = { ...record, outputs };
  const files = [
    { path: outputs.image, data: await encodePng(edited) },
    { path: outputs.mask, data: await encodePng(mask) },
    { path: `${stem}.${tag}.json`, data: `${JSON.stringify(written, null, 2)}\n` },
  ];
  try {
    mkdirSync(dirname(outputs.image), { recursive: true });
    writeFilesTogether(files);
  } catch (error) {
    throw fsError(error, "cannot write") ?? error;
  }
  return { files: files.map((f) => f.path), written };
}

/**
 * chat's `/edit PROMPT`: the last answer's last mask (the one the demo's prepare_mask saves for "Generate") repainted
 * with the demo's defaults (seed 0), written as `<stem>.editN.*`; the model loads at the first /edit and stays.
 */
export function chatEditor(options: { inpaintModel?: string; device?: string; image: DecodedImage; stem: string }): (prompt: string, last: TaskResult, edit: number) => Promise<string> {
  let loaded: Promise<SdxlInpaintModel> | undefined;
  return async (prompt, last, edit) => {
    const { image } = options.image;
    const lastMask = last.segments[last.segments.length - 1].mask;
    const mask = maskImage(image.width, image.height, (i) => lastMask[i] !== 0);
    checkEditMask(image, mask, "the last answer's last mask");
    const modelDir = resolveInpaintModel(options.inpaintModel);
    loaded ??= SdxlInpaintModel.load(modelDir, { device: parseDevice(options.device) });
    const model = await loaded;
    const settings = { prompt, steps: Number(EDIT_DEFAULTS.steps), guidance: Number(EDIT_DEFAULTS.guidance), strength: Number(EDIT_DEFAULTS.strength) };
    const seed = Number(EDIT_DEFAULTS.seed);
    const result = await inpaint(model, { ...settings, image, mask, noise: seededNoise(seed) });
    const record = editRecord(options.image, model, settings, mask, "chat", { seed }, result);
    const { files } = await writeEditFiles(options.stem, `edit${edit}`, result.image, mask, record);
    return `edited: saved ${files.join(", ")}`;
  };
}

/** New tokens GLaMM may generate for the referring-segmentation answer (the demo allows 512). */
const GLAMM_MAX_TOKENS = 512;

/** GLaMM referring segmentation of the expression for every image (GLaMM is released before SDXL loads). */
async function glammMasks(images: { path: string; decoded: () => Promise<DecodedImage> }[], source: Extract<EditMaskSource, { kind: "glamm" }>, device: string | undefined): Promise<Map<string, RgbImage | Error>> {
  const { model } = await loadModel({ model: source.model, vision: source.vision, device, precision: "auto", cache: true }, "segment");
  const masks = new Map<string, RgbImage | Error>();
  try {
    for (const item of images) {
      try {
        const decoded = await item.decoded();
        checkTaskFits(model, { task: "segment", expressions: [source.expression] }, GLAMM_MAX_TOKENS);
        const session = await ImageSession.open(model, decoded);
        const answer = await session.ask([{ user: referringSegmentationInstruction(source.expression) }], { maxTokens: GLAMM_MAX_TOKENS });
        const chosen = source.from === "last" ? answer.masks.slice(-1) : answer.masks;
        const { width, height } = decoded.image;
        if (chosen.length === 0) throw inputError(`GLaMM found no region for "${source.expression}" in ${item.path} (its answer: ${JSON.stringify(answer.raw.length > 80 ? `${answer.raw.slice(0, 80)}…` : answer.raw)})`);
        masks.set(item.path, maskImage(width, height, (i) => chosen.some((m) => m[i] !== 0)));
      } catch (error) {
        if (!(error instanceof GlammError && error.exitCode === ExitCode.input)) throw error;
        masks.set(item.path, error);
      }
    }
  } finally {
    await model.release();
  }
  return masks;
}

/**
 * `glamm edit`: for each image a mask (file, box, or GLaMM's segmentation of an expression), then the SDXL
 * inpainting edit; writes `<stem>.edit.png` (original size), `<stem>.edit-mask.png` and `<stem>.edit.json` together,
 * one results.jsonl line per image. Returns how many images failed.
 */
export async function runEdit(options: EditRunOptions): Promise<number> {
  if (options.images.length === 0) throw inputError("no images given");
  const device = parseDevice(options.device);
  const modelDir = resolveInpaintModel(options.inpaintModel);
  const { items, log, storage } = await planBatch(options.images, options.out, undefined);
  try {
    const decode = (path: string) => storage.withLocalInput({ path, stem: "" }, (local) => ImageSession.decode(local)).then((d) => ({ ...d, path }));
    const glamm = options.mask.kind === "glamm" ? await glammMasks(items.map((item) => ({ path: item.path, decoded: () => decode(item.path) })), options.mask, options.device) : undefined;
    const fileMask = options.mask.kind === "file" ? await decodeImageFile(options.mask.path).catch((error: Error) => inputError(`--mask: ${error.message}`)) : undefined;
    // Loaded at the first image whose inputs pass their checks, so bad inputs are reported before any conversion.
    let loaded: Promise<SdxlInpaintModel> | undefined;
    const loadInpaint = () => {
      if (loaded) return loaded;
      const progress = spinner("loading the inpainting model");
      return (loaded = SdxlInpaintModel.load(modelDir, { device, onProgress: progress.update }).finally(() => progress.stop()));
    };
    const { prompt, negativePrompt, steps, guidance, strength } = options;
    const key = runKey({ edit: { prompt, negativePrompt: negativePrompt ?? null, steps, guidance, strength }, mask: options.mask, model: modelDir, noise: options.noise ?? { seed: options.seed } });
    const outcome = await runBatch(items, log, key, {
      prepare: async (item) => {
        const decoded = await decode(item.path);
        if (fileMask instanceof Error) throw fileMask;
        const glammMask = glamm?.get(item.path);
        if (glammMask instanceof Error) throw glammMask;
        const mask = fileMask ?? glammMask ?? boxMask(decoded.image, (options.mask as { box: [number, number, number, number] }).box);
        checkEditMask(decoded.image, mask, options.mask.kind === "file" ? `mask ${options.mask.path}` : "the mask");
        return { decoded, mask };
      },
      run: async (item, { decoded, mask }) => {
        const model = await loadInpaint();
        const started = performance.now();
        const result = await inpaint(model, {
          ...options,
          image: decoded.image,
          mask,
          noise: options.noise !== undefined ? recordedNoise(options.noise) : seededNoise(options.seed),
          onStep: (done, total) => {
            if (!stderrIsTty()) return;
            const perStep = (performance.now() - started) / 1000 / done;
            process.stderr.write(`\r\x1b[K${item.path}: step ${done}/${total}, ETA ${Math.round(perStep * (total - done))}s${done === total ? "\n" : ""}`);
          },
        });
        const record = editRecord(decoded, model, options, mask, options.mask, options.noise ?? { seed: options.seed }, result);
        const { files, written } = await writeEditFiles(item.stem, "edit", result.image, mask, record);
        if (options.json) options.stdout.write(`${JSON.stringify(written)}\n`);
        else options.stdout.write(`${item.path}: edited -> ${files[0]}\n`);
        return { outputs: await storage.publish(files), result: { stepsRun: result.stepsRun } };
      },
      onProgress: () => storage.sync(log.path),
      onError: (item, error) => notice(`${error.message.includes(item.path) ? error.message : `${item.path}: ${error.message}`} (skipped)`),
    });
    if (outcome.skipped > 0) notice(`${outcome.skipped} image(s) already done in ${storage.finalName(log.path)} (skipped; delete it to redo them)`);
    if (outcome.failed.length > 0) notice(`${outcome.failed.length} of ${items.length} image(s) failed; see ${storage.finalName(log.path)}`);
    reportOutputs(options.out, outcome.processed, options.stdout, options.json);
    return outcome.failed.length;
  } finally {
    await storage.close();
  }
}
