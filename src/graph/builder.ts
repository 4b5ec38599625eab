import { attr, type Attributes } from "./attributes.ts";
import { onnxTypeCode, type DType, type TensorData } from "./dtype.ts";
import { float32ToFloat16 } from "./float16.ts";
import { GraphCore, type GraphOptions, type OpOptions, type TensorSource } from "./graph.ts";
import type { Int4Weight, LazyInt4Weight } from "./int4.ts";
import type { Int8Weight } from "./int8.ts";
import { saveModel, modelToBytes, type SaveOptions } from "./serialize.ts";

/** A 1-D int64 operand given either as literal values (made a constant) or as a value name. */
export type Ints = readonly number[] | string;

export interface ConvOptions {
  strides?: number[];
  /** ONNX order: [top, left, bottom, right] for 2-D. */
  pads?: number[];
  dilations?: number[];
  group?: number;
}

export interface ResizeOptions {
  /** Per-axis scale factors (one per input axis) or a value name; give exactly one of scales and sizes. */
  scales?: readonly number[] | string;
  /** Output sizes (one per input axis) as literals or an int64 value name. */
  sizes?: Ints;
  mode?: "nearest" | "linear" | "cubic";
  coordinateTransformationMode?: "half_pixel" | "pytorch_half_pixel" | "align_corners" | "asymmetric" | "tf_crop_and_resize";
  nearestMode?: "round_prefer_floor" | "round_prefer_ceil" | "floor" | "ceil";
  cubicCoeffA?: number;
  /** Anti-aliased downscaling (needs opset 18). */
  antialias?: boolean;
}

export interface RoiAlignOptions {
  outputHeight: number;
  outputWidth: number;
  samplingRatio?: number;
  spatialScale?: number;
  mode?: "avg" | "max";
  /** "half_pixel" (default, torchvision aligned=True) or "output_half_pixel" (aligned=False). */
  coordinateTransformationMode?: "half_pixel" | "output_half_pixel";
}

/** Value names of an int8 weight's initializers. */
export interface Int8WeightValues {
  data: string;
  scales: string;
}

export interface MatMulNBitsOptions {
  /** 0 unset, 1 fp32, 2 fp16, 3 bf16, 4 int8 (minimum accuracy of A inside the kernel). */
  accuracyLevel?: 0 | 1 | 2 | 3 | 4;
  /** Bias [N] value name. */
  bias?: string;
  name?: string;
}

/**
 * Writes an ONNX graph as explicit ops (onnxruntime-genai model-builder style). Every helper returns the name of the
 * value it produces, so blocks compose as `g.add(g.matMul(x, w), b)`. Float literals (`scalar`, `floats`) follow
 * `floatType`. Opset 17 or newer.
 */
export class GraphBuilder extends GraphCore {
  constructor(options: GraphOptions = {}) {
    super(options);
    if (this.opset < 17) throw new RangeError(`opset ${this.opset} is not supported (17 or newer)`);
  }

  // ---- constants -------------------------------------------------------------------------------

  /** A float scalar of floatType. */
  scalar(value: number): string {
    return this.floats([value], []);
  }

  /** A float constant of floatType with the given dims (default 1-D). */
  floats(values: readonly number[], dims: readonly number[] = [values.length]): string {
    const f32 = Float32Array.from(values);
    return this.floatType === "float16" ? this.constant("float16", dims, float32ToFloat16(f32)) : this.constant("float32", dims, f32);
  }

  /** An int64 constant (default 1-D). */
  ints(values: readonly number[], dims: readonly number[] = [values.length]): string {
    return this.constant("int64", dims, BigInt64Array.from(values, (v) => BigInt(v)));
  }

  private intsInput(values: Ints): string {
    return typeof values === "string" ? values : this.ints(values);
  }

  // ---- elementwise -----------------------------------------------------------------------------

  add = (a: string, b: string, name?: string) => this.op("Add", [a, b], {}, { name });
  sub = (a: string, b: string, name?: string) => this.op("Sub", [a, b], {}, { name });
  mul = (a: string, b: string, name?: string) => this.op("Mul", [a, b], {}, { name });
  div = (a: string, b: string, name?: string) => this.op("Div", [a, b], {}, { name });
  pow = (a: string, b: string, name?: string) => this.op("Pow", [a, b], {}, { name });
  equal = (a: string, b: string, name?: string) => this.op("Equal", [a, b], {}, { name });
  greater = (a: string, b: string, name?: string) => this.op("Greater", [a, b], {}, { name });
  less = (a: string, b: string, name?: string) => this.op("Less", [a, b], {}, { name });
  where = (condition: string, a: string, b: string, name?: string) => this.op("Where", [condition, a, b], {}, { name });
  sqrt = (x: string, name?: string) => this.op("Sqrt", [x], {}, { name });
  neg = (x: string, name?: string) => this.op("Neg", [x], {}, { name });
  exp = (x: string, name?: string) => this.op("Exp", [x], {}, { name });
  erf = (x: string, name?: string) => this.op("Erf", [x], {}, { name });
  cos = (x: string, name?: string) => this.op("Cos", [x], {}, { name });
  sin = (x: string, name?: string) => this.op("Sin", [x], {}, { name });
  sigmoid = (x: string, name?: string) => this.op("Sigmoid", [x], {}, { name });
  tanh = (x: string, name?: string) => this.op("Tanh", [x], {}, { name });
  relu = (x: string, name?: string) => this.op("Relu", [x], {}, { name });

  /** Converts to another element type; "float" means floatType. */
  cast(x: string, to: DType | "float", name?: string): string {
    return this.op("Cast", [x], { to: onnxTypeCode(to === "float" ? this.floatType : to) }, { name });
  }

  // ---- activations ----------------------------------------------------------------------------

  /** Exact GELU 0.5·x·(1 + erf(x/√2)): as plain ops, or as one com.microsoft Gelu node. */
  gelu(x: string, options: { contrib?: boolean; name?: string } = {}): string {
    if (options.contrib) return this.op("Gelu", [x], {}, { domain: "com.microsoft", name: options.name });
    const inner = this.erf(this.mul(x, this.scalar(Math.SQRT1_2)));
    return this.mul(this.mul(x, this.scalar(0.5)), this.add(inner, this.scalar(1)), options.name);
  }

  /** CLIP's QuickGELU x·sigmoid(1.702·x). */
  quickGelu(x: string, name?: string): string {
    return this.mul(x, this.sigmoid(this.mul(x, this.scalar(1.702))), name);
  }

  softmax(x: string, axis = -1, name?: string): string {
    return this.op("Softmax", [x], { axis }, { name });
  }

  // ---- linear algebra -------------------------------------------------------------------------

  matMul = (a: string, b: string, name?: string) => this.op("MatMul", [a, b], {}, { name });

  /** Y = alpha·A'·B' + beta·C (A' = Aᵀ if transA, B' = Bᵀ if transB); 2-D A only. */
  gemm(a: string, b: string, c?: string, options: { transA?: boolean; transB?: boolean; alpha?: number; beta?: number; name?: string } = {}): string {
    const attributes: Attributes = {
      transA: options.transA ? 1 : undefined,
      transB: options.transB ? 1 : undefined,
      alpha: options.alpha === undefined ? undefined : attr.float(options.alpha),
      beta: options.beta === undefined ? undefined : attr.float(options.beta),
    };
    return this.op("Gemm", c ? [a, b, c] : [a, b], attributes, { name: options.name });
  }

  /** x·W (+ b) with W stored [K, N]. */
  linear(x: string, weight: string, bias?: string, name?: string): string {
    const product = this.matMul(x, weight, name);
    return bias ? this.add(product, bias, name) : product;
  }

  /** com.microsoft MatMulNBits: A [.., K] times a 4-bit block-quantized weight (see quantizeInt4) -> [.., N]. */
  matMulNBits(a: string, weight: Int4Weight | LazyInt4Weight, options: MatMulNBitsOptions = {}): string {
    const hint = options.name ?? "MatMulNBits";
    const { k, n, blockSize } = weight;
    const nBlocks = Math.ceil(k / blockSize);
    const lazy = "quantize" in weight;
    const asymmetric = lazy ? weight.asymmetric : Boolean(weight.zeroPoints);
    const parts = lazy ? sharedResult(weight.quantize, asymmetric ? 3 : 2) : undefined;
    const part = <T extends TensorData>(pick: (w: Int4Weight) => T): TensorSource => (parts ? () => pick(parts()) : pick(weight as Int4Weight));
    const packed = this.initializer(`${hint}.qweight`, "uint8", [n, nBlocks, blockSize / 2], part((w) => w.packed));
    const scales =
      this.floatType === "float16"
        ? this.initializer(`${hint}.scales`, "float16", [n * nBlocks], part((w) => float32ToFloat16(w.scales)))
        : this.initializer(`${hint}.scales`, "float32", [n * nBlocks], part((w) => w.scales));
    const zeroPoints = asymmetric ? this.initializer(`${hint}.zero_points`, "uint8", [n * Math.ceil(nBlocks / 2)], part((w) => w.zeroPoints!)) : "";
    const inputs = [a, packed, scales, zeroPoints, "", options.bias ?? ""];
    while (inputs[inputs.length - 1] === "") inputs.pop();
    const attributes = { K: k, N: n, bits: 4, block_size: blockSize, accuracy_level: options.accuracyLevel };
    return this.op("MatMulNBits", inputs, attributes, { domain: "com.microsoft", name: hint });
  }

  /**
   * An int8 weight [K, N] and its per-column scales [N] (see quantizeInt8) as initializers; `quantize` runs when the
   * model is written, once for both.
   */
  int8Weight(hint: string, k: number, n: number, quantize: () => Int8Weight): Int8WeightValues {
    let quantized: Int8Weight | undefined;
    const weight = () => (quantized ??= quantize());
    const data = this.initializer(`${hint}.weight_int8`, "int8", [k, n], () => weight().data);
    // Written after the data: the quantized copy is dropped once both are out.
    const scales = this.initializer(`${hint}.weight_scale`, "float32", [n], () => {
      const { scales } = weight();
      quantized = undefined;
      return scales;
    });
    return { data, scales };
  }

  /**
   * com.microsoft DynamicQuantizeMatMul: A [.., K], quantized to uint8 per tensor at run time, times an int8 weight
   * (int8Weight) with per-column scales, plus an optional bias [N].
   */
  dynamicQuantizeMatMul(a: string, weight: Int8WeightValues, options: { bias?: string; name?: string } = {}): string {
    const inputs = options.bias ? [a, weight.data, weight.scales, "", options.bias] : [a, weight.data, weight.scales];
    return this.op("DynamicQuantizeMatMul", inputs, {}, { domain: "com.microsoft", name: options.name });
  }

  // ---- normalization --------------------------------------------------------------------------

  /** LayerNormalization over the last axis (opset 17). */
  layerNorm(x: string, scale: string, bias: string | undefined, epsilon = 1e-5, name?: string): string {
    return this.op("LayerNormalization", bias ? [x, scale, bias] : [x, scale], { axis: -1, epsilon: attr.float(epsilon) }, { name });
  }

  /** RMSNorm x / sqrt(mean(x²) + ε) · scale as onnxruntime's SimplifiedLayerNormalization node. */
  rmsNorm(x: string, scale: string, epsilon = 1e-6, name?: string): string {
    return this.op("SimplifiedLayerNormalization", [x, scale], { axis: -1, epsilon: attr.float(epsilon) }, { name });
  }

  /** com.microsoft SkipLayerNormalization: LayerNorm(x + skip (+ bias)); returns [output, x + skip (+ bias)]. */
  skipLayerNorm(x: string, skip: string, scale: string, beta: string | undefined, epsilon = 1e-5, name?: string): [string, string] {
    const [output, , , sum] = this.multiOp("SkipLayerNormalization", [x, skip, scale, beta ?? ""], 4, { epsilon: attr.float(epsilon) }, { domain: "com.microsoft", name });
    return [output, sum];
  }

  // ---- reductions -----------------------------------------------------------------------------

  reduceMean = (x: string, axes: readonly number[], keepDims = true, name?: string) => this.reduce("ReduceMean", x, axes, keepDims, name);
  reduceMax = (x: string, axes: readonly number[], keepDims = true, name?: string) => this.reduce("ReduceMax", x, axes, keepDims, name);
  reduceSum = (x: string, axes: readonly number[], keepDims = true, name?: string) => this.reduce("ReduceSum", x, axes, keepDims, name);

  private reduce(type: string, x: string, axes: readonly number[], keepDims: boolean, name?: string): string {
    // ReduceSum takes axes as an input from opset 13, the other reductions from opset 18.
    const axesAsInput = type === "ReduceSum" || this.opset >= 18;
    const keepdims = keepDims ? 1 : 0;
    return axesAsInput ? this.op(type, [x, this.ints(axes)], { keepdims }, { name }) : this.op(type, [x], { axes: attr.ints([...axes]), keepdims }, { name });
  }

  // ---- shape ----------------------------------------------------------------------------------

  transpose = (x: string, perm: readonly number[], name?: string) => this.op("Transpose", [x], { perm: attr.ints([...perm]) }, { name });

  /** Reshape; 0 copies the input dim, -1 is inferred. */
  reshape = (x: string, shape: Ints, name?: string) => this.op("Reshape", [x, this.intsInput(shape)], {}, { name });

  concat = (values: readonly string[], axis: number, name?: string) => this.op("Concat", values, { axis }, { name });
  gather = (x: string, indices: string, axis = 0, name?: string) => this.op("Gather", [x, indices], { axis }, { name });
  squeeze = (x: string, axes: Ints, name?: string) => this.op("Squeeze", [x, this.intsInput(axes)], {}, { name });
  unsqueeze = (x: string, axes: Ints, name?: string) => this.op("Unsqueeze", [x, this.intsInput(axes)], {}, { name });
  expand = (x: string, shape: Ints, name?: string) => this.op("Expand", [x, this.intsInput(shape)], {}, { name });

  /** Shape of x as int64 [rank], optionally only dims start..end. */
  shape(x: string, start?: number, end?: number, name?: string): string {
    return this.op("Shape", [x], { start, end }, { name });
  }

  slice(x: string, starts: Ints, ends: Ints, axes?: Ints, steps?: Ints, name?: string): string {
    const inputs = [x, this.intsInput(starts), this.intsInput(ends)];
    if (axes !== undefined || steps !== undefined) inputs.push(axes === undefined ? "" : this.intsInput(axes));
    if (steps !== undefined) inputs.push(this.intsInput(steps));
    return this.op("Slice", inputs, {}, { name });
  }

  /** Splits along `axis` into pieces of the given sizes. */
  split(x: string, sizes: readonly number[], axis: number, name?: string): string[] {
    return this.multiOp("Split", [x, this.ints(sizes)], sizes.length, { axis }, { name });
  }

  /** int64 [start, start+delta, ...) below limit; operands are scalar value names of one type. */
  range = (start: string, limit: string, delta: string, name?: string) => this.op("Range", [start, limit, delta], {}, { name });

  /** Upper (default) or lower triangle of the last two axes, shifted by k diagonals. */
  trilu(x: string, options: { upper?: boolean; k?: number; name?: string } = {}): string {
    const inputs = options.k === undefined ? [x] : [x, this.ints([options.k], [])];
    return this.op("Trilu", inputs, { upper: options.upper === false ? 0 : 1 }, { name: options.name });
  }

  // ---- vision ---------------------------------------------------------------------------------

  conv(x: string, weight: string, bias?: string, options: ConvOptions & { name?: string } = {}): string {
    const { name, ...attributes } = options;
    return this.op("Conv", bias ? [x, weight, bias] : [x, weight], convAttributes(attributes), { name });
  }

  convTranspose(x: string, weight: string, bias?: string, options: ConvOptions & { outputPadding?: number[]; name?: string } = {}): string {
    const { name, outputPadding, ...attributes } = options;
    const all = { ...convAttributes(attributes), output_padding: outputPadding && attr.ints(outputPadding) };
    return this.op("ConvTranspose", bias ? [x, weight, bias] : [x, weight], all, { name });
  }

  resize(x: string, options: ResizeOptions & { name?: string }): string {
    if ((options.scales === undefined) === (options.sizes === undefined)) throw new Error("resize needs exactly one of scales and sizes");
    if (options.antialias && this.opset < 18) throw new RangeError("Resize antialias needs opset 18 or newer");
    const scales = options.scales === undefined ? "" : typeof options.scales === "string" ? options.scales : this.constant("float32", [options.scales.length], Float32Array.from(options.scales));
    const inputs = options.sizes === undefined ? [x, "", scales] : [x, "", "", this.intsInput(options.sizes)];
    const attributes: Attributes = {
      mode: options.mode ?? "nearest",
      coordinate_transformation_mode: options.coordinateTransformationMode,
      nearest_mode: options.nearestMode,
      cubic_coeff_a: options.cubicCoeffA === undefined ? undefined : attr.float(options.cubicCoeffA),
      antialias: options.antialias ? 1 : undefined,
    };
    return this.op("Resize", inputs, attributes, { name: options.name });
  }

  /** RoiAlign over NCHW x with rois [R, 4] (x1, y1, x2, y2) and int64 batch indices [R] (opset 16 semantics). */
  roiAlign(x: string, rois: string, batchIndices: string, options: RoiAlignOptions & { name?: string }): string {
    const attributes: Attributes = {
      output_height: options.outputHeight,
      output_width: options.outputWidth,
      sampling_ratio: options.samplingRatio ?? 0,
      spatial_scale: attr.float(options.spatialScale ?? 1),
      mode: options.mode ?? "avg",
      coordinate_transformation_mode: options.coordinateTransformationMode ?? "half_pixel",
    };
    return this.op("RoiAlign", [x, rois, batchIndices], attributes, { name: options.name });
  }

  // ---- output ---------------------------------------------------------------------------------

  /** The model with every initializer inline (onnxruntime loads it from these bytes; keep it under 2 GiB). */
  toBytes(): Uint8Array {
    return modelToBytes(this);
  }

  /** Writes `path` and `path.data` (external initializers, streamed); see saveModel. */
  save(path: string, options?: SaveOptions): Promise<void> {
    return saveModel(this, path, options);
  }

  // ---- onnxruntime contrib attention ops (com.microsoft) ------------------------------------------

  /**
   * RotaryEmbedding on x [B, S, H·D] (needs numHeads) or [B, H, S, D] with int64 positions [B, S] and caches
   * [maxPositions, rotaryDim / 2] (see rotaryCaches); interleaved = false is LLaMA's rotate-half.
   */
  rotaryEmbedding(x: string, positionIds: string, cosCache: string, sinCache: string, options: { numHeads?: number; interleaved?: boolean; name?: string } = {}): string {
    const attributes = { num_heads: options.numHeads, interleaved: options.interleaved ? 1 : 0 };
    return this.contrib("RotaryEmbedding", [x, positionIds, cosCache, sinCache], attributes, { name: options.name });
  }

  /** MultiHeadAttention on q [B, S, H·D], k/v [B, L, H·D]; `causal` masks keys after each query (unidirectional). */
  multiHeadAttention(q: string, k: string, v: string, options: { numHeads: number; scale?: number; causal?: boolean; attentionBias?: string; name?: string }): string {
    const inputs = [q, k, v, "", "", options.attentionBias ?? ""];
    while (inputs[inputs.length - 1] === "") inputs.pop();
    const attributes = { num_heads: options.numHeads, scale: options.scale === undefined ? undefined : attr.float(options.scale), unidirectional: options.causal ? 1 : undefined };
    return this.contrib("MultiHeadAttention", inputs, attributes, { name: options.name });
  }

  /**
   * GroupQueryAttention (causal, with KV cache): q [B, S, H·D], k/v [B, S, Hkv·D], past k/v [B, Hkv, P, D],
   * seqlensK int32 [B] (total length - 1), totalSequenceLength int32 scalar; optional built-in rotary with caches.
   * Returns [output, presentKey, presentValue].
   */
  groupQueryAttention(
    q: string,
    k: string,
    v: string,
    pastKey: string,
    pastValue: string,
    seqlensK: string,
    totalSequenceLength: string,
    options: { numHeads: number; kvNumHeads: number; rotary?: { cosCache: string; sinCache: string; interleaved?: boolean }; scale?: number; name?: string },
  ): [string, string, string] {
    const inputs = [q, k, v, pastKey, pastValue, seqlensK, totalSequenceLength];
    if (options.rotary) inputs.push(options.rotary.cosCache, options.rotary.sinCache);
    const attributes = {
      num_heads: options.numHeads,
      kv_num_heads: options.kvNumHeads,
      do_rotary: options.rotary ? 1 : undefined,
      rotary_interleaved: options.rotary?.interleaved ? 1 : undefined,
      scale: options.scale === undefined ? undefined : attr.float(options.scale),
    };
    const [output, presentKey, presentValue] = this.multiOp("GroupQueryAttention", inputs, 3, attributes, { domain: "com.microsoft", name: options.name });
    return [output, presentKey, presentValue];
  }

  /** A com.microsoft node (helper for contrib ops without a typed wrapper). */
  contrib(type: string, inputs: readonly string[], attributes: Attributes = {}, options: Omit<OpOptions, "domain"> = {}): string {
    return this.op(type, inputs, attributes, { ...options, domain: "com.microsoft" });
  }
}

function convAttributes(options: ConvOptions): Attributes {
  return {
    strides: options.strides && attr.ints(options.strides),
    pads: options.pads && attr.ints(options.pads),
    dilations: options.dilations && attr.ints(options.dilations),
    group: options.group,
  };
}

/** `produce`'s result, computed on the first of `uses` calls and forgotten after the last. */
function sharedResult<T>(produce: () => T, uses: number): () => T {
  let result: T | undefined;
  let left = uses;
  return () => {
    result ??= produce();
    const value = result;
    if (--left === 0) result = undefined;
    return value;
  };
}
