import { describe, expect, test } from "bun:test";
import * as ort from "onnxruntime-node";
import { GraphBuilder } from "../src/graph/builder.ts";
import { bfloat16ToFloat32, float16ToFloat32, float32ToFloat16, fp16BitsToFp32, fp32ToFp16Bits } from "../src/graph/float16.ts";
import { dequantizeInt4, quantizeInt4, type Int4Options } from "../src/graph/int4.ts";
import { dequantizeInt8, quantizeInt8 } from "../src/graph/int8.ts";
import { expectClose, matmul, randomArray, runModel } from "./graph-reference.ts";

describe("fp32 -> fp16", () => {
  const cases: [number, number][] = [
    [0, 0x0000],
    [-0, 0x8000],
    [1, 0x3c00],
    [-2, 0xc000],
    [0.1, 0x2e66], // 0.0999755859375 is nearer than 0x2e67
    [65504, 0x7bff], // largest finite
    [65519.99, 0x7bff], // just below the rounding midpoint to infinity
    [65520, 0x7c00], // midpoint rounds to even = infinity
    [1e6, 0x7c00],
    [-Infinity, 0xfc00],
    [2 ** -14, 0x0400], // smallest normal
    [2 ** -24, 0x0001], // smallest subnormal
    [2 ** -25, 0x0000], // midpoint to zero rounds to even = 0
    [2 ** -25 * 1.0001, 0x0001],
    [3 * 2 ** -25, 0x0002], // 1.5 ulp rounds to even 2
    [5 * 2 ** -25, 0x0002], // 2.5 ulp rounds to even 2
    [1 + 2 ** -11, 0x3c00], // midpoint between 1 and next: even is 1
    [1 + 3 * 2 ** -11, 0x3c02], // midpoint between 0x3c01 and 0x3c02: even is 0x3c02
    [2 ** -14 - 2 ** -25, 0x0400], // rounds up from the largest subnormal into the smallest normal
  ];
  for (const [value, bits] of cases) {
    test(`${value} -> 0x${bits.toString(16).padStart(4, "0")}`, () => {
      expect(fp32ToFp16Bits(value)).toBe(bits);
    });
  }

  test("NaN stays NaN", () => {
    const bits = fp32ToFp16Bits(NaN);
    expect(bits & 0x7c00).toBe(0x7c00);
    expect(bits & 0x3ff).not.toBe(0);
    expect(Number.isNaN(fp16BitsToFp32(bits))).toBe(true);
  });

  test("every finite half value round-trips through fp32 exactly", () => {
    const all = new Uint16Array(65536).map((_, i) => i);
    const back = float32ToFloat16(float16ToFloat32(all));
    for (let i = 0; i < 65536; i++) if ((i & 0x7c00) !== 0x7c00 || (i & 0x3ff) === 0) expect(back[i]).toBe(i);
  });

  test("fp16 bits decode to known values", () => {
    expect(Array.from(float16ToFloat32(Uint16Array.of(0x3555, 0x0001, 0x7bff, 0xfc00)))).toEqual([0.333251953125, 2 ** -24, 65504, -Infinity]);
  });

  test("bf16 bits widen to fp32", () => {
    expect(Array.from(bfloat16ToFloat32(Uint16Array.of(0x3f80, 0xc049, 0x0001, 0x7f80)))).toEqual([1, -3.140625, 2 ** -133, Infinity]);
  });
});

describe("int4 MatMulNBits", () => {
  const [M, K, N] = [3, 80, 24]; // K not a multiple of 32: the last block is padded
  const a = randomArray(41, M * K);
  const w = randomArray(42, K * N, 0.5);
  const reference = matmul(a, w, M, K, N);

  async function runNBits(options: Int4Options & { accuracyLevel?: 0 | 1 | 4 }, weight = w): Promise<[Float32Array, Float32Array]> {
    const q = quantizeInt4(weight, K, N, options);
    const g = new GraphBuilder();
    const x = g.input("a", "float32", ["m", K]);
    g.output(g.matMulNBits(x, q, { accuracyLevel: options.accuracyLevel }), "y", "float32", ["m", N]);
    return [await runModel(g.toBytes(), { a: new ort.Tensor("float32", a, [M, K]) }), dequantizeInt4(q)];
  }

  /** |y - a·W| <= Σ_k |a_k|·(per-element bound); scale/2 rounding, or one full scale where the extreme was clipped. */
  function errorBound(dequantized: Float32Array, row: number, col: number): number {
    let bound = 0;
    for (let k = 0; k < K; k++) bound += Math.abs(a[row * K + k]) * Math.abs(w[k * N + col] - dequantized[k * N + col]);
    return bound;
  }

  for (const asymmetric of [false, true]) {
    test(`${asymmetric ? "asymmetric" : "symmetric"}: equals the dequantized fp32 matmul and is within the quantization bound of fp32`, async () => {
      const [y, dequantized] = await runNBits({ asymmetric });
      expectClose(y, matmul(a, dequantized, M, K, N), 1e-5);
      let maxError = 0;
      let maxElementError = 0;
      for (let i = 0; i < K * N; i++) maxElementError = Math.max(maxElementError, Math.abs(w[i] - dequantized[i]));
      const q = quantizeInt4(w, K, N, { asymmetric });
      const maxScale = Math.max(...Array.from(q.scales, Math.abs));
      expect(maxElementError).toBeLessThanOrEqual(maxScale * (asymmetric ? 0.5 : 1) + 1e-7);
      for (let row = 0; row < M; row++)
        for (let col = 0; col < N; col++) {
          const error = Math.abs(y[row * N + col] - reference[row * N + col]);
          maxError = Math.max(maxError, error);
          expect(error).toBeLessThanOrEqual(errorBound(dequantized, row, col) + 1e-5);
        }
      console.log(`int4 ${asymmetric ? "asymmetric" : "symmetric"} block 32, K=${K}: max |y - y_fp32| = ${maxError.toExponential(3)}, max |w - w_q| = ${maxElementError.toExponential(3)}`);
      expect(maxError).toBeGreaterThan(0);
    });
  }

  test("accuracy level 4 (int8 activations) stays near the dequantized result", async () => {
    const [y, dequantized] = await runNBits({ accuracyLevel: 4 });
    expectClose(y, matmul(a, dequantized, M, K, N), 5e-2);
  });

  test("an NK (PyTorch Linear) weight quantizes to the same blocks as its KN transpose", () => {
    const transposed = new Float32Array(K * N);
    for (let k = 0; k < K; k++) for (let n = 0; n < N; n++) transposed[n * K + k] = w[k * N + n];
    const fromKN = quantizeInt4(w, K, N, { asymmetric: true });
    const fromNK = quantizeInt4(transposed, K, N, { asymmetric: true, layout: "NK" });
    expect(fromNK.packed).toEqual(fromKN.packed);
    expect(fromNK.scales).toEqual(fromKN.scales);
    expect(fromNK.zeroPoints).toEqual(fromKN.zeroPoints!);
  });

  test("symmetric packing: known block", () => {
    // One column, one block of 16: values -8..7 times 0.25; the extreme -2 gives scale 0.25 and codes v/0.25 + 8.
    const block = Float32Array.from({ length: 16 }, (_, i) => (i - 8) * 0.25);
    const q = quantizeInt4(block, 16, 1, { blockSize: 16 });
    expect(Array.from(q.scales)).toEqual([0.25]);
    expect(Array.from(q.packed)).toEqual([0x10, 0x32, 0x54, 0x76, 0x98, 0xba, 0xdc, 0xfe]);
    expect(Array.from(dequantizeInt4(q))).toEqual(Array.from(block));
  });

  test("rejects a block size that is not a power of two >= 16", () => {
    expect(() => quantizeInt4(w, K, N, { blockSize: 24 })).toThrow(/power of two/);
  });
});

describe("int8 DynamicQuantizeMatMul", () => {
  const [M, K, N] = [5, 72, 20];
  const a = randomArray(51, M * K);
  const w = randomArray(52, K * N, 0.3);
  const bias = randomArray(53, N);

  /** onnxruntime's DynamicQuantizeLinear (uint8, range widened to include 0), then the exact integer product. */
  function independent(weight: ReturnType<typeof quantizeInt8>): Float64Array {
    const min = Math.min(0, ...a);
    const max = Math.max(0, ...a);
    const scale = Math.fround((max - min) / 255);
    const zeroPoint = Math.min(255, Math.max(0, Math.round(-min / scale)));
    const qa = Array.from(a, (v) => Math.min(255, Math.max(0, Math.round(v / scale) + zeroPoint)));
    const out = new Float64Array(M * N);
    for (let m = 0; m < M; m++)
      for (let n = 0; n < N; n++) {
        let sum = 0;
        for (let k = 0; k < K; k++) sum += (qa[m * K + k] - zeroPoint) * weight.data[k * N + n];
        out[m * N + n] = sum * scale * weight.scales[n] + bias[n];
      }
    return out;
  }

  test("equals the integer product of the quantized operands and stays near fp32", async () => {
    const q = quantizeInt8(w, K, N);
    const g = new GraphBuilder();
    const x = g.input("a", "float32", ["m", K]);
    g.output(g.dynamicQuantizeMatMul(x, g.int8Weight("w", K, N, () => q), { bias: g.weight("bias", [N], bias) }), "y", "float32", ["m", N]);
    const y = await runModel(g.toBytes(), { a: new ort.Tensor("float32", a, [M, K]) });
    expectClose(y, independent(q), 1e-4);
    const fp32 = matmul(a, w, M, K, N);
    for (let i = 0; i < M * N; i++) fp32[i] += bias[i % N];
    expectClose(y, fp32, 5e-2);
  });

  test("per-column scales: max |w| / 127, codes within ±127, NK layout equal to its KN transpose", () => {
    const q = quantizeInt8(w, K, N);
    for (let n = 0; n < N; n++) {
      let max = 0;
      for (let k = 0; k < K; k++) max = Math.max(max, Math.abs(w[k * N + n]));
      expect(q.scales[n]).toBe(Math.fround(max / 127));
    }
    expect(Math.max(...Array.from(q.data, Math.abs))).toBe(127);
    const back = dequantizeInt8(q);
    for (let i = 0; i < K * N; i++) expect(Math.abs(back[i] - w[i])).toBeLessThanOrEqual(q.scales[i % N] / 2 + 1e-7);
    const transposed = new Float32Array(K * N);
    for (let k = 0; k < K; k++) for (let n = 0; n < N; n++) transposed[n * K + k] = w[k * N + n];
    const fromNK = quantizeInt8(transposed, K, N, "NK");
    expect(fromNK.data).toEqual(q.data);
    expect(fromNK.scales).toEqual(q.scales);
  });
});
