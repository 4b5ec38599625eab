import { readFileSync } from "node:fs";
import { modelError } from "../cli/errors.ts";

/**
 * diffusers 0.22.3's EulerDiscreteScheduler as StableDiffusionXLInpaintPipeline drives it: set_timesteps, the
 * strength cut of get_timesteps, add_noise, scale_model_input and step (s_churn 0, so gamma 0: the step still
 * draws one unused Gaussian from the generator, which the caller must consume). float32 throughout, op by op as
 * torch computes it (cumprod accumulates in double on CPU; np.interp in double).
 */

export interface EulerConfig {
  numTrainTimesteps: number;
  betaStart: number;
  betaEnd: number;
  betaSchedule: "scaled_linear" | "linear";
  predictionType: "epsilon" | "v_prediction" | "sample";
  timestepSpacing: "leading" | "trailing" | "linspace";
  stepsOffset: number;
}

const f = Math.fround;

function oneOf<T extends string>(value: unknown, allowed: readonly T[], key: string, path: string): T {
  if (typeof value === "string" && (allowed as readonly string[]).includes(value)) return value as T;
  throw modelError(`${path}: ${key} ${JSON.stringify(value)} is not supported (expected ${allowed.join(", ")})`);
}

/** Reads a diffusers scheduler_config.json of an EulerDiscreteScheduler. */
export function readEulerConfig(path: string): EulerConfig {
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(readFileSync(path, "utf8"));
  } catch (error) {
    throw modelError(`${path}: ${(error as Error).message}`);
  }
  if (raw._class_name !== undefined && raw._class_name !== "EulerDiscreteScheduler") {
    throw modelError(`${path}: scheduler ${JSON.stringify(raw._class_name)} is not supported (expected EulerDiscreteScheduler)`);
  }
  if (raw.use_karras_sigmas === true) throw modelError(`${path}: use_karras_sigmas is not supported`);
  if (raw.trained_betas != null) throw modelError(`${path}: trained_betas is not supported`);
  oneOf(raw.interpolation_type ?? "linear", ["linear"] as const, "interpolation_type", path);
  const number = (key: string, fallback: number): number => {
    const value = raw[key] ?? fallback;
    if (typeof value !== "number" || !Number.isFinite(value)) throw modelError(`${path}: ${key} must be a number`);
    return value;
  };
  const config: EulerConfig = {
    numTrainTimesteps: number("num_train_timesteps", 1000),
    betaStart: number("beta_start", 0.0001),
    betaEnd: number("beta_end", 0.02),
    betaSchedule: oneOf(raw.beta_schedule ?? "linear", ["scaled_linear", "linear"] as const, "beta_schedule", path),
    predictionType: oneOf(raw.prediction_type ?? "epsilon", ["epsilon", "v_prediction", "sample"] as const, "prediction_type", path),
    timestepSpacing: oneOf(raw.timestep_spacing ?? "linspace", ["leading", "trailing", "linspace"] as const, "timestep_spacing", path),
    stepsOffset: number("steps_offset", 0),
  };
  if (!Number.isInteger(config.numTrainTimesteps) || config.numTrainTimesteps < 2) {
    throw modelError(`${path}: num_train_timesteps must be an integer >= 2`);
  }
  return config;
}

/** torch.linspace(start, end, steps, dtype=float32): float step, the second half counted back from the end. */
function linspaceFloat32(start: number, end: number, steps: number): Float32Array {
  const [a, b] = [f(start), f(end)];
  const step = f(f(b - a) / (steps - 1));
  const halfway = Math.trunc(steps / 2);
  return Float32Array.from({ length: steps }, (_, i) => (i < halfway ? f(a + f(step * i)) : f(b - f(step * (steps - i - 1)))));
}

/** sqrt((1 − ᾱ)/ᾱ) for every training timestep, ᾱ = cumprod(1 − β). */
function trainingSigmas(config: EulerConfig): Float32Array {
  const { numTrainTimesteps: n } = config;
  const betas =
    config.betaSchedule === "scaled_linear"
      ? linspaceFloat32(Math.sqrt(config.betaStart), Math.sqrt(config.betaEnd), n).map((v) => f(v * v))
      : linspaceFloat32(config.betaStart, config.betaEnd, n);
  const sigmas = new Float32Array(n);
  let product = 1;
  for (let i = 0; i < n; i++) {
    product *= f(1 - betas[i]);
    const alphaBar = f(product);
    sigmas[i] = f(Math.sqrt(f(f(1 - alphaBar) / alphaBar)));
  }
  return sigmas;
}

/** numpy's interp (double) at x over xp = 0, 1, …, fp.length − 1. */
function interpIndex(x: number, fp: Float32Array): number {
  if (x <= 0) return fp[0];
  const last = fp.length - 1;
  if (x >= last) return fp[last];
  const j = Math.floor(x);
  if (x === j) return fp[j];
  const slope = fp[j + 1] - fp[j];
  return slope * (x - j) + fp[j];
}

export interface EulerSchedule {
  /** All `steps` timesteps of set_timesteps (float32 values, descending). */
  scheduleTimesteps: Float32Array;
  /** steps + 1 sigmas, the last 0. */
  sigmas: Float32Array;
  /** The timesteps run after the strength cut (timesteps[start:]). */
  timesteps: Float32Array;
  /** Index into scheduleTimesteps/sigmas of the first timestep run. */
  start: number;
  /** The scheduler's init_noise_sigma after set_timesteps. */
  initNoiseSigma: number;
}

/** set_timesteps(steps) followed by the pipeline's get_timesteps(steps, strength). */
export function eulerSchedule(config: EulerConfig, steps: number, strength: number): EulerSchedule {
  if (!Number.isInteger(steps) || steps < 1 || steps > config.numTrainTimesteps) {
    throw new RangeError(`steps must be an integer from 1 to ${config.numTrainTimesteps}, got ${steps}`);
  }
  if (!(strength > 0 && strength <= 1)) throw new RangeError(`strength must be in (0, 1], got ${strength}`);
  const n = config.numTrainTimesteps;
  let timesteps: number[];
  if (config.timestepSpacing === "leading") {
    const ratio = Math.trunc(n / steps);
    timesteps = Array.from({ length: steps }, (_, i) => Math.round((steps - 1 - i) * ratio) + config.stepsOffset);
  } else if (config.timestepSpacing === "trailing") {
    const ratio = n / steps;
    timesteps = Array.from({ length: steps }, (_, i) => roundHalfEven(n - i * ratio) - 1);
  } else {
    timesteps = Array.from(linspaceDouble(0, n - 1, steps)).reverse().map(f);
  }
  const table = trainingSigmas(config);
  const scheduleTimesteps = Float32Array.from(timesteps);
  const sigmas = new Float32Array(steps + 1);
  scheduleTimesteps.forEach((t, i) => (sigmas[i] = interpIndex(t, table)));
  const maxSigma = sigmas.reduce((m, v) => Math.max(m, v), 0);
  const initNoiseSigma = config.timestepSpacing === "leading" ? f(Math.sqrt(f(f(maxSigma * maxSigma) + 1))) : maxSigma;
  const initSteps = Math.min(Math.trunc(steps * strength), steps);
  const start = Math.max(steps - initSteps, 0);
  return { scheduleTimesteps, sigmas, timesteps: scheduleTimesteps.slice(start), start, initNoiseSigma };
}

/** np.round (half to even). */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** np.linspace in double: start + i·step, the last value exactly `end`. */
function linspaceDouble(start: number, end: number, count: number): Float64Array {
  const step = count > 1 ? (end - start) / (count - 1) : 0;
  const out = Float64Array.from({ length: count }, (_, i) => start + i * step);
  if (count > 1) out[count - 1] = end;
  return out;
}

/** add_noise: original + noise · sigma (sigma of the first timestep run). */
export function addNoise(original: Float32Array, noise: Float32Array, sigma: number): Float32Array {
  return original.map((v, i) => f(v + f(noise[i] * sigma)));
}

/** scale_model_input: sample / sqrt(sigma² + 1). */
export function scaleModelInput(sample: Float32Array, sigma: number): Float32Array {
  const scale = f(Math.sqrt(f(f(sigma * sigma) + 1)));
  return sample.map((v) => f(v / scale));
}

/** One Euler step (gamma 0) from sigmas[index] to sigmas[index + 1]. */
export function eulerStep(config: EulerConfig, schedule: EulerSchedule, index: number, sample: Float32Array, modelOutput: Float32Array): Float32Array {
  const sigma = schedule.sigmas[index];
  const dt = f(schedule.sigmas[index + 1] - sigma);
  const c = f(Math.sqrt(f(f(sigma * sigma) + 1)));
  const out = new Float32Array(sample.length);
  for (let i = 0; i < sample.length; i++) {
    const x = sample[i];
    const m = modelOutput[i];
    let x0: number;
    if (config.predictionType === "epsilon") x0 = f(x - f(sigma * m));
    else if (config.predictionType === "v_prediction") x0 = f(f(m * f(-sigma / c)) + f(x / f(f(sigma * sigma) + 1)));
    else x0 = m;
    const derivative = f(f(x - x0) / sigma);
    out[i] = f(x + f(derivative * dt));
  }
  return out;
}
