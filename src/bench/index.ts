import type { Benchmark } from "./runner.ts";
import { attendBenchmarks } from "./attend.ts";
import { clipBenchmark, regionEncoderBenchmark } from "./clip.ts";
import { demoQualityBenchmark } from "./demo-quality.ts";
import { difflmmBenchmarks } from "./difflmm.ts";
import { evalGcgBenchmark } from "./eval.ts";
import { llamaBenchmarks } from "./llama.ts";
import { onnxMatmulBenchmark } from "./onnx-matmul.ts";
import { samBenchmarks } from "./sam.ts";
import { editBenchmark, sdxlBenchmarks } from "./sdxl.ts";
import { weightsReadBenchmark } from "./weights-read.ts";

/** Every named benchmark `glamm bench` knows; later blocks add theirs here. */
export const benchmarks: Benchmark[] = [onnxMatmulBenchmark, weightsReadBenchmark, evalGcgBenchmark, ...llamaBenchmarks, ...samBenchmarks, clipBenchmark, regionEncoderBenchmark, ...attendBenchmarks, ...difflmmBenchmarks, ...sdxlBenchmarks, editBenchmark, demoQualityBenchmark];
