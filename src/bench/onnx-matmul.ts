import { usageError } from "../cli/errors.ts";
import { GraphBuilder } from "../graph/builder.ts";
import { quantizeInt4 } from "../graph/int4.ts";
import { quantizeInt8 } from "../graph/int8.ts";
import { createSession, ort } from "../runtime/ort.ts";
import type { Benchmark } from "./runner.ts";
import { countParam } from "./params.ts";

const KERNELS = ["fp32", "int4", "int4-dequant", "int8"] as const;
type Kernel = (typeof KERNELS)[number];

/**
 * A [M, K]·[K, N] product with weight W in one of the forms glamm uses: fp32 MatMul; 4-bit MatMulNBits (int8
 * activations, accuracy_level 4); the same 4-bit blocks unpacked and dequantised in the graph (DequantizeLinear with
 * block_size, opset 21) then a fp32 Gemm; per-column int8 weights with dynamically quantized activations
 * (DynamicQuantizeMatMul).
 */
function productGraph(kernel: Kernel, m: number, k: number, n: number, block: number): GraphBuilder {
  const g = new GraphBuilder({ name: "bench_matmul", opset: 21 });
  const a = g.input("a", "float32", [m, k]);
  const weight = Float32Array.from({ length: k * n }, (_, i) => (((i * 7919) % 13) / 13 - 0.5) / Math.sqrt(k));
  let product: string;
  if (kernel === "fp32") product = g.matMul(a, g.weight("b", [k, n], weight));
  else if (kernel === "int8") product = g.dynamicQuantizeMatMul(a, g.int8Weight("b", k, n, () => quantizeInt8(weight, k, n)));
  else {
    const q = quantizeInt4(weight, k, n, { blockSize: block });
    if (kernel === "int4") product = g.matMulNBits(a, q, { accuracyLevel: 4 });
    else {
      const blocks = Math.ceil(k / block);
      const packed = g.initializer("b.packed", "uint8", [n, blocks, block / 2], q.packed);
      const low = g.op("BitwiseAnd", [packed, g.constant("uint8", [], Uint8Array.of(15))]);
      const high = g.op("BitShift", [packed, g.constant("uint8", [], Uint8Array.of(4))], { direction: "RIGHT" });
      const codes = g.reshape(g.concat([g.unsqueeze(low, [3]), g.unsqueeze(high, [3])], 3), [n, blocks * block]);
      const scales = g.initializer("b.scales", "float32", [n, blocks], q.scales);
      const zeroPoints = g.constant("uint8", [n, blocks], new Uint8Array(n * blocks).fill(8));
      const dequantized = g.op("DequantizeLinear", [codes, scales, zeroPoints], { axis: 1, block_size: block });
      product = g.gemm(a, g.slice(dequantized, [0], [k], [1]), undefined, { transB: true });
    }
  }
  g.output(product, "c", "float32", [m, n]);
  return g;
}

export const onnxMatmulBenchmark: Benchmark = {
  name: "onnx-matmul",
  description: `[M,K]×[K,N] product in onnxruntime (params size=N for a square one (default 1024) or m, k, n; kernel=${KERNELS.join("|")}; block=N for int4, default 32)`,
  async prepare({ device, params }) {
    const size = countParam(params, "size", 1024);
    const [m, k, n] = ["m", "k", "n"].map((name) => countParam(params, name, size));
    const kernel = (params.kernel ?? "fp32") as Kernel;
    if (!KERNELS.includes(kernel)) throw usageError(`kernel must be one of ${KERNELS.join(", ")} (got ${kernel})`);
    const block = countParam(params, "block", 32);
    if (!(block >= 16 && (block & (block - 1)) === 0)) throw usageError(`block must be a power of two >= 16 (got ${params.block})`);
    const session = await createSession(productGraph(kernel, m, k, n, block).toBytes(), { device });
    const input = new ort.Tensor("float32", Float32Array.from({ length: m * k }, (_, i) => (i % 17) / 17), [m, k]);
    return {
      run: async () => void (await session.run({ a: input })),
      dispose: () => session.release(),
      unit: { name: "GFLOP", perRun: (2 * m * k * n) / 1e9 },
    };
  },
};
