import { inputError } from "../cli/errors.ts";
import type { BatchRecord } from "./batch.ts";
import type { ShardInputs } from "./shard-run.ts";
import { SHARD_FILE } from "./shard.ts";

/** A results folder, on disk or in object storage: what `glamm results` reads and writes. */
export interface ResultsDir {
  readonly name: string;
  list(): Promise<string[]>;
  read(file: string): Promise<string>;
  write(file: string, text: string): Promise<void>;
}

/** A results line and the shard file it came from ("2/4"). */
export interface ShardRecord extends BatchRecord {
  shard: string;
}

export interface ShardFiles {
  results: Map<string, ShardRecord[]>;
  inputs: ShardInputs[];
}

function parseLines(text: string, shard: string): ShardRecord[] {
  const records: ShardRecord[] = [];
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    try {
      records.push({ ...(JSON.parse(line) as BatchRecord), shard });
    } catch {
      // a line cut short by a crash: its image was not recorded as done
    }
  }
  return records;
}

function parseInputs(text: string, where: string): ShardInputs {
  try {
    const inputs = JSON.parse(text) as ShardInputs;
    if (Array.isArray(inputs.images) && Number.isInteger(inputs.index) && Number.isInteger(inputs.count)) return inputs;
  } catch {
    // reported below
  }
  throw inputError(`${where} is not a shard inputs file (rerun that shard to rewrite it)`);
}

/** Every shard's results and inputs files in the folder. */
export async function readShardFiles(dir: ResultsDir): Promise<ShardFiles> {
  const results = new Map<string, ShardRecord[]>();
  const inputs: ShardInputs[] = [];
  for (const file of (await dir.list()).sort()) {
    const match = SHARD_FILE.exec(file);
    if (!match) continue;
    const shard = `${match[2]}/${match[3]}`;
    if (match[1] === "results") results.set(shard, parseLines(await dir.read(file), shard));
    else inputs.push(parseInputs(await dir.read(file), `${dir.name.replace(/\/$/, "")}/${file}`));
  }
  return { results, inputs };
}

export interface MergeReport {
  /** One record per image, sorted by image: its latest ok line, else its latest error line. */
  merged: ShardRecord[];
  ok: number;
  failed: ShardRecord[];
  /** Inputs some shard owns that have no line at all. */
  missing: string[];
  /** Shards of a count that never started ("2/4"). */
  shardsNotStarted: string[];
  /** Shards that last started over fewer images than another shard saw: images added since are not in their list. */
  staleShards: { shard: string; total: number; newest: number }[];
  /** Images done by more than one shard (the same image in two shards' results). */
  doneTwice: string[];
}

const time = (record: BatchRecord) => (record.at ? Date.parse(record.at) : 0);

/** Merges every shard's results: de-duplicated, sorted, checked against the inputs each shard owns. */
export function mergeShards({ results, inputs }: ShardFiles): MergeReport {
  const byImage = new Map<string, ShardRecord[]>();
  for (const records of results.values()) {
    for (const record of records) byImage.set(record.image, [...(byImage.get(record.image) ?? []), record]);
  }
  const merged: ShardRecord[] = [];
  const doneTwice: string[] = [];
  for (const [image, records] of byImage) {
    const ok = records.filter((r) => r.status === "ok");
    if (new Set(ok.map((r) => r.shard)).size > 1) doneTwice.push(image);
    const pick = (ok.length ? ok : records).reduce((a, b) => (time(b) >= time(a) ? b : a));
    merged.push(pick);
  }
  merged.sort((a, b) => (a.image < b.image ? -1 : a.image > b.image ? 1 : 0));
  const expected = new Set(inputs.flatMap((i) => i.images));
  const shardsNotStarted: string[] = [];
  for (const count of new Set(inputs.map((i) => i.count))) {
    for (let index = 0; index < count; index++) {
      if (!inputs.some((i) => i.count === count && i.index === index)) shardsNotStarted.push(`${index}/${count}`);
    }
  }
  const staleShards: MergeReport["staleShards"] = [];
  for (const i of inputs) {
    const newest = Math.max(...inputs.filter((o) => o.count === i.count).map((o) => o.total ?? 0));
    if ((i.total ?? 0) < newest) staleShards.push({ shard: `${i.index}/${i.count}`, total: i.total, newest });
  }
  return {
    merged,
    staleShards,
    ok: merged.filter((r) => r.status === "ok").length,
    failed: merged.filter((r) => r.status !== "ok"),
    missing: [...expected].filter((image) => !byImage.has(image)).sort(),
    shardsNotStarted,
    doneTwice: doneTwice.sort(),
  };
}

export interface ShardSummary {
  shard: string;
  /** Images the shard owns (from its inputs file); undefined when the file is absent. */
  owned?: number;
  ok: number;
  failed: number;
  /** Images per second between its first and last results line (model loading excluded). */
  imagesPerSecond?: number;
  first?: string;
  last?: string;
}

/** Counts, failures and throughput per shard. */
export function summarizeShards({ results, inputs }: ShardFiles): ShardSummary[] {
  const shards = new Set([...results.keys(), ...inputs.map((i) => `${i.index}/${i.count}`)]);
  const order = (s: string) => s.split("/").map(Number);
  return [...shards]
    .sort((a, b) => order(a)[1] - order(b)[1] || order(a)[0] - order(b)[0])
    .map((shard) => {
      const records = (results.get(shard) ?? []).filter((r) => r.at).sort((a, b) => time(a) - time(b));
      const latest = new Map(records.map((r) => [r.image, r.status]));
      const owned = inputs.find((i) => `${i.index}/${i.count}` === shard)?.images.length;
      const span = records.length > 1 ? (time(records.at(-1)!) - time(records[0])) / 1000 : 0;
      return {
        shard,
        owned,
        ok: [...latest.values()].filter((s) => s === "ok").length,
        failed: [...latest.values()].filter((s) => s !== "ok").length,
        imagesPerSecond: span > 0 ? (records.length - 1) / span : undefined,
        first: records[0]?.at,
        last: records.at(-1)?.at,
      };
    });
}
