import { modelError } from "../cli/errors.ts";
import { applyRotaryHalf, mergeHeads, rotaryCaches, rotaryCosSin, scaledDotProductAttention, splitHeads } from "../graph/blocks.ts";
import { GraphBuilder } from "../graph/builder.ts";
import { quantizeInt4 } from "../graph/int4.ts";
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

/** Graph I/O names: inputs_embeds and past key/values in; logits, final-norm hidden states and present key/values out. */
export const LLAMA_IO = {
  inputsEmbeds: "inputs_embeds",
  logits: "logits",
  hiddenStates: "hidden_states",
  pastKey: (layer: number) => `past_key_values.${layer}.key`,
  pastValue: (layer: number) => `past_key_values.${layer}.value`,
  presentKey: (layer: number) => `present.${layer}.key`,
  presentValue: (layer: number) => `present.${layer}.value`,
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
 * The LLaMA decoder (no token embedding: callers pass inputs_embeds) as one ONNX graph for prefill and decode:
 * inputs_embeds [batch, seq, hidden] (float32), past_key_values.N.key/value [batch, kv_heads, past_seq, head_dim]
 * (float32; past_seq may be 0). Positions are past_seq .. past_seq+seq-1 and attention is causal over past + new.
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
      const q = quantizeInt4(weights.read(name), inFeatures, outFeatures, { layout: "NK", blockSize: options.int4BlockSize });
      return g.matMulNBits(x, q, { name, accuracyLevel: options.int4AccuracyLevel ?? 0 });
    }
    return g.matMul(x, g.weight(name, [inFeatures, outFeatures], () => transposed(weights.read(name), outFeatures, inFeatures)));
  };
  const norm = (x: string, name: string): string => {
    checkShape(weights, name, [hidden]);
    return g.rmsNorm(x, g.weight(name, [hidden], () => weights.read(name)), config.rmsNormEps);
  };

  const embeds = g.input(LLAMA_IO.inputsEmbeds, "float32", ["batch", "seq", hidden]);
  const pasts = Array.from({ length: numLayers }, (_, layer) => [
    g.input(LLAMA_IO.pastKey(layer), kvType, ["batch", numKvHeads, "past_seq", headDim]),
    g.input(LLAMA_IO.pastValue(layer), kvType, ["batch", numKvHeads, "past_seq", headDim]),
  ]);
  if (options.attention === "gqa" && options.rotaryInverseFrequency) throw modelError("stored rotary frequencies need plain attention");
  const probe = options.probe && resolveProbe(options.probe, config, options.attention);
  const probeSpan = probe && [g.input(LLAMA_IO.probeKeyStart, "int64", [1]), g.input(LLAMA_IO.probeKeyEnd, "int64", [1])];
  const probeRows: string[] = [];
  const attend =
    options.attention === "gqa"
      ? gqaAttention(g, config, embeds, pasts[0][0], options.maxPositions ?? 4096)
      : plainAttention(g, config, embeds, pasts[0][0], options.rotaryInverseFrequency);

  let x = embeds;
  for (let layer = 0; layer < numLayers; layer++) {
    const p = layerPrefix(layer);
    x = g.scope(`layer${layer}`, () => {
      const h = norm(x, `${p}.input_layernorm.weight`);
      const q = linear(h, `${p}.self_attn.q_proj.weight`, numHeads * headDim, hidden);
      const k = linear(h, `${p}.self_attn.k_proj.weight`, numKvHeads * headDim, hidden);
      const v = linear(h, `${p}.self_attn.v_proj.weight`, numKvHeads * headDim, hidden);
      const [attention, presentKey, presentValue, queries] = attend(q, k, v, pasts[layer][0], pasts[layer][1]);
      if (probe && probeSpan && probe.layers.includes(layer)) probeRows.push(probeRow(g, config, queries!, presentKey, probe.head, probeSpan));
      g.output(presentKey, LLAMA_IO.presentKey(layer), kvType, ["batch", numKvHeads, "total_seq", headDim]);
      g.output(presentValue, LLAMA_IO.presentValue(layer), kvType, ["batch", numKvHeads, "total_seq", headDim]);
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
  g.output(linear(final, LM_HEAD, logitsSize, hidden), LLAMA_IO.logits, "float32", ["batch", "seq", logitsSize]);
  return g;
}

/**
 * (q, k, v [B, S, heads·D], past key, past value) -> [attention output [B, S, H·D], present key, present value, and for
 * plain attention the rotated queries [B, H, S, D]].
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
 * softmax(q·kᵀ/√D) of the last query row of one head against every key of past + this step (the newest query sees all
 * of them, so no causal mask), sliced to [start, end): [B, 1, span]. Only this row is computed, never the full
 * attention matrix.
 */
function probeRow(g: GraphBuilder, config: LlamaConfig, queries: string, presentKey: string, head: number, [start, end]: string[]): string {
  const kvHead = Math.floor(head / (config.numHeads / config.numKvHeads));
  const query = g.slice(queries, [head, -1], [head + 1, Number.MAX_SAFE_INTEGER], [1, 2]);
  const keys = g.slice(presentKey, [kvHead], [kvHead + 1], [1]);
  const scores = g.mul(g.matMul(query, g.transpose(keys, [0, 1, 3, 2])), g.scalar(1 / Math.sqrt(config.headDim)));
  const row = g.slice(g.softmax(scores, -1), start, end, [3]);
  return g.reshape(row, [0, 1, -1]);
}

/** cos and sin [1, 1, S, D] of position·f for the given frequencies f [D/2] (duplicated over both halves), float32 then cast. */
function rotaryFromFrequencies(g: GraphBuilder, positionIds: string, inverseFrequency: Float32Array, headDim: number): [string, string] {
  if (inverseFrequency.length !== headDim / 2) throw modelError(`rotary inv_freq holds ${inverseFrequency.length} values; head size ${headDim} needs ${headDim / 2}`);
  const positions = g.unsqueeze(g.cast(positionIds, "float32"), [1, 3]);
  const frequencies = g.mul(positions, g.constant("float32", [headDim / 2], inverseFrequency));
  const angles = g.concat([frequencies, frequencies], -1);
  return [g.cast(g.cos(angles), "float"), g.cast(g.sin(angles), "float")];
}

function plainAttention(g: GraphBuilder, config: LlamaConfig, embeds: string, firstPastKey: string, inverseFrequency?: Float32Array): Attend {
  const { numHeads, numKvHeads, headDim } = config;
  const pastLength = g.squeeze(g.shape(firstPastKey, 2, 3), [0]);
  const seqLength = g.squeeze(g.shape(embeds, 1, 2), [0]);
  const positions = g.unsqueeze(g.range(pastLength, g.add(pastLength, seqLength), g.ints([1], [])), [0]);
  const [cos, sin] = inverseFrequency ? rotaryFromFrequencies(g, positions, inverseFrequency, headDim) : rotaryCosSin(g, positions, headDim, config.ropeTheta);
  const groups = numHeads / numKvHeads;
  // [B, kv, T, D] -> [B, kv·groups, T, D], each kv head repeated for its group of query heads (HF repeat_kv).
  const repeatKv = (x: string) =>
    groups === 1 ? x : g.reshape(g.expand(g.unsqueeze(x, [2]), g.concat([g.shape(x, 0, 2), g.ints([groups]), g.shape(x, 2, 4)], 0)), [0, numHeads, -1, headDim]);
  return (q, k, v, pastKey, pastValue) => {
    const queries = applyRotaryHalf(g, splitHeads(g, q, numHeads, headDim), cos, sin, headDim);
    const presentKey = g.concat([pastKey, applyRotaryHalf(g, splitHeads(g, k, numKvHeads, headDim), cos, sin, headDim)], 2);
    const presentValue = g.concat([pastValue, splitHeads(g, v, numKvHeads, headDim)], 2);
    const attention = scaledDotProductAttention(g, queries, repeatKv(presentKey), repeatKv(presentValue), headDim, { causal: true });
    return [mergeHeads(g, attention), presentKey, presentValue, queries];
  };
}

function gqaAttention(g: GraphBuilder, config: LlamaConfig, embeds: string, firstPastKey: string, maxPositions: number): Attend {
  const { numHeads, numKvHeads, headDim } = config;
  const total = g.add(g.shape(firstPastKey, 2, 3), g.shape(embeds, 1, 2));
  const seqlensK = g.cast(g.expand(g.sub(total, g.ints([1])), g.shape(embeds, 0, 1)), "int32");
  const totalLength = g.cast(g.squeeze(total, [0]), "int32");
  const [cosCache, sinCache] = rotaryCaches(g, headDim, maxPositions, config.ropeTheta);
  return (q, k, v, pastKey, pastValue) =>
    g.groupQueryAttention(q, k, v, pastKey, pastValue, seqlensK, totalLength, { numHeads, kvNumHeads: numKvHeads, rotary: { cosCache, sinCache } });
}

/** The token embedding table [rows, hidden] as float32, for gathering prompt rows outside the graph. */
export function readEmbeddingTable(weights: WeightSource, config: LlamaConfig): Float32Array {
  checkShape(weights, EMBED_TOKENS, [config.vocabSize, config.hiddenSize]);
  return weights.read(EMBED_TOKENS);
}
