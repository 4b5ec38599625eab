import { describe, test } from "bun:test";
import * as ort from "onnxruntime-node";
import { rotaryCaches } from "../src/graph/blocks.ts";
import { GraphBuilder } from "../src/graph/builder.ts";
import { attentionReference, expectClose, layerNorm, randomArray, ropeReference, runModel } from "./graph-reference.ts";

const [B, S, H, HD] = [2, 5, 2, 8];
const D = H * HD;
const [q, k, v] = [61, 62, 63].map((seed) => randomArray(seed, B * S * D));
const positions = Array.from({ length: B * S }, (_, i) => i % S);
const float3d = (data: Float32Array) => new ort.Tensor("float32", data, [B, S, D]);

describe("com.microsoft contrib nodes", () => {
  test("RotaryEmbedding (rotate-half) matches the RoPE reference to 1e-5", async () => {
    const g = new GraphBuilder();
    const x = g.input("x", "float32", ["batch", "seq", D]);
    const positionIds = g.input("position_ids", "int64", ["batch", "seq"]);
    const [cos, sin] = rotaryCaches(g, HD, 16);
    g.output(g.rotaryEmbedding(x, positionIds, cos, sin, { numHeads: H }), "y", "float32");
    const actual = await runModel(g.toBytes(), { x: float3d(q), position_ids: new ort.Tensor("int64", BigInt64Array.from(positions, BigInt), [B, S]) });
    expectClose(actual, ropeReference(q, positions, D, HD), 1e-5);
  });

  test("MultiHeadAttention (causal) matches the attention reference to 1e-5", async () => {
    const g = new GraphBuilder();
    const [qi, ki, vi] = ["q", "k", "v"].map((name) => g.input(name, "float32", ["batch", "seq", D]));
    g.output(g.multiHeadAttention(qi, ki, vi, { numHeads: H, causal: true }), "y", "float32");
    const actual = await runModel(g.toBytes(), { q: float3d(q), k: float3d(k), v: float3d(v) });
    expectClose(actual, attentionReference(q, k, v, B, S, H, HD, true), 1e-5);
  });

  test("GroupQueryAttention with rotary and an empty cache matches RoPE + causal attention to 1e-5", async () => {
    const [heads, headDim] = [2, 16]; // the CPU kernel needs head_size % 16 == 0
    const width = heads * headDim;
    const [gq, gk, gv] = [66, 67, 68].map((seed) => randomArray(seed, B * S * width));
    const g = new GraphBuilder();
    const [qi, ki, vi] = ["q", "k", "v"].map((name) => g.input(name, "float32", ["batch", "seq", width]));
    const [pastKey, pastValue] = ["past_key", "past_value"].map((name) => g.input(name, "float32", ["batch", heads, "past", headDim]));
    const seqlensK = g.input("seqlens_k", "int32", ["batch"]);
    const total = g.input("total_sequence_length", "int32", []);
    const [cosCache, sinCache] = rotaryCaches(g, headDim, 16);
    const rotary = { cosCache, sinCache };
    const [output] = g.groupQueryAttention(qi, ki, vi, pastKey, pastValue, seqlensK, total, { numHeads: heads, kvNumHeads: heads, rotary });
    g.output(output, "y", "float32");
    const emptyCache = new ort.Tensor("float32", new Float32Array(0), [B, heads, 0, headDim]);
    const tensor = (data: Float32Array) => new ort.Tensor("float32", data, [B, S, width]);
    const actual = await runModel(g.toBytes(), {
      q: tensor(gq),
      k: tensor(gk),
      v: tensor(gv),
      past_key: emptyCache,
      past_value: emptyCache,
      seqlens_k: new ort.Tensor("int32", Int32Array.of(S - 1, S - 1), [B]),
      total_sequence_length: new ort.Tensor("int32", Int32Array.of(S), []),
    });
    const rope = (t: Float32Array) => ropeReference(t, positions, width, headDim);
    expectClose(actual, attentionReference(rope(gq), rope(gk), gv, B, S, heads, headDim, true), 1e-5);
  });

  test("SkipLayerNormalization matches LayerNorm(x + skip) to 1e-5", async () => {
    const gamma = randomArray(64, D);
    const beta = randomArray(65, D);
    const g = new GraphBuilder();
    const [x, skip] = ["x", "skip"].map((name) => g.input(name, "float32", ["batch", "seq", D]));
    const [normed, sum] = g.skipLayerNorm(x, skip, g.weight("gamma", [D], gamma), g.weight("beta", [D], beta), 1e-5);
    g.output(g.concat([normed, sum], -1), "y", "float32");
    const actual = await runModel(g.toBytes(), { x: float3d(q), skip: float3d(k) });
    const added = q.map((value, i) => value + k[i]);
    const normedReference = layerNorm(added, D, gamma, beta, 1e-5);
    const expected = Array.from({ length: B * S }, (_, row) => [...normedReference.subarray(row * D, (row + 1) * D), ...added.subarray(row * D, (row + 1) * D)]).flat();
    expectClose(actual, expected, 1e-5);
  });
});
