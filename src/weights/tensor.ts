import { modelError } from "../cli/errors.ts";
import {
  allocNative,
  bytesOf,
  convertToFloat16,
  convertToFloat32,
  type DType,
  dtypeBytes,
  type NativeArray,
  viewNative,
} from "./dtype.ts";
import type { RandomAccessFile } from "./file.ts";

export type ReadAs = "float32" | "float16" | "native";

/** Where a tensor's elements lie in a file: a strided view into a storage, as torch describes tensors. */
export interface StoredTensor {
  readonly dtype: DType;
  readonly shape: readonly number[];
  /** Element strides; C-contiguous for safetensors. */
  readonly strides: readonly number[];
  readonly file: RandomAccessFile;
  /** File offset of the storage's first byte. */
  readonly storageByteOffset: number;
  /** Storage length in elements of `dtype`. */
  readonly storageElements: number;
  /** The view's first element, counted in elements from the storage start. */
  readonly elementOffset: number;
}

/** Elements read per chunk while converting, so a conversion never holds a second full copy of a tensor. */
const CHUNK_BYTES = 16 << 20;

export function elementCount(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function isContiguous(shape: readonly number[], strides: readonly number[]): boolean {
  let expected = 1;
  for (let dim = shape.length - 1; dim >= 0; dim--) {
    if (shape[dim] !== 1 && strides[dim] !== expected) return false;
    expected *= shape[dim];
  }
  return true;
}

/** Throws unless every element the view addresses lies inside its storage. */
export function checkTensorBounds(name: string, tensor: StoredTensor): void {
  const { shape, strides, elementOffset, storageElements } = tensor;
  const where = `${tensor.file.path}: tensor ${name}`;
  if (shape.length !== strides.length) throw modelError(`${where} has ${shape.length} dims but ${strides.length} strides`);
  const naturals = [...shape, ...strides, elementOffset];
  if (!naturals.every((n) => Number.isSafeInteger(n) && n >= 0)) {
    throw modelError(`${where} has an invalid shape, stride or offset (${JSON.stringify({ shape, strides, elementOffset })})`);
  }
  if (elementCount(shape) === 0) return;
  const last = shape.reduce((sum, size, dim) => sum + (size - 1) * strides[dim], elementOffset);
  if (last >= storageElements) {
    throw modelError(
      `${where} reaches element ${last} (storage offset ${elementOffset}) but its storage holds only ${storageElements} elements`,
    );
  }
}

export function readTensor(tensor: StoredTensor, as: "float32"): Float32Array;
export function readTensor(tensor: StoredTensor, as: "float16"): Uint16Array;
export function readTensor(tensor: StoredTensor, as: ReadAs): NativeArray;
export function readTensor(tensor: StoredTensor, as: ReadAs): NativeArray {
  const count = elementCount(tensor.shape);
  const size = dtypeBytes[tensor.dtype];
  if (!isContiguous(tensor.shape, tensor.strides)) return convertAll(tensor.dtype, gather(tensor, count), as);
  const start = tensor.storageByteOffset + tensor.elementOffset * size;
  const out = outputFor(tensor.dtype, count, as);
  if (as === "native" || isSameFloat(tensor.dtype, as)) {
    tensor.file.readInto(bytesOf(out), start);
    return out;
  }
  const chunkElements = Math.max(1, Math.floor(CHUNK_BYTES / size));
  const chunk = new Uint8Array(Math.min(count, chunkElements) * size);
  for (let done = 0; done < count; done += chunkElements) {
    const n = Math.min(chunkElements, count - done);
    const raw = chunk.subarray(0, n * size);
    tensor.file.readInto(raw, start + done * size);
    convertInto(tensor.dtype, raw, out, done, as);
  }
  return out;
}

function isSameFloat(dtype: DType, as: ReadAs): boolean {
  return (dtype === "F32" && as === "float32") || (dtype === "F16" && as === "float16");
}

function outputFor(dtype: DType, count: number, as: ReadAs): NativeArray {
  if (as === "float32") return new Float32Array(count);
  if (as === "float16") return new Uint16Array(count);
  return allocNative(dtype, count);
}

function convertInto(dtype: DType, raw: Uint8Array, out: NativeArray, outOffset: number, as: ReadAs): void {
  if (as === "float32") convertToFloat32(dtype, raw, out as Float32Array, outOffset);
  else if (as === "float16") convertToFloat16(dtype, raw, out as Uint16Array, outOffset);
  else bytesOf(out).set(raw, outOffset * dtypeBytes[dtype]);
}

function convertAll(dtype: DType, raw: Uint8Array, as: ReadAs): NativeArray {
  if (as === "native") return viewNative(dtype, raw);
  const out = outputFor(dtype, raw.byteLength / dtypeBytes[dtype], as);
  convertInto(dtype, raw, out, 0, as);
  return out;
}

/** Reads the span a strided view covers and copies its elements out in C order. */
function gather(tensor: StoredTensor, count: number): Uint8Array {
  const size = dtypeBytes[tensor.dtype];
  const out = new Uint8Array(count * size);
  if (count === 0) return out;
  const shape = tensor.shape.length ? tensor.shape : [1];
  const strides = tensor.strides.length ? tensor.strides : [1];
  const spanElements = 1 + shape.reduce((sum, n, dim) => sum + (n - 1) * strides[dim], 0);
  const span = tensor.file.read(tensor.storageByteOffset + tensor.elementOffset * size, spanElements * size);
  // Copy whole elements through an integer view of the element's width (8-byte elements as two words).
  const unit = Math.min(size, 4);
  const words = size / unit;
  const View = unit === 4 ? Uint32Array : unit === 2 ? Uint16Array : Uint8Array;
  const src = new View(span.buffer as ArrayBuffer);
  const dst = new View(out.buffer as ArrayBuffer);
  const last = shape.length - 1;
  const index = new Array<number>(shape.length).fill(0);
  let base = 0;
  let written = 0;
  while (written < count * words) {
    for (let i = 0; i < shape[last]; i++) {
      const from = (base + i * strides[last]) * words;
      for (let w = 0; w < words; w++) dst[written++] = src[from + w];
    }
    for (let dim = last - 1; dim >= 0; dim--) {
      base += strides[dim];
      if (++index[dim] < shape[dim]) break;
      base -= strides[dim] * shape[dim];
      index[dim] = 0;
    }
  }
  return out;
}
