import { KvCache } from "../models/llama-runner.ts";
import type { LlamaConfig } from "../models/llama-config.ts";

/**
 * The last sequence one decoder ran on an image and its keys and values, so that the next prompt on the same image
 * (another expression, box or chat turn) prefills only the rows after what the two share: the system prompt and the
 * image rows at least, the whole conversation so far in a chat. Rows are compared as embeddings, so image and region
 * rows match only when they are the same features. One sequence is kept: a reuse takes it over.
 */
export class PrefixCache {
  private rows: Float32Array = new Float32Array(0);
  private cache?: KvCache;

  /**
   * The cached keys and values of the longest prefix `embeds` shares with the stored sequence, at most `limit`
   * positions (the prefill must still compute the rows whose outputs are needed).
   */
  take(embeds: Float32Array, limit: number, config: LlamaConfig): KvCache | undefined {
    if (!this.cache) return undefined;
    const { hiddenSize: width } = config;
    const max = Math.min(limit, this.cache.length, embeds.length / width);
    let shared = 0;
    while (shared < max && sameRow(embeds, this.rows, shared, width)) shared++;
    if (shared === 0) return undefined;
    // The stored cache is handed over (the next `remember` replaces it): the decoder writes its buffers from `shared`
    // on, or grows them (KvCache.reserve), so a 7B conversation's keys and values (~1 MB a row) are never held twice.
    const { cache } = this;
    this.cache = undefined;
    this.rows = new Float32Array(0);
    return new KvCache(shared, cache.capacity, cache.buffers);
  }

  /** Keeps `rows` ([cache.length, hidden], the inputs that made `cache`) for the next prompt. */
  remember(rows: Float32Array, cache: KvCache): void {
    this.rows = rows;
    this.cache = cache;
  }
}

function sameRow(a: Float32Array, b: Float32Array, row: number, width: number): boolean {
  for (let i = row * width; i < (row + 1) * width; i++) if (a[i] !== b[i]) return false;
  return true;
}
