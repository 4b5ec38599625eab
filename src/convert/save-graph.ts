import { join } from "node:path";
import type { GraphBuilder } from "../graph/builder.ts";
import { elementCount } from "../graph/dtype.ts";
import { formatBytes, formatDuration } from "../hub/progress.ts";
import type { LlamaPrecision } from "../models/llama.ts";
import { openWeights } from "../weights/index.ts";

/** Seconds between two progress lines of one graph. */
const PROGRESS_INTERVAL_MS = 5_000;

/**
 * Writes `<name>.onnx` (+ `.onnx.data`, external data, so any size loads) into `dir`, reporting bytes written, rate
 * and ETA every few seconds and the total at the end.
 */
export async function saveGraph(graph: GraphBuilder, dir: string, name: string, say: (message: string) => void): Promise<void> {
  const started = performance.now();
  let lastLine = started;
  say(`converting ${name}`);
  await graph.save(join(dir, `${name}.onnx`), {
    onBytes: (written, total) => {
      const now = performance.now();
      if (now - lastLine < PROGRESS_INTERVAL_MS) return;
      lastLine = now;
      const rate = written / ((now - started) / 1000);
      const percent = total > 0 ? Math.floor((100 * written) / total) : 100;
      say(`converting ${name}: ${formatBytes(written)} / ${formatBytes(total)} (${percent}%), ${formatBytes(rate)}/s, ETA ${formatDuration((total - written) / rate)}`);
    },
  });
  say(`converted ${name} in ${formatDuration((performance.now() - started) / 1000)}`);
}

/** Bytes per element of a 4-bit weight with one float32 scale per block of 32 (MatMulNBits). */
const INT4_BYTES = 0.5 + 4 / 32;

/** LLaMA projection matrices and lm_head: the tensors int4 quantizes. */
export const isLanguageMatrix = (key: string): boolean => /(^|\.)layers\.\d+\.(self_attn|mlp)\.\w+_proj\.weight$|(^|\.)lm_head\.weight$/.test(key);

/**
 * An upper estimate of what converting these checkpoints writes: every tensor at the graph's float size (fp32 unless
 * fp16), `quantized` ones at int4 size when the precision is int4, plus a float32 copy of the token embedding table.
 */
export function estimateConvertedBytes(sources: readonly string[], precision: LlamaPrecision, quantized: (key: string) => boolean): number {
  const floatBytes = precision === "fp16" ? 2 : 4;
  let total = 0;
  for (const path of sources) {
    const weights = openWeights(path);
    try {
      for (const key of weights.keys()) {
        const count = elementCount(weights.info(key).shape);
        total += count * (precision === "int4" && quantized(key) ? INT4_BYTES : floatBytes);
        if (/embed_tokens\.weight$/.test(key)) total += count * 4;
      }
    } finally {
      weights.close();
    }
  }
  return Math.ceil(total);
}
