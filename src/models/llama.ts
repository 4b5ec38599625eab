import { modelError } from "../cli/errors.ts";
import { applyRotaryHalf, causalMask, lowestFloat, mergeHeads, rotaryCaches, rotaryCosSin, splitHeads } from "../graph/blocks.ts";
import { GraphBuilder } from "../graph/builder.ts";
import { lazyInt4 } from "../graph/int4.ts";
import type { WeightSource } from "../weights/index.ts";
import { EMBED_TOKENS, FINAL_NORM, LM_HEAD, layerPrefix, type LlamaConfig } from "./llama-config.ts";

/** fp32 and int4 (4-bit MatMulNBits projections) compute in float32; fp16 stores weights and computes in float16. */
export type LlamaPrecision = "fp32" | "fp16" | "int4";

export interface LlamaGraphOptions {
  precision?: LlamaPrecision;
  /** "plain": explicit ops (any provider); "gqa": com.microsoft GroupQueryAttention with built-in rotary. */
  attention?: "plain" | "gqa";
  /** Rotary cache length for "gqa" (default 4096). */
  maxPositions?: number;
  int4BlockSize?: number;
  /** MatMulNBits accuracy_level (default 0: the weights' float type; 4 quantizes activations to int8 on CPU). */
  int4AccuracyLevel?: 0 | 1 | 2 | 3 | 4;
  /** Also output one head's attention of the newest query over a key span (plain attention only). */
  probe?: AttentionProbe;
  /**
   * Rotary frequencies [headDim / 2] to use instead of θ^(-2i/D) (plain attention only): LLaVA-1.5 checkpoints store
   * rotary_emb.inv_freq in float16, and the official model rotates with those rounded values.
   */
  rotaryInverseFrequency?: Float32Array;
}

/**
 * Which attention rows the probe reads: for each listed layer, query head `head` (its key/value head under GQA), the
 * softmax row of the last query of the step over keys [probe_key_start, probe_key_end) (graph inputs), unrenormalised.
 */
export interface AttentionProbe {
  layers: readonly number[] | "all";
  /** "n_heads-2": the second-to-last head, the one attend-and-segment keeps (`x[:, -2:-1]`). */
  head: number | "n_heads-2";
}

/**
 * Graph I/O names. In: inputs_embeds, the KV cache buffers past_key_values.N.key [batch, kv_heads, head_dim, capacity]
 * (keys stored transposed, so scoring them is a plain MatMul) and .value [batch, kv_heads, capacity, head_dim] of which
 * the first past_length positions are filled (the rest is masked out, so the caller can grow the buffers in place), and
 * logits_positions (the rows lm_head runs on; negative counts from the end). Out: logits at those rows, final-norm
 * hidden states of every row, and only this step's keys new.N.key [batch, kv_heads, head_dim, seq] and values
 * new.N.value [batch, kv_heads, seq, head_dim] for the caller to write into its buffers (no per-step cache copy).
 */
export const LLAMA_IO = {
  inputsEmbeds: "inputs_embeds",
  pastLength: "past_length",
  logitsPositions: "logits_positions",
  logits: "logits",
  hiddenStates: "hidden_states",
  pastKey: (layer: number) => `past_key_values.${layer}.key`,
  pastValue: (layer: number) => `past_key_values.${layer}.value`,
  newKey: (layer: number) => `new.${layer}.key`,
  newValue: (layer: number) => `new.${layer}.value`,
  probeKeyStart: "probe_key_start",
  probeKeyEnd: "probe_key_end",
  /** [batch, probed layers, key span] float32. */
  probe: "attention_probe",
} as const;

function checkShape(weights: WeightSource, name: string, expected: readonly number[]): void {
  if (!weights.has(name)) throw modelError(`checkpoint has no tensor ${name}`);
  const { shape } = weights.info(name);
  if (shape.length !== expected.length || shape.some((d, i) => d !== expected[i])) {
    throw modelError(`${name} has shape [${shape.join(", ")}], expected [${expected.join(", ")}]`);
  }
}

/** [rows, cols] row-major -> [cols, rows]. */
function transposed(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c];
  return out;
}

/**
 * The LLaMA decoder (no token embedding: callers pass inputs_embeds) as one ONNX graph for prefill and decode, with the
 * I/O of LLAMA_IO. Positions are past_length .. past_length+seq-1 and attention is causal over past + new.
 */
export function buildLlamaGraph(weights: WeightSource, config: LlamaConfig, options: LlamaGraphOptions = {}): GraphBuilder {
  const precision = options.precision ?? "fp32";
  const g = new GraphBuilder({ name: "llama_decoder", floatType: precision === "fp16" ? "float16" : "float32" });
  const { hiddenSize: hidden, numHeads, numKvHeads, headDim, numLayers, intermediateSize, logitsSize } = config;
  // float32 at the graph boundary for every precision: onnxruntime-node cannot take float16 tensors under Bun
  // (its Float16Array reaches the native binding as an empty buffer).
  const kvType = "float32";

  const linear = (x: string, name: string, outFeatures: number, inFeatures: number): string => {
    checkShape(weights, name, [outFeatures, inFeatures]);
    if (precision === "int4") {
      // Quantized when the graph is written, one matrix at a time: building never holds the whole int4 decoder.
      const q = lazyInt4(inFeatures, outFeatures, { layout: "NK", blockSize: options.int4BlockSize }, () => weights.read(name));
      return g.matMulNBits(x, q, { name, accuracyLevel: options.int4AccuracyLevel ?? DEFAULT_INT4_ACCURACY_LEVEL });
    }
    return g.matMul(x, g.weight(name, [inFeatures, outFeatures], () => transposed(weights.read(name), outFeatures, inFeatures)));
  };
  const norm = (x: string, name: string): string => {
    checkShape(weights, name, [hidden]);
    return g.rmsNorm(x, g.weight(name, [hidden], () => weights.read(name)), config.rmsNormEps);
  };

  const embeds = g.input(LLAMA_IO.inputsEmbeds, "float32", ["batch", "seq", hidden]);
  const pastLength = g.input(LLAMA_IO.pastLength, "int64", [1]);
  const logitsPositions = g.input(LLAMA_IO.logitsPositions, "int64", ["logits_rows"]);
  const pasts = Array.from({ length: numLayers }, (_, layer) => [
    g.input(LLAMA_IO.pastKey(layer), kvType, ["batch", numKvHeads, headDim, "capacity"]),
    g.input(LLAMA_IO.pastValue(layer), kvType, ["batch", numKvHeads, "capacity", headDim]),
  ]);
  if (options.attention === "gqa" && options.rotaryInverseFrequency) throw modelError("stored rotary frequencies need plain attention");
  const probe = options.probe && resolveProbe(options.probe, config, options.attention);
  const probeSpan = probe && [g.input(LLAMA_IO.probeKeyStart, "int64", [1]), g.input(LLAMA_IO.probeKeyEnd, "int64", [1])];
  const probeRows: string[] = [];
  const step: StepShape = { pastLength, seqLength: g.shape(embeds, 1, 2), capacity: g.shape(pasts[0][1], 2, 3) };
  const attend =
    options.attention === "gqa"
      ? gqaAttention(g, config, embeds, step, options.maxPositions ?? 4096)
      : plainAttention(g, config, step, options.rotaryInverseFrequency);

  let x = embeds;
  for (let layer = 0; layer < numLayers; layer++) {
    const p = layerPrefix(layer);
    x = g.scope(`layer${layer}`, () => {
      const h = norm(x, `${p}.input_layernorm.weight`);
      const q = linear(h, `${p}.self_attn.q_proj.weight`, numHeads * headDim, hidden);
      const k = linear(h, `${p}.self_attn.k_proj.weight`, numKvHeads * headDim, hidden);
      const v = linear(h, `${p}.self_attn.v_proj.weight`, numKvHeads * headDim, hidden);
      const [attention, newKey, newValue, probabilities] = attend(q, k, v, pasts[layer][0], pasts[layer][1]);
      if (probe && probeSpan && probe.layers.includes(layer)) probeRows.push(probeRow(g, config, probabilities!, step, probe.head, probeSpan));
      g.output(newKey, LLAMA_IO.newKey(layer), kvType, ["batch", numKvHeads, headDim, "seq"]);
      g.output(newValue, LLAMA_IO.newValue(layer), kvType, ["batch", numKvHeads, "seq", headDim]);
      const afterAttention = g.add(x, linear(attention, `${p}.self_attn.o_proj.weight`, hidden, numHeads * headDim));
      const m = norm(afterAttention, `${p}.post_attention_layernorm.weight`);
      const gate = linear(m, `${p}.mlp.gate_proj.weight`, intermediateSize, hidden);
      const up = linear(m, `${p}.mlp.up_proj.weight`, intermediateSize, hidden);
      const activated = g.mul(g.mul(gate, g.sigmoid(gate)), up);
      return g.add(afterAttention, linear(activated, `${p}.mlp.down_proj.weight`, hidden, intermediateSize));
    });
  }
  if (probeSpan) g.output(g.concat(probeRows, 1), LLAMA_IO.probe, "float32", ["batch", probeRows.length, "key_span"]);
  const final = norm(x, FINAL_NORM);
  g.output(final, LLAMA_IO.hiddenStates, "float32", ["batch", "seq", hidden]);
  const logits = linear(g.gather(final, logitsPositions, 1), LM_HEAD, logitsSize, hidden);
  g.output(logits, LLAMA_IO.logits, "float32", ["batch", "logits_rows", logitsSize]);
  return g;
}

/** MatMulNBits accuracy_level on CPU unless asked otherwise: int8 activations (VNNI), 2-2.5x faster than level 0. */
export const DEFAULT_INT4_ACCURACY_LEVEL = 4;

/** Values shared by every layer: past_length [1], this step's length [1] and the cache buffers' capacity [1]. */
interface StepShape {
  pastLength: string;
  seqLength: string;
  capacity: string;
}

/**
 * (q, k, v [B, S, heads·D], past key buffer, past value buffer) -> [attention output [B, S, H·D], this step's rotated
 * keys [B, kv, D, S] and values [B, kv, S, D], and for plain attention the probabilities
 * [B, kv, groups, S, capacity + S] over the buffer's positions then this step's].
 */
type Attend = (q: string, k: string, v: string, pastKey: string, pastValue: string) => [string, string, string, string?];
function resolveProbe(probe: AttentionProbe, config: LlamaConfig, attention: LlamaGraphOptions["attention"]): { layers: number[]; head: number } {
  if (attention === "gqa") throw modelError("the attention probe needs plain attention (GroupQueryAttention does not expose its weights)");
  const layers = probe.layers === "all" ? Array.from({ length: config.numLayers }, (_, i) => i) : [...new Set(probe.layers)].sort((a, b) => a - b);
  const head = probe.head === "n_heads-2" ? config.numHeads - 2 : probe.head;
  if (layers.length === 0 || layers.some((l) => !Number.isInteger(l) || l < 0 || l >= config.numLayers)) {
    throw modelError(`attention probe layers must be in 0..${config.numLayers - 1} (got ${String(probe.layers)})`);
  }
  if (!Number.isInteger(head) || head < 0 || head >= config.numHeads) throw modelError(`attention probe head ${head} is not in 0..${config.numHeads - 1}`);
  return { layers, head };
}

/**
 * The softmax row of the last query of one head over every key of past + this step (the newest query sees all of
 * them), in sequence order, sliced to [start, end): [B, 1, span]. Read from the attention's own probabilities.
 */
function probeRow(g: GraphBuilder, config: LlamaConfig, probabilities: string, step: StepShape, head: number, [start, end]: string[]): string {
  const groups = config.numHeads / config.numKvHeads;
  const kvHead = Math.floor(head / groups);
  const group = head % groups;
  const row = g.reshape(g.slice(probabilities, [kvHead, group, -1], [kvHead + 1, group + 1, Number.MAX_SAFE_INTEGER], [1, 2, 3]), [0, -1]);
  const ordered = g.concat([g.slice(row, g.ints([0]), step.pastLength, [1]), g.slice(row, step.capacity, [Number.MAX_SAFE_INTEGER], [1])], 1);
  return g.unsqueeze(g.slice(ordered, start, end, [1]), [1]);
}

/** cos and sin [1, 1, S, D] of position·f for the given frequencies f [D/2] (duplicated over both halves), float32 then cast. */
function rotaryFromFrequencies(g: GraphBuilder, positionIds: string, inverseFrequency: Float32Array, headDim: number): [string, string] {
  if (inverseFrequency.length !== headDim / 2) throw modelError(`rotary inv_freq holds ${inverseFrequency.length} values; head size ${headDim} needs ${headDim / 2}`);
  const positions = g.unsqueeze(g.cast(positionIds, "float32"), [1, 3]);
  const frequencies = g.mul(positions, g.constant("float32", [headDim / 2], inverseFrequency));
  const angles = g.concat([frequencies, frequencies], -1);
  return [g.cast(g.cos(angles), "float"), g.cast(g.sin(angles), "float")];
}

/**
 * Attention as explicit ops over the cache buffers without concatenating them: each query group (the query heads of
 * one key/value head, HF repeat_kv) scores the buffer's keys (positions from past_length on masked out) and this
 * step's keys (causal), one softmax over both, then probabilities times the buffer's and this step's values.
 */
function plainAttention(g: GraphBuilder, config: LlamaConfig, step: StepShape, inverseFrequency?: Float32Array): Attend {
  const { numHeads, numKvHeads, headDim } = config;
  const groups = numHeads / numKvHeads;
  const past = g.squeeze(step.pastLength, [0]);
  const positions = g.unsqueeze(g.range(past, g.add(past, g.squeeze(step.seqLength, [0])), g.ints([1], [])), [0]);
  const [cos, sin] = inverseFrequency ? rotaryFromFrequencies(g, positions, inverseFrequency, headDim) : rotaryCosSin(g, positions, headDim, config.ropeTheta);
  const bufferPositions = g.range(g.ints([0], []), g.squeeze(step.capacity, [0]), g.ints([1], []));
  const bufferMask = g.where(g.less(bufferPositions, step.pastLength), g.scalar(0), g.scalar(lowestFloat(g)));
  const scale = g.scalar(1 / Math.sqrt(headDim));
  // q·kᵀ/√D: [B, kv, groups, S, D] against transposed keys [B, kv, 1, D, T].
  const scores = (queries: string, keys: string) => g.mul(g.matMul(queries, g.unsqueeze(keys, [2])), scale);
  return (q, k, v, pastKey, pastValue) => {
    const queries = g.reshape(applyRotaryHalf(g, splitHeads(g, q, numHeads, headDim), cos, sin, headDim), [0, numKvHeads, groups, -1, headDim]);
    const newKey = applyRotaryHalf(g, splitHeads(g, k, numKvHeads, headDim), cos, sin, headDim);
    const newKeyColumns = g.transpose(newKey, [0, 1, 3, 2]);
    const newValue = splitHeads(g, v, numKvHeads, headDim);
    const pastScores = g.add(scores(queries, pastKey), bufferMask);
    const newScores = g.add(scores(queries, newKeyColumns), causalMask(g, newKey, newKey));
    const probabilities = g.softmax(g.concat([pastScores, newScores], -1), -1);
    const pastProbabilities = g.slice(probabilities, g.ints([0]), step.capacity, [4]);
    const newProbabilities = g.slice(probabilities, step.capacity, [Number.MAX_SAFE_INTEGER], [4]);
    const attention = g.add(g.matMul(pastProbabilities, g.unsqueeze(pastValue, [2])), g.matMul(newProbabilities, g.unsqueeze(newValue, [2])));
    // The probe's rows computed again for the last query alone (it sees every key, so no causal mask): onnxruntime
    // runs the probe's slices only when the final concat needs them, so slicing `probabilities` kept every layer's
    // [heads, S, capacity + S] alive through a prefill (+3.2 GB at 32 layers and 640 positions).
    const lastQuery = g.slice(queries, [-1], [Number.MAX_SAFE_INTEGER], [3]);
    const lastRow = g.softmax(g.concat([g.add(scores(lastQuery, pastKey), bufferMask), scores(lastQuery, newKeyColumns)], -1), -1);
    return [mergeHeads(g, g.reshape(attention, [0, numHeads, -1, headDim])), newKeyColumns, newValue, lastRow];
  };
}

/**
 * com.microsoft GroupQueryAttention with built-in rotary. It copies the buffers' filled rows into its own present
 * every step (onnxruntime-node copies even a preallocated shared output back), so it is the slower choice on CPU.
 */
function gqaAttention(g: GraphBuilder, config: LlamaConfig, embeds: string, step: StepShape, maxPositions: number): Attend {
  const { numHeads, numKvHeads, headDim } = config;
  const total = g.add(step.pastLength, step.seqLength);
  const seqlensK = g.cast(g.expand(g.sub(total, g.ints([1])), g.shape(embeds, 0, 1)), "int32");
  const totalLength = g.cast(g.squeeze(total, [0]), "int32");
  const [cosCache, sinCache] = rotaryCaches(g, headDim, maxPositions, config.ropeTheta);
  return (q, k, v, pastKey, pastValue) => {
    const [output, presentKey, presentValue] = g.groupQueryAttention(q, k, v, g.transpose(pastKey, [0, 1, 3, 2]), pastValue, seqlensK, totalLength, {
      numHeads,
      kvNumHeads: numKvHeads,
      rotary: { cosCache, sinCache },
    });
    const newRows = (present: string) => g.slice(present, step.pastLength, total, [2]);
    return [output, g.transpose(newRows(presentKey), [0, 1, 3, 2]), newRows(presentValue)];
  };
}

/** The token embedding table [rows, hidden] as float32, for gathering prompt rows outside the graph. */
export function readEmbeddingTable(weights: WeightSource, config: LlamaConfig): Float32Array {
  checkShape(weights, EMBED_TOKENS, [config.vocabSize, config.hiddenSize]);
  return weights.read(EMBED_TOKENS);
}
