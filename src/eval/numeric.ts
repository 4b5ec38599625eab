/** Small numpy look-alikes, so sums and arg-maxima land on the same floats as the official Python. */

function pairwiseSum(values: ArrayLike<number>, start: number, n: number): number {
  if (n < 8) {
    let sum = 0;
    for (let i = start; i < start + n; i++) sum += values[i];
    return sum;
  }
  if (n <= 128) {
    const r = [0, 0, 0, 0, 0, 0, 0, 0];
    for (let j = 0; j < 8; j++) r[j] = values[start + j];
    let i = 8;
    for (; i < n - (n % 8); i += 8) for (let j = 0; j < 8; j++) r[j] += values[start + i + j];
    let sum = r[0] + r[1] + (r[2] + r[3]) + (r[4] + r[5] + (r[6] + r[7]));
    for (; i < n; i++) sum += values[start + i];
    return sum;
  }
  let half = Math.floor(n / 2);
  half -= half % 8;
  return pairwiseSum(values, start, half) + pairwiseSum(values, start + half, n - half);
}

/** np.sum of a float64 vector: first element, then numpy's pairwise sum of the rest. */
export function npSum(values: ArrayLike<number>): number {
  if (values.length === 0) return 0;
  return values[0] + pairwiseSum(values, 1, values.length - 1);
}

/** np.mean; NaN for an empty vector, as numpy gives. */
export function npMean(values: ArrayLike<number>): number {
  return npSum(values) / values.length;
}

/** np.argmax over a row-major matrix: first maximum, and the first NaN wins outright. */
export function npArgmax(matrix: readonly (readonly number[])[]): [number, number] {
  let best: [number, number] = [0, 0];
  let bestValue = -Infinity;
  for (let i = 0; i < matrix.length; i++) {
    for (let j = 0; j < matrix[i].length; j++) {
      const value = matrix[i][j];
      if (Number.isNaN(value)) return [i, j];
      if (value > bestValue) {
        bestValue = value;
        best = [i, j];
      }
    }
  }
  return best;
}

/** np.max of a matrix (NaN propagates). */
export function npMax(matrix: readonly (readonly number[])[]): number {
  let max = -Infinity;
  for (const row of matrix) for (const value of row) {
    if (Number.isNaN(value)) return NaN;
    if (value > max) max = value;
  }
  return max;
}

/** Python-style ordering of ids: numbers numerically, strings by code point. */
export function compareIds(a: string | number, b: string | number): number {
  if (typeof a === "number" && typeof b === "number") return a - b;
  const sa = String(a);
  const sb = String(b);
  return sa < sb ? -1 : sa > sb ? 1 : 0;
}
