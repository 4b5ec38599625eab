import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { dequantizeInt4, quantizeInt4 } from "../src/graph/int4.ts";
import type { LlamaConfig } from "../src/models/llama-config.ts";
import { buildLlamaGraph, type LlamaGraphOptions } from "../src/models/llama.ts";
import { LlamaDecoder } from "../src/models/llama-runner.ts";
import { syntheticLlamaWeights } from "../src/models/llama-synthetic.ts";
import { argmax } from "../src/pipeline/generate.ts";
import { generate, teacherForced } from "../src/pipeline/generate.ts";
import type { ReadAs, WeightSource } from "../src/weights/index.ts";
import { deviation, Oracle, oracleConfigs, skipWithoutOracle } from "./llama-oracle.ts";

const PROJECTION = /(proj\.weight|lm_head\.weight)$/;

/** The checkpoint with every projection replaced by the fp32 weight its 4-bit quantization stands for. */
function int4RoundTripped(weights: WeightSource): WeightSource {
  const read = (name: string): Float32Array => {
    const data = weights.read(name);
    if (!PROJECTION.test(name)) return data;
    const [n, k] = weights.info(name).shape;
    const kn = dequantizeInt4(quantizeInt4(data, k, n, { layout: "NK" }));
    const nk = new Float32Array(kn.length);
    for (let row = 0; row < k; row++) for (let col = 0; col < n; col++) nk[col * k + row] = kn[row * n + col];
    return nk;
  };
  return {
    keys: () => weights.keys(),
    has: (name) => weights.has(name),
    info: (name) => weights.info(name),
    read: ((name: string, as?: ReadAs) => (as === undefined || as === "float32" ? read(name) : weights.read(name, as))) as WeightSource["read"],
    close: () => weights.close(),
  };
}

skipWithoutOracle("LLaMA precision variants on the oracle");
for (const name of oracleConfigs) {
  describe(`LLaMA precision variants on oracle ${name}`, () => {
    let oracle: Oracle;
    const decoders: Record<string, LlamaDecoder> = {};
    beforeAll(async () => {
      oracle = new Oracle(name);
      decoders.fp32 = await oracle.decoder({ precision: "fp32" });
      decoders.fp16 = await oracle.decoder({ precision: "fp16" });
      decoders.int4 = await oracle.decoder({ precision: "int4" });
      decoders.int4Exact = await oracle.decoder({ precision: "int4", int4AccuracyLevel: 0 });
    });
    afterAll(async () => {
      for (const decoder of Object.values(decoders)) await decoder.release();
    });

    test("int4 at accuracy_level 0 (MatMulNBits) computes what fp32 computes with the dequantized weights", async () => {
      const bytes = buildLlamaGraph(int4RoundTripped(oracle.weights), oracle.config, { precision: "fp32" }).toBytes();
      const reference = await LlamaDecoder.create(bytes, oracle.config, { device: "cpu" });
      const sequence = oracle.sequence(oracle.casesOf("_tf")[0]);
      const expected = await teacherForced(reference, sequence, oracle.segTokenId);
      const actual = await teacherForced(decoders.int4Exact, sequence, oracle.segTokenId);
      await reference.release();
      const { error, tolerance } = deviation(actual.hiddenStates, expected.hiddenStates);
      expect(error).toBeLessThanOrEqual(tolerance);
    });

    test("fp16 stays near fp32; greedy-token agreement of fp16 and int4 with fp32 is reported", async () => {
      const agreement: Record<string, number[]> = { fp16: [], int4: [] };
      for (const caseName of oracle.casesOf("_gen")) {
        const options = { maxNewTokens: 16, eosTokenId: oracle.eosTokenId };
        const fp32 = await generate(decoders.fp32, oracle.table, oracle.sequence(caseName), options);
        for (const variant of ["fp16", "int4"] as const) {
          const result = await generate(decoders[variant], oracle.table, oracle.sequence(caseName), options);
          const firstDifference = result.tokens.findIndex((token, i) => token !== fp32.tokens[i]);
          agreement[variant].push(firstDifference === -1 ? result.tokens.length : firstDifference);
          if (variant === "fp16") expect(deviation(result.finalHiddenLast, fp32.finalHiddenLast).error).toBeLessThan(0.05);
        }
      }
      console.log(`${name}: greedy tokens equal to fp32 before the first difference (of 16) per case:`, JSON.stringify(agreement));
      expect(agreement.fp16.every((n) => n === 16)).toBe(true);
    });
  });
}

// A mid-size random decoder: 4 layers 512 wide, 2,000-token vocabulary.
const MID: LlamaConfig = {
  hiddenSize: 512,
  numHeads: 8,
  numKvHeads: 8,
  headDim: 64,
  numLayers: 4,
  intermediateSize: 1376,
  vocabSize: 2000,
  logitsSize: 2000,
  rmsNormEps: 1e-6,
  ropeTheta: 10000,
};

/**
 * The CPU default (int4, int8 activations at accuracy_level 4) against fp32 with the weights int4 stands for: random
 * weights are a worst case for 4-bit weights themselves (uniform values: fp32 and any int4 agree on about half the
 * greedy tokens), so the weights are held equal and what is pinned is the default's own arithmetic.
 */
describe("int4 default precision on a mid-size decoder", () => {
  const weights = int4RoundTripped(syntheticLlamaWeights(MID));
  const table = weights.read("model.embed_tokens.weight");
  const positions = 96;
  const embeds = new Float32Array(positions * MID.hiddenSize);
  for (let i = 0; i < positions; i++) {
    const token = (i * 37) % MID.vocabSize;
    embeds.set(table.subarray(token * MID.hiddenSize, (token + 1) * MID.hiddenSize), i * MID.hiddenSize);
  }
  const logitsOf = async (options: LlamaGraphOptions) => {
    const decoder = await LlamaDecoder.create(buildLlamaGraph(weights, MID, options).toBytes(), MID, { device: "cpu" });
    const { logits } = await decoder.forward(embeds, undefined, { logitRows: Array.from({ length: positions }, (_, i) => i) });
    await decoder.release();
    return logits;
  };

  test("picks fp32's greedy token at every position, logits within 0.1 of their spread", async () => {
    const [reference, actual] = [await logitsOf({ precision: "fp32" }), await logitsOf({ precision: "int4" })];
    for (let p = 0; p < positions; p++) {
      const expected = reference.subarray(p * MID.logitsSize, (p + 1) * MID.logitsSize);
      const got = actual.subarray(p * MID.logitsSize, (p + 1) * MID.logitsSize);
      expect(argmax(got), `position ${p}`).toBe(argmax(expected));
      const spread = Math.sqrt(expected.reduce((sum, v) => sum + v * v, 0) / expected.length);
      const worst = got.reduce((max, v, i) => Math.max(max, Math.abs(v - expected[i])), 0);
      expect(worst).toBeLessThan(0.1 * spread);
    }
  });
});
