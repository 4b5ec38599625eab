import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { BertPhraseEncoder, cosine } from "../src/eval/bert.ts";
import { parseBertConfig } from "../src/models/bert.ts";
import { readNpy } from "../src/output/npy.ts";

const BERT = "../shared/oracle-eval/bert-tiny-a";
const haveOracle = existsSync(`${BERT}/embeddings.npy`);
if (!haveOracle) console.warn(`skipping BERT oracle checks: ${BERT} is absent`);

describe("cosine", () => {
  test("matches hand-computed values", () => {
    expect(cosine([1, 0], [0, 1])).toBe(0);
    expect(cosine([3, 4], [4, 3])).toBeCloseTo(24 / 25, 15);
    expect(cosine([0, 0], [1, 2])).toBe(0);
  });
});

describe("BERT config", () => {
  const base = { model_type: "bert", hidden_size: 32, num_hidden_layers: 2, num_attention_heads: 4, intermediate_size: 64, max_position_embeddings: 512 };
  test("reads sizes and defaults layer_norm_eps to 1e-12", () => {
    expect(parseBertConfig(base, "c")).toEqual({ hidden: 32, numLayers: 2, numHeads: 4, intermediate: 64, layerNormEps: 1e-12, maxPositions: 512 });
  });
  test("rejects what the encoder does not implement", () => {
    expect(() => parseBertConfig({ ...base, hidden_act: "relu" }, "c")).toThrow(/hidden_act/);
    expect(() => parseBertConfig({ ...base, position_embedding_type: "relative_key" }, "c")).toThrow(/position_embedding_type/);
    expect(() => parseBertConfig({ ...base, num_attention_heads: 5 }, "c")).toThrow(/divisible/);
    expect(() => parseBertConfig({ ...base, hidden_size: "32" }, "c")).toThrow(/hidden_size/);
  });
});

describe.if(haveOracle)("BERT phrase similarity matches transformers on the bert-tiny-a oracle", () => {
  let encoder: BertPhraseEncoder;
  const index = haveOracle ? JSON.parse(readFileSync(`${BERT}/index.json`, "utf8")) : { phrases: [] };
  const phrases: { phrase: string; input_ids: number[] }[] = index.phrases;
  beforeAll(async () => {
    encoder = await BertPhraseEncoder.load(BERT);
  });
  afterAll(() => encoder?.close());

  test("input ids equal the official tokenizer's", () => {
    for (const { phrase, input_ids } of phrases) expect(encoder.inputIds(phrase)).toEqual(input_ids);
  });

  test("embeddings and cosine matrix within 1e-5", async () => {
    const want = readNpy(`${BERT}/embeddings.npy`);
    const hidden = want.shape[1];
    expect(want.shape[0]).toBe(phrases.length);
    let maxEmbeddingError = 0;
    for (const [i, { phrase }] of phrases.entries()) {
      const got = await encoder.embed(phrase);
      expect(got.length).toBe(hidden);
      for (let d = 0; d < hidden; d++) maxEmbeddingError = Math.max(maxEmbeddingError, Math.abs(got[d] - Number(want.data[i * hidden + d])));
    }
    const texts = phrases.map((p) => p.phrase);
    const sims = await encoder.similarity(texts, texts);
    const wantCos = readNpy(`${BERT}/cosine.npy`);
    let maxCosineError = 0;
    sims.forEach((row, i) => row.forEach((s, j) => (maxCosineError = Math.max(maxCosineError, Math.abs(s - Number(wantCos.data[i * texts.length + j]))))));
    console.log(`bert-tiny-a: max |embedding error| ${maxEmbeddingError.toExponential(2)}, max |cosine error| ${maxCosineError.toExponential(2)}`);
    expect(maxEmbeddingError).toBeLessThan(1e-5);
    expect(maxCosineError).toBeLessThan(1e-5);
  });
});
