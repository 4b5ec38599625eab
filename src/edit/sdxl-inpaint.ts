import { join } from "node:path";
import { inputError } from "../cli/errors.ts";
import { resizeLikePillow } from "../image/resample.ts";
import type { RgbImage } from "../image/rgb-image.ts";
import { CLIP_TEXT_IO } from "../models/clip-text.ts";
import { SDXL_UNET_IO } from "../models/sdxl-unet.ts";
import type { NpyArray } from "../output/npy.ts";
import { f32, i64, u8 } from "../pipeline/trace-output.ts";
import { chooseProviders, createSession, ort, type Device } from "../runtime/ort.ts";
import { ClipBpeTokenizer } from "../text/clip-bpe.ts";
import { centerCropBox, cropRgb, featheredMask, maskedImage, pasteWithMask, pipelineImage, pipelineMask, rgbToGray, type CropBox } from "./crop-paste.ts";
import { addNoise, eulerSchedule, eulerStep, readEulerConfig, scaleModelInput, type EulerConfig } from "./euler-scheduler.ts";
import type { NoiseSource } from "./noise-source.ts";
import { ensureSdxlConverted, type SdxlManifest, type SdxlPrecision } from "./sdxl-convert.ts";

/**
 * GLaMM's "Generate" path (app.py generate_new_image) around diffusers 0.22.3's StableDiffusionXLInpaintPipeline:
 * centre crop, bicubic to 1024², the pipeline (prompt encoding, VAE posterior samples, Euler loop with classifier-free
 * guidance, VAE decode), bicubic back to the crop side, feathered paste. Every stage can be recorded for a trace.
 */

/** app.py resizes the crop to this side before the pipeline (independent of the model). */
const APP_SIDE = 1024;
/** tools/generate_utils.py create_feathered_mask's border. */
const FEATHER_BORDER = 50;

export interface EditSettings {
  prompt: string;
  /** undefined: zero negative embeddings (force_zeros_for_empty_prompt), as the demo calls the pipeline. */
  negativePrompt?: string;
  steps: number;
  guidance: number;
  strength: number;
}

export interface InpaintRequest extends EditSettings {
  image: RgbImage;
  /** White (repaint) on black, the image's size (RGB, as app.py's prepare_mask saves it). */
  mask: RgbImage;
  noise: NoiseSource;
  onStep?(done: number, total: number): void;
  /** Receives every stage of the trace contract (../shared/oracle-edit README) by name. */
  record?(name: string, array: NpyArray): void;
}

export interface InpaintResult {
  image: RgbImage;
  box: CropBox;
  /** Euler steps run after the strength cut. */
  stepsRun: number;
  timings: Record<string, number>;
}

const f = Math.fround;

export class SdxlInpaintModel {
  private constructor(
    readonly modelDir: string,
    readonly graphDir: string,
    readonly manifest: SdxlManifest,
    readonly scheduler: EulerConfig,
    readonly tokenizers: [ClipBpeTokenizer, ClipBpeTokenizer],
    private readonly device: Device,
  ) {}

  /**
   * Converts the diffusers folder on first use (cached) and reads its tokenizers and scheduler. Precision by default:
   * fp16 where CUDA runs (as the demo), fp32 on CPU; the VAE always runs in fp32 (force_upcast).
   */
  static async load(modelDir: string, options: { precision?: SdxlPrecision; device?: Device; onProgress?(message: string): void } = {}): Promise<SdxlInpaintModel> {
    const tokenizers: [ClipBpeTokenizer, ClipBpeTokenizer] = [ClipBpeTokenizer.fromDir(join(modelDir, "tokenizer")), ClipBpeTokenizer.fromDir(join(modelDir, "tokenizer_2"))];
    const scheduler = readEulerConfig(join(modelDir, "scheduler", "scheduler_config.json"));
    const device = options.device ?? "cpu";
    const precision = options.precision ?? (chooseProviders(device)[0] === "cuda" ? "fp16" : "fp32");
    const { dir, manifest } = await ensureSdxlConverted(modelDir, precision, options.onProgress);
    return new SdxlInpaintModel(modelDir, dir, manifest, scheduler, tokenizers, device);
  }

  /** Runs one graph's session for `work`, released afterwards (one large model in memory at a time). */
  async withSession<T>(name: string, work: (session: ort.InferenceSession) => Promise<T>): Promise<T> {
    const session = await createSession(join(this.graphDir, `${name}.onnx`), { device: this.device });
    try {
      return await work(session);
    } finally {
      await session.release();
    }
  }
}

const floats = (out: ort.InferenceSession.OnnxValueMapType, name: string) => out[name].data as Float32Array;

interface PromptEmbeds {
  prompt: Float32Array;
  pooled: Float32Array;
  negative: Float32Array;
  negativePooled: Float32Array;
}

/** encode_prompt: each tokenizer/encoder pair's penultimate state, concatenated on the width; the pooled output of encoder 2. */
async function encodePrompts(model: SdxlInpaintModel, settings: EditSettings, guided: boolean, record: (name: string, a: NpyArray) => void): Promise<PromptEmbeds> {
  const { textLength: length, textWidths, pooledWidth, forceZerosForEmptyPrompt } = model.manifest;
  const texts = [settings.prompt];
  const negative = guided ? (settings.negativePrompt ?? (forceZerosForEmptyPrompt ? undefined : "")) : undefined;
  if (negative !== undefined) texts.push(negative);
  const ids = model.tokenizers.map((t) => texts.map((text) => t.encodeForPipeline(text)));
  ids.forEach((perText, k) => record(`tokens_${k + 1}`, i64(Array.from(perText[0]), [1, length])));
  const states: Float32Array[][] = [];
  const pooled: Float32Array[] = [];
  for (const k of [0, 1]) {
    await model.withSession(k === 0 ? "text_encoder" : "text_encoder_2", async (session) => {
      states[k] = [];
      for (const [t, tokens] of ids[k].entries()) {
        const out = await session.run({ [CLIP_TEXT_IO.ids]: new ort.Tensor("int64", BigInt64Array.from(tokens, (v) => BigInt(v)), [1, length]) });
        states[k].push(floats(out, CLIP_TEXT_IO.penultimate));
        if (t === 0) {
          record(`te${k + 1}_hidden_penultimate`, f32(floats(out, CLIP_TEXT_IO.penultimate), [1, length, textWidths[k]]));
          record(`te${k + 1}_out0`, k === 0 ? f32(floats(out, CLIP_TEXT_IO.last), [1, length, textWidths[0]]) : f32(floats(out, CLIP_TEXT_IO.pooled), [1, pooledWidth]));
        }
        if (k === 1) pooled.push(floats(out, CLIP_TEXT_IO.pooled));
      }
    });
  }
  const width = textWidths[0] + textWidths[1];
  const concatenated = (t: number) => {
    const out = new Float32Array(length * width);
    for (let r = 0; r < length; r++) {
      out.set(states[0][t].subarray(r * textWidths[0], (r + 1) * textWidths[0]), r * width);
      out.set(states[1][t].subarray(r * textWidths[1], (r + 1) * textWidths[1]), r * width + textWidths[0]);
    }
    return out;
  };
  const embeds: PromptEmbeds = {
    prompt: concatenated(0),
    pooled: pooled[0],
    negative: negative === undefined ? new Float32Array(length * width) : concatenated(1),
    negativePooled: negative === undefined ? new Float32Array(pooledWidth) : pooled[1],
  };
  record("prompt_embeds", f32(embeds.prompt, [1, length, width]));
  record("negative_prompt_embeds", f32(embeds.negative, [1, length, width]));
  record("pooled_prompt_embeds", f32(embeds.pooled, [1, pooledWidth]));
  record("negative_pooled_prompt_embeds", f32(embeds.negativePooled, [1, pooledWidth]));
  return embeds;
}

/** DiagonalGaussianDistribution(moments).sample() × scaling_factor: mean + exp(0.5·clamp(logvar, −30, 20))·draw. */
function posteriorSample(moments: Float32Array, draw: Float32Array, scalingFactor: number): Float32Array {
  const plane = draw.length;
  return draw.map((d, i) => {
    const std = f(Math.exp(f(0.5 * Math.min(Math.max(moments[plane + i], -30), 20))));
    return f(f(scalingFactor) * f(moments[i] + f(std * d)));
  });
}

/** F.interpolate(mask, (s, s)) with the default nearest mode: source index floor(i · S / s). */
function nearestDownsample(mask: Float32Array, from: number, to: number): Float32Array {
  const scale = from / to;
  const out = new Float32Array(to * to);
  for (let y = 0; y < to; y++) for (let x = 0; x < to; x++) out[y * to + x] = mask[Math.floor(y * scale) * from + Math.floor(x * scale)];
  return out;
}

/** The pipeline's postprocess: (x/2 + 0.5).clamp(0, 1), ×255, round half to even → HWC uint8. */
function toUint8Image(decoded: Float32Array, side: number): Uint8Array {
  const plane = side * side;
  const out = new Uint8Array(plane * 3);
  for (let i = 0; i < plane; i++) {
    for (let c = 0; c < 3; c++) {
      const v = f(f(255) * Math.min(Math.max(f(f(decoded[c * plane + i] / 2) + 0.5), 0), 1));
      const r = Math.round(v);
      out[i * 3 + c] = Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
    }
  }
  return out;
}

/**
 * Checks an image and its mask before any model runs: same size, a centre square large enough for the demo's
 * feathered paste (its 50-pixel border leaves smaller squares unchanged), something to repaint inside that square and
 * something kept.
 */
export function checkEditMask(image: RgbImage, mask: RgbImage, what: string): void {
  const side = Math.min(image.width, image.height);
  if (side <= 2 * FEATHER_BORDER) {
    throw inputError(`the image is ${image.width}x${image.height}; the edit pastes its centre square back through a ${FEATHER_BORDER}-pixel feathered border, so a side under ${2 * FEATHER_BORDER + 1} would come back unchanged`);
  }
  if (mask.width !== image.width || mask.height !== image.height) {
    throw inputError(`${what} is ${mask.width}x${mask.height} but the image is ${image.width}x${image.height}; give a mask of the image's size`);
  }
  const gray = rgbToGray(mask).data;
  const box = centerCropBox(image.width, image.height);
  let white = 0;
  let whiteInside = 0;
  gray.forEach((v, i) => {
    if (v < 128) return;
    white++;
    const [x, y] = [i % image.width, Math.floor(i / image.width)];
    if (x >= box.left && x < box.right && y >= box.top && y < box.bottom) whiteInside++;
  });
  if (white === 0) throw inputError(`${what} selects nothing (no pixel is white); nothing would be repainted`);
  if (white === gray.length) throw inputError(`${what} selects the whole image; give a mask that keeps part of it`);
  if (whiteInside === 0) {
    throw inputError(`${what} lies outside the centre square (${box.left},${box.top})-(${box.right},${box.bottom}) that the edit repaints (the demo crops non-square images to it)`);
  }
}

/** The whole edit: crop, pipeline, paste. Draws come from `request.noise` in the pipeline's order. */
export async function inpaint(model: SdxlInpaintModel, request: InpaintRequest): Promise<InpaintResult> {
  const record = request.record ?? (() => {});
  const timings: Record<string, number> = {};
  let mark = performance.now();
  const lap = (name: string) => {
    const now = performance.now();
    timings[name] = (now - mark) / 1000;
    mark = now;
  };
  const { imageSize: size, latentSide: side, latentChannels: channels, scalingFactor, textLength, pooledWidth, timeIds } = model.manifest;
  const box = centerCropBox(request.image.width, request.image.height);
  const crop = cropRgb(request.image, box);
  const cropMask = cropRgb(request.mask, box);
  const cropSide = crop.width;
  record("c_box", i64([box.left, box.top, box.right, box.bottom]));
  record("crop_image", u8(crop.data, [cropSide, cropSide, 3]));
  record("crop_mask", u8(cropMask.data, [cropSide, cropSide, 3]));
  const image1024 = resizeLikePillow(crop, APP_SIDE, APP_SIDE, "bicubic");
  const mask1024 = resizeLikePillow(cropMask, APP_SIDE, APP_SIDE, "bicubic");
  record("image_1024", u8(image1024.data, [APP_SIDE, APP_SIDE, 3]));
  record("mask_1024", u8(mask1024.data, [APP_SIDE, APP_SIDE, 3]));
  const pipeImage = pipelineImage(image1024, size);
  const pipeMask = pipelineMask(mask1024, size);
  const masked = maskedImage(pipeImage, pipeMask);
  record("pipe_image", f32(pipeImage, [1, 3, size, size]));
  record("pipe_mask", f32(pipeMask, [1, 1, size, size]));
  record("masked_image", f32(masked, [1, 3, size, size]));
  lap("preprocess");

  const embeds = await encodePrompts(model, request, request.guidance > 1, record);
  const timeRow = [size, size, 0, 0, size, size];
  if (timeRow.length !== timeIds) throw new Error(`time ids: ${timeRow.length} values for a UNet taking ${timeIds}`);
  record("add_time_ids", f32(Float32Array.from([...timeRow, ...timeRow]), [2, timeIds]));
  lap("text");

  const schedule = eulerSchedule(model.scheduler, request.steps, request.strength);
  record("schedule_timesteps", f32(schedule.scheduleTimesteps, [request.steps]));
  record("timesteps", f32(schedule.timesteps, [schedule.timesteps.length]));
  record("sigmas", f32(schedule.sigmas, [schedule.sigmas.length]));
  record("init_noise_sigma", f32(Float32Array.of(schedule.initNoiseSigma), []));
  if (schedule.timesteps.length === 0) throw inputError(`--steps ${request.steps} at --strength ${request.strength} leaves no denoising step`);

  const latentShape = [1, channels, side, side];
  const plane = channels * side * side;
  const draws: Float32Array[] = [];
  const draw = () => {
    const values = request.noise.next(plane);
    draws.push(values);
    return values;
  };
  const pixels = (data: Float32Array) => new ort.Tensor("float32", data, [1, 3, size, size]);
  const strengthMax = request.strength === 1;
  let latents!: Float32Array;
  let maskedLatents!: Float32Array;
  await model.withSession("vae_encoder", async (vae) => {
    // diffusers 0.22.3 needs the image latents only below strength 1 (at 1 it crashes; later releases start from noise alone).
    if (!strengthMax) {
      const moments = floats(await vae.run({ pixel_values: pixels(pipeImage) }), "vae_moments");
      record("vae_moments_image", f32(moments, [1, 2 * channels, side, side]));
      const posteriorDraw = draw();
      record("draw_posterior_image", f32(posteriorDraw, latentShape));
      const imageLatents = posteriorSample(moments, posteriorDraw, scalingFactor);
      record("image_latents", f32(imageLatents, latentShape));
      const initNoise = draw();
      record("draw_init_noise", f32(initNoise, latentShape));
      record("add_noise_timestep", f32(schedule.timesteps.slice(0, 1), [1]));
      latents = addNoise(imageLatents, initNoise, schedule.sigmas[schedule.start]);
    } else {
      const initNoise = draw();
      record("draw_init_noise", f32(initNoise, latentShape));
      latents = initNoise.map((v) => f(v * schedule.initNoiseSigma));
    }
    record("latents_init", f32(latents, latentShape));
    const moments = floats(await vae.run({ pixel_values: pixels(masked) }), "vae_moments");
    record("vae_moments_masked", f32(moments, [1, 2 * channels, side, side]));
    const posteriorDraw = draw();
    record("draw_posterior_masked", f32(posteriorDraw, latentShape));
    maskedLatents = posteriorSample(moments, posteriorDraw, scalingFactor);
    record("masked_latents", f32(maskedLatents, latentShape));
    record("masked_image_latents", f32(maskedLatents, latentShape));
  });
  const maskLatent = nearestDownsample(pipeMask, size, side);
  record("mask_latent", f32(maskLatent, [1, 1, side, side]));
  lap("encode");

  // diffusers guides only above 1; the batch is then [uncond, text], each row 2·latent + 1 channels: scaled latents,
  // mask, masked-image latents.
  const guided = request.guidance > 1;
  const batch = guided ? 2 : 1;
  const inputChannels = 2 * channels + 1;
  const latentPlane = side * side;
  const stack = (parts: Float32Array[]) => {
    const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
    parts.reduce((at, p) => (out.set(p, at), at + p.length), 0);
    return out;
  };
  const width = embeds.prompt.length / textLength;
  const context = new ort.Tensor("float32", stack(guided ? [embeds.negative, embeds.prompt] : [embeds.prompt]), [batch, textLength, width]);
  const textEmbeds = new ort.Tensor("float32", stack(guided ? [embeds.negativePooled, embeds.pooled] : [embeds.pooled]), [batch, pooledWidth]);
  const timeIdTensor = new ort.Tensor("float32", Float32Array.from({ length: batch * timeIds }, (_, k) => timeRow[k % timeIds]), [batch, timeIds]);
  const total = schedule.timesteps.length;
  await model.withSession("unet", async (unet) => {
    for (let i = 0; i < total; i++) {
      const index = schedule.start + i;
      const t = schedule.timesteps[i];
      const scaled = scaleModelInput(latents, schedule.sigmas[index]);
      const input = stack(Array.from({ length: batch }, () => [scaled, maskLatent, maskedLatents]).flat());
      const out = floats(
        await unet.run({
          [SDXL_UNET_IO.sample]: new ort.Tensor("float32", input, [batch, inputChannels, side, side]),
          [SDXL_UNET_IO.timestep]: new ort.Tensor("float32", Float32Array.of(t), [1]),
          [SDXL_UNET_IO.context]: context,
          [SDXL_UNET_IO.textEmbeds]: textEmbeds,
          [SDXL_UNET_IO.timeIds]: timeIdTensor,
        }),
        SDXL_UNET_IO.out,
      );
      const text = out.subarray((batch - 1) * plane, batch * plane);
      const uncond = guided ? out.subarray(0, plane) : undefined;
      const scale = f(request.guidance);
      const prediction = uncond ? uncond.map((u, k) => f(u + f(scale * f(text[k] - u)))) : text.slice();
      draw(); // EulerDiscreteScheduler.step draws a Gaussian it does not use (s_churn 0)
      const next = eulerStep(model.scheduler, schedule, index, latents, prediction);
      const step = `step${String(i).padStart(2, "0")}`;
      record(`${step}_timestep`, f32(Float32Array.of(t), []));
      record(`${step}_model_input`, f32(input, [batch, inputChannels, side, side]));
      if (uncond) record(`${step}_noise_pred_uncond`, f32(uncond.slice(), latentShape));
      record(`${step}_noise_pred_text`, f32(text.slice(), latentShape));
      record(`${step}_noise_pred_guided`, f32(prediction, latentShape));
      record(`${step}_latents_out`, f32(next, latentShape));
      latents = next;
      request.onStep?.(i + 1, total);
    }
  });
  record("final_latents", f32(latents, latentShape));
  const noise = new Float32Array(draws.length * plane);
  draws.forEach((d, k) => noise.set(d, k * plane));
  record("noise", f32(noise, [draws.length, ...latentShape]));
  lap("denoise");

  const decodeInput = latents.map((v) => f(v / f(scalingFactor)));
  record("vae_decode_input", f32(decodeInput, latentShape));
  const decoded = await model.withSession("vae_decoder", async (vae) => floats(await vae.run({ latents: new ort.Tensor("float32", decodeInput, latentShape) }), "decoded"));
  record("vae_decoded", f32(decoded, [1, 3, size, size]));
  const pipeOutput = { width: size, height: size, data: toUint8Image(decoded, size) };
  record("pipe_output", u8(pipeOutput.data, [size, size, 3]));
  lap("decode");

  const resized = resizeLikePillow(pipeOutput, cropSide, cropSide, "bicubic");
  record("st_out_resized", u8(resized.data, [cropSide, cropSide, 3]));
  const feather = featheredMask(cropSide, FEATHER_BORDER);
  record("feather_mask", u8(feather.data, [cropSide, cropSide]));
  const result = pasteWithMask(request.image, resized, box, feather);
  record("result", u8(result.data, [result.height, result.width, 3]));
  lap("paste");
  return { image: result, box, stepsRun: total, timings };
}
