/**
 * GCG recall's phrase similarity as eval/gcg/evaluate.py computes it: bert-base-uncased WordPiece ids (max_length 512,
 * truncated), embedding = mean of last_hidden_state over every token ([CLS] and [SEP] included), cosine similarity.
 */
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { inputError } from "../cli/errors.ts";
import { buildBertEmbeddingGraph, loadBertConfig } from "../models/bert.ts";
import { createSession, ort, type Device } from "../runtime/ort.ts";
import { openWeights } from "../weights/index.ts";
import type { PhraseSimilarity } from "./gcg.ts";
import { WordPieceTokenizer } from "./wordpiece.ts";

const MAX_LENGTH = 512;

/** Cosine similarity of two vectors as sklearn's cosine_similarity (0 for a zero vector). */
export function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let dot = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  const norms = Math.sqrt(aa) * Math.sqrt(bb);
  return norms === 0 ? 0 : dot / norms;
}

/** `tokenizer(text, max_length=512, truncation=True)`: keeps [CLS], the first 510 pieces and [SEP]. */
function truncated(ids: number[], maxLength: number): number[] {
  return ids.length <= maxLength ? ids : [...ids.slice(0, maxLength - 1), ids[ids.length - 1]];
}

export class BertPhraseEncoder {
  private readonly cache = new Map<string, Float32Array>();

  private constructor(
    readonly tokenizer: WordPieceTokenizer,
    private readonly session: ort.InferenceSession,
    private readonly maxLength: number,
  ) {}

  /** Loads a Hugging Face BERT folder (config.json, vocab.txt, pytorch_model.bin or model.safetensors). */
  static async load(dir: string, options: { device?: Device } = {}): Promise<BertPhraseEncoder> {
    if (!existsSync(dir) || !statSync(dir).isDirectory()) throw inputError(`BERT model folder not found: ${dir}`);
    const config = loadBertConfig(dir);
    const tokenizer = WordPieceTokenizer.fromVocabFile(join(dir, "vocab.txt"));
    const weights = openWeights(dir);
    try {
      const bytes = buildBertEmbeddingGraph(weights, config).toBytes();
      const session = await createSession(bytes, { device: options.device ?? "cpu" });
      return new BertPhraseEncoder(tokenizer, session, Math.min(MAX_LENGTH, config.maxPositions));
    } finally {
      weights.close();
    }
  }

  inputIds(text: string): number[] {
    return truncated(this.tokenizer.encode(text), this.maxLength);
  }

  /** The mean-pooled last hidden state of one text. */
  async embed(text: string): Promise<Float32Array> {
    const known = this.cache.get(text);
    if (known) return known;
    const ids = this.inputIds(text);
    const feeds = { input_ids: new ort.Tensor("int64", BigInt64Array.from(ids, BigInt), [1, ids.length]) };
    const { embedding } = await this.session.run(feeds);
    const vector = Float32Array.from(embedding.data as Float32Array);
    this.cache.set(text, vector);
    return vector;
  }

  readonly similarity: PhraseSimilarity = async (a, b) => {
    const embedAll = async (texts: string[]) => {
      const vectors: Float32Array[] = [];
      for (const text of texts) vectors.push(await this.embed(text));
      return vectors;
    };
    const left = await embedAll(a);
    const right = await embedAll(b);
    return left.map((x) => right.map((y) => cosine(x, y)));
  };

  async close(): Promise<void> {
    await this.session.release();
  }
}
