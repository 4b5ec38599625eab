/**
 * Symmetric per-output-column int8 weights for com.microsoft DynamicQuantizeMatMul (int8 weight times activations
 * quantized to uint8 per tensor at run time, int32 accumulation: onnxruntime's VNNI GEMM on x86).
 *   data    int8 [K, N]: round(W[k, n] / scale[n]) in -127..127
 *   scales  float [N]: max |W[:, n]| / 127 (0 for an all-zero column)
 */
export interface Int8Weight {
  k: number;
  n: number;
  data: Int8Array;
  scales: Float32Array;
}

/** Quantizes W given as [K, N] ("KN", ONNX MatMul) or as a PyTorch Linear weight [N, K] ("NK"). */
export function quantizeInt8(weight: Float32Array, k: number, n: number, layout: "KN" | "NK" = "KN"): Int8Weight {
  if (weight.length !== k * n) throw new RangeError(`weight has ${weight.length} elements, expected K*N = ${k * n}`);
  const kStride = layout === "NK" ? 1 : n;
  const nStride = layout === "NK" ? k : 1;
  const scales = new Float32Array(n);
  const data = new Int8Array(k * n);
  for (let col = 0; col < n; col++) {
    let max = 0;
    for (let row = 0; row < k; row++) max = Math.max(max, Math.abs(weight[row * kStride + col * nStride]));
    const scale = Math.fround(max / 127);
    scales[col] = scale;
    const inverse = scale === 0 ? 0 : 1 / scale;
    for (let row = 0; row < k; row++) data[row * n + col] = Math.round(weight[row * kStride + col * nStride] * inverse);
  }
  return { k, n, data, scales };
}

/** The fp32 weight [K, N] that an Int8Weight stands for. */
export function dequantizeInt8({ k, n, data, scales }: Int8Weight): Float32Array {
  const out = new Float32Array(k * n);
  for (let row = 0; row < k; row++) for (let col = 0; col < n; col++) out[row * n + col] = Math.fround(data[row * n + col] * scales[col]);
  return out;
}
