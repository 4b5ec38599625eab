import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { GlammError } from "../src/cli/errors.ts";
import { GraphBuilder } from "../src/graph/builder.ts";
import { decodeModel } from "../src/graph/onnx-proto.ts";
import { addRowVector, expectClose, matmul, randomArray, runModel } from "./graph-reference.ts";

const dir = mkdtempSync(join(tmpdir(), "glamm-graph-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const [K, N] = [64, 48];
const w = randomArray(51, K * N);
const bias = randomArray(52, N);
const x = randomArray(53, 2 * K);

/** x·W + b with W produced lazily (asynchronously) at save time, plus a small inline constant. */
function linearModel(produced: string[]): GraphBuilder {
  const g = new GraphBuilder();
  const input = g.input("x", "float32", ["batch", K]);
  const weight = g.weight("w", [K, N], async () => {
    produced.push("w");
    return w;
  });
  g.output(g.mul(g.linear(input, weight, g.weight("b", [N], bias)), g.scalar(2)), "y", "float32", ["batch", N]);
  return g;
}

describe("save with external data", () => {
  test("large initializers go to path.data at aligned offsets; onnxruntime loads the pair from the path", async () => {
    const produced: string[] = [];
    const g = linearModel(produced);
    expect(produced).toEqual([]); // nothing produced before saving
    const path = join(dir, "linear.onnx");
    await g.save(path, { externalThreshold: 128, alignment: 4096 });
    expect(produced).toEqual(["w"]);

    const model = decodeModel(readFileSync(path));
    const byName = new Map(model.graph.initializer.map((t) => [t.name, t]));
    const external = (name: string) => Object.fromEntries((byName.get(name)?.external_data ?? []).map((e) => [e.key, e.value]));
    expect(external("w")).toEqual({ location: "linear.onnx.data", offset: "0", length: String(K * N * 4) });
    expect(external("b")).toEqual({ location: "linear.onnx.data", offset: "12288", length: String(N * 4) });
    expect(byName.get("w")?.data_location).toBe(1);
    expect(byName.get("const")?.raw_data?.byteLength).toBe(4); // the scalar 2 stays inline
    expect(statSync(`${path}.data`).size).toBe(12288 + N * 4);
    expect(Array.from(new Float32Array(Uint8Array.from(readFileSync(`${path}.data`).subarray(0, K * N * 4)).buffer))).toEqual(Array.from(w));

    const expected = addRowVector(matmul(x, w, 2, K, N), bias).map((v) => 2 * v);
    expectClose(await runModel(path, { x: new ort.Tensor("float32", x, [2, K]) }), expected, 1e-5);
  });

  test("a model with only small initializers writes no data file", async () => {
    const g = new GraphBuilder();
    g.output(g.add(g.input("x", "float32", [2]), g.floats([1, 2])), "y", "float32", [2]);
    const path = join(dir, "small.onnx");
    await g.save(path);
    expect(() => statSync(`${path}.data`)).toThrow();
    expect(Array.from(await runModel(path, { x: new ort.Tensor("float32", Float32Array.of(1, 1), [2]) }))).toEqual([2, 3]);
  });

  test("data that does not fill its shape fails with a model error and leaves no files", async () => {
    const g = new GraphBuilder();
    const weight = g.weight("w", [4, 4], () => new Float32Array(15));
    g.output(g.matMul(g.input("x", "float32", [1, 4]), weight), "y", "float32", [1, 4]);
    const path = join(dir, "bad.onnx");
    const error = await g.save(path).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GlammError);
    expect((error as GlammError).exitCode).toBe(3);
    expect((error as GlammError).message).toContain("15 values do not fill shape [4, 4]");
    expect(() => statSync(path)).toThrow();
    expect(() => statSync(`${path}.data`)).toThrow();
  });

  test("toBytes refuses asynchronously produced weights", () => {
    expect(() => linearModel([]).toBytes()).toThrow(/asynchronously/);
  });

  test("wrong typed array for the element type is rejected when added", () => {
    const g = new GraphBuilder();
    expect(() => g.initializer("t", "int64", [2], new Int32Array(2))).toThrow(/does not hold int64/);
  });
});

describe("names and opsets", () => {
  test("scoped names are unique, constants shared, com.microsoft imported only when used", () => {
    const g = new GraphBuilder();
    const x = g.input("x", "float32", [1]);
    const a = g.scope("layer.0", () => g.add(x, g.scalar(1)));
    const b = g.scope("layer.0", () => g.add(a, g.scalar(1)));
    expect([a, b]).toEqual(["layer.0/Add_out", "layer.0/Add_1_out"]);
    g.output(b, "y", "float32", [1]);
    const plain = decodeModel(g.toBytes());
    expect(plain.graph.initializer.length).toBe(1);
    expect(plain.opset_import).toEqual([{ domain: "", version: 17 }]);
    expect(plain.ir_version).toBe(8);
    g.output(g.gelu(x, { contrib: true }), "z", "float32", [1]);
    expect(decodeModel(g.toBytes()).opset_import).toEqual([
      { domain: "", version: 17 },
      { domain: "com.microsoft", version: 1 },
    ]);
  });

  test("reductions put axes where the opset wants them", async () => {
    for (const opset of [17, 18]) {
      const g = new GraphBuilder({ opset });
      const x = g.input("x", "float32", [2, 3]);
      g.output(g.reduceMean(x, [1], false), "y", "float32", [2]);
      const y = await runModel(g.toBytes(), { x: new ort.Tensor("float32", Float32Array.of(1, 2, 3, 4, 5, 9), [2, 3]) });
      expect(Array.from(y)).toEqual([2, 6]);
    }
  });
});
