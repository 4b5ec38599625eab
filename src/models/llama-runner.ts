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
  /** The attention probe [probed layers, key span] when the graph has one (see AttentionProbe). */
  probe?: Float32Array;
}

/** Keys [start, end) the attention probe reads. */
export interface ProbeSpan {
  start: number;
  end: number;
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

  /** Whether the graph outputs an attention probe (forward then needs a ProbeSpan). */
  get hasProbe(): boolean {
    return this.session.inputNames.includes(LLAMA_IO.probeKeyStart);
  }

  /** Runs `embeds` ([seq, hidden] row-major) after the cached positions in `past` (default: none). */
  async forward(embeds: Float32Array, past: KvCache = this.emptyCache(), probeSpan?: ProbeSpan): Promise<DecoderStep> {
    const { hiddenSize, numLayers } = this.config;
    const seq = embeds.length / hiddenSize;
    const feeds: Record<string, ort.Tensor> = { [LLAMA_IO.inputsEmbeds]: new ort.Tensor("float32", embeds, [1, seq, hiddenSize]) };
    for (let layer = 0; layer < numLayers; layer++) {
      feeds[LLAMA_IO.pastKey(layer)] = past[2 * layer];
      feeds[LLAMA_IO.pastValue(layer)] = past[2 * layer + 1];
    }
    if (this.hasProbe) {
      if (!probeSpan) throw new Error("this decoder has an attention probe: forward needs the key span it reads");
      const index = (value: number) => new ort.Tensor("int64", BigInt64Array.of(BigInt(value)), [1]);
      feeds[LLAMA_IO.probeKeyStart] = index(probeSpan.start);
      feeds[LLAMA_IO.probeKeyEnd] = index(probeSpan.end);
    }
    const out = await this.session.run(feeds);
    const present: KvCache = [];
    for (let layer = 0; layer < numLayers; layer++) present.push(out[LLAMA_IO.presentKey(layer)], out[LLAMA_IO.presentValue(layer)]);
    const probe = out[LLAMA_IO.probe]?.data as Float32Array | undefined;
    return { logits: out[LLAMA_IO.logits].data as Float32Array, hidden: out[LLAMA_IO.hiddenStates].data as Float32Array, present, ...(probe ? { probe } : {}) };
  }

  release(): Promise<void> {
    return this.session.release();
  }
}
