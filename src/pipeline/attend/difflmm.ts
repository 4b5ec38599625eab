import { existsSync, readFileSync } from "node:fs";
import { dirname, isAbsolute, join } from "node:path";
import { modelError } from "../../cli/errors.ts";
import { findManifest } from "../../hub/manifests.ts";
import { readInstallRecord } from "../../hub/store.ts";
import type { ClipPreprocessConfig } from "../../image/clip-config.ts";
import { expandToSquare, preprocessClip } from "../../image/preprocess.ts";
import type { RgbImage } from "../../image/rgb-image.ts";
import { LlamaDecoder } from "../../models/llama-runner.ts";
import type { LlamaPrecision } from "../../models/llama.ts";
import { readAlphasCumprod } from "../../models/sd-config.ts";
import { UNET_IO } from "../../models/sd-unet.ts";
import type { NpyArray } from "../../output/npy.ts";
import { createSession, ort, type Device } from "../../runtime/ort.ts";
import { LlamaTokenizer } from "../../text/tokenizer.ts";
import { readJsonObject, type JsonObject } from "../../util/json.ts";
import { f32 } from "../trace-output.ts";
import { ensureDiffLmmConverted, isDiffLmmConfig, type DiffLmmManifest, type DiffLmmSources } from "../../convert/difflmm.ts";
import { DEFAULT_NOISE_SEED, noiseFromFile, noisyLatents, seededNoise, type DiffusionNoise } from "./diffusion-noise.ts";
import type { LlavaImage, LlavaModel } from "./llava.ts";

export interface DiffLmmOptions {
  /** Base LLM folder (default: adapter_config.json's base_model_name_or_path). */
  modelBase?: string;
  /** Stable Diffusion folder (default: config.json's mm_vision_tower). */
  vision?: string;
  /** CLIP folder (default: config.json's mm_vision_sd_clip). */
  clip?: string;
  /** `--noise FILE.npy`: the recorded Gaussian draws; otherwise they come from `noiseSeed` (default 0). */
  noise?: string;
  noiseSeed?: number;
  device?: Device;
  precision?: LlamaPrecision;
  onProgress?: (message: string) => void;
}

/** Whether `dir` is a DiffLMM LoRA folder (its config.json names the SDCLIPBlock projector). */
export function isDiffLmmFolder(dir: string): boolean {
  const path = join(dir, "config.json");
  return existsSync(path) && isDiffLmmConfig(readJsonObject(path));
}

/**
 * A checkpoint a config names: a local folder as given, else relative to the parent of the model folder (the
 * official code resolves them from its working directory), else the installed model pulled from that repo.
 */
function dependencyFolder(modelDir: string, name: unknown, what: string, flag: string): string {
  if (typeof name !== "string" || name === "") throw modelError(`${modelDir} does not name its ${what}; pass it with ${flag}`);
  const candidates = isAbsolute(name) ? [name] : [join(dirname(modelDir), name), name];
  const local = candidates.find((dir) => existsSync(dir));
  if (local) return local;
  const installed = readInstallRecord(findManifest(name)?.name ?? name)?.dir;
  if (installed) return installed;
  throw modelError(`the ${what} ${name} is neither a local folder (looked in ${candidates.join(", ")}) nor installed; run \`glamm pull ${findManifest(name)?.name ?? name}\` or pass it with ${flag}`);
}

function resolveDiffLmmSources(modelDir: string, options: Pick<DiffLmmOptions, "modelBase" | "vision" | "clip"> = {}): DiffLmmSources {
  const config = readJsonObject(join(modelDir, "config.json"));
  const adapterPath = join(modelDir, "adapter_config.json");
  const adapter: JsonObject = existsSync(adapterPath) ? readJsonObject(adapterPath) : {};
  const given = (dir: string | undefined, flag: string) => {
    if (dir !== undefined && !existsSync(dir)) throw modelError(`${flag} ${dir}: no such folder`);
    return dir;
  };
  return {
    lora: modelDir,
    base: given(options.modelBase, "--model-base") ?? dependencyFolder(modelDir, adapter.base_model_name_or_path ?? config._name_or_path, "base model", "--model-base"),
    sd: given(options.vision, "--vision") ?? dependencyFolder(modelDir, config.mm_vision_tower, "Stable Diffusion model (mm_vision_tower)", "--vision"),
    clip: given(options.clip, "--clip") ?? dependencyFolder(modelDir, config.mm_vision_sd_clip, "CLIP model (mm_vision_sd_clip)", "--clip"),
  };
}

/** SDCLIPVisionTower's processor: CLIPImageProcessor(size=R, crop_size=R) whose mean/std keywords are ignored, so the OpenAI CLIP statistics stay. */
function diffLmmPreprocess(resolution: number): ClipPreprocessConfig {
  return {
    doResize: true,
    shortestEdge: resolution,
    exactSize: null,
    resample: "bicubic",
    doCenterCrop: true,
    cropHeight: resolution,
    cropWidth: resolution,
    doRescale: true,
    rescaleFactor: 1 / 255,
    doNormalize: true,
    mean: [0.48145466, 0.4578275, 0.40821073],
    std: [0.26862954, 0.26130258, 0.27577711],
  };
}

interface DiffLmmSessions {
  clip: ort.InferenceSession;
  vae: ort.InferenceSession;
  unet: ort.InferenceSession;
  projector: ort.InferenceSession;
}

const dataOf = (out: ort.InferenceSession.OnnxValueMapType, name: string) => out[name].data as Float32Array;

/** [ensemble, C, h, w]: the shape of each Gaussian draw. */
const diffusionNoiseShape = ({ settings, latent }: DiffLmmManifest) => [settings.ensemble, latent.channels, latent.side, latent.side];

const concatenated = (a: Float32Array, b: Float32Array): Float32Array => {
  const out = new Float32Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
};

/** Each ensemble member's UNet features, averaged (the official ensemble mean; one member gives the value itself). */
function ensembleMean(runs: Float32Array[][]): Float32Array[] {
  return runs[0].map((_, k) => {
    const mean = new Float32Array(runs[0][k].length);
    for (const run of runs) for (let i = 0; i < mean.length; i++) mean[i] += run[k][i] / runs.length;
    return runs.length === 1 ? runs[0][k] : mean;
  });
}

/** DiffLMM's image side: preprocessing, CLIP, VAE with the sampled latent, add_noise, UNet up-block features, SDCLIPBlock. */
async function encodeDiffLmmImage(sessions: DiffLmmSessions, manifest: DiffLmmManifest, acp: Float32Array, recorded: DiffusionNoise | undefined, seed: number, image: RgbImage): Promise<LlavaImage> {
  const { settings, latent, upFeatures, clip } = manifest;
  const preprocess = diffLmmPreprocess(settings.resolution);
  const square = expandToSquare(image, preprocess.mean);
  const { pixelValues } = preprocessClip(square, preprocess);
  const pixels = new ort.Tensor("float32", pixelValues.data, pixelValues.dims);
  const [clipOut, vaeOut] = [await sessions.clip.run({ pixel_values: pixels }), await sessions.vae.run({ pixel_values: pixels })];
  const plane = latent.channels * latent.side * latent.side;
  const noiseShape = diffusionNoiseShape(manifest);
  const noise = recorded ?? seededNoise(seed, settings.ensemble * plane);
  const { latents, noisy } = noisyLatents(dataOf(vaeOut, "vae_moments"), noise, latent.scalingFactor, acp[settings.timestep]);
  const context = new ort.Tensor("float32", dataOf(clipOut, "prompt_embeds"), [1, clip.grid * clip.grid, clipOut.prompt_embeds.dims[2]]);
  const timestep = new ort.Tensor("int64", BigInt64Array.of(BigInt(settings.timestep)), [1]);
  const unetRuns: ort.InferenceSession.OnnxValueMapType[] = [];
  for (let e = 0; e < settings.ensemble; e++) {
    const sample = new ort.Tensor("float32", noisy.slice(e * plane, (e + 1) * plane), [1, latent.channels, latent.side, latent.side]);
    unetRuns.push(await sessions.unet.run({ [UNET_IO.sample]: sample, [UNET_IO.timestep]: timestep, [UNET_IO.context]: context }));
  }
  const upFt = ensembleMean(unetRuns.map((out) => upFeatures.map((_, i) => dataOf(out, UNET_IO.upFeature(i)))));
  const [selectedChannels, grid] = upFeatures[settings.selectLayer];
  const patchFeatures = dataOf(clipOut, "clip_patch_features");
  const projected = await sessions.projector.run({
    up_ft: new ort.Tensor("float32", upFt[settings.selectLayer], [1, selectedChannels, grid, grid]),
    clip_patch_features: new ort.Tensor("float32", patchFeatures, [1, grid * grid, clip.width]),
  });
  const dims = (out: ort.InferenceSession.OnnxValueMapType, name: string) => out[name].dims.slice(1) as number[];
  const named = (out: ort.InferenceSession.OnnxValueMapType, names: string[]): [string, NpyArray][] => names.map((n) => [n, f32(dataOf(out, n), dims(out, n))]);
  const noiseDims = settings.ensemble === 1 ? noiseShape.slice(1) : noiseShape;
  const firstUnet = unetRuns[0];
  const traceArrays: [string, NpyArray][] = [
    ...named(clipOut, ["clip_pixel_values", "clip_projected", "prompt_embeds"]),
    ...named(vaeOut, ["vae_encoder_out", "vae_moments"]),
    ["vae_noise", f32(noise.vae, noiseDims)],
    ["unet_noise", f32(noise.unet, noiseDims)],
    ["noise", f32(concatenated(noise.vae, noise.unet), [2, ...noiseShape])],
    ["latents", f32(latents, noiseDims)],
    ["noisy_latents", f32(noisy, noiseDims)],
    ["alphas_cumprod", f32(acp, [acp.length])],
    ...named(firstUnet, ["unet_temb", "unet_conv_in", ...[0, 1, 2, 3].map((i) => `unet_down_${i}`), "unet_mid"]),
    ...upFt.map((data, i): [string, NpyArray] => [UNET_IO.upFeature(i), f32(data, [upFeatures[i][0], upFeatures[i][1], upFeatures[i][1]])]),
    ...named(projected, ["proj_sd_norm", "proj_sd_branch", "proj_linear"]),
  ];
  return {
    square,
    pixelValues: pixelValues.data,
    pixelSide: settings.resolution,
    patchFeatures,
    imageFeatures: dataOf(projected, "image_features"),
    noise: noise.source,
    traceArrays,
  };
}

/** A DiffLMM checkpoint (LoRA folder over its base, SD-1.5, CLIP) converted on first use and loaded for attend-and-segment. */
export async function loadDiffLmm(modelDir: string, options: DiffLmmOptions = {}): Promise<LlavaModel> {
  const sources = resolveDiffLmmSources(modelDir, options);
  const tokenizer = LlamaTokenizer.fromDirectory(sources.base);
  const eosTokenId = tokenizer.eosTokenId;
  if (eosTokenId === null) throw modelError(`${sources.base}: the tokenizer has no eos_token`);
  const precision = options.precision ?? "fp32";
  const { dir, manifest } = await ensureDiffLmmConverted(sources, precision, options.onProgress);
  const acp = readAlphasCumprod(join(sources.sd, "scheduler"));
  const recorded = options.noise === undefined ? undefined : noiseFromFile(options.noise, diffusionNoiseShape(manifest));
  if (manifest.settings.timestep >= acp.length) throw modelError(`mm_vision_sd_timestep ${manifest.settings.timestep} is past the scheduler's ${acp.length} training steps`);
  const session = { device: options.device };
  const path = (name: string) => join(dir, `${name}.onnx`);
  const [clip, vae, unet, projector, decoder] = await Promise.all([
    createSession(path("clip"), session),
    createSession(path("vae"), session),
    createSession(path("unet"), session),
    createSession(path("projector"), session),
    LlamaDecoder.create(path("decoder"), manifest.llama, session),
  ]);
  const sessions = { clip, vae, unet, projector };
  const bytes = readFileSync(join(dir, "embed_tokens.f32"));
  const grid = manifest.clip.grid;
  return {
    tokenizer,
    config: manifest.llama,
    decoder,
    table: { data: new Float32Array(new Uint8Array(bytes).buffer), hidden: manifest.llama.hiddenSize },
    clip,
    clipPreprocess: diffLmmPreprocess(manifest.settings.resolution),
    imageTokens: grid * grid,
    grid,
    eosTokenId,
    encodeImage: (image) => encodeDiffLmmImage(sessions, manifest, acp, recorded, options.noiseSeed ?? DEFAULT_NOISE_SEED, image),
    release: async () => {
      await Promise.all([clip.release(), vae.release(), unet.release(), projector.release(), decoder.release()]);
    },
  };
}
