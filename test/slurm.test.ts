import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildBinary } from "./helpers/build-binary.ts";
import { testPicture } from "./helpers/png.ts";
import { okCounts, shardLines } from "./helpers/shard-results.ts";

// A real one-node SLURM cluster (munged, slurmctld, slurmd from Debian's packages, .ci/slurm-cluster.sh) running the
// deploy/ batch script as a job array over generated images with the demo model.
const repo = join(import.meta.dir, "..");
const IMAGES = 40;
const SHARDS = 4;
/** Images added before the second submission (two of them fall to the last shard). */
const TOTAL = IMAGES + 8;

const work = mkdtempSync(join(tmpdir(), "glamm-slurm-"));
let env: NodeJS.ProcessEnv = {};

/** Starts the cluster; the reason it cannot, or "". */
function startCluster(): string {
  if (process.getuid?.() !== 0) return "not root (slurmd must run as root)";
  const missing = ["munged", "slurmctld", "slurmd", "sbatch"].filter((t) => spawnSync("sh", ["-c", `command -v ${t}`]).status !== 0);
  if (missing.length) return `SLURM packages not installed (${missing.join(", ")}): apt-get install munge slurmctld slurmd slurm-client`;
  const r = spawnSync("bash", [join(repo, ".ci/slurm-cluster.sh"), "start", join(work, "cluster")], { encoding: "utf8", timeout: 60_000 });
  if (r.status !== 0) return `the SLURM cluster did not start: ${(r.stderr || r.stdout).trim().split("\n").at(-1)}`;
  env = { ...process.env, SLURM_CONF: r.stdout.trim() };
  return "";
}

const skipReason = startCluster();
if (skipReason) console.warn(`skipping SLURM tests: ${skipReason}`);

beforeAll(() => {
  if (skipReason) return;
  const binary = buildBinary(join(work, "bin", "glamm"));
  mkdirSync(join(work, "images", "sub"), { recursive: true });
  for (let i = 0; i < IMAGES; i++) writeFileSync(imagePath(i), testPicture(i));
  env = { ...env, GLAMM: binary, GLAMM_HOME: join(work, "home"), HOME: work, GLAMM_SHARDS: undefined };
  // Pull-and-convert once, as a cluster's shared GLAMM_HOME would be prepared before the array runs.
  const warm = spawnSync(binary, ["gcg", "--model", "demo", "--device", "cpu", join(work, "images", "img-1.png"), "--out", join(work, "warm"), "--max-tokens", "2"], { env, encoding: "utf8" });
  if (warm.status !== 0) throw new Error(`warming GLAMM_HOME failed: ${warm.stderr}`);
}, 120_000);

afterAll(() => {
  spawnSync("bash", [join(repo, ".ci/slurm-cluster.sh"), "stop", join(work, "cluster")]);
  rmSync(work, { recursive: true, force: true });
});

/** sbatch --wait over the deploy script; returns the job id and exit status once every array task has ended. */
async function sbatch(out: string, array: string, extraEnv: NodeJS.ProcessEnv = {}, onSubmitted?: (job: string) => void) {
  const args = [`--array=${array}`, "--wait", "--cpus-per-task=1", `--chdir=${work}`, `--output=${join(work, "log-%A_%a.txt")}`];
  const script = [join(repo, "deploy/slurm/glamm-array.sbatch"), join(work, "images"), out, "--model", "demo", "--device", "cpu", "--max-tokens", "4"];
  const child = spawn("sbatch", [...args, ...script], { env: { ...env, ...extraEnv } });
  let stdout = "";
  let stderr = "";
  let job = "";
  child.stderr.on("data", (d) => (stderr += d));
  child.stdout.on("data", (d) => {
    stdout += d;
    const match = /Submitted batch job (\d+)/.exec(stdout);
    if (match && !job) onSubmitted?.((job = match[1]));
  });
  const code = await new Promise<number | null>((done) => child.on("close", done));
  return { job, code, stderr };
}

function glamm(args: string[]) {
  const r = spawnSync(env.GLAMM!, args, { env, encoding: "utf8" });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const imagePath = (i: number) => join(work, "images", i % 4 === 0 ? "sub" : "", `img-${i}.png`);
const allImages = (count = IMAGES) => Array.from({ length: count }, (_, i) => imagePath(i)).sort();
const owned = (out: string, shard: number): string[] => JSON.parse(readFileSync(join(out, `inputs-${shard}-of-${SHARDS}.json`), "utf8")).images;

describe.skipIf(Boolean(skipReason))("SLURM job array (real slurmctld + slurmd)", () => {
  test("sbatch --array=0-3 --wait: every image done exactly once across shards, merge complete", async () => {
    const out = join(work, "out-full");
    const run = await sbatch(out, `0-${SHARDS - 1}`);
    expect(run.code, run.stderr).toBe(0);
    const counts = okCounts(shardLines(out));
    expect([...counts.keys()].sort()).toEqual(allImages());
    expect([...counts.values()].every((n) => n === 1)).toBe(true);
    const merge = glamm(["results", "merge", out]);
    expect(merge.code, merge.stdout + merge.stderr).toBe(0);
    expect(merge.stdout).toContain(`${IMAGES} ok, 0 failed, 0 missing`);
    const merged = readFileSync(join(out, "results.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l).image);
    expect(merged).toEqual(allImages());
    const summary = glamm(["results", "summary", out]);
    expect(summary.code).toBe(0);
    console.log(`SLURM run, ${IMAGES} images over ${SHARDS} array tasks:\n${summary.stdout}`);
  }, 150_000);

  test("images added later stay off the finished shards; a cancelled task, resubmitted alone, redoes only its images", async () => {
    const out = join(work, "out-full");
    const ownedBefore = Array.from({ length: SHARDS }, (_, i) => owned(out, i));
    for (let i = IMAGES; i < TOTAL; i++) writeFileSync(imagePath(i), testPicture(i));
    const fileOf = (i: number) => join(out, `results-${i}-of-${SHARDS}.jsonl`);
    const linesBefore = Array.from({ length: SHARDS }, (_, i) => readFileSync(fileOf(i), "utf8"));
    // The last task is still pending (tasks take one CPU each) when it is cancelled; without accounting, sbatch --wait
    // does not report a cancelled task in its exit status, so the results show it.
    await sbatch(out, `0-${SHARDS - 1}`, {}, (job) => spawnSync("scancel", [`${job}_${SHARDS - 1}`], { env }));
    for (let i = 0; i < SHARDS - 1; i++) {
      // A finished image never moves: each shard still owns what it owned, and did only new images now.
      const now = owned(out, i);
      expect(ownedBefore[i].every((image) => now.includes(image))).toBe(true);
      const added = readFileSync(fileOf(i), "utf8").slice(linesBefore[i].length).trim().split("\n").filter(Boolean);
      expect(added.map((l) => JSON.parse(l).image).sort()).toEqual(now.filter((image) => !ownedBefore[i].includes(image)).sort());
    }
    const done = new Set(shardLines(out).filter((l) => l.status === "ok").map((l) => l.image));
    const missing = allImages(TOTAL).filter((image) => !done.has(image));
    expect(missing.length).toBeGreaterThan(0);
    // The cancelled shard's inputs file predates the new images; merge flags it rather than calling the run complete.
    const incomplete = glamm(["results", "merge", out]);
    expect(incomplete.code).toBe(2);
    expect(incomplete.stdout).toContain(`shard stale: ${SHARDS - 1}/${SHARDS} last started over ${IMAGES} image(s), another shard saw ${TOTAL}`);
    const otherShards = [0, 1, 2].map((i) => readFileSync(fileOf(i), "utf8"));
    const lastBefore = readFileSync(fileOf(SHARDS - 1), "utf8");

    const again = await sbatch(out, String(SHARDS - 1), { GLAMM_SHARDS: String(SHARDS) });
    expect(again.code, again.stderr).toBe(0);
    // The other shards' files are untouched; the resubmitted task wrote lines for exactly the images that were missing.
    expect([0, 1, 2].map((i) => readFileSync(fileOf(i), "utf8"))).toEqual(otherShards);
    const redone = readFileSync(fileOf(SHARDS - 1), "utf8").slice(lastBefore.length).trim().split("\n").map((l) => JSON.parse(l).image);
    expect(redone.sort()).toEqual(missing);
    expect(missing.every((image) => owned(out, SHARDS - 1).includes(image))).toBe(true);
    const counts = okCounts(shardLines(out));
    expect([...counts.keys()].sort()).toEqual(allImages(TOTAL));
    expect([...counts.values()].every((n) => n === 1)).toBe(true);
    const merge = glamm(["results", "merge", out]);
    expect(merge.code, merge.stdout).toBe(0);
    expect(merge.stdout).toContain(`${TOTAL} ok, 0 failed, 0 missing`);
  }, 150_000);
});
