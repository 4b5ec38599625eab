/** Element types the builder writes, named as onnxruntime-node names tensor types. */
export type DType = "float32" | "float16" | "bfloat16" | "float64" | "int64" | "int32" | "int8" | "uint8" | "bool";

/** Typed arrays that hold initializer data; float16/bfloat16 are raw bits in a Uint16Array, bool is one byte per element. */
export type TensorData = Float32Array | Float64Array | Uint16Array | BigInt64Array | Int32Array | Int8Array | Uint8Array;

/** TensorProto.DataType codes (onnx.proto). */
const ONNX_CODE: Record<DType, number> = {
  float32: 1,
  uint8: 2,
  int8: 3,
  int32: 6,
  int64: 7,
  bool: 9,
  float16: 10,
  float64: 11,
  bfloat16: 16,
};

const ARRAY_TYPE: Record<DType, new (n: number) => TensorData> = {
  float32: Float32Array,
  uint8: Uint8Array,
  int8: Int8Array,
  int32: Int32Array,
  int64: BigInt64Array,
  bool: Uint8Array,
  float16: Uint16Array,
  float64: Float64Array,
  bfloat16: Uint16Array,
};

export const onnxTypeCode = (dtype: DType): number => ONNX_CODE[dtype];

/** True when `data` is the typed array that stores `dtype` elements. */
export const dataMatchesType = (data: TensorData, dtype: DType): boolean => data instanceof ARRAY_TYPE[dtype];

/** Bytes one element takes in initializer data. */
export const bytesPerElement = (dtype: DType): number => (ARRAY_TYPE[dtype] as unknown as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT;

/** Number of elements of a tensor with static `dims` (1 for a scalar). */
export const elementCount = (dims: readonly number[]): number => dims.reduce((a, b) => a * b, 1);

/** The little-endian bytes of a typed array, without copying. */
export const dataBytes = (data: TensorData): Uint8Array => new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
