import { existsSync } from "node:fs";
import { inputError } from "../../cli/errors.ts";
import { readNpy } from "../../output/npy.ts";
import { seededRandom } from "../../util/random.ts";

/** The two standard-normal draws of DiffLMM's one-step diffusion, [ensemble, C, h, w] each. */
export interface DiffusionNoise {
  /** The VAE posterior sample's draw (latent_dist.sample()). */
  vae: Float32Array;
  /** add_noise's draw (torch.randn_like(latents)). */
  unet: Float32Array;
  /** Where the draws came from: a seed, or the --noise file. */
  source: { seed: number } | { file: string };
}

/** Seed used when none is given: runs are reproducible by default (the official code draws fresh noise every call). */
export const DEFAULT_NOISE_SEED = 0;

/** Standard-normal values from the seeded PRNG (Box–Muller). */
function gaussian(random: () => number, count: number): Float32Array {
  const out = new Float32Array(count);
  for (let i = 0; i < count; i += 2) {
    const radius = Math.sqrt(-2 * Math.log(1 - random()));
    const angle = 2 * Math.PI * random();
    out[i] = radius * Math.cos(angle);
    if (i + 1 < count) out[i + 1] = radius * Math.sin(angle);
  }
  return out;
}

export function seededNoise(seed: number, perDraw: number): DiffusionNoise {
  if (!Number.isSafeInteger(seed) || seed < 0) throw inputError(`the noise seed must be a whole number >= 0 (got ${seed})`);
  const random = seededRandom(seed);
  return { vae: gaussian(random, perDraw), unet: gaussian(random, perDraw), source: { seed } };
}

/** `--noise FILE.npy`: float32 [2, ensemble, C, h, w] ([0] the VAE draw, [1] the add_noise draw), as the oracle's noise.npy. */
export function noiseFromFile(path: string, shape: readonly number[]): DiffusionNoise {
  if (!existsSync(path)) throw inputError(`no noise file at ${path}`);
  let array;
  try {
    array = readNpy(path);
  } catch (error) {
    throw inputError(`${path}: ${(error as Error).message}`);
  }
  const expected = [2, ...shape];
  if (array.dtype !== "<f4" || array.shape.join(",") !== expected.join(",")) {
    throw inputError(`${path} holds ${array.dtype} [${array.shape.join(", ")}]; the model needs float32 [${expected.join(", ")}]`);
  }
  const data = array.data as Float32Array;
  const half = data.length / 2;
  return { vae: data.slice(0, half), unet: data.slice(half), source: { file: path } };
}

/**
 * DiagonalGaussianDistribution.sample() times the VAE scaling factor, then DDIMScheduler.add_noise at alphas_cumprod
 * `acp`: the UNet input for each ensemble member. `moments` [2C, h, w] (mean, logvar).
 */
export function noisyLatents(moments: Float32Array, noise: DiffusionNoise, scalingFactor: number, acp: number): { latents: Float32Array; noisy: Float32Array } {
  const plane = moments.length / 2;
  const latents = new Float32Array(noise.vae.length);
  const noisy = new Float32Array(noise.vae.length);
  const a = Math.fround(Math.sqrt(acp));
  const b = Math.fround(Math.sqrt(Math.fround(1 - acp)));
  for (let i = 0; i < latents.length; i++) {
    const j = i % plane;
    const logvar = Math.min(Math.max(moments[plane + j], -30), 20);
    const std = Math.fround(Math.exp(Math.fround(0.5 * logvar)));
    latents[i] = Math.fround(Math.fround(moments[j] + Math.fround(std * noise.vae[i])) * scalingFactor);
    noisy[i] = Math.fround(a * latents[i]) + Math.fround(b * noise.unet[i]);
  }
  return { latents, noisy };
}
