import { Command, Option } from "clipanion";
import { ExitCode, inputError } from "../src/cli/errors.ts";
import { notice } from "../src/cli/ui.ts";
import { mergeShards, readShardFiles, summarizeShards, type ResultsDir, type ShardSummary } from "../src/pipeline/results.ts";
import { openResultsDir } from "../src/storage/results-dir.ts";

async function shardFilesIn(dir: ResultsDir) {
  const files = await readShardFiles(dir);
  if (files.results.size === 0 && files.inputs.length === 0) throw inputError(`no shard results (results-INDEX-of-COUNT.jsonl) in ${dir.name}`);
  return files;
}

export class ResultsMergeCommand extends Command {
  static paths = [["results", "merge"]];
  static usage = Command.Usage({
    description: "merge the shards' results-INDEX-of-COUNT.jsonl into one results.jsonl",
    details:
      "One line per image (its latest ok line, else its latest error), sorted by image. Checks every image a shard owns is present exactly once and lists the missing ones; exits 2 when any image is missing or failed, or a shard never started or last ran over an older list of images. DIR may be s3://bucket/prefix/.",
    examples: [["Merge a sharded run", "glamm results merge glamm-out"]],
  });

  dir = Option.String({ name: "dir" });

  async execute(): Promise<number> {
    const dir = await openResultsDir(this.dir);
    const report = mergeShards(await shardFilesIn(dir));
    await dir.write("results.jsonl", report.merged.map((r) => `${JSON.stringify(r)}\n`).join(""));
    const out = this.context.stdout;
    out.write(`merged ${report.merged.length} image(s) into ${dir.name.replace(/\/$/, "")}/results.jsonl: ${report.ok} ok, ${report.failed.length} failed, ${report.missing.length} missing\n`);
    for (const shard of report.shardsNotStarted) out.write(`shard not started: ${shard}\n`);
    for (const s of report.staleShards) out.write(`shard stale: ${s.shard} last started over ${s.total} image(s), another shard saw ${s.newest}: run it again\n`);
    for (const image of report.missing) out.write(`missing: ${image}\n`);
    for (const record of report.failed) out.write(`failed: ${record.image}: ${record.error ?? "unknown error"}\n`);
    if (report.doneTwice.length) notice(`${report.doneTwice.length} image(s) were done by more than one shard (kept the latest): ${report.doneTwice.slice(0, 5).join(", ")}`);
    const complete = report.missing.length === 0 && report.failed.length === 0 && report.shardsNotStarted.length === 0 && report.staleShards.length === 0;
    return complete ? ExitCode.ok : ExitCode.input;
  }
}

function table(rows: ShardSummary[]): string {
  const cells = rows.map((r) => [r.shard, r.owned === undefined ? "?" : String(r.owned), String(r.ok), String(r.failed), r.imagesPerSecond === undefined ? "-" : r.imagesPerSecond.toFixed(2)]);
  const total = rows.reduce((sum, r) => ({ owned: sum.owned + (r.owned ?? 0), ok: sum.ok + r.ok, failed: sum.failed + r.failed }), { owned: 0, ok: 0, failed: 0 });
  cells.push(["total", String(total.owned), String(total.ok), String(total.failed), ""]);
  const header = ["SHARD", "IMAGES", "OK", "FAILED", "IMAGES/S"];
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  return [header, ...cells].map((c) => `${c.map((v, i) => v.padEnd(widths[i])).join("  ").trimEnd()}\n`).join("");
}

export class ResultsSummaryCommand extends Command {
  static paths = [["results", "summary"]];
  static usage = Command.Usage({
    description: "per-shard counts, failures and throughput of a sharded run",
    details: "IMAGES is what the shard owns; IMAGES/S is measured between its first and last results line (model loading excluded). DIR may be s3://bucket/prefix/.",
    examples: [["Summarize a sharded run", "glamm results summary glamm-out"], ["As JSON", "glamm results summary glamm-out --json"]],
  });

  dir = Option.String({ name: "dir" });
  json = Option.Boolean("--json", false, { description: "print the summary as JSON" });

  async execute(): Promise<number> {
    const summary = summarizeShards(await shardFilesIn(await openResultsDir(this.dir)));
    this.context.stdout.write(this.json ? `${JSON.stringify(summary, null, 2)}\n` : table(summary));
    return ExitCode.ok;
  }
}
