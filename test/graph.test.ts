import { describe, expect, test } from "bun:test";
import * as ort from "onnxruntime-node";
import { applyRotaryHalf, mergeHeads, rotaryCosSin, scaledDotProductAttention, splitHeads } from "../src/graph/blocks.ts";
import { GraphBuilder } from "../src/graph/builder.ts";
import type { GraphOptions } from "../src/graph/graph.ts";
import { addRowVector, attentionReference, expectClose, gelu, layerNorm, matmul, randomArray, ropeReference, runModel } from "./graph-reference.ts";

const [B, S, D, HIDDEN] = [2, 3, 16, 32];
const x = randomArray(1, B * S * D);
const gamma = randomArray(2, D, 0.5).map((v) => v + 1);
const beta = randomArray(3, D, 0.1);
const w1 = randomArray(4, D * HIDDEN, 0.3);
const b1 = randomArray(5, HIDDEN, 0.1);
const w2 = randomArray(6, HIDDEN * D, 0.3);
const b2 = randomArray(7, D, 0.1);

type Activation = "gelu" | "gelu-contrib" | "quick-gelu";

/** LayerNorm -> Linear -> activation -> Linear -> residual add. */
function mlpBlockModel(activation: Activation, options: GraphOptions = {}): Uint8Array {
  const g = new GraphBuilder(options);
  const input = g.input("x", "float32", ["batch", "seq", D]);
  const hidden = g.scope("mlp", () => {
    const normed = g.layerNorm(input, g.weight("ln.weight", [D], gamma), g.weight("ln.bias", [D], beta), 1e-5);
    const up = g.linear(normed, g.weight("fc1.weight", [D, HIDDEN], w1), g.weight("fc1.bias", [HIDDEN], b1));
    const act = activation === "quick-gelu" ? g.quickGelu(up) : g.gelu(up, { contrib: activation === "gelu-contrib" });
    return g.linear(act, g.weight("fc2.weight", [HIDDEN, D], w2), g.weight("fc2.bias", [D], b2));
  });
  g.output(g.add(input, hidden), "y", "float32", ["batch", "seq", D]);
  return g.toBytes();
}

function mlpBlockReference(activation: Activation): Float64Array {
  const normed = layerNorm(x, D, gamma, beta, 1e-5);
  const up = addRowVector(matmul(normed, w1, B * S, D, HIDDEN), b1);
  const act = up.map((v) => (activation === "quick-gelu" ? v / (1 + Math.exp(-1.702 * v)) : gelu(v)));
  const down = addRowVector(matmul(act, w2, B * S, HIDDEN, D), b2);
  return down.map((v, i) => v + x[i]);
}

describe("LayerNorm + MLP block", () => {
  const feeds = () => ({ x: new ort.Tensor("float32", x, [B, S, D]) });
  for (const activation of ["gelu", "gelu-contrib", "quick-gelu"] as const) {
    test(`${activation} matches the float64 reference to 1e-5`, async () => {
      expectClose(await runModel(mlpBlockModel(activation), feeds()), mlpBlockReference(activation), 1e-5);
    });
  }

  test("float16 weights cast up in a float32 graph stay within fp16 weight rounding", async () => {
    const actual = await runModel(mlpBlockModel("gelu", { weightType: "float16" }), feeds());
    expectClose(actual, mlpBlockReference("gelu"), 1e-2);
    expect(expectClose(actual, mlpBlockReference("gelu"), 1)).toBeGreaterThan(1e-6); // weights really were rounded
  });

  test("a float16 graph takes and returns float32 and stays within fp16 rounding", async () => {
    const actual = await runModel(mlpBlockModel("gelu", { floatType: "float16" }), feeds());
    const maxError = expectClose(actual, mlpBlockReference("gelu"), 2e-2);
    expect(maxError).toBeGreaterThan(1e-5);
  });
});

describe("attention block with rotate-half RoPE", () => {
  const [H, HD] = [2, 8];
  const seq = 5;
  const input = randomArray(11, B * seq * D);
  const [wq, wk, wv, wo] = [12, 13, 14, 15].map((seed) => randomArray(seed, D * D, 0.4));
  // Batch 1 continues from position 3, as after a prefix.
  const positions = Array.from({ length: B * seq }, (_, i) => (i % seq) + (i >= seq ? 3 : 0));

  function model(): Uint8Array {
    const g = new GraphBuilder();
    const hidden = g.input("x", "float32", ["batch", "seq", D]);
    const positionIds = g.input("position_ids", "int64", ["batch", "seq"]);
    const [cos, sin] = rotaryCosSin(g, positionIds, HD);
    const project = (w: Float32Array, name: string) => splitHeads(g, g.matMul(hidden, g.weight(name, [D, D], w)), H, HD);
    const q = applyRotaryHalf(g, project(wq, "q_proj"), cos, sin, HD);
    const k = applyRotaryHalf(g, project(wk, "k_proj"), cos, sin, HD);
    const attended = scaledDotProductAttention(g, q, k, project(wv, "v_proj"), HD, { causal: true });
    g.output(g.matMul(mergeHeads(g, attended), g.weight("o_proj", [D, D], wo)), "y", "float32");
    return g.toBytes();
  }

  function reference(): Float64Array {
    const [q, k, v] = [wq, wk, wv].map((w) => matmul(input, w, B * seq, D, D));
    const attended = attentionReference(ropeReference(q, positions, D, HD), ropeReference(k, positions, D, HD), v, B, seq, H, HD, true);
    return matmul(attended, wo, B * seq, D, D);
  }

  test("matches the float64 reference to 1e-5", async () => {
    const feeds = {
      x: new ort.Tensor("float32", input, [B, seq, D]),
      position_ids: new ort.Tensor("int64", BigInt64Array.from(positions, BigInt), [B, seq]),
    };
    expectClose(await runModel(model(), feeds), reference(), 1e-5);
  });
});
