import { join } from "node:path";
import { notice } from "../cli/ui.ts";
import { writeFileAtomic } from "../output/atomic.ts";
import { openBatchStorage, type BatchStorage } from "../storage/batch-storage.ts";
import { BatchLog, type BatchItem } from "./batch.ts";
import { ownedBy, shardInputsName, shardResultsName, type Shard } from "./shard.ts";

/** What a shard wrote down about itself when it started: the inputs it owns (read by `glamm results merge`). */
export interface ShardInputs {
  index: number;
  count: number;
  /** How many images the whole batch had when this shard started: a shard that saw fewer than the others is stale. */
  total: number;
  images: string[];
}

export interface BatchPlan {
  /** The images this process runs. */
  items: BatchItem[];
  /** How many images the whole batch has, across shards. */
  total: number;
  log: BatchLog;
  storage: BatchStorage;
}

/**
 * The images this process runs, where they and the outputs live, and the results file it appends to. Unsharded: every
 * image, results.jsonl. Sharded: the images the shard owns and its own results-INDEX-of-COUNT.jsonl (no two processes
 * append to one file on a shared file system), plus inputs-INDEX-of-COUNT.json listing the images it owns.
 */
export async function planBatch(images: readonly string[], out: string, shard: Shard | undefined, options: { gallery?: boolean } = {}): Promise<BatchPlan> {
  const storage = await openBatchStorage(images, out, options);
  try {
    const all = storage.items;
    const logName = shard ? shardResultsName(shard) : "results.jsonl";
    await storage.restore(logName);
    const log = new BatchLog(storage.localOut, logName, storage.exists);
    if (!shard) return { items: all, total: all.length, log, storage };
    const owned = ownedBy(all, storage.localOut, shard);
    const record: ShardInputs = { index: shard.index, count: shard.count, total: all.length, images: owned.map((item) => item.path) };
    const inputsFile = join(storage.localOut, shardInputsName(shard));
    writeFileAtomic(inputsFile, `${JSON.stringify(record)}\n`);
    storage.sync(inputsFile);
    notice(`shard ${shard.index}/${shard.count} (${shard.source}): ${owned.length} of ${all.length} image(s); results in ${out.replace(/\/$/, "")}/${logName}`);
    return { items: owned, total: all.length, log, storage };
  } catch (error) {
    await storage.close();
    throw error;
  }
}
