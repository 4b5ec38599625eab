import { createHash } from "node:crypto";
import { extname, relative, sep } from "node:path";
import { usageError } from "../cli/errors.ts";
import type { BatchItem } from "./batch.ts";

/** This process's part of a batch split over COUNT processes: shard INDEX (0-based) of COUNT. */
export interface Shard {
  index: number;
  count: number;
  /** Where the shard came from, for the notice: "--shard", "SLURM array task 3", "Kubernetes completion index 3". */
  source: string;
}

const integer = (text: string): number | undefined => (/^\d+$/.test(text.trim()) ? Number(text.trim()) : undefined);

function checked(index: number, count: number, source: string, what: string): Shard {
  if (count < 1) throw usageError(`${what}: the shard count must be at least 1, got ${count}`);
  if (index >= count) throw usageError(`${what}: shard index ${index} is not below the shard count ${count}`);
  return { index, count, source };
}

/** `--shard INDEX/COUNT`, e.g. 2/8 (INDEX counts from 0). */
export function parseShard(text: string): Shard {
  const match = /^(\d+)\/(\d+)$/.exec(text.trim());
  if (!match) throw usageError(`--shard takes INDEX/COUNT with INDEX from 0, e.g. 0/4; got "${text}"`);
  return checked(Number(match[1]), Number(match[2]), "--shard", "--shard");
}

function countOption(shards: string | undefined, env: NodeJS.ProcessEnv): number | undefined {
  const raw = shards ?? env.GLAMM_SHARDS;
  if (raw === undefined || raw === "") return undefined;
  const count = integer(raw);
  if (count === undefined || count < 1) throw usageError(`${shards !== undefined ? "--shards" : "GLAMM_SHARDS"} must be a whole number of shards, got "${raw}"`);
  return count;
}

/**
 * The shard this process runs: `--shard INDEX/COUNT`, else a SLURM job array task (SLURM_ARRAY_TASK_ID; the count from
 * --shards/GLAMM_SHARDS, else SLURM_ARRAY_TASK_COUNT with IDs counted from SLURM_ARRAY_TASK_MIN), else a Kubernetes
 * Indexed Job pod (JOB_COMPLETION_INDEX; the count from --shards/GLAMM_SHARDS). Undefined: the whole batch.
 */
export function resolveShard(options: { shard?: string; shards?: string }, env: NodeJS.ProcessEnv = process.env): Shard | undefined {
  if (options.shard !== undefined) return parseShard(options.shard);
  const count = countOption(options.shards, env);
  const slurmId = env.SLURM_ARRAY_TASK_ID;
  if (slurmId !== undefined && slurmId !== "") {
    const id = integer(slurmId);
    if (id === undefined) throw usageError(`SLURM_ARRAY_TASK_ID is not a number: "${slurmId}"`);
    const source = `SLURM array task ${id}`;
    // An explicit count means array IDs are shard indices (0..N-1): a resubmitted single task (--array=2) keeps its shard.
    if (count !== undefined) return checked(id, count, source, "SLURM_ARRAY_TASK_ID");
    const min = integer(env.SLURM_ARRAY_TASK_MIN ?? "0") ?? 0;
    const max = integer(env.SLURM_ARRAY_TASK_MAX ?? "");
    const total = integer(env.SLURM_ARRAY_TASK_COUNT ?? "") ?? (max !== undefined ? max - min + 1 : undefined);
    if (total === undefined) throw usageError("SLURM_ARRAY_TASK_ID is set but not the array size; pass --shards N or set GLAMM_SHARDS");
    if (max !== undefined && max - min + 1 !== total) {
      throw usageError(`the SLURM array ${min}-${max} has gaps (${total} tasks); use --array=0-N-1 or pass --shards N`);
    }
    return checked(id - min, total, source, "SLURM_ARRAY_TASK_ID");
  }
  const k8sIndex = env.JOB_COMPLETION_INDEX;
  if (k8sIndex !== undefined && k8sIndex !== "") {
    const index = integer(k8sIndex);
    if (index === undefined) throw usageError(`JOB_COMPLETION_INDEX is not a number: "${k8sIndex}"`);
    if (count === undefined) throw usageError("JOB_COMPLETION_INDEX is set but not the number of shards; pass --shards N or set GLAMM_SHARDS (the Job's completions)");
    return checked(index, count, `Kubernetes completion index ${index}`, "JOB_COMPLETION_INDEX");
  }
  if (count !== undefined) {
    throw usageError(`${options.shards !== undefined ? "--shards" : "GLAMM_SHARDS"} gives a shard count but nothing gives the index: --shard INDEX/COUNT, SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX`);
  }
  return undefined;
}

/**
 * The input's path relative to its input root, with `/` separators. Outputs mirror that path under the output root,
 * so it is read back from the item's output stem (plus the input's extension, which the stem drops).
 */
export function shardKey(item: BatchItem, out: string): string {
  return `${relative(out, item.stem)}${extname(item.path)}`.split(sep).join("/");
}

/** Which shard owns an input: a hash of its relative path, so neither list order nor added images move it. */
export function shardOf(key: string, count: number): number {
  const digest = createHash("sha256").update(key).digest();
  return Number(digest.readBigUInt64BE(0) % BigInt(count));
}

export const ownedBy = (items: readonly BatchItem[], out: string, shard: Shard): BatchItem[] =>
  items.filter((item) => shardOf(shardKey(item, out), shard.count) === shard.index);

/** File names of a shard's records beside its outputs: results-INDEX-of-COUNT.jsonl and the inputs it owns. */
export const shardResultsName = (shard: Pick<Shard, "index" | "count">) => `results-${shard.index}-of-${shard.count}.jsonl`;
export const shardInputsName = (shard: Pick<Shard, "index" | "count">) => `inputs-${shard.index}-of-${shard.count}.json`;
export const SHARD_FILE = /^(results|inputs)-(\d+)-of-(\d+)\.(jsonl|json)$/;
