import { existsSync } from "node:fs";
import { join } from "node:path";
import { modelError } from "../cli/errors.ts";
import { readJsonObject, type JsonObject } from "../util/json.ts";

/** UNet2DConditionModel config.json values the tensor shapes do not carry. */
export interface UNetConfig {
  downBlockTypes: string[];
  upBlockTypes: string[];
  layersPerBlock: number;
  /** Attention heads per down block (diffusers' attention_head_dim, which is a head count). */
  heads: number[];
  groups: number;
  epsilon: number;
  flipSinToCos: boolean;
  freqShift: number;
  downsamplePadding: 0 | 1;
  /** addition_embed_type: SDXL's "text_time" adds an embedding of the pooled text and the time ids to the time embedding. */
  additionEmbedType: null | "text_time";
  /** addition_time_embed_dim: sinusoidal width of each time id (text_time only). */
  additionTimeEmbedDim: number;
}

/** AutoencoderKL config.json values the encoder needs. */
export interface VaeConfig {
  groups: number;
  scalingFactor: number;
  latentChannels: number;
}

const DOWN_TYPES = ["CrossAttnDownBlock2D", "DownBlock2D"];
const UP_TYPES = ["CrossAttnUpBlock2D", "UpBlock2D"];

function read(json: JsonObject, key: string, source: string, valid: (v: unknown) => boolean, fallback?: unknown): unknown {
  const value = json[key] ?? fallback;
  if (!valid(value)) throw modelError(`${source}: invalid or unsupported "${key}": ${JSON.stringify(json[key])}`);
  return value;
}

const positiveInt = (v: unknown) => Number.isInteger(v) && (v as number) > 0;
const stringsOf = (allowed: string[]) => (v: unknown) => Array.isArray(v) && v.length > 0 && v.every((t) => allowed.includes(t as string));

/** Settings diffusers 0.15's UNet would honour differently from SD-1.5's: refused rather than ignored. */
const UNET_DEFAULTS: [string, unknown][] = [
  ["center_input_sample", false],
  ["class_embed_type", null],
  ["resnet_time_scale_shift", "default"],
  ["time_embedding_type", "positional"],
  ["only_cross_attention", false],
  ["dual_cross_attention", false],
  ["act_fn", "silu"],
  ["mid_block_type", "UNetMidBlock2DCrossAttn"],
  ["encoder_hid_dim", null],
];

export function readUNetConfig(dir: string): UNetConfig {
  const source = join(dir, "config.json");
  const json = readJsonObject(source);
  for (const [key, expected] of UNET_DEFAULTS) {
    if ((json[key] ?? expected) !== expected) throw modelError(`${source}: "${key}" ${JSON.stringify(json[key])} is not supported (SD-1.5 uses ${JSON.stringify(expected)})`);
  }
  for (const [key, expected] of [["mid_block_scale_factor", 1], ["resnet_out_scale_factor", 1]] as const) {
    if ((json[key] ?? expected) !== expected) throw modelError(`${source}: "${key}" ${JSON.stringify(json[key])} is not supported`);
  }
  const downBlockTypes = read(json, "down_block_types", source, stringsOf(DOWN_TYPES)) as string[];
  const upBlockTypes = read(json, "up_block_types", source, stringsOf(UP_TYPES)) as string[];
  const headsValue = json.num_attention_heads ?? json.attention_head_dim ?? 8;
  const heads = typeof headsValue === "number" ? downBlockTypes.map(() => headsValue) : headsValue;
  if (!Array.isArray(heads) || heads.length !== downBlockTypes.length || !heads.every(positiveInt)) throw modelError(`${source}: invalid "attention_head_dim": ${JSON.stringify(headsValue)}`);
  return {
    downBlockTypes,
    upBlockTypes,
    layersPerBlock: read(json, "layers_per_block", source, positiveInt, 2) as number,
    heads: heads as number[],
    groups: read(json, "norm_num_groups", source, positiveInt, 32) as number,
    epsilon: read(json, "norm_eps", source, (v) => typeof v === "number" && v > 0, 1e-5) as number,
    flipSinToCos: read(json, "flip_sin_to_cos", source, (v) => typeof v === "boolean", true) as boolean,
    freqShift: read(json, "freq_shift", source, (v) => typeof v === "number", 0) as number,
    downsamplePadding: read(json, "downsample_padding", source, (v) => v === 0 || v === 1, 1) as 0 | 1,
    additionEmbedType: read(json, "addition_embed_type", source, (v) => v === null || v === "text_time", null) as null | "text_time",
    additionTimeEmbedDim: (read(json, "addition_time_embed_dim", source, (v) => v === null || positiveInt(v), null) as number | null) ?? 0,
  };
}

export function readVaeConfig(dir: string): VaeConfig {
  const source = join(dir, "config.json");
  const json = readJsonObject(source);
  const types = read(json, "down_block_types", source, stringsOf(["DownEncoderBlock2D"])) as string[];
  if (types.length === 0) throw modelError(`${source}: no down_block_types`);
  return {
    groups: read(json, "norm_num_groups", source, positiveInt, 32) as number,
    scalingFactor: read(json, "scaling_factor", source, (v) => typeof v === "number" && v > 0, 0.18215) as number,
    latentChannels: read(json, "latent_channels", source, positiveInt, 4) as number,
  };
}

/**
 * The training noise schedule's alphas_cumprod as DDIMScheduler builds it (float32 like torch): betas from
 * scheduler_config.json's beta_schedule ("linear" or "scaled_linear") or trained_betas.
 */
export function readAlphasCumprod(schedulerDir: string): Float32Array {
  const source = join(schedulerDir, "scheduler_config.json");
  const json = readJsonObject(source);
  const steps = read(json, "num_train_timesteps", source, positiveInt, 1000) as number;
  const start = read(json, "beta_start", source, (v) => typeof v === "number", 0.0001) as number;
  const end = read(json, "beta_end", source, (v) => typeof v === "number", 0.02) as number;
  const trained = json.trained_betas;
  let betas: Float32Array;
  if (Array.isArray(trained) && trained.length) betas = Float32Array.from(trained as number[]);
  else {
    const schedule = json.beta_schedule ?? "linear";
    if (schedule === "linear") betas = linspace(start, end, steps);
    else if (schedule === "scaled_linear") betas = linspace(Math.sqrt(start), Math.sqrt(end), steps).map((b) => Math.fround(b * b));
    else throw modelError(`${source}: beta_schedule ${JSON.stringify(schedule)} is not supported (linear, scaled_linear)`);
  }
  const out = new Float32Array(betas.length);
  let product = 1;
  for (let i = 0; i < betas.length; i++) {
    product = Math.fround(product * Math.fround(1 - betas[i]));
    out[i] = product;
  }
  return out;
}

/** torch.linspace in float32: the first half stepped from `start`, the second from `end`. */
function linspace(start: number, end: number, steps: number): Float32Array {
  const step = (end - start) / (steps - 1);
  const half = Math.floor(steps / 2);
  return Float32Array.from({ length: steps }, (_, i) => (i < half ? start + step * i : end - step * (steps - 1 - i)));
}

/**
 * The weights of a diffusers component folder: safetensors first, as diffusers loads them, else the .bin; with a
 * `variant` ("fp16", as `from_pretrained(variant=...)`), that variant's files first.
 */
export function diffusersWeightsFile(dir: string, variant?: string, stem = "diffusion_pytorch_model"): string {
  const plain = [`${stem}.safetensors`, `${stem}.bin`];
  const names = variant ? [...plain.map((n) => n.replace(/\.(\w+)$/, `.${variant}.$1`)), ...plain] : plain;
  const found = names.map((name) => join(dir, name)).find(existsSync);
  if (!found) throw modelError(`${dir} has no ${names.join(" or ")}`);
  return found;
}
