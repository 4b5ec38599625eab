import { GraphBuilder } from "../graph/builder.ts";
import { createSession, ort } from "../runtime/ort.ts";
import type { Benchmark } from "./runner.ts";
import { countParam } from "./params.ts";

/** A square float32 MatMul through onnxruntime: a floor for what the execution provider delivers (GFLOP/s). */
export const onnxMatmulBenchmark: Benchmark = {
  name: "onnx-matmul",
  description: "N×N float32 MatMul in onnxruntime (param size=N, default 1024)",
  async prepare({ device, params }) {
    const n = countParam(params, "size", 1024);
    const g = new GraphBuilder({ name: "bench_matmul" });
    const a = g.input("a", "float32", [n, n]);
    const b = g.weight("b", [n, n], Float32Array.from({ length: n * n }, (_, i) => ((i * 7919) % 13) / 13 - 0.5));
    g.output(g.matMul(a, b), "c", "float32", [n, n]);
    const session = await createSession(g.toBytes(), { device });
    const input = new ort.Tensor("float32", Float32Array.from({ length: n * n }, (_, i) => (i % 17) / 17), [n, n]);
    return {
      run: async () => void (await session.run({ a: input })),
      dispose: () => session.release(),
      unit: { name: "GFLOP", perRun: (2 * n ** 3) / 1e9 },
    };
  },
};
