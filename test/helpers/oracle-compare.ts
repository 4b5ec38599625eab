import { expect } from "bun:test";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { readNpy, type NpyArray } from "../../src/output/npy.ts";
import type { TraceResult } from "../../src/pipeline/trace-output.ts";

// The tolerances of the oracle trace contracts (../shared/oracle-aas/README.md, ../shared/oracle-difflmm/README.md).

export const numbers = (array: NpyArray): number[] => Array.from(array.data as ArrayLike<number | bigint>, Number);

/** Ref file name → [our array name, subsampling step]: `x_sub4` holds x[..., ::4, ::4]. */
function refTarget(file: string): [string, number] {
  const match = /^(.*)_sub(\d+)$/.exec(file.replace(/\.npy$/, ""));
  return match ? [match[1], Number(match[2])] : [file.replace(/\.npy$/, ""), 1];
}

/** Our values at the positions the (possibly subsampled) reference holds. */
function picked(ours: NpyArray, ref: NpyArray, step: number): number[] {
  const values = numbers(ours);
  if (step === 1) return values;
  const [h, w] = ours.shape.slice(-2);
  const [rows, cols] = ref.shape.slice(-2);
  return numbers(ref).map((_, i) => {
    const plane = Math.floor(i / (rows * cols));
    return values[(plane * h + (Math.floor(i / cols) % rows) * step) * w + (i % cols) * step];
  });
}

const ATTENTION_DERIVED = /^(attn_|group_scores|upsample_)/;

/** The map tolerance 1e-3·|v| + 1e-5·max|ref| (attention-derived arrays) or 1e-4·(1 + max|ref|) (other floats). */
export function allowedError(name: string, value: number, maxRef: number): number {
  return ATTENTION_DERIVED.test(name) ? 1e-3 * Math.abs(value) + 1e-5 * maxRef : 1e-4 * (1 + maxRef);
}

export function expectClose(name: string, actual: number[], expected: number[]): void {
  expect(actual.length, name).toBe(expected.length);
  const maxRef = expected.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  const worst = expected.reduce((w, v, i) => Math.max(w, Math.abs(actual[i] - v) / allowedError(name, v, maxRef)), 0);
  expect(worst, `${name}: worst error / tolerance`).toBeLessThanOrEqual(1);
}

/** Intersection and union of each of `count` binary masks of `plane` pixels, stored one after the other in a and b. */
export function maskOverlaps(a: Uint8Array, b: Uint8Array, count: number, plane: number): { intersection: number; union: number }[] {
  const overlaps = [];
  for (let k = 0; k < count; k++) {
    let intersection = 0;
    let union = 0;
    for (let i = k * plane; i < (k + 1) * plane; i++) {
      intersection += a[i] & b[i];
      union += a[i] | b[i];
    }
    overlaps.push({ intersection, union });
  }
  return overlaps;
}

export function expectMasksMatch(ours: NpyArray, ref: NpyArray): void {
  const [n, h, w] = ref.shape;
  maskOverlaps(ours.data as Uint8Array, ref.data as Uint8Array, n, h * w).forEach(({ intersection, union }, k) =>
    expect(union === 0 ? 1 : intersection / union, `mask ${k} IoU`).toBeGreaterThanOrEqual(0.99),
  );
}

/** Where a reference array that is a part of a full trace array lives: `sam_low_res_masks_kept` = sam_low_res_masks[:, -1]. */
function keptPart(ours: NpyArray): NpyArray {
  const [n, k, h, w] = ours.shape;
  const out = new Float32Array(n * h * w);
  for (let i = 0; i < n; i++) out.set((ours.data as Float32Array).subarray((i * k + k - 1) * h * w, (i * k + k) * h * w), i * h * w);
  return { dtype: "<f4", shape: [n, h, w], data: out };
}

export interface CompareOptions {
  /** Reference files not to compare (diagnostics the contract makes optional). */
  skip?: RegExp;
}

/** Compares every reference array in `dirs` with the trace by the contracts' tolerances. */
export function compareArrays(trace: TraceResult, dirs: readonly string[], options: CompareOptions = {}): void {
  for (const dir of dirs) {
    for (const file of readdirSync(dir).filter((f) => f.endsWith(".npy") && !options.skip?.test(f))) {
      const [refName, step] = refTarget(file);
      const kept = refName.endsWith("_kept") && !trace.arrays.has(refName);
      const name = kept ? refName.replace(/_kept$/, "") : refName;
      const found = trace.arrays.get(name);
      expect(found, `trace array ${name}`).toBeDefined();
      const ours = kept ? keptPart(found!) : found!;
      const ref = readNpy(join(dir, file));
      if (step === 1) expect(ours.shape, name).toEqual(ref.shape);
      if (name === "final_masks") expectMasksMatch(ours, ref);
      else if (/areas/.test(name)) numbers(ref).forEach((v, i) => expect(Math.abs(numbers(ours)[i] - v), name).toBeLessThanOrEqual(0.005 * v));
      else if (ref.dtype === "<f4") expectClose(name, picked(ours, ref, step), numbers(ref));
      else expect(picked(ours, ref, step), name).toEqual(numbers(ref));
    }
  }
}
