import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { interpolateRelPos, relPosIndices } from "../src/models/sam-encoder.ts";

interface RelPosCase {
  length: number;
  width: number;
  q_size: number;
  k_size: number;
  rel_pos: number[];
  resized: number[];
  indices: number[];
}

// torch's get_rel_pos results (test/fixtures/sam/make_fixtures.py).
const cases: RelPosCase[] = JSON.parse(readFileSync(new URL("fixtures/sam/relpos.json", import.meta.url), "utf8"));

describe("segment-anything get_rel_pos", () => {
  for (const c of cases) {
    const label = `table of ${c.length} rows, q ${c.q_size}, k ${c.k_size}`;

    test(`${label}: resampled table matches F.interpolate(linear)`, () => {
      const target = 2 * Math.max(c.q_size, c.k_size) - 1;
      const resized = target === c.length ? Float32Array.from(c.rel_pos) : interpolateRelPos(Float32Array.from(c.rel_pos), c.length, c.width, target);
      expect(resized.length).toBe(c.resized.length);
      // torch interpolates in float32.
      resized.forEach((value, i) => expect(Math.abs(value - c.resized[i])).toBeLessThan(1e-5));
    });

    test(`${label}: relative indices`, () => {
      expect(relPosIndices(c.q_size, c.k_size)).toEqual(c.indices);
    });
  }
});
