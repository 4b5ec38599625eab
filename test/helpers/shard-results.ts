import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

export interface ResultLine {
  image: string;
  status: string;
  file: string;
}

/** Every line of every shard results file (results-INDEX-of-COUNT.jsonl) in a folder, read independently of glamm. */
export function shardLines(dir: string): ResultLine[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => /^results-\d+-of-\d+\.jsonl$/.test(f))
    .sort()
    .flatMap((file) =>
      readFileSync(join(dir, file), "utf8")
        .split("\n")
        .filter((l) => l.trim())
        .map((l) => ({ ...(JSON.parse(l) as { image: string; status: string }), file })),
    );
}

/** How many ok lines each image has across all shards. */
export function okCounts(lines: readonly ResultLine[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const line of lines) if (line.status === "ok") counts.set(line.image, (counts.get(line.image) ?? 0) + 1);
  return counts;
}
