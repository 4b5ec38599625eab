import type { Benchmark } from "./runner.ts";
import { onnxMatmulBenchmark } from "./onnx-matmul.ts";

/** Every named benchmark `glamm bench` knows; later blocks add theirs here. */
export const benchmarks: Benchmark[] = [onnxMatmulBenchmark];
