import { createSession, ort, type SessionOptions } from "../runtime/ort.ts";
import type { LlamaConfig } from "./llama-config.ts";
import { LLAMA_IO } from "./llama.ts";

export type KvCache = ort.Tensor[];

export interface DecoderStep {
  /** [seq, logitsSize] */
  logits: Float32Array;
  /** Final-norm hidden states [seq, hidden]. */
  hidden: Float32Array;
  /** Key/value pairs per layer covering past + this step, to pass back as `past`. */
  present: KvCache;
}

/** One decoder graph in an onnxruntime session, run on a single sequence (batch 1). */
export class LlamaDecoder {
  private constructor(
    private readonly session: ort.InferenceSession,
    readonly config: LlamaConfig,
  ) {}

  static async create(model: string | Uint8Array, config: LlamaConfig, options: SessionOptions = {}): Promise<LlamaDecoder> {
    return new LlamaDecoder(await createSession(model, options), config);
  }

  /** Key/value tensors of length 0 (the past of a prefill). */
  emptyCache(): KvCache {
    const { numLayers, numKvHeads, headDim } = this.config;
    return Array.from({ length: 2 * numLayers }, () => new ort.Tensor("float32", new Float32Array(0), [1, numKvHeads, 0, headDim]));
  }

  /** Runs `embeds` ([seq, hidden] row-major) after the cached positions in `past` (default: none). */
  async forward(embeds: Float32Array, past: KvCache = this.emptyCache()): Promise<DecoderStep> {
    const { hiddenSize, numLayers } = this.config;
    const seq = embeds.length / hiddenSize;
    const feeds: Record<string, ort.Tensor> = { [LLAMA_IO.inputsEmbeds]: new ort.Tensor("float32", embeds, [1, seq, hiddenSize]) };
    for (let layer = 0; layer < numLayers; layer++) {
      feeds[LLAMA_IO.pastKey(layer)] = past[2 * layer];
      feeds[LLAMA_IO.pastValue(layer)] = past[2 * layer + 1];
    }
    const out = await this.session.run(feeds);
    const present: KvCache = [];
    for (let layer = 0; layer < numLayers; layer++) present.push(out[LLAMA_IO.presentKey(layer)], out[LLAMA_IO.presentValue(layer)]);
    return { logits: out[LLAMA_IO.logits].data as Float32Array, hidden: out[LLAMA_IO.hiddenStates].data as Float32Array, present };
  }

  release(): Promise<void> {
    return this.session.release();
  }
}
