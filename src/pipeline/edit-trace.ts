import sharp from "sharp";
import { decodeImageFile } from "../image/decode.ts";
import type { RgbImage } from "../image/rgb-image.ts";
import type { NpyArray } from "../output/npy.ts";
import type { Device } from "../runtime/ort.ts";
import { recordedNoise, seededNoise } from "../edit/noise-source.ts";
import { checkEditMask, inpaint, SdxlInpaintModel, type EditSettings } from "../edit/sdxl-inpaint.ts";
import type { TraceResult } from "./trace-output.ts";

export interface EditTraceOptions extends EditSettings {
  /** diffusers SDXL inpainting folder. */
  model: string;
  image: string;
  mask: string;
  /** Recorded draws (.npy, N × 1 × C × h × w); otherwise torch.Generator("cpu").manual_seed(seed). */
  noise?: string;
  seed: number;
  device?: Device;
  onProgress?(message: string): void;
}

/** PNG bytes of an RGB image. */
export async function encodePng(image: RgbImage): Promise<Uint8Array> {
  return new Uint8Array(await sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } }).png().toBuffer());
}

/** `glamm trace --task edit`: every stage of the official edit pipeline (../shared/oracle-edit trace contract), plus result.png. */
export async function runEditTrace(options: EditTraceOptions): Promise<TraceResult & { png: Uint8Array }> {
  const [image, mask] = [await decodeImageFile(options.image), await decodeImageFile(options.mask)];
  checkEditMask(image, mask, `mask ${options.mask}`);
  const model = await SdxlInpaintModel.load(options.model, { device: options.device ?? "cpu", onProgress: options.onProgress });
  const arrays = new Map<string, NpyArray>();
  const result = await inpaint(model, {
    ...options,
    image,
    mask,
    noise: options.noise !== undefined ? recordedNoise(options.noise) : seededNoise(options.seed),
    record: (name, array) => arrays.set(name, array),
    onStep: (done, total) => options.onProgress?.(`denoising step ${done}/${total}`),
  });
  const info = {
    task: "edit",
    model: options.model,
    prompt: options.prompt,
    negativePrompt: options.negativePrompt ?? null,
    steps: options.steps,
    stepsRun: result.stepsRun,
    strength: options.strength,
    guidance: options.guidance,
    noise: options.noise ?? { seed: options.seed },
    box: result.box,
    timings: result.timings,
  };
  return { arrays, info, png: await encodePng(result.image) };
}
