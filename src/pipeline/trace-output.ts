import { mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { writeFileAtomic } from "../output/atomic.ts";
import { writeNpy, type NpyArray } from "../output/npy.ts";

/** What one `glamm trace` run produced: arrays by contract name (e.g. "image/clip_pixel_values") and trace.json. */
export interface TraceResult {
  arrays: Map<string, NpyArray>;
  info: Record<string, unknown>;
}

export const f32 = (data: Float32Array, shape: number[]): NpyArray => ({ dtype: "<f4", shape, data });
export const u8 = (data: Uint8Array, shape: number[]): NpyArray => ({ dtype: "|u1", shape, data });
export const i64 = (values: readonly number[], shape: number[] = [values.length]): NpyArray => ({
  dtype: "<i8",
  shape,
  data: BigInt64Array.from(values, (v) => BigInt(v)),
});

/** Writes every array as DIR/<name>.npy and DIR/trace.json listing names, shapes and dtypes with the run's info. */
export function writeTrace(dir: string, trace: TraceResult): void {
  const tensors: Record<string, { shape: number[]; dtype: string }> = {};
  for (const [name, array] of trace.arrays) {
    const path = join(dir, `${name}.npy`);
    mkdirSync(dirname(path), { recursive: true });
    writeNpy(path, array);
    tensors[name] = { shape: array.shape, dtype: array.dtype };
  }
  mkdirSync(dir, { recursive: true });
  writeFileAtomic(join(dir, "trace.json"), `${JSON.stringify({ ...trace.info, tensors }, null, 2)}\n`);
}
