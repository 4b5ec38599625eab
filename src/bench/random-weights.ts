import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { usageError } from "../cli/errors.ts";
import type { GraphBuilder } from "../graph/builder.ts";
import { createSession, type ort } from "../runtime/ort.ts";
import type { BenchOptions } from "./runner.ts";

/** The `dtype` benchmark parameter: float32 (default) or float16. */
export function benchFloatType(params: Record<string, string>): "float32" | "float16" {
  const dtype = params.dtype ?? "float32";
  if (dtype !== "float32" && dtype !== "float16") throw usageError(`dtype must be float32 or float16, not ${dtype}`);
  return dtype;
}

/** The `linears` benchmark parameter: float (default) or int8 (DynamicQuantizeMatMul). */
export function benchLinearWeights(params: Record<string, string>): "float" | "int8" {
  const linears = params.linears ?? "float";
  if (linears !== "float" && linears !== "int8") throw usageError(`linears must be float or int8, not ${linears}`);
  return linears;
}

/**
 * Writes the graph to a temporary folder (external data, so models over 2 GiB work) and opens a session on it. With
 * GLAMM_BENCH_PROFILE=PREFIX set, onnxruntime profiles every run into PREFIX_<date>.json (see bench/profile-summary.ts).
 */
export async function temporarySession(graph: GraphBuilder, device: BenchOptions["device"]): Promise<{ session: ort.InferenceSession; dispose: () => Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), "glamm-bench-"));
  const removeDir = () => rmSync(dir, { recursive: true, force: true });
  try {
    await graph.save(join(dir, "model.onnx"));
    const session = await createSession(join(dir, "model.onnx"), { device, profilePrefix: process.env.GLAMM_BENCH_PROFILE });
    return {
      session,
      dispose: async () => {
        if (process.env.GLAMM_BENCH_PROFILE) session.endProfiling();
        await session.release();
        removeDir();
      },
    };
  } catch (error) {
    removeDir();
    throw error;
  }
}
