import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeTinyCheckpoint } from "../src/models/tiny-checkpoint.ts";
import { mergeShards, type ShardRecord } from "../src/pipeline/results.ts";
import { ownedBy, resolveShard, shardOf } from "../src/pipeline/shard.ts";
import { buildBinary } from "./helpers/build-binary.ts";
import { testPicture } from "./helpers/png.ts";
import { okCounts, shardLines } from "./helpers/shard-results.ts";

const repo = join(import.meta.dir, "..");

describe("which shard runs", () => {
  test("--shard INDEX/COUNT, and bad values are usage errors", () => {
    expect(resolveShard({ shard: "2/5" }, {})).toMatchObject({ index: 2, count: 5 });
    for (const bad of ["5/5", "1", "-1/3", "a/b", "0/0"]) expect(() => resolveShard({ shard: bad }, {})).toThrow(/shard/);
    expect(resolveShard({}, {})).toBeUndefined();
  });

  test("SLURM job arrays: the count from the array, or GLAMM_SHARDS for a task resubmitted alone", () => {
    expect(resolveShard({}, { SLURM_ARRAY_TASK_ID: "3", SLURM_ARRAY_TASK_COUNT: "4", SLURM_ARRAY_TASK_MIN: "0", SLURM_ARRAY_TASK_MAX: "3" })).toMatchObject({ index: 3, count: 4 });
    expect(resolveShard({}, { SLURM_ARRAY_TASK_ID: "11", SLURM_ARRAY_TASK_MIN: "10", SLURM_ARRAY_TASK_MAX: "13" })).toMatchObject({ index: 1, count: 4 });
    // sbatch --array=2 sets COUNT=1, MIN=MAX=2: GLAMM_SHARDS says how many shards there are.
    expect(resolveShard({}, { SLURM_ARRAY_TASK_ID: "2", SLURM_ARRAY_TASK_COUNT: "1", SLURM_ARRAY_TASK_MIN: "2", SLURM_ARRAY_TASK_MAX: "2", GLAMM_SHARDS: "4" })).toMatchObject({ index: 2, count: 4 });
    expect(() => resolveShard({}, { SLURM_ARRAY_TASK_ID: "5", SLURM_ARRAY_TASK_COUNT: "3", SLURM_ARRAY_TASK_MIN: "1", SLURM_ARRAY_TASK_MAX: "9" })).toThrow(/gaps/);
    expect(() => resolveShard({ shards: "4" }, { SLURM_ARRAY_TASK_ID: "4" })).toThrow(/not below/);
  });

  test("Kubernetes Indexed Jobs: JOB_COMPLETION_INDEX with --shards or GLAMM_SHARDS", () => {
    expect(resolveShard({ shards: "6" }, { JOB_COMPLETION_INDEX: "5" })).toMatchObject({ index: 5, count: 6, source: "Kubernetes completion index 5" });
    expect(resolveShard({}, { JOB_COMPLETION_INDEX: "0", GLAMM_SHARDS: "2" })).toMatchObject({ index: 0, count: 2 });
    expect(() => resolveShard({}, { JOB_COMPLETION_INDEX: "0" })).toThrow(/GLAMM_SHARDS/);
    expect(() => resolveShard({ shards: "3" }, {})).toThrow(/--shards gives a shard count but nothing gives the index/);
    expect(() => resolveShard({}, { GLAMM_SHARDS: "3" })).toThrow(/GLAMM_SHARDS gives a shard count/);
  });

  test("owner = sha256 of the relative path mod COUNT: independent of list order and of added images", () => {
    const expected = (rel: string, count: number) => Number(createHash("sha256").update(rel).digest().readBigUInt64BE(0) % BigInt(count));
    for (const rel of ["a.png", "sub/b.jpg", "x/y/z.webp"]) expect(shardOf(rel, 7)).toBe(expected(rel, 7));
    const item = (rel: string) => ({ path: join("/data/in", rel), stem: join("/out", rel.replace(/\.png$/, "")) });
    const before = Array.from({ length: 30 }, (_, i) => item(`d${i % 3}/p${i}.png`));
    const after = [...Array.from({ length: 20 }, (_, i) => item(`new/q${i}.png`)), ...before.toReversed()];
    for (let index = 0; index < 4; index++) {
      const shard = { index, count: 4, source: "test" };
      const was = ownedBy(before, "/out", shard).map((i) => i.path);
      const now = ownedBy(after, "/out", shard).map((i) => i.path).filter((p) => !p.includes("/new/"));
      expect(now.sort()).toEqual(was.sort());
    }
    const sizes = [0, 1, 2, 3].map((index) => ownedBy(before, "/out", { index, count: 4, source: "" }).length);
    expect(sizes.reduce((a, b) => a + b)).toBe(30);
  });
});

describe("merging shard results", () => {
  const line = (image: string, status: "ok" | "error", at: string, shard: string): ShardRecord => ({ image, key: "k", status, at, shard });
  test("one line per image (latest ok, else latest error), sorted; missing, failed, stale and unstarted shards reported", () => {
    const results = new Map([
      ["0/3", [line("b.png", "error", "2026-01-01T00:00:01Z", "0/3"), line("b.png", "ok", "2026-01-01T00:00:02Z", "0/3"), line("a.png", "ok", "2026-01-01T00:00:03Z", "0/3")]],
      ["1/3", [line("c.png", "error", "2026-01-01T00:00:01Z", "1/3"), line("a.png", "ok", "2026-01-01T00:00:05Z", "1/3")]],
    ]);
    const inputs = [
      { index: 0, count: 3, total: 5, images: ["a.png", "b.png"] },
      { index: 1, count: 3, total: 4, images: ["c.png", "d.png"] },
    ];
    const report = mergeShards({ results, inputs });
    expect(report.merged.map((r) => [r.image, r.status, r.shard])).toEqual([
      ["a.png", "ok", "1/3"],
      ["b.png", "ok", "0/3"],
      ["c.png", "error", "1/3"],
    ]);
    expect(report.ok).toBe(2);
    expect(report.failed.map((r) => r.image)).toEqual(["c.png"]);
    expect(report.missing).toEqual(["d.png"]);
    expect(report.doneTwice).toEqual(["a.png"]);
    expect(report.shardsNotStarted).toEqual(["2/3"]);
    expect(report.staleShards).toEqual([{ shard: "1/3", total: 4, newest: 5 }]);
  });
});

/** The manifest's fields the batch/v1 Job schema requires, and the Indexed Job contract glamm relies on. */
function checkIndexedJob(doc: any): string[] {
  const problems: string[] = [];
  const need = (ok: boolean, what: string) => ok || problems.push(what);
  need(doc?.apiVersion === "batch/v1" && doc?.kind === "Job", "apiVersion batch/v1, kind Job");
  need(typeof doc?.metadata?.name === "string" && /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(doc.metadata.name), "metadata.name is a DNS label");
  const spec = doc?.spec ?? {};
  need(spec.completionMode === "Indexed", "spec.completionMode Indexed");
  need(Number.isInteger(spec.completions) && spec.completions >= 1, "spec.completions a positive integer");
  need(spec.parallelism === undefined || Number.isInteger(spec.parallelism), "spec.parallelism an integer");
  const pod = spec.template?.spec ?? {};
  need(["Never", "OnFailure"].includes(pod.restartPolicy), "template.spec.restartPolicy Never or OnFailure (Jobs allow no other)");
  const containers: any[] = pod.containers ?? [];
  need(containers.length > 0, "template.spec.containers");
  const volumes = new Set((pod.volumes ?? []).map((v: any) => v.name));
  for (const c of containers) {
    need(typeof c.name === "string" && typeof c.image === "string", "every container has a name and an image");
    need((c.args ?? []).every((a: unknown) => typeof a === "string"), "args are strings");
    const env = Object.fromEntries((c.env ?? []).map((e: any) => [e.name, e.value]));
    need(env.GLAMM_SHARDS === String(spec.completions), "env GLAMM_SHARDS equals spec.completions");
    need(Object.values(env).every((v) => typeof v === "string"), "env values are strings");
    for (const m of c.volumeMounts ?? []) need(volumes.has(m.name) && typeof m.mountPath === "string", `volumeMount ${m.name} names a volume`);
    for (const [k, v] of Object.entries({ ...c.resources?.requests, ...c.resources?.limits })) need(typeof v === "string" || typeof v === "number", `resource ${k}`);
  }
  return problems;
}

describe("Kubernetes Indexed Job manifests (validated offline)", () => {
  for (const [file, gpu] of [["glamm-indexed-job.yaml", false], ["glamm-indexed-job-cuda.yaml", true]] as const) {
    test(file, () => {
      const doc = Bun.YAML.parse(readFileSync(join(repo, "deploy/kubernetes", file), "utf8")) as any;
      expect(checkIndexedJob(doc)).toEqual([]);
      const container = doc.spec.template.spec.containers[0];
      expect(container.resources.limits["nvidia.com/gpu"] !== undefined).toBe(gpu);
      expect(container.args).toContain(gpu ? "cuda" : "cpu");
    });
  }

  test("the checker rejects a broken manifest", () => {
    const doc = Bun.YAML.parse(readFileSync(join(repo, "deploy/kubernetes/glamm-indexed-job.yaml"), "utf8")) as any;
    doc.spec.completionMode = "NonIndexed";
    doc.spec.template.spec.restartPolicy = "Always";
    doc.spec.completions = 5;
    expect(checkIndexedJob(doc)).toHaveLength(3);
  });
});

describe("the Indexed Job contract, with local processes", () => {
  let work = "";
  let binary = "";
  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), "glamm-shard-"));
    binary = buildBinary(join(work, "bin", "glamm"));
    mkdirSync(join(work, "images", "nested"), { recursive: true });
    for (let i = 0; i < 12; i++) writeFileSync(join(work, "images", i % 3 ? "" : "nested", `p${i}.png`), testPicture(i));
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  const env = (extra: Record<string, string>) => ({ HOME: work, GLAMM_HOME: join(work, "home"), PATH: process.env.PATH ?? "", ...extra });
  const args = ["gcg", "images", "--out", "out", "--model", "demo", "--device", "cpu", "--max-tokens", "3"];

  function runPod(index: number, count: number): Promise<{ code: number | null; stderr: string }> {
    const child = spawn(binary, args, { cwd: work, env: env({ JOB_COMPLETION_INDEX: String(index), GLAMM_SHARDS: String(count) }) });
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += d));
    child.stdout.resume();
    return new Promise((done) => child.on("close", (code) => done({ code, stderr })));
  }

  test("JOB_COMPLETION_INDEX=0..2 in parallel: each image once, each pod names its shard, merge complete", async () => {
    const warm = spawnSync(binary, ["gcg", "images/p1.png", "--out", "warm", ...args.slice(4)], { cwd: work, env: env({}) });
    expect(warm.status).toBe(0);
    const pods = await Promise.all([0, 1, 2].map((i) => runPod(i, 3)));
    for (const [i, pod] of pods.entries()) {
      expect(pod.code, pod.stderr).toBe(0);
      expect(pod.stderr).toMatch(new RegExp(`shard ${i}/3 \\(Kubernetes completion index ${i}\\): \\d+ of 12 image\\(s\\)`));
    }
    const counts = okCounts(shardLines(join(work, "out")));
    expect(counts.size).toBe(12);
    expect([...counts.values()].every((n) => n === 1)).toBe(true);
    const merge = spawnSync(binary, ["results", "merge", "out"], { cwd: work, env: env({}), encoding: "utf8" });
    expect(merge.status, merge.stdout + merge.stderr).toBe(0);
    expect(merge.stdout).toContain("12 ok, 0 failed, 0 missing");
    // A pod that runs again finds its shard done and redoes nothing.
    const again = await runPod(1, 3);
    expect(again.code).toBe(0);
    expect(shardLines(join(work, "out")).length).toBe(12);
  }, 120_000);

  test("a read-only GLAMM_HOME (pulled and converted) serves every task; an unconverted one is a one-line error", () => {
    // Root ignores file modes, so as root the task runs as nobody against the root-owned home.
    const asNobody = process.getuid?.() === 0;
    if (asNobody && spawnSync("sh", ["-c", "command -v setpriv"]).status !== 0) return console.warn("SKIPPED read-only home: root without setpriv");
    const home = join(work, "home");
    expect(spawnSync(binary, ["gcg", "images/p1.png", "--out", "warm", ...args.slice(4)], { cwd: work, env: env({}) }).status).toBe(0); // pulled and converted
    const runtime = join(home, "runtime");
    rmSync(runtime, { recursive: true, force: true }); // this binary's libraries must then come from a temporary folder
    const ro = join(work, "ro-out");
    mkdirSync(ro, { mode: 0o777 });
    spawnSync("chmod", ["-R", asNobody ? "go+rX" : "a-w", home]);
    spawnSync("chmod", ["go+rx", work, join(work, "images"), join(work, "bin"), binary]);
    spawnSync("chmod", ["777", ro]);
    const prefix = asNobody ? ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] : [];
    const scratch = join(work, "tmp-ro"); // the libraries' fallback folder, removed with the test's folder
    mkdirSync(scratch);
    spawnSync("chmod", ["777", scratch]);
    const glammAs = (a: string[], home: Record<string, string> = {}) => spawnSync(prefix[0] ?? binary, [...prefix.slice(1), ...(prefix.length ? [binary] : []), ...a], { cwd: work, env: env({ TMPDIR: scratch, ...home }), encoding: "utf8" });
    try {
      const ok = glammAs(["gcg", "images/p2.png", "--out", ro, "--model", "demo", "--device", "cpu", "--max-tokens", "3"]);
      expect(ok.status, ok.stderr).toBe(0);
      expect(existsSync(join(ro, "p2.glamm.json"))).toBe(true);
      expect(existsSync(runtime)).toBe(false);
      expect(readdirSync(scratch).some((d) => d.startsWith("glamm-runtime-"))).toBe(true);
      // Another precision was never converted: the task says so in one line instead of writing to the shared home.
      const missing = glammAs(["gcg", "images/p2.png", "--out", ro, "--model", "demo", "--device", "cpu", "--precision", "fp16"]);
      expect(missing.status).toBe(3);
      expect(missing.stderr.trim().split("\n").at(-1)).toMatch(/not converted in the read-only GLAMM_HOME/);
      // An empty read-only home has not even the demo model.
      const empty = join(work, "empty-home");
      mkdirSync(empty);
      if (!asNobody) spawnSync("chmod", ["a-w", empty]);
      const bare = glammAs(["gcg", "images/p2.png", "--out", ro, "--model", "demo", "--device", "cpu"], { GLAMM_HOME: empty });
      expect(bare.status).toBe(3);
      expect(bare.stderr.trim().split("\n").at(-1)).toMatch(/demo model is not in the read-only GLAMM_HOME/);
    } finally {
      spawnSync("chmod", ["-R", "u+w", home]);
    }
  }, 60_000);

  test("pull --convert-only and doctor tell whether a GLAMM_HOME is ready to be shared read-only", () => {
    const home = join(work, "share-home");
    const { glamm: checkpoint } = writeTinyCheckpoint(join(work, "share-src"), 3);
    const run = (...a: string[]) => spawnSync(binary, a, { cwd: work, env: env({ GLAMM_HOME: home }), encoding: "utf8" });
    expect(run("pull", "glamm-gcg", "--from", checkpoint).status).toBe(0);
    const doctor = () => JSON.parse(run("doctor", "--json").stdout).share as { model: string; precision: string; ok: boolean; detail: string }[];
    expect(doctor()).toEqual([expect.objectContaining({ model: "glamm-gcg", precision: "int4", ok: true })]);
    const converted = join(home, "converted");
    for (const dir of readdirSync(converted)) rmSync(join(converted, dir), { recursive: true });
    expect(doctor()[0]).toMatchObject({ ok: false, detail: expect.stringContaining("glamm pull glamm-gcg --convert-only") });
    const prepared = run("pull", "glamm-gcg", "--convert-only", "--precision", "int4,fp32");
    expect(prepared.status, prepared.stderr).toBe(0);
    expect(prepared.stdout).toMatch(/glamm-gcg \(int4\): ready[^]*glamm-gcg \(fp32\): ready[^]*is ready to be shared read-only/);
    expect(readdirSync(converted).filter((d) => !d.endsWith(".lock")).sort().map((d) => d.split("-").at(-1))).toEqual(["fp32", "int4"]);
    expect(doctor()[0].ok).toBe(true);
    const unknown = run("pull", "no-such-model", "--convert-only");
    expect(unknown.status).toBe(3);
    expect(unknown.stderr.trim().split("\n")).toHaveLength(1);
  }, 120_000);

  test("merge lists a shard that never ran and its missing images; summary counts per shard", () => {
    const out = join(work, "partial");
    const r = spawnSync(binary, [...args.slice(0, 2), "--out", "partial", ...args.slice(4), "--shard", "0/2"], { cwd: work, env: env({}), encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
    const merge = spawnSync(binary, ["results", "merge", out], { cwd: work, env: env({}), encoding: "utf8" });
    expect(merge.status).toBe(2);
    expect(merge.stdout).toContain("shard not started: 1/2");
    const summary = spawnSync(binary, ["results", "summary", out, "--json"], { cwd: work, env: env({}), encoding: "utf8" });
    const rows = JSON.parse(summary.stdout);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ shard: "0/2", failed: 0 });
    expect(rows[0].ok).toBe(rows[0].owned);
    const none = spawnSync(binary, ["results", "merge", join(work, "images")], { cwd: work, env: env({}), encoding: "utf8" });
    expect(none.status).toBe(2);
    expect(none.stderr.trim().split("\n")).toHaveLength(1);
  }, 60_000);
});
