import { modelError } from "../cli/errors.ts";
import { float32ToFloat16 } from "../graph/float16.ts";
import type { NativeArray, ReadAs, TensorInfo, WeightSource } from "./index.ts";

/**
 * A checkpoint of the given tensor shapes with made-up values, generated on every read (nothing is held in memory):
 * 1-D `.weight`s 1, `.bias`es 0, everything else uniform in ±1/√fan_in from an LCG seeded by the tensor's name, so
 * layers of one shape get distinct weights (shared ones would flatter cache-bound benchmarks).
 */
export class RandomWeights implements WeightSource {
  constructor(private readonly shapes: ReadonlyMap<string, readonly number[]>) {}

  keys = (): string[] => [...this.shapes.keys()];
  has = (name: string): boolean => this.shapes.has(name);
  info = (name: string): TensorInfo => ({ dtype: "F32", shape: this.shapeOf(name) });
  close(): void {}

  read(name: string, as?: "float32"): Float32Array;
  read(name: string, as: "float16"): Uint16Array;
  read(name: string, as: ReadAs): NativeArray;
  read(name: string, as: ReadAs = "float32"): NativeArray {
    const shape = this.shapeOf(name);
    const values = new Float32Array(shape.reduce((a, b) => a * b, 1));
    if (name.endsWith(".weight") && shape.length === 1) values.fill(1);
    else if (!name.endsWith(".bias")) {
      const bound = 1 / Math.sqrt(values.length / shape[0]);
      let state = seedOf(name, values.length);
      for (let i = 0; i < values.length; i++) {
        state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
        values[i] = (state / 2 ** 32 - 0.5) * 2 * bound;
      }
    }
    return as === "float16" ? float32ToFloat16(values) : values;
  }

  private shapeOf(name: string): readonly number[] {
    const shape = this.shapes.get(name);
    if (!shape) throw modelError(`random checkpoint has no tensor ${name}`);
    return shape;
  }
}

/** FNV-1a of the name, mixed with the element count. */
function seedOf(name: string, count: number): number {
  let hash = 2166136261;
  for (let i = 0; i < name.length; i++) hash = Math.imul(hash ^ name.charCodeAt(i), 16777619);
  return (hash ^ Math.imul(count, 2654435761)) >>> 0;
}
