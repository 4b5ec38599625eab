import { createSession, ort, type SessionOptions } from "../runtime/ort.ts";
import type { LlamaConfig } from "./llama-config.ts";
import { LLAMA_IO } from "./llama.ts";

/** Buffer capacity grows in steps of this many positions (masked-out rows cost little; regrowing copies once). */
const CAPACITY_STEP = 64;

/**
 * Keys and values of the first `length` positions, in per-layer buffers that the decoder reads in place: keys
 * [kv_heads, head_dim, capacity] (transposed), values [kv_heads, capacity, head_dim]. Extending a cache writes the new
 * positions into the same buffers (while they fit) and returns a longer cache: the shorter one stays valid as a
 * prefix, but of two caches extended from one prefix only the last written is intact.
 */
export class KvCache {
  constructor(
    readonly length: number,
    readonly capacity: number,
    /** 2 per layer: key, value. */
    readonly buffers: Float32Array[],
  ) {}

  static empty(config: LlamaConfig): KvCache {
    return new KvCache(0, 0, Array.from({ length: 2 * config.numLayers }, () => new Float32Array(0)));
  }

  /** This cache with room for `seq` more positions: itself when they fit, else a copy into larger buffers. */
  reserve(seq: number, config: LlamaConfig): KvCache {
    if (this.length + seq <= this.capacity) return this;
    const { numKvHeads: heads, headDim } = config;
    const capacity = Math.ceil((this.length + seq) / CAPACITY_STEP) * CAPACITY_STEP;
    const buffers = this.buffers.map((buffer, i) => {
      const target = new Float32Array(heads * capacity * headDim);
      // Keys hold one row of `capacity` per (head, dim), values one block of capacity × head_dim per head.
      const [rows, width] = i % 2 === 0 ? [heads * headDim, 1] : [heads, headDim];
      for (let r = 0; r < rows; r++) target.set(buffer.subarray(r * this.capacity * width, (r * this.capacity + this.length) * width), r * capacity * width);
      return target;
    });
    return new KvCache(this.length, capacity, buffers);
  }

  /** This cache followed by `seq` positions (keys [kv_heads, head_dim, seq], values [kv_heads, seq, head_dim] per layer). */
  extended(added: Float32Array[], seq: number, config: LlamaConfig): KvCache {
    if (this.length + seq > this.capacity) throw new RangeError(`KV cache of capacity ${this.capacity} cannot take ${seq} more positions after ${this.length}`);
    const { numKvHeads: heads, headDim } = config;
    const { length, capacity } = this;
    this.buffers.forEach((buffer, i) => {
      if (i % 2 === 0) {
        for (let row = 0; row < heads * headDim; row++) for (let j = 0; j < seq; j++) buffer[row * capacity + length + j] = added[i][row * seq + j];
      } else {
        for (let h = 0; h < heads; h++) buffer.set(added[i].subarray(h * seq * headDim, (h + 1) * seq * headDim), (h * capacity + length) * headDim);
      }
    });
    return new KvCache(length + seq, capacity, this.buffers);
  }
}

export interface DecoderStep {
  /** [logit rows, logitsSize]: lm_head at the requested positions (default: the last). */
  logits: Float32Array;
  /** Final-norm hidden states [seq, hidden]. */
  hidden: Float32Array;
  /** The cache covering past + this step, to pass back as `past`. */
  present: KvCache;
  /** The attention probe [probed layers, key span] when the graph has one (see AttentionProbe). */
  probe?: Float32Array;
}

/** Keys [start, end) the attention probe reads. */
export interface ProbeSpan {
  start: number;
  end: number;
}

export interface ForwardOptions {
  /** Positions of this step (negative: from the end) whose logits to compute; default [-1]. */
  logitRows?: readonly number[];
  /** Required when the graph has an attention probe. */
  probeSpan?: ProbeSpan;
}

/** One decoder graph in an onnxruntime session, run on a single sequence (batch 1). */
export class LlamaDecoder {
  private constructor(
    private readonly session: ort.InferenceSession,
    readonly config: LlamaConfig,
    private readonly attention: "plain" | "gqa",
  ) {}

  /** `attention`: the graph's LlamaGraphOptions.attention (default "plain"). */
  static async create(model: string | Uint8Array, config: LlamaConfig, options: SessionOptions & { attention?: "plain" | "gqa" } = {}): Promise<LlamaDecoder> {
    const { attention = "plain", ...sessionOptions } = options;
    return new LlamaDecoder(await createSession(model, sessionOptions), config, attention);
  }

  /** Whether the graph outputs an attention probe (forward then needs a ProbeSpan). */
  get hasProbe(): boolean {
    return this.session.inputNames.includes(LLAMA_IO.probeKeyStart);
  }

  /** Runs `embeds` ([seq, hidden] row-major) after the cached positions in `past` (default: none). */
  async forward(embeds: Float32Array, cached: KvCache = KvCache.empty(this.config), options: ForwardOptions = {}): Promise<DecoderStep> {
    const { hiddenSize, numLayers, numKvHeads, headDim } = this.config;
    const seq = embeds.length / hiddenSize;
    // GroupQueryAttention needs buffers that already fit past + new. Plain attention scores every buffer position
    // (masked past past_length), so a prefill without a past gets empty buffers: a reserved one doubled its attention work.
    const past = cached.length === 0 && this.attention === "plain" ? KvCache.empty(this.config) : cached.reserve(seq, this.config);
    const int64 = (values: readonly number[]) => new ort.Tensor("int64", BigInt64Array.from(values, BigInt), [values.length]);
    const rows = options.logitRows ?? [-1];
    const feeds: Record<string, ort.Tensor> = {
      [LLAMA_IO.inputsEmbeds]: new ort.Tensor("float32", embeds, [1, seq, hiddenSize]),
      [LLAMA_IO.pastLength]: int64([past.length]),
      // lm_head on no rows is not a valid MatMulNBits shape: compute the last and drop it.
      [LLAMA_IO.logitsPositions]: int64(rows.length ? rows : [-1]),
    };
    for (let layer = 0; layer < numLayers; layer++) {
      feeds[LLAMA_IO.pastKey(layer)] = new ort.Tensor("float32", past.buffers[2 * layer], [1, numKvHeads, headDim, past.capacity]);
      feeds[LLAMA_IO.pastValue(layer)] = new ort.Tensor("float32", past.buffers[2 * layer + 1], [1, numKvHeads, past.capacity, headDim]);
    }
    if (this.hasProbe) {
      if (!options.probeSpan) throw new Error("this decoder has an attention probe: forward needs the key span it reads");
      feeds[LLAMA_IO.probeKeyStart] = int64([options.probeSpan.start]);
      feeds[LLAMA_IO.probeKeyEnd] = int64([options.probeSpan.end]);
    }
    const out = await this.session.run(feeds);
    const newRows: Float32Array[] = [];
    for (let layer = 0; layer < numLayers; layer++) newRows.push(out[LLAMA_IO.newKey(layer)].data as Float32Array, out[LLAMA_IO.newValue(layer)].data as Float32Array);
    const probe = out[LLAMA_IO.probe]?.data as Float32Array | undefined;
    const logits = rows.length ? (out[LLAMA_IO.logits].data as Float32Array) : new Float32Array(0);
    return { logits, hidden: out[LLAMA_IO.hiddenStates].data as Float32Array, present: past.reserve(seq, this.config).extended(newRows, seq, this.config), ...(probe ? { probe } : {}) };
  }

  release(): Promise<void> {
    return this.session.release();
  }
}
