export type { DType, NativeArray } from "./dtype.ts";
export { openWeights } from "./open.ts";
export type { ReadAs, TensorInfo, WeightSource } from "./source.ts";
