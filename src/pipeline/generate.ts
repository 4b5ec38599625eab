import { usageError } from "../cli/errors.ts";
import { reportStage, timed } from "../runtime/stage-times.ts";
import { seededRandom } from "../util/random.ts";
import type { KvCache, LlamaDecoder } from "../models/llama-runner.ts";
import { embedTokens, type EmbeddingTable, type SplicedSequence } from "./embeddings.ts";
import type { PrefixCache } from "./prefix-cache.ts";

export interface GenerateOptions {
  maxNewTokens: number;
  eosTokenId: number;
  /** [SEG]: the hidden state that predicts each one is returned for the mask decoder. */
  segTokenId?: number;
  /** Sample instead of greedy decoding. */
  sampling?: SamplingOptions;
  /** Called with each new token as soon as it is chosen. */
  onToken?: (token: number, index: number) => void;
  /** Recompute the whole sequence at every step as the official code does (slow; default false: KV cache). */
  recompute?: boolean;
  /** Skips the rows this prompt shares with the previous one on the same image, and keeps this one for the next. */
  prefix?: PrefixCache;
}

/** Sampling instead of greedy decoding, applied like transformers' warpers: temperature, then top-k, then top-p. */
export interface SamplingOptions {
  temperature?: number;
  topK?: number;
  topP?: number;
  seed?: number;
}

/** Index of the first largest value (torch.argmax). */
export function argmax(values: Float32Array): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  return best;
}


export function checkSampling({ temperature, topK, topP }: SamplingOptions): void {
  if (temperature !== undefined && !(temperature > 0)) throw usageError(`temperature must be > 0 (got ${temperature})`);
  if (topK !== undefined && !(Number.isInteger(topK) && topK >= 1)) throw usageError(`top-k must be a whole number >= 1 (got ${topK})`);
  if (topP !== undefined && !(topP > 0 && topP <= 1)) throw usageError(`top-p must be in (0, 1] (got ${topP})`);
}

/**
 * The probabilities sampling draws from, as [token, probability] sorted by decreasing probability: softmax of
 * logits / temperature over the topK largest, cut to the smallest prefix whose mass reaches topP (at least one token).
 */
export function samplingDistribution(logits: Float32Array, { temperature = 1, topK, topP = 1 }: SamplingOptions): Array<[number, number]> {
  const order = Array.from(logits.keys()).sort((a, b) => logits[b] - logits[a] || a - b);
  const kept = topK === undefined ? order : order.slice(0, topK);
  const max = logits[kept[0]] / temperature;
  const weights = kept.map((token) => Math.exp(logits[token] / temperature - max));
  const total = weights.reduce((a, b) => a + b, 0);
  const result: Array<[number, number]> = [];
  let mass = 0;
  for (let i = 0; i < kept.length && (i === 0 || mass < topP); i++) {
    const p = weights[i] / total;
    result.push([kept[i], p]);
    mass += p;
  }
  const keptMass = result.reduce((sum, [, p]) => sum + p, 0);
  return result.map(([token, p]) => [token, p / keptMass]);
}

/** Draws one token from samplingDistribution with `random` in [0, 1). */
export function sampleToken(logits: Float32Array, options: SamplingOptions, random: () => number): number {
  const distribution = samplingDistribution(logits, options);
  let u = random();
  for (const [token, p] of distribution) {
    if (u < p) return token;
    u -= p;
  }
  return distribution[distribution.length - 1][0];
}

export interface SegSelection {
  /** Positions in the expanded sequence whose next token is [SEG]. */
  positions: number[];
  /** Final-norm hidden states at those positions [n, hidden]. */
  hiddenStates: Float32Array;
}

export interface GenerationResult {
  /** New tokens, ending with EOS when generation stopped there. */
  tokens: number[];
  seg: SegSelection;
  /** Logits [logitsSize] and final-norm hidden state [hidden] at the last prompt position. */
  logitsLast: Float32Array;
  finalHiddenLast: Float32Array;
}

export interface TeacherForcedResult {
  /** Final-norm hidden states over the expanded sequence [length, hidden]. */
  hiddenStates: Float32Array;
  seg: SegSelection;
  /** lm_head logits at the seg positions [n, logitsSize]. */
  logitsAtSeg: Float32Array;
}

/**
 * The official rule (GLaMMForCausalLM._create_seg_token_mask with its fixed image offset): the [SEG] embedding is the
 * hidden state of the position just before each [SEG] of the sequence.
 */
export function segPositions(expandedIds: readonly number[], segTokenId: number): number[] {
  return expandedIds.flatMap((id, position) => (position > 0 && id === segTokenId ? [position - 1] : []));
}

function rows(data: Float32Array, width: number, positions: readonly number[]): Float32Array {
  const out = new Float32Array(positions.length * width);
  positions.forEach((position, i) => out.set(data.subarray(position * width, (position + 1) * width), i * width));
  return out;
}

const lastRow = (data: Float32Array, width: number) => data.slice(data.length - width);

/** One forward pass over prompt + answer (like the official referring-segmentation evaluation). */
export async function teacherForced(decoder: LlamaDecoder, sequence: SplicedSequence, segTokenId: number): Promise<TeacherForcedResult> {
  const positions = segPositions(sequence.expandedIds, segTokenId);
  const { logits, hidden } = await timed(`forward ${sequence.expandedIds.length} positions`, () => decoder.forward(sequence.embeds, undefined, { logitRows: positions }));
  const seg = { positions, hiddenStates: rows(hidden, decoder.config.hiddenSize, positions) };
  return { hiddenStates: hidden, seg, logitsAtSeg: logits };
}

/**
 * Greedy (or sampled) generation after the prompt with a KV cache: one prefill, then one token per step, until EOS or
 * maxNewTokens. Also returns the hidden states that predict every [SEG] of prompt + generated tokens.
 */
export async function generate(decoder: LlamaDecoder, table: EmbeddingTable, prompt: SplicedSequence, options: GenerateOptions): Promise<GenerationResult> {
  if (!(Number.isInteger(options.maxNewTokens) && options.maxNewTokens >= 0)) throw usageError(`max new tokens must be a whole number >= 0 (got ${options.maxNewTokens})`);
  if (options.sampling) checkSampling(options.sampling);
  const { hiddenSize } = decoder.config;
  const random = seededRandom(options.sampling?.seed ?? 0);
  const choose = (logits: Float32Array) => (options.sampling ? sampleToken(logits, options.sampling, random) : argmax(logits));

  const promptSeg = segPositions(prompt.expandedIds, options.segTokenId ?? Number.NaN);
  const promptLength = prompt.expandedIds.length;
  // The last prompt row and every row whose hidden state a [SEG] needs are computed, never reused.
  const reused = options.recompute ? undefined : options.prefix?.take(prompt.embeds, Math.min(promptLength - 1, ...promptSeg), decoder.config);
  const skipped = reused?.length ?? 0;
  const prefill = await timed(`prefill ${promptLength - skipped} positions after ${skipped} reused`, () => decoder.forward(prompt.embeds.subarray(skipped * hiddenSize), reused));
  const decodeStart = performance.now();
  const segHidden: Float32Array[] = promptSeg.map((p) => prefill.hidden.slice((p - skipped) * hiddenSize, (p - skipped + 1) * hiddenSize));
  const positions = [...promptSeg];
  const logitsLast = prefill.logits;
  const finalHiddenLast = lastRow(prefill.hidden, hiddenSize);

  const tokens: number[] = [];
  let logits: Float32Array = logitsLast;
  let hidden: Float32Array = finalHiddenLast;
  let cache: KvCache = prefill.present;
  let sequence: Float32Array = prompt.embeds;
  while (tokens.length < options.maxNewTokens) {
    const token = choose(logits);
    if (token === options.segTokenId) {
      positions.push(prompt.expandedIds.length - 1 + tokens.length);
      segHidden.push(hidden);
    }
    tokens.push(token);
    options.onToken?.(token, tokens.length - 1);
    if (token === options.eosTokenId || tokens.length === options.maxNewTokens) break;
    const embedded = embedTokens(table, [token]);
    if (options.recompute) {
      sequence = concat(sequence, embedded);
      const step = await decoder.forward(sequence);
      logits = step.logits;
      hidden = lastRow(step.hidden, hiddenSize);
    } else {
      const step = await decoder.forward(embedded, cache);
      ({ logits, hidden, present: cache } = step);
    }
  }
  reportStage(`decode ${Math.max(0, tokens.length - 1)} steps`, decodeStart);
  // The cache holds the prompt and every token fed back (all but the last chosen).
  if (options.prefix && !options.recompute) options.prefix.remember(concat(prompt.embeds, embedTokens(table, tokens.slice(0, cache.length - promptLength))), cache);
  const hiddenStates = new Float32Array(segHidden.length * hiddenSize);
  segHidden.forEach((row, i) => hiddenStates.set(row, i * hiddenSize));
  return { tokens, logitsLast, finalHiddenLast, seg: { positions, hiddenStates } };
}

function concat(a: Float32Array, b: Float32Array): Float32Array {
  const out = new Float32Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
