import { usageError } from "../../cli/errors.ts";
import type { KvCache, LlamaDecoder, ProbeSpan } from "../../models/llama-runner.ts";
import { reportStage, timed } from "../../runtime/stage-times.ts";
import { embedTokens, type EmbeddingTable } from "../embeddings.ts";
import { argmax } from "../generate.ts";

export interface ProbedDecodeOptions {
  eosTokenId: number;
  maxNewTokens: number;
  /** Teacher forcing: these ids are emitted in order, then EOS (the official logits-processor trick). */
  forcedIds?: readonly number[];
  onToken?: (token: number, index: number) => void;
}

export interface ProbedDecode {
  /** New tokens (the official `sequences` without its leading BOS), ending with EOS when generation stopped there. */
  tokens: number[];
  /** probes[j]: the probe output [probed layers, image tokens] of the step that produced tokens[j] (step 0 = prefill). */
  probes: Float32Array[];
  /** logits[j]: the lm_head row that chose tokens[j] (before any forcing). */
  logits: Float32Array[];
}

/**
 * Greedy or teacher-forced decoding with a KV cache, reading the attention probe at every step: one prefill, then one
 * token per step. The token chosen after the last step is never fed back, so there is one probe per token.
 */
export async function decodeWithProbe(decoder: LlamaDecoder, table: EmbeddingTable, promptEmbeds: Float32Array, span: ProbeSpan, options: ProbedDecodeOptions): Promise<ProbedDecode> {
  const { forcedIds, eosTokenId } = options;
  const limit = forcedIds ? forcedIds.length + 1 : options.maxNewTokens;
  if (!(Number.isInteger(limit) && limit >= 1)) throw usageError(`max new tokens must be a whole number >= 1 (got ${options.maxNewTokens})`);
  const tokens: number[] = [];
  const probes: Float32Array[] = [];
  const logits: Float32Array[] = [];
  let step = await timed(`prefill ${promptEmbeds.length / decoder.config.hiddenSize} positions`, () => decoder.forward(promptEmbeds, undefined, { probeSpan: span }));
  const decodeStart = performance.now();
  let cache: KvCache = step.present;
  for (;;) {
    if (!step.probe) throw new Error("the decoder graph has no attention probe");
    probes.push(step.probe);
    logits.push(step.logits);
    const token = forcedIds ? (forcedIds[tokens.length] ?? eosTokenId) : argmax(step.logits);
    tokens.push(token);
    options.onToken?.(token, tokens.length - 1);
    if (token === eosTokenId || tokens.length >= limit) break;
    step = await decoder.forward(embedTokens(table, [token]), cache, { probeSpan: span });
    cache = step.present;
  }
  reportStage(`decode ${tokens.length - 1} steps`, decodeStart);
  return { tokens, probes, logits };
}
