/**
 * 4-bit block quantization in the layout of onnxruntime's com.microsoft.MatMulNBits (bits = 4):
 * the weight W [K, N] is quantized along K in blocks of `blockSize`;
 *   B            uint8 [N, nBlocks, blockSize / 2]; element 2j of a block in the low nibble of byte j, 2j+1 in the high
 *   scales       float [N * nBlocks] (row n, block b at n * nBlocks + b)
 *   zeroPoints   uint8 [N * ceil(nBlocks / 2)], block 2j in the low nibble (asymmetric only; symmetric uses ORT's default 8)
 * and dequantized W[k, n] = (q - zeroPoint) * scale. K is zero-padded to a whole number of blocks.
 * Scale rules follow onnxruntime's MLAS blockwise quantizer: symmetric scale = (signed max-magnitude value) / -8,
 * asymmetric scale = (max(max, 0) - min(min, 0)) / 15 with zero point round(-min / scale).
 */
export interface Int4Weight {
  k: number;
  n: number;
  blockSize: number;
  packed: Uint8Array;
  scales: Float32Array;
  /** Present for asymmetric quantization. */
  zeroPoints?: Uint8Array;
}

/**
 * An Int4Weight quantized only when its graph is written (the packed bits first, then the scales and zero points
 * from the same result, which is then dropped), so a 7B decoder's quantized weights never sit in memory together.
 */
export interface LazyInt4Weight {
  k: number;
  n: number;
  blockSize: number;
  asymmetric: boolean;
  quantize(): Int4Weight;
}

export function lazyInt4(k: number, n: number, options: Int4Options, weight: () => Float32Array): LazyInt4Weight {
  return { k, n, blockSize: options.blockSize ?? 32, asymmetric: Boolean(options.asymmetric), quantize: () => quantizeInt4(weight(), k, n, options) };
}

export interface Int4Options {
  /** Block length along K: a power of two >= 16 (default 32). */
  blockSize?: number;
  /** Per-block zero points (asymmetric) instead of the fixed zero point 8 (default false). */
  asymmetric?: boolean;
  /** Memory layout of `weight`: "KN" is ONNX MatMul's [K, N]; "NK" is a PyTorch Linear weight [out, in] (default "KN"). */
  layout?: "KN" | "NK";
}

export function quantizeInt4(weight: Float32Array, k: number, n: number, options: Int4Options = {}): Int4Weight {
  const blockSize = options.blockSize ?? 32;
  if (blockSize < 16 || (blockSize & (blockSize - 1)) !== 0) throw new RangeError(`MatMulNBits block size must be a power of two >= 16, got ${blockSize}`);
  if (weight.length !== k * n) throw new RangeError(`weight has ${weight.length} elements, expected K*N = ${k * n}`);
  const nBlocks = Math.ceil(k / blockSize);
  const blobSize = blockSize / 2;
  const packed = new Uint8Array(n * nBlocks * blobSize);
  const scales = new Float32Array(n * nBlocks);
  const zeroPoints = options.asymmetric ? new Uint8Array(n * Math.ceil(nBlocks / 2)) : undefined;
  const kStride = options.layout === "NK" ? 1 : n;
  const nStride = options.layout === "NK" ? k : 1;
  const block = new Float32Array(blockSize);
  for (let col = 0; col < n; col++) {
    for (let b = 0; b < nBlocks; b++) {
      block.fill(0);
      const kEnd = Math.min(blockSize, k - b * blockSize);
      for (let i = 0; i < kEnd; i++) block[i] = weight[(b * blockSize + i) * kStride + col * nStride];
      const { scale, zeroPoint } = zeroPoints ? asymmetricParams(block) : symmetricParams(block);
      scales[col * nBlocks + b] = scale;
      if (zeroPoints) zeroPoints[col * Math.ceil(nBlocks / 2) + (b >> 1)] |= zeroPoint << ((b & 1) * 4);
      const inverse = scale === 0 ? 0 : 1 / scale;
      const blob = (col * nBlocks + b) * blobSize;
      for (let i = 0; i < blockSize; i++) {
        const rounded = Math.round(block[i] * inverse) + zeroPoint;
        const q = rounded < 0 ? 0 : rounded > 15 ? 15 : rounded;
        packed[blob + (i >> 1)] |= q << ((i & 1) * 4);
      }
    }
  }
  return { k, n, blockSize, packed, scales, zeroPoints };
}

function symmetricParams(block: Float32Array): { scale: number; zeroPoint: number } {
  let extreme = 0;
  for (let i = 0; i < block.length; i++) if (Math.abs(block[i]) > Math.abs(extreme)) extreme = block[i];
  return { scale: Math.fround(extreme / -8), zeroPoint: 8 };
}

function asymmetricParams(block: Float32Array): { scale: number; zeroPoint: number } {
  let min = 0;
  let max = 0;
  for (let i = 0; i < block.length; i++) {
    if (block[i] < min) min = block[i];
    if (block[i] > max) max = block[i];
  }
  const scale = Math.fround((max - min) / 15);
  const zeroPoint = scale === 0 ? 0 : Math.min(15, Math.max(0, Math.round(-min / scale)));
  return { scale, zeroPoint };
}

/** The fp32 weight [K, N] that an Int4Weight stands for (what MatMulNBits multiplies by). */
export function dequantizeInt4(q: Int4Weight): Float32Array {
  const { k, n, blockSize, packed, scales, zeroPoints } = q;
  const nBlocks = Math.ceil(k / blockSize);
  const out = new Float32Array(k * n);
  for (let col = 0; col < n; col++) {
    for (let row = 0; row < k; row++) {
      const b = Math.floor(row / blockSize);
      const i = row % blockSize;
      const byte = packed[(col * nBlocks + b) * (blockSize / 2) + (i >> 1)];
      const value = (byte >> ((i & 1) * 4)) & 0xf;
      const zp = zeroPoints ? (zeroPoints[col * Math.ceil(nBlocks / 2) + (b >> 1)] >> ((b & 1) * 4)) & 0xf : 8;
      out[row * n + col] = Math.fround((value - zp) * scales[col * nBlocks + b]);
    }
  }
  return out;
}
