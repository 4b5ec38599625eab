import { describe, expect, test } from "bun:test";
import * as ort from "onnxruntime-node";
import { GraphBuilder } from "../src/graph/builder.ts";
import { expectClose, randomArray, runModel } from "./graph-reference.ts";

const floats = (data: ArrayLike<number>, dims: number[]) => new ort.Tensor("float32", Float32Array.from(data), dims);

/** One-input graph y = build(x) run on `data`. */
async function unary(data: Float32Array, dims: number[], build: (g: GraphBuilder, x: string) => string): Promise<Float32Array> {
  const g = new GraphBuilder();
  g.output(build(g, g.input("x", "float32", dims)), "y", "float32");
  return runModel(g.toBytes(), { x: floats(data, dims) });
}

describe("shape and elementwise helpers", () => {
  const x = randomArray(71, 12); // viewed as [3, 4]

  test("slice with steps, gather, transpose, expand", async () => {
    expect(Array.from(await unary(x, [3, 4], (g, v) => g.slice(v, [0, 3], [3, 0], [0, 1], [2, -2])))).toEqual([x[3], x[1], x[11], x[9]]);
    expect(Array.from(await unary(x, [3, 4], (g, v) => g.gather(v, g.ints([2, 0]), 0)))).toEqual([...x.slice(8, 12), ...x.slice(0, 4)]);
    expect(Array.from(await unary(x, [3, 4], (g, v) => g.transpose(v, [1, 0])))).toEqual([0, 1, 2, 3].flatMap((c) => [x[c], x[4 + c], x[8 + c]]));
    expect(Array.from(await unary(x.subarray(0, 4), [4], (g, v) => g.expand(v, [2, 4])))).toEqual([...x.slice(0, 4), ...x.slice(0, 4)]);
  });

  test("trilu keeps the lower triangle with k = -1 and the upper one by default", async () => {
    const lower = await unary(x, [3, 4], (g, v) => g.trilu(v, { upper: false, k: -1 }));
    const upper = await unary(x, [3, 4], (g, v) => g.trilu(v));
    expect(Array.from(lower)).toEqual(Array.from(x, (v, i) => (i % 4 <= Math.floor(i / 4) - 1 ? v : 0)));
    expect(Array.from(upper)).toEqual(Array.from(x, (v, i) => (i % 4 >= Math.floor(i / 4) ? v : 0)));
  });

  test("equal/where, pow, sqrt, tanh, relu, div, sub, neg, reduceMax", async () => {
    const y = await unary(x, [3, 4], (g, v) => {
      const positive = g.where(g.equal(g.relu(v), v), g.sqrt(g.pow(v, g.scalar(2))), g.neg(g.tanh(v)));
      return g.sub(g.div(positive, g.scalar(4)), g.reduceMax(v, [1], true));
    });
    const expected = Array.from(x, (v, i) => (v >= 0 ? Math.abs(v) : -Math.tanh(v)) / 4 - Math.max(...x.slice(Math.floor(i / 4) * 4, Math.floor(i / 4) * 4 + 4)));
    expectClose(y, expected, 1e-6);
  });

  test("rmsNorm (SimplifiedLayerNormalization) matches x / sqrt(mean(x²) + eps) · scale to 1e-5", async () => {
    const scale = randomArray(77, 4);
    const y = await unary(x, [3, 4], (g, v) => g.rmsNorm(v, g.weight("scale", [4], scale), 1e-6));
    const expected = Array.from(x, (v, i) => {
      const row = x.subarray(Math.floor(i / 4) * 4, Math.floor(i / 4) * 4 + 4);
      return (v / Math.sqrt(row.reduce((sum, r) => sum + r * r, 0) / 4 + 1e-6)) * scale[i % 4];
    });
    expectClose(y, expected, 1e-5);
  });

  test("gemm with transB, alpha and beta", async () => {
    const b = randomArray(72, 5 * 4);
    const c = randomArray(73, 5);
    const y = await unary(x, [3, 4], (g, v) => g.gemm(v, g.weight("b", [5, 4], b), g.weight("c", [5], c), { transB: true, alpha: 0.5, beta: 2 }));
    const expected = Array.from({ length: 15 }, (_, i) => {
      const [r, col] = [Math.floor(i / 5), i % 5];
      let dot = 0;
      for (let k = 0; k < 4; k++) dot += x[r * 4 + k] * b[col * 4 + k];
      return 0.5 * dot + 2 * c[col];
    });
    expectClose(y, expected, 1e-6);
  });

  test("cast to int64 truncates; shape reads the runtime dims", async () => {
    const g = new GraphBuilder();
    const v = g.input("x", "float32", ["n", 4]);
    g.output(g.cast(v, "int64"), "ints", "int64");
    g.output(g.shape(v), "dims", "int64", [2]);
    const session = await ort.InferenceSession.create(g.toBytes());
    const out = await session.run({ x: floats([1.9, -2.2, 3, 0, 5, 6, 7, 8], [2, 4]) });
    await session.release();
    expect(Array.from(out.ints.data as BigInt64Array, Number)).toEqual([1, -2, 3, 0, 5, 6, 7, 8]);
    expect(Array.from(out.dims.data as BigInt64Array, Number)).toEqual([2, 4]);
  });
});

describe("ConvTranspose", () => {
  test("stride 2, pads 1, output padding 1 matches the scatter reference to 1e-5", async () => {
    const [CIN, COUT, H, W, K] = [2, 3, 3, 4, 3];
    const x = randomArray(74, CIN * H * W);
    const w = randomArray(75, CIN * COUT * K * K, 0.5);
    const bias = randomArray(76, COUT);
    const [OH, OW] = [2 * H, 2 * W];
    const y = await unary(x, [1, CIN, H, W], (g, v) =>
      g.convTranspose(v, g.weight("w", [CIN, COUT, K, K], w), g.weight("b", [COUT], bias), { strides: [2, 2], pads: [1, 1, 1, 1], outputPadding: [1, 1] }),
    );
    const expected = new Float64Array(COUT * OH * OW);
    for (let o = 0; o < COUT; o++) expected.fill(bias[o], o * OH * OW, (o + 1) * OH * OW);
    for (let c = 0; c < CIN; c++)
      for (let iy = 0; iy < H; iy++)
        for (let ix = 0; ix < W; ix++)
          for (let o = 0; o < COUT; o++)
            for (let ky = 0; ky < K; ky++)
              for (let kx = 0; kx < K; kx++) {
                const [oy, ox] = [iy * 2 + ky - 1, ix * 2 + kx - 1];
                if (oy >= 0 && oy < OH && ox >= 0 && ox < OW) expected[(o * OH + oy) * OW + ox] += x[(c * H + iy) * W + ix] * w[((c * COUT + o) * K + ky) * K + kx];
              }
    expectClose(y, expected, 1e-5);
  });
});
