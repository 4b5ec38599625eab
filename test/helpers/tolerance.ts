import { expect } from "bun:test";

/** The trace contract's float check: |actual[pick(i)] − ref[i]| ≤ 1e-4·(1 + max|ref|) for every reference element. */
export function expectWithin(actual: ArrayLike<number>, ref: ArrayLike<number>, pick: (i: number) => number = (i) => i, label = ""): void {
  let maxRef = 0;
  let worst = 0;
  for (let i = 0; i < ref.length; i++) {
    maxRef = Math.max(maxRef, Math.abs(ref[i]));
    worst = Math.max(worst, Math.abs(actual[pick(i)] - ref[i]));
  }
  expect(worst, label).toBeLessThanOrEqual(1e-4 * (1 + maxRef));
}
