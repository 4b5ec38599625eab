// Public surface of the ONNX model builder.
export { attr, type AttributeValue, type Attributes, type TypedAttribute } from "./attributes.ts";
export {
  applyRotaryHalf,
  causalMask,
  mergeHeads,
  rotaryCaches,
  rotaryCosSin,
  scaledDotProductAttention,
  splitHeads,
  type AttentionOptions,
} from "./blocks.ts";
export { GraphBuilder, type ConvOptions, type Ints, type MatMulNBitsOptions, type ResizeOptions, type RoiAlignOptions } from "./builder.ts";
export { type DType, type TensorData } from "./dtype.ts";
export { bfloat16ToFloat32, float16ToFloat32, float32ToFloat16, fp16BitsToFp32, fp32ToFp16Bits } from "./float16.ts";
export { type Dim, type Float32Source, type GraphOptions, type OpOptions, type TensorSource } from "./graph.ts";
export { dequantizeInt4, quantizeInt4, type Int4Options, type Int4Weight } from "./int4.ts";
export { decodeModel } from "./onnx-proto.ts";
export { type SaveOptions } from "./serialize.ts";
