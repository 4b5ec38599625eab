import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { LlamaConfig } from "../src/models/llama-config.ts";
import { KvCache, LlamaDecoder } from "../src/models/llama-runner.ts";
import { syntheticLlamaWeights } from "../src/models/llama-synthetic.ts";
import { buildLlamaGraph } from "../src/models/llama.ts";
import type { WeightSource } from "../src/weights/index.ts";
import { expectWithin } from "./helpers/tolerance.ts";

// Grouped-query attention (2 query heads per key/value head) and more positions than one buffer step of 64.
const CONFIG: LlamaConfig = {
  hiddenSize: 64,
  numHeads: 4,
  numKvHeads: 2,
  headDim: 16,
  numLayers: 2,
  intermediateSize: 96,
  vocabSize: 40,
  logitsSize: 40,
  rmsNormEps: 1e-6,
  ropeTheta: 10000,
};
const PROMPT = 50;
const STEPS = 40;

const embeds = Float32Array.from({ length: (PROMPT + STEPS) * CONFIG.hiddenSize }, (_, i) => Math.sin(i * 0.731) * 0.8);
const row = (data: Float32Array, width: number, i: number) => data.subarray(i * width, (i + 1) * width);

/** lm_head · hidden in float64, independent of the graph. */
function logitsOf(weights: WeightSource, hidden: Float32Array): Float32Array {
  const head = weights.read("lm_head.weight");
  const { logitsSize, hiddenSize } = CONFIG;
  return Float32Array.from({ length: logitsSize }, (_, v) => {
    let sum = 0;
    for (let k = 0; k < hiddenSize; k++) sum += head[v * hiddenSize + k] * hidden[k];
    return sum;
  });
}

for (const attention of ["plain", "gqa"] as const) {
  describe(`LLaMA KV cache buffers (${attention} attention)`, () => {
    const weights = syntheticLlamaWeights(CONFIG);
    let decoder: LlamaDecoder;
    let full: Float32Array;
    beforeAll(async () => {
      decoder = await LlamaDecoder.create(buildLlamaGraph(weights, CONFIG, { attention }).toBytes(), CONFIG, { device: "cpu", attention });
      full = (await decoder.forward(embeds)).hidden;
    });
    afterAll(() => decoder.release());

    test("prefill then one position per step, growing the buffers, equals one pass over the whole sequence", async () => {
      const prefill = await decoder.forward(embeds.subarray(0, PROMPT * CONFIG.hiddenSize));
      let cache = prefill.present;
      expect([cache.length, cache.capacity]).toEqual([PROMPT, 64]);
      for (let i = PROMPT; i < PROMPT + STEPS; i++) {
        const step = await decoder.forward(row(embeds, CONFIG.hiddenSize, i), cache);
        expectWithin(step.hidden, row(full, CONFIG.hiddenSize, i), undefined, `position ${i}`);
        expectWithin(step.logits, logitsOf(weights, step.hidden), undefined, `logits at ${i}`);
        cache = step.present;
      }
      expect([cache.length, cache.capacity]).toEqual([PROMPT + STEPS, 128]);
    });

    test("a cache stays a valid prefix after a longer one was extended from it", async () => {
      const prefix = (await decoder.forward(embeds.subarray(0, PROMPT * CONFIG.hiddenSize))).present;
      await decoder.forward(embeds.subarray(PROMPT * CONFIG.hiddenSize, (PROMPT + 3) * CONFIG.hiddenSize), prefix);
      const again = await decoder.forward(row(embeds, CONFIG.hiddenSize, PROMPT), prefix);
      expectWithin(again.hidden, row(full, CONFIG.hiddenSize, PROMPT));
    });

    test("lm_head runs on the requested rows only, negative rows counting from the end", async () => {
      const seq = 6;
      const step = await decoder.forward(embeds.subarray(0, seq * CONFIG.hiddenSize), KvCache.empty(CONFIG), { logitRows: [0, -1, 3] });
      expect(step.logits.length).toBe(3 * CONFIG.logitsSize);
      [0, seq - 1, 3].forEach((position, i) => {
        expectWithin(row(step.logits, CONFIG.logitsSize, i), logitsOf(weights, row(step.hidden, CONFIG.hiddenSize, position)));
      });
      expect((await decoder.forward(embeds.subarray(0, seq * CONFIG.hiddenSize), undefined, { logitRows: [] })).logits.length).toBe(0);
    });
  });
}
