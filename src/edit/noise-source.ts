import { inputError } from "../cli/errors.ts";
import { readNpy } from "../output/npy.ts";
import { TorchCpuGenerator } from "./torch-generator.ts";

/**
 * Where the edit pipeline's standard-normal draws come from, in the pipeline's order (image posterior sample,
 * initial noise, masked-image posterior sample, then one unused draw per Euler step): a seeded
 * torch.Generator("cpu") (`--seed`), or the draws recorded in a .npy file (`--noise`, the oracle's noise.npy layout
 * N × draw shape) consumed one per call.
 */
export interface NoiseSource {
  /** The next draw of `count` values. */
  next(count: number): Float32Array;
}

export function seededNoise(seed: number): NoiseSource {
  const generator = new TorchCpuGenerator(seed);
  return { next: (count) => generator.randn(count) };
}

export function recordedNoise(path: string): NoiseSource {
  let array;
  try {
    array = readNpy(path);
  } catch (error) {
    throw inputError(`cannot read noise file ${path}: ${(error as Error).message}`);
  }
  if (array.dtype !== "<f4" || array.shape.length < 2) {
    throw inputError(`noise file ${path}: expected float32 draws of shape N×…, got ${array.dtype} ${JSON.stringify(array.shape)}`);
  }
  const data = array.data as Float32Array;
  const draws = array.shape[0];
  const perDraw = data.length / draws;
  let used = 0;
  return {
    next(count) {
      if (count !== perDraw) throw inputError(`noise file ${path}: draws hold ${perDraw} values, the pipeline needs ${count}`);
      if (used >= draws) throw inputError(`noise file ${path}: all ${draws} draws used, the pipeline needs more`);
      return data.slice(used * perDraw, ++used * perDraw);
    },
  };
}
