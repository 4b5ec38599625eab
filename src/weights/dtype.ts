import { float16Table, halfFromFloatBits } from "../graph/float16.ts";

/** Element types a checkpoint may store, named as in the safetensors format. */
export type DType = "F64" | "F32" | "F16" | "BF16" | "I64" | "I32" | "I16" | "I8" | "U8" | "BOOL";

/** A tensor's elements as stored: half floats (F16 and BF16) as raw Uint16 bits, BOOL as 0/1 bytes. */
export type NativeArray =
  | Float64Array
  | Float32Array
  | Uint16Array
  | BigInt64Array
  | Int32Array
  | Int16Array
  | Int8Array
  | Uint8Array;

const nativeConstructors = {
  F64: Float64Array,
  F32: Float32Array,
  F16: Uint16Array,
  BF16: Uint16Array,
  I64: BigInt64Array,
  I32: Int32Array,
  I16: Int16Array,
  I8: Int8Array,
  U8: Uint8Array,
  BOOL: Uint8Array,
} as const;

export const dtypeBytes: Readonly<Record<DType, number>> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
};

export function isDType(name: string): name is DType {
  return Object.hasOwn(dtypeBytes, name);
}

/** Allocates a native array of `count` elements on a fresh (so aligned) buffer. */
export function allocNative(dtype: DType, count: number): NativeArray {
  return new nativeConstructors[dtype](count);
}

/** Views `bytes` as elements of `dtype`; `bytes.byteOffset` must be a multiple of the element size. */
export function viewNative(dtype: DType, bytes: Uint8Array): NativeArray {
  return new nativeConstructors[dtype](bytes.buffer as ArrayBuffer, bytes.byteOffset, bytes.byteLength / dtypeBytes[dtype]);
}

export function bytesOf(array: ArrayBufferView): Uint8Array {
  return new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
}

/** Converts contiguous raw elements of `dtype` into `out` starting at `outOffset`. `raw` must be aligned. */
export function convertToFloat32(dtype: DType, raw: Uint8Array, out: Float32Array, outOffset: number): void {
  const count = raw.byteLength / dtypeBytes[dtype];
  if (dtype === "BF16") {
    const src = new Uint16Array(raw.buffer, raw.byteOffset, count);
    const dst = new Uint32Array(out.buffer, out.byteOffset + outOffset * 4, count);
    for (let i = 0; i < count; i++) dst[i] = src[i] << 16;
  } else if (dtype === "F16") {
    const table = float16Table();
    const src = new Uint16Array(raw.buffer, raw.byteOffset, count);
    for (let i = 0; i < count; i++) out[outOffset + i] = table[src[i]];
  } else if (dtype === "I64") {
    const src = new BigInt64Array(raw.buffer, raw.byteOffset, count);
    for (let i = 0; i < count; i++) out[outOffset + i] = Number(src[i]);
  } else {
    out.set(viewNative(dtype, raw) as Exclude<NativeArray, BigInt64Array>, outOffset);
  }
}

/** Converts contiguous raw elements to binary16 bits. F64 and integers pass through float32 first (double rounding). */
export function convertToFloat16(dtype: DType, raw: Uint8Array, out: Uint16Array, outOffset: number): void {
  const count = raw.byteLength / dtypeBytes[dtype];
  if (dtype === "F16") {
    out.set(new Uint16Array(raw.buffer, raw.byteOffset, count), outOffset);
    return;
  }
  let bits: Uint32Array;
  if (dtype === "F32") bits = new Uint32Array(raw.buffer, raw.byteOffset, count);
  else {
    const f32 = new Float32Array(count);
    convertToFloat32(dtype, raw, f32, 0);
    bits = new Uint32Array(f32.buffer);
  }
  for (let i = 0; i < count; i++) out[outOffset + i] = halfFromFloatBits(bits[i]);
}
