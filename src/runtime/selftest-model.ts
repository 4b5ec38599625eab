import { GraphBuilder } from "../graph/builder.ts";

// y = x·W + b with small integer-valued weights, so the expected output is exact in float32.
const rows = 2;
const inner = 3;
const cols = 4;
const weight = Float32Array.from({ length: inner * cols }, (_, i) => (i % 5) - 2);
const bias = Float32Array.from({ length: cols }, (_, i) => i * 0.5);

export function buildSelfTestModel(): Uint8Array {
  const g = new GraphBuilder({ name: "glamm_selftest" });
  const x = g.input("x", "float32", [rows, inner]);
  const y = g.add(g.matMul(x, g.weight("w", [inner, cols], weight)), g.weight("b", [cols], bias));
  g.output(y, "y", "float32", [rows, cols]);
  return g.toBytes();
}

export function selfTestInput(): { data: Float32Array; dims: number[] } {
  return { data: Float32Array.from({ length: rows * inner }, (_, i) => i - 1), dims: [rows, inner] };
}

/** The same product computed by hand. */
export function selfTestExpected(x: Float32Array): Float32Array {
  const y = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++)
    for (let c = 0; c < cols; c++) {
      let sum = bias[c];
      for (let k = 0; k < inner; k++) sum += x[r * inner + k] * weight[k * cols + c];
      y[r * cols + c] = sum;
    }
  return y;
}
