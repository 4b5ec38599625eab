import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { type NativeArray, openWeights, type WeightSource } from "../src/weights/index.ts";

const FIXTURES = join(import.meta.dir, "fixtures/weights");

interface Expected {
  dtype: string;
  shape: number[];
  native: (number | string)[];
  f32_bits: number[];
  f16_bits?: number[];
}
const expected: Record<string, Record<string, Expected>> = JSON.parse(readFileSync(join(FIXTURES, "expected.json"), "utf8"));

const isHalfNaN = (h: number) => (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;

/** Index of the first element where `actual` differs, or -1; reported so a failure names the element. */
function firstMismatch(actual: ArrayLike<number | bigint>, wanted: (number | string)[], same = (a: number, b: number) => a === b): number {
  if (actual.length !== wanted.length) return Math.min(actual.length, wanted.length);
  for (let i = 0; i < wanted.length; i++) {
    const a = actual[i];
    const ok = typeof a === "bigint" ? a === BigInt(wanted[i]) : same(a, Number(wanted[i]));
    if (!ok) return i;
  }
  return -1;
}

function nativeBits(array: NativeArray): ArrayLike<number | bigint> {
  return array instanceof Float32Array ? new Uint32Array(array.buffer, array.byteOffset, array.length) : array;
}

function checkAgainstExpected(weights: WeightSource, want: Record<string, Expected>): void {
  expect(weights.keys()).toEqual(Object.keys(want));
  for (const [name, tensor] of Object.entries(want)) {
    expect(weights.has(name)).toBe(true);
    expect({ name, ...weights.info(name) }).toEqual({ name, dtype: tensor.dtype as never, shape: tensor.shape });
    expect({ name, native: firstMismatch(nativeBits(weights.read(name, "native")), tensor.native) }).toEqual({ name, native: -1 });
    const f32 = weights.read(name);
    expect({ name, f32: firstMismatch(new Uint32Array(f32.buffer, f32.byteOffset, f32.length), tensor.f32_bits) }).toEqual({ name, f32: -1 });
    if (tensor.f16_bits) {
      const sameHalf = (a: number, b: number) => a === b || (isHalfNaN(a) && isHalfNaN(b));
      expect({ name, f16: firstMismatch(weights.read(name, "float16"), tensor.f16_bits, sameHalf) }).toEqual({ name, f16: -1 });
    }
  }
}

describe("openWeights reads every fixture exactly as torch/numpy describe it", () => {
  const cases: [string, string][] = [
    ["dtypes.bin", "torch zip, every dtype, OrderedDict state dict with _metadata (BUILD)"],
    ["views.bin", "non-contiguous views, storage offsets, stride 0, shared storages"],
    ["parameters.pth", "nn.Parameter values (_rebuild_parameter)"],
    ["zip64.bin", "ZIP64 end records and ZIP64 extra fields"],
    ["deflated_pickle.bin", "deflate-compressed data.pkl and a byteorder record"],
    ["dtypes.safetensors", "hand-written safetensors, every dtype"],
    ["sharded_bin", "directory with pytorch_model.bin.index.json and two shards"],
    ["sharded_safetensors", "directory with model.safetensors.index.json and two shards"],
    ["single_dir", "directory holding one .pth file"],
  ];
  for (const [fixture, what] of cases) {
    test(`${fixture}: ${what}`, () => {
      const weights = openWeights(join(FIXTURES, fixture));
      try {
        checkAgainstExpected(weights, expected[fixture]);
      } finally {
        weights.close();
      }
    });
  }

  test("an index.json path opens the shards it lists", () => {
    const weights = openWeights(join(FIXTURES, "sharded_bin/pytorch_model.bin.index.json"));
    checkAgainstExpected(weights, expected.sharded_bin);
    weights.close();
  });
});

describe("WeightSource behaviour", () => {
  test("reading an unknown tensor names it", () => {
    const weights = openWeights(join(FIXTURES, "dtypes.safetensors"));
    expect(weights.has("nope")).toBe(false);
    expect(() => weights.read("nope")).toThrow(/has no tensor named nope/);
    expect(() => weights.info("nope")).toThrow(/has no tensor named nope/);
    weights.close();
  });

  test("reading after close fails clearly instead of reading another file's descriptor", () => {
    const weights = openWeights(join(FIXTURES, "views.bin"));
    weights.close();
    expect(() => weights.read("base")).toThrow(/already closed/);
  });

  test("tensors sharing a storage read consistent values", () => {
    const weights = openWeights(join(FIXTURES, "views.bin"));
    const base = weights.read("base");
    const transposed = weights.read("transposed");
    for (let r = 0; r < 4; r++) for (let c = 0; c < 6; c++) expect(transposed[c * 4 + r]).toBe(base[r * 6 + c]);
    weights.close();
  });
});
