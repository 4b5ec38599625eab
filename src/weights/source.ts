import { modelError } from "../cli/errors.ts";
import type { DType, NativeArray } from "./dtype.ts";
import type { RandomAccessFile } from "./file.ts";
import { type ReadAs, readTensor, type StoredTensor } from "./tensor.ts";

export type { ReadAs };

export interface TensorInfo {
  readonly dtype: DType;
  readonly shape: readonly number[];
}

/** Named tensors of a checkpoint, read one at a time on demand. Model builders use only this. */
export interface WeightSource {
  /** Tensor names in checkpoint order. */
  keys(): string[];
  has(name: string): boolean;
  info(name: string): TensorInfo;
  /** Elements in C order: "float32" (default), "float16" as binary16 bits, or "native" as stored. */
  read(name: string, as?: "float32"): Float32Array;
  read(name: string, as: "float16"): Uint16Array;
  read(name: string, as: ReadAs): NativeArray;
  close(): void;
}

/** A WeightSource over tensors located in already opened files (one file, or every shard). */
export class TensorTable implements WeightSource {
  constructor(
    private readonly description: string,
    private readonly tensors: ReadonlyMap<string, StoredTensor>,
    private readonly files: readonly RandomAccessFile[],
  ) {}

  keys(): string[] {
    return [...this.tensors.keys()];
  }

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  info(name: string): TensorInfo {
    const { dtype, shape } = this.get(name);
    return { dtype, shape };
  }

  read(name: string, as?: "float32"): Float32Array;
  read(name: string, as: "float16"): Uint16Array;
  read(name: string, as: ReadAs): NativeArray;
  read(name: string, as: ReadAs = "float32"): NativeArray {
    return readTensor(this.get(name), as);
  }

  close(): void {
    for (const file of this.files) file.close();
  }

  private get(name: string): StoredTensor {
    const tensor = this.tensors.get(name);
    if (!tensor) throw modelError(`${this.description} has no tensor named ${name}`);
    return tensor;
  }
}
