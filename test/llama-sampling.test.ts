import { describe, expect, test } from "bun:test";
import { argmax, sampleToken, samplingDistribution } from "../src/pipeline/generate.ts";
import { seededRandom } from "../src/util/random.ts";

const logits = Float32Array.from([2, 1, 0, 3]);
const softmax = (values: number[]) => values.map((v) => Math.exp(v) / values.reduce((s, w) => s + Math.exp(w), 0));

describe("token choice", () => {
  test("argmax takes the first of equal maxima", () => {
    expect(argmax(Float32Array.from([1, 4, 4, 2]))).toBe(1);
  });

  test("temperature divides the logits before the softmax", () => {
    const distribution = samplingDistribution(logits, { temperature: 2 });
    const expected = softmax([3 / 2, 2 / 2, 1 / 2, 0]);
    expect(distribution.map(([token]) => token)).toEqual([3, 0, 1, 2]);
    distribution.forEach(([, p], i) => expect(p).toBeCloseTo(expected[i], 12));
  });

  test("top-k keeps the k largest; top-p the smallest prefix reaching p (transformers' TopPLogitsWarper)", () => {
    const topK = samplingDistribution(logits, { topK: 2 });
    const twoLargest = softmax([3, 2]);
    expect(topK.map(([token]) => token)).toEqual([3, 0]);
    topK.forEach(([, p], i) => expect(p).toBeCloseTo(twoLargest[i], 12));
    // Probabilities 0.644, 0.237, 0.087, 0.032: 0.644 < 0.7, so the second token is kept as well.
    expect(samplingDistribution(logits, { topP: 0.7 }).map(([token]) => token)).toEqual([3, 0]);
    expect(samplingDistribution(logits, { topP: 0.5 }).map(([token]) => token)).toEqual([3]);
  });

  test("seeded sampling follows the distribution", () => {
    const random = seededRandom(7);
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < 20000; i++) counts[sampleToken(logits, {}, random)]++;
    softmax([2, 1, 0, 3]).forEach((p, token) => expect(Math.abs(counts[token] / 20000 - p)).toBeLessThan(0.015));
  });
});
