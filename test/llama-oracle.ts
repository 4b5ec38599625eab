// Shared set-up of the LLaMA tests that read the official-code oracle (../shared/oracle, read-only, never copied).
import { test } from "bun:test";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { readLlamaConfig, type LlamaConfig } from "../src/models/llama-config.ts";
import { buildLlamaGraph, readEmbeddingTable, type LlamaGraphOptions } from "../src/models/llama.ts";
import { LlamaDecoder } from "../src/models/llama-runner.ts";
import { readNpy } from "../src/output/npy.ts";
import { GLAMM_DEFAULT_BBOX_TOKEN_ID, spliceEmbeddings, type EmbeddingTable, type FeatureRows, type SplicedSequence } from "../src/pipeline/embeddings.ts";
import { openWeights, type WeightSource } from "../src/weights/index.ts";

export const ORACLE_ROOT = resolve(import.meta.dir, "../../shared/oracle");

/** Oracle configurations (tiny-a, ...) present on this machine. */
export const oracleConfigs: string[] = existsSync(ORACLE_ROOT)
  ? readdirSync(ORACLE_ROOT).filter((name) => existsSync(join(ORACLE_ROOT, name, "refs/index.json")))
  : [];

/**
 * Tests registered per configuration vanish when there is none: this registers one skipped test that says why, so the
 * absent oracle shows in the report.
 */
export function skipWithoutOracle(what: string): void {
  if (oracleConfigs.length === 0) test.skip(`${what}: skipped, no oracle at ${ORACLE_ROOT}`, () => {});
}

export interface OracleCase {
  kind: string;
  prompt: string;
  instruction: string;
  answer?: string;
}

export class Oracle {
  readonly dir: string;
  readonly index: { cases: Record<string, OracleCase>; token_ids: Record<string, number>; added_tokens: Record<string, number> };
  readonly weights: WeightSource;
  readonly modelConfig: Record<string, unknown>;
  readonly config: LlamaConfig;
  readonly table: EmbeddingTable;
  readonly image: FeatureRows;

  constructor(name: string) {
    this.dir = join(ORACLE_ROOT, name);
    this.index = JSON.parse(readFileSync(join(this.dir, "refs/index.json"), "utf8"));
    this.weights = openWeights(join(this.dir, "glamm"));
    this.modelConfig = JSON.parse(readFileSync(join(this.dir, "glamm/config.json"), "utf8"));
    this.config = readLlamaConfig(this.modelConfig, this.weights);
    this.table = { data: readEmbeddingTable(this.weights, this.config), hidden: this.config.hiddenSize };
    const projected = readNpy(join(this.dir, "refs/clip/projector_out.npy"));
    this.image = { data: projected.data as Float32Array, rows: projected.shape[1] };
  }

  casesOf(kind: "_tf" | "_gen"): string[] {
    return Object.keys(this.index.cases).filter((name) => name.endsWith(kind));
  }

  has(caseName: string, tensor: string): boolean {
    return existsSync(join(this.dir, "refs", caseName, `${tensor}.npy`));
  }

  floats(caseName: string, tensor: string): Float32Array {
    return readNpy(join(this.dir, "refs", caseName, `${tensor}.npy`)).data as Float32Array;
  }

  ints(caseName: string, tensor: string): number[] {
    return Array.from(readNpy(join(this.dir, "refs", caseName, `${tensor}.npy`)).data as BigInt64Array, Number);
  }

  regions(caseName: string): FeatureRows | undefined {
    if (!this.has(caseName, "region_features")) return undefined;
    const array = readNpy(join(this.dir, "refs", caseName, "region_features.npy"));
    return { data: array.data as Float32Array, rows: array.shape[0] };
  }

  /** The case's recorded prompt ids spliced with the recorded projector output (and region rows at `bboxTokenId`). */
  sequence(caseName: string, bboxTokenId = GLAMM_DEFAULT_BBOX_TOKEN_ID): SplicedSequence {
    return this.sequenceOf(this.ints(caseName, "input_ids"), this.regions(caseName), bboxTokenId);
  }

  sequenceOf(ids: number[], regions?: FeatureRows, bboxTokenId = GLAMM_DEFAULT_BBOX_TOKEN_ID): SplicedSequence {
    return spliceEmbeddings({ ids, table: this.table, image: this.image, regions, bboxTokenId });
  }

  decoder(options: LlamaGraphOptions = {}): Promise<LlamaDecoder> {
    return LlamaDecoder.create(buildLlamaGraph(this.weights, this.config, options).toBytes(), this.config, { device: "cpu", attention: options.attention });
  }

  get eosTokenId(): number {
    return this.modelConfig.eos_token_id as number;
  }

  get segTokenId(): number {
    return this.index.token_ids.seg_token_idx;
  }
}

/** max |actual - expected| and the oracle tolerance 1e-4·(1 + max |expected|). */
export function deviation(actual: Float32Array, expected: Float32Array): { error: number; tolerance: number } {
  if (actual.length !== expected.length) throw new Error(`length ${actual.length} != reference length ${expected.length}`);
  let error = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    error = Math.max(error, Math.abs(actual[i] - expected[i]));
    scale = Math.max(scale, Math.abs(expected[i]));
  }
  return { error, tolerance: 1e-4 * (1 + scale) };
}
