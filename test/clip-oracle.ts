// Shared by the CLIP and region encoder oracle tests: paths into ../shared/oracle and tolerance checks.
import { expect } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import * as ort from "onnxruntime-node";
import { readNpy } from "../src/output/npy.ts";

export const ORACLE = "../shared/oracle/tiny-a";
export const oraclePresent = existsSync(`${ORACLE}/refs/index.json`);

export interface OracleIndex {
  clip_hidden_states_selected_indices: number[];
  region_levels_hidden_state_indices: number[];
  clip_num_hidden_states: number;
  orig_hw: [number, number];
}

export const readOracleIndex = (): OracleIndex => JSON.parse(readFileSync(`${ORACLE}/refs/index.json`, "utf8"));
export const readOracleJson = (path: string): Record<string, unknown> => JSON.parse(readFileSync(`${ORACLE}/${path}`, "utf8"));

export function oracleTensor(name: string): { data: Float32Array; shape: number[] } {
  const array = readNpy(`${ORACLE}/refs/${name}.npy`);
  return { data: array.data as Float32Array, shape: array.shape };
}

/** max |actual - ref| <= tolerance · (1 + max |ref|); the trace contract's tolerance is 1e-4. */
export function expectWithinOracle(actual: ArrayLike<number>, ref: ArrayLike<number>, label: string, tolerance = 1e-4): void {
  expect(actual.length).toBe(ref.length);
  let maxRef = 0;
  let worst = 0;
  for (let i = 0; i < ref.length; i++) {
    maxRef = Math.max(maxRef, Math.abs(ref[i]));
    const error = Math.abs(actual[i] - ref[i]);
    worst = Number.isNaN(error) ? Infinity : Math.max(worst, error);
  }
  if (!(worst <= tolerance * (1 + maxRef))) throw new Error(`${label}: max error ${worst} exceeds ${tolerance * (1 + maxRef)}`);
}

/** ‖actual − ref‖ / ‖ref‖ (for quantized graphs, whose elementwise error has no useful bound). */
export function relativeRmsError(actual: ArrayLike<number>, ref: ArrayLike<number>): number {
  expect(actual.length).toBe(ref.length);
  let [error, norm] = [0, 0];
  for (let i = 0; i < ref.length; i++) [error, norm] = [error + (actual[i] - ref[i]) ** 2, norm + ref[i] ** 2];
  return Math.sqrt(error / norm);
}

/** Runs a model once and returns every output. */
export async function runOnce(model: Uint8Array, feeds: Record<string, ort.Tensor>): Promise<ort.InferenceSession.ReturnType> {
  const session = await ort.InferenceSession.create(model);
  try {
    return await session.run(feeds);
  } finally {
    await session.release();
  }
}
