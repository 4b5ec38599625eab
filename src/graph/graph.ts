import { modelError } from "../cli/errors.ts";
import { attributeMessage, type Attributes } from "./attributes.ts";
import { dataMatchesType, elementCount, onnxTypeCode, type DType, type TensorData } from "./dtype.ts";
import { float32ToFloat16 } from "./float16.ts";
import type { GraphMessage, ModelMessage, NodeMessage, TensorMessage, ValueInfoMessage } from "./onnx-proto.ts";

/** A tensor dimension: a fixed size or a symbolic name such as "batch". */
export type Dim = number | string;

/** Initializer data, or a function producing it when the model is written (so huge models never sit in memory whole). */
export type TensorSource = TensorData | (() => TensorData | Promise<TensorData>);

/** float32 data, or a function producing it when the model is written. */
export type Float32Source = Float32Array | (() => Float32Array | Promise<Float32Array>);

export interface GraphOptions {
  /** Graph name (default "main"). */
  name?: string;
  /** ai.onnx opset version (default 17, the first with LayerNormalization). */
  opset?: number;
  /**
   * Element type of float activations (default float32). "float16" runs the whole graph in half precision: weights,
   * float constants and activations are float16, float32 graph inputs are cast to float16 on entry and float32 outputs
   * cast back, so callers always feed and read float32 (for GPU execution providers).
   */
  floatType?: "float32" | "float16";
  /**
   * Storage type of `weight()` tensors (default floatType). float16 weights in a float32 graph halve the file and are
   * cast up in-graph (onnxruntime constant-folds those casts at load), so the computation stays float32: the CPU-safe choice.
   */
  weightType?: "float32" | "float16";
  /**
   * How torch Linear layers (torchLinear) multiply (default "float"): "int8" stores each weight as per-column int8 and
   * quantizes the activations to uint8 at run time (com.microsoft DynamicQuantizeMatMul); float32 graphs only.
   */
  linearWeights?: "float" | "int8";
}

/** An initializer as recorded: its data is produced (and converted) only when the model is serialized. */
export interface InitializerEntry {
  readonly name: string;
  readonly dtype: DType;
  readonly dims: readonly number[];
  readonly source: TensorSource;
  /** Store float32 source data as float16. */
  readonly toFloat16: boolean;
}

export interface OpOptions {
  /** Operator domain, e.g. "com.microsoft" (imported at version 1 unless `useDomain` said otherwise). */
  domain?: string;
  /** Name hint for the node and its outputs (default: the op type). */
  name?: string;
}

/** The node/value bookkeeping of an ONNX graph under construction; op helpers live in GraphBuilder. */
export class GraphCore {
  readonly opset: number;
  readonly floatType: "float32" | "float16";
  readonly weightType: "float32" | "float16";
  readonly linearWeights: "float" | "int8";
  private readonly graphName: string;
  private readonly nodes: NodeMessage[] = [];
  private readonly inputs: ValueInfoMessage[] = [];
  private readonly outputs: ValueInfoMessage[] = [];
  private readonly entries: InitializerEntry[] = [];
  private readonly taken = new Set<string>();
  private readonly nextSuffix = new Map<string, number>();
  private readonly domains = new Map<string, number>();
  private readonly constants = new Map<string, string>();
  private readonly scopes: string[] = [];

  constructor(options: GraphOptions = {}) {
    this.graphName = options.name ?? "main";
    this.opset = options.opset ?? 17;
    this.floatType = options.floatType ?? "float32";
    this.weightType = options.weightType ?? this.floatType;
    this.linearWeights = options.linearWeights ?? "float";
    if (this.linearWeights === "int8" && this.floatType !== "float32") throw new RangeError("int8 linear weights need a float32 graph");
  }

  /** Runs `build` with `prefix/` prepended to every node, value and initializer name it creates. */
  scope<T>(prefix: string, build: () => T): T {
    this.scopes.push(prefix);
    try {
      return build();
    } finally {
      this.scopes.pop();
    }
  }

  /** A value name not used yet in this graph, derived from `hint` and the current scope. */
  uniqueName(hint: string): string {
    const base = [...this.scopes, hint].join("/");
    let name = base;
    while (this.taken.has(name)) {
      const suffix = this.nextSuffix.get(base) ?? 1;
      this.nextSuffix.set(base, suffix + 1);
      name = `${base}_${suffix}`;
    }
    this.taken.add(name);
    return name;
  }

  /** Declares a graph input with exactly this name; float32 inputs of a float16 graph come back cast to float16. */
  input(name: string, dtype: DType, shape: readonly Dim[]): string {
    this.claim(name);
    this.inputs.push(valueInfo(name, dtype, shape));
    return dtype === "float32" && this.floatType === "float16" ? this.op("Cast", [name], { to: onnxTypeCode("float16") }) : name;
  }

  /**
   * Declares `value` a graph output named `name` with element type `dtype` (float32 outputs of a float16 graph are cast).
   * `shape` may be omitted (rank unknown).
   */
  output(value: string, name: string, dtype: DType, shape?: readonly Dim[]): string {
    this.claim(name);
    const cast = dtype === "float32" && this.floatType === "float16";
    this.nodes.push(node(cast ? "Cast" : "Identity", [value], [name], this.uniqueName(`${name}_output`), cast ? { to: onnxTypeCode("float32") } : {}));
    this.outputs.push(valueInfo(name, dtype, shape));
    return name;
  }

  /** Adds an initializer of the given type; data length and type are checked (lazily produced data when written). */
  initializer(hint: string, dtype: DType, dims: readonly number[], source: TensorSource): string {
    if (typeof source !== "function") checkData(hint, dtype, dims, source);
    const name = this.uniqueName(hint);
    this.entries.push({ name, dtype, dims: [...dims], source, toFloat16: false });
    return name;
  }

  /**
   * Adds a float32 weight stored as `weightType` and returns a value of `floatType`
   * (a Cast node follows the initializer when the two differ).
   */
  weight(hint: string, dims: readonly number[], source: Float32Source): string {
    return this.floatInitializer(hint, dims, source, this.weightType);
  }

  /** Adds float32 data stored as `floatType` (for tables that must keep activation precision, e.g. rotary caches). */
  floatTensor(hint: string, dims: readonly number[], source: Float32Source): string {
    return this.floatInitializer(hint, dims, source, this.floatType);
  }

  private floatInitializer(hint: string, dims: readonly number[], source: Float32Source, storage: "float32" | "float16"): string {
    if (typeof source !== "function") checkData(hint, "float32", dims, source);
    const name = this.uniqueName(hint);
    this.entries.push({ name, dtype: storage, dims: [...dims], source, toFloat16: storage === "float16" });
    if (storage === this.floatType) return name;
    return this.op("Cast", [name], { to: onnxTypeCode(this.floatType) }, { name: `${hint}_cast` });
  }

  /** A small constant initializer; identical constants are shared. */
  constant(dtype: DType, dims: readonly number[], values: TensorData): string {
    const key = `${dtype}|${dims.join(",")}|${Array.from(values as ArrayLike<number | bigint>).join(",")}`;
    const cached = this.constants.get(key);
    if (cached) return cached;
    const name = this.withoutScope(() => this.initializer("const", dtype, dims, values));
    this.constants.set(key, name);
    return name;
  }

  /** A node with one output; returns the output name. Empty strings stand for omitted optional inputs. */
  op(type: string, inputs: readonly string[], attributes: Attributes = {}, options: OpOptions = {}): string {
    return this.multiOp(type, inputs, 1, attributes, options)[0];
  }

  /** A node with `outputCount` outputs; returns their names. */
  multiOp(type: string, inputs: readonly string[], outputCount: number, attributes: Attributes = {}, options: OpOptions = {}): string[] {
    const hint = options.name ?? type;
    const nodeName = this.uniqueName(hint);
    const outputs = Array.from({ length: outputCount }, (_, i) => (i === 0 && outputCount === 1 ? `${nodeName}_out` : `${nodeName}_out${i}`));
    for (const output of outputs) this.claim(output);
    const domain = options.domain ?? "";
    if (domain !== "" && !this.domains.has(domain)) this.domains.set(domain, 1);
    this.nodes.push(node(type, inputs, outputs, nodeName, attributes, domain));
    return outputs;
  }

  /** Imports an operator-set domain at a version (com.microsoft is imported at 1 automatically when used). */
  useDomain(domain: string, version: number): void {
    this.domains.set(domain, version);
  }

  /** Initializers in creation order. */
  get initializers(): readonly InitializerEntry[] {
    return this.entries;
  }

  /** The model message with the given initializer messages (one per entry, in order). */
  modelMessage(initializers: TensorMessage[]): ModelMessage {
    if (this.outputs.length === 0) throw new Error(`graph ${this.graphName} has no outputs`);
    const graph: GraphMessage = { name: this.graphName, node: this.nodes, initializer: initializers, input: this.inputs, output: this.outputs };
    return {
      ir_version: irVersionFor(this.opset),
      opset_import: [{ domain: "", version: this.opset }, ...[...this.domains].map(([domain, version]) => ({ domain, version }))],
      producer_name: "glamm",
      graph,
    };
  }

  private claim(name: string): void {
    if (this.taken.has(name)) throw new Error(`value name ${name} is already used in graph ${this.graphName}`);
    this.taken.add(name);
  }

  private withoutScope<T>(build: () => T): T {
    const saved = this.scopes.splice(0);
    try {
      return build();
    } finally {
      this.scopes.push(...saved);
    }
  }
}

/** Resolves an initializer's data (running its producer), converted to the stored type and checked against its shape. */
export async function initializerData(entry: InitializerEntry): Promise<TensorData> {
  const raw = typeof entry.source === "function" ? await entry.source() : entry.source;
  return finishData(entry, raw);
}

/** As initializerData, for producers that return data synchronously. */
export function initializerDataSync(entry: InitializerEntry): TensorData {
  const raw = typeof entry.source === "function" ? entry.source() : entry.source;
  if (raw instanceof Promise) throw new Error(`initializer ${entry.name} is produced asynchronously; use save() instead of toBytes()`);
  return finishData(entry, raw);
}

function finishData(entry: InitializerEntry, raw: TensorData): TensorData {
  checkData(entry.name, entry.toFloat16 ? "float32" : entry.dtype, entry.dims, raw);
  return entry.toFloat16 ? float32ToFloat16(raw as Float32Array) : raw;
}

function checkData(name: string, dtype: DType, dims: readonly number[], data: TensorData): void {
  if (!dataMatchesType(data, dtype)) throw modelError(`tensor ${name}: ${data.constructor.name} does not hold ${dtype} data`);
  if (data.length !== elementCount(dims)) throw modelError(`tensor ${name}: ${data.length} values do not fill shape [${dims.join(", ")}]`);
}

function node(type: string, inputs: readonly string[], outputs: string[], name: string, attributes: Attributes, domain = ""): NodeMessage {
  const attribute = Object.entries(attributes).flatMap(([key, value]) => (value === undefined ? [] : [attributeMessage(key, value)]));
  return { name, op_type: type, domain, input: [...inputs], output: outputs, attribute };
}

function valueInfo(name: string, dtype: DType, shape?: readonly Dim[]): ValueInfoMessage {
  const dims = shape?.map((d) => (typeof d === "number" ? { dim_value: d } : { dim_param: d }));
  return { name, type: { tensor_type: { elem_type: onnxTypeCode(dtype), ...(dims ? { shape: { dim: dims } } : {}) } } };
}

/** The IR version that ships with an ai.onnx opset (onnx/docs/Versioning.md). */
function irVersionFor(opset: number): number {
  if (opset <= 18) return 8;
  if (opset <= 20) return 9;
  return 10;
}
