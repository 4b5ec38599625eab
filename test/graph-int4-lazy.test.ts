import { expect, test } from "bun:test";
import { GraphBuilder } from "../src/graph/builder.ts";
import { lazyInt4, quantizeInt4, type Int4Options } from "../src/graph/int4.ts";
import { randomArray } from "./graph-reference.ts";

function graphWith(weight: Parameters<GraphBuilder["matMulNBits"]>[1], floatType: "float32" | "float16"): GraphBuilder {
  const g = new GraphBuilder({ name: "int4", floatType });
  const x = g.input("x", "float32", [2, weight.k]);
  g.output(g.matMulNBits(x, weight, { name: "proj" }), "y", "float32", [2, weight.n]);
  return g;
}

for (const [label, options, floatType] of [
  ["symmetric, float32 scales", { layout: "NK" }, "float32"],
  ["asymmetric, float16 scales", { layout: "NK", asymmetric: true, blockSize: 16 }, "float16"],
] as [string, Int4Options, "float32" | "float16"][]) {
  test(`a lazy int4 weight (${label}) is quantized once, when written, into the same model as the eager one`, () => {
    const [k, n] = [48, 5];
    const weight = randomArray(7, k * n);
    let reads = 0;
    const lazy = graphWith(
      lazyInt4(k, n, options, () => {
        reads++;
        return weight;
      }),
      floatType,
    );
    expect(reads).toBe(0);
    const bytes = lazy.toBytes();
    expect(reads).toBe(1);
    expect(bytes).toEqual(graphWith(quantizeInt4(weight, k, n, options), floatType).toBytes());
  });
}
