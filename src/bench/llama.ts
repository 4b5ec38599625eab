import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { usageError } from "../cli/errors.ts";
import { readLlamaConfig, type LlamaConfig } from "../models/llama-config.ts";
import { buildLlamaGraph, DEFAULT_INT4_ACCURACY_LEVEL, type LlamaPrecision } from "../models/llama.ts";
import { LlamaDecoder, type KvCache } from "../models/llama-runner.ts";
import { syntheticLlamaWeights, vicuna7bShape } from "../models/llama-synthetic.ts";
import { openWeights, type WeightSource } from "../weights/index.ts";
import type { BenchOptions, Benchmark, PreparedBenchmark } from "./runner.ts";
import { countParam } from "./params.ts";

const SYNTHETIC = "synthetic-7b-2layer";
const PARAMS = `model=${SYNTHETIC}|<checkpoint dir>, layers=N (synthetic model, default 2), precision=fp32|fp16|int4, accuracy=0|4 (int4 MatMulNBits accuracy_level, default 4), block=N (int4 block size, default 32), prompt=N (default 600)`;

interface Setup {
  decoder: LlamaDecoder;
  config: LlamaConfig;
  prompt: number;
  dispose(): Promise<void>;
}

/** Builds the decoder named by the params into a temporary file (a 7B-wide fp32 graph exceeds the 2 GiB inline limit). */
async function setUp({ device, params }: BenchOptions): Promise<Setup> {
  const precision = (params.precision ?? "fp32") as LlamaPrecision;
  if (!["fp32", "fp16", "int4"].includes(precision)) throw usageError(`precision must be fp32, fp16 or int4 (got ${precision})`);
  const prompt = countParam(params, "prompt", 600);
  if (!(Number.isInteger(prompt) && prompt >= 1)) throw usageError(`prompt must be a whole number >= 1 (got ${params.prompt})`);
  const accuracy = countParam(params, "accuracy", DEFAULT_INT4_ACCURACY_LEVEL, 0);
  if (accuracy !== 0 && accuracy !== 4) throw usageError(`accuracy must be 0 or 4 (got ${params.accuracy})`);
  const blockSize = countParam(params, "block", 32);
  if (!(blockSize >= 16 && (blockSize & (blockSize - 1)) === 0)) throw usageError(`block must be a power of two >= 16 (got ${params.block})`);
  const layers = countParam(params, "layers", 2);
  if (!(Number.isInteger(layers) && layers >= 1)) throw usageError(`layers must be a whole number >= 1 (got ${params.layers})`);
  const model = params.model ?? SYNTHETIC;
  let weights: WeightSource;
  let config: LlamaConfig;
  if (model === SYNTHETIC) {
    config = vicuna7bShape(layers);
    weights = syntheticLlamaWeights(config);
  } else {
    weights = openWeights(model);
    config = readLlamaConfig(JSON.parse(readFileSync(join(model, "config.json"), "utf8")), weights);
  }
  const dir = mkdtempSync(join(tmpdir(), "glamm-bench-llama-"));
  try {
    const path = join(dir, "decoder.onnx");
    await buildLlamaGraph(weights, config, { precision, int4AccuracyLevel: accuracy as 0 | 4, int4BlockSize: blockSize }).save(path);
    Bun.gc(true); // the builder's copy of the weights, before onnxruntime loads its own (a 7B int4 graph is ~4 GB)
    const decoder = await LlamaDecoder.create(path, config, { device, profilePrefix: process.env.GLAMM_BENCH_PROFILE });
    return { decoder, config, prompt, dispose: async () => void (await decoder.release(), weights.close(), rmSync(dir, { recursive: true, force: true })) };
  } catch (error) {
    weights.close();
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

/** Fixed pseudo-random embeddings [rows, hidden] (the decoder's cost does not depend on their values). */
function embeddings(rows: number, hidden: number): Float32Array {
  return Float32Array.from({ length: rows * hidden }, (_, i) => Math.sin(i * 12.9898) * 0.5);
}

/**
 * One prefill of `prompt` positions (GLaMM prompts are ~600 positions: 576 image rows plus text), after `past` cached
 * ones when given: a later prompt on the same image, which takes over the shared prefix's keys and values (PrefixCache).
 */
export const llamaPrefillBenchmark: Benchmark = {
  name: "llama-prefill",
  description: `LLaMA decoder prefill tokens/s (${PARAMS}, past=N (cached positions before the prompt, default 0))`,
  async prepare(options): Promise<PreparedBenchmark> {
    const past = countParam(options.params, "past", 0, 0);
    const setup = await setUp(options);
    const { hiddenSize } = setup.config;
    const all = embeddings(past + setup.prompt, hiddenSize);
    const input = all.subarray(past * hiddenSize);
    const cached = past ? (await setup.decoder.forward(all.subarray(0, past * hiddenSize))).present : undefined;
    // Each run writes the same positions after the prefix (or grows a copy of it), as a PrefixCache hand-over does.
    const run = async () => void (await setup.decoder.forward(input, cached));
    return { run, dispose: setup.dispose, unit: { name: "token", perRun: setup.prompt } };
  },
};

/**
 * `tokens` decode steps after a prefilled prompt: with the KV cache (mode=cache), or recomputing the whole sequence
 * every step as the official GLaMM generation does (mode=recompute).
 */
export const llamaDecodeBenchmark: Benchmark = {
  name: "llama-decode",
  description: `LLaMA decoder generation tokens/s (${PARAMS}, tokens=N (default 16), mode=cache|recompute)`,
  async prepare(options): Promise<PreparedBenchmark> {
    const tokens = countParam(options.params, "tokens", 16);
    if (!(Number.isInteger(tokens) && tokens >= 1)) throw usageError(`tokens must be a whole number >= 1 (got ${options.params.tokens})`);
    const mode = options.params.mode ?? "cache";
    if (mode !== "cache" && mode !== "recompute") throw usageError(`mode must be cache or recompute (got ${mode})`);
    const setup = await setUp(options);
    const { hiddenSize } = setup.config;
    const all = embeddings(setup.prompt + tokens, hiddenSize);
    const prefix = await setup.decoder.forward(all.subarray(0, setup.prompt * hiddenSize));
    const step = (i: number) => all.subarray((setup.prompt + i) * hiddenSize, (setup.prompt + i + 1) * hiddenSize);
    const run = async () => {
      let cache: KvCache = prefix.present;
      for (let i = 0; i < tokens; i++) {
        if (mode === "cache") cache = (await setup.decoder.forward(step(i), cache)).present;
        else await setup.decoder.forward(all.subarray(0, (setup.prompt + i + 1) * hiddenSize));
      }
    };
    return { run, dispose: setup.dispose, unit: { name: "token", perRun: tokens } };
  },
};

export const llamaBenchmarks: Benchmark[] = [llamaPrefillBenchmark, llamaDecodeBenchmark];
