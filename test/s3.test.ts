import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildBinary } from "./helpers/build-binary.ts";
import { testPicture } from "./helpers/png.ts";
import { s3ServerMissing, startS3Server, type S3TestServer } from "./helpers/s3-server.ts";

// s3:// inputs and outputs through the compiled binary against a real S3-compatible server on 127.0.0.1.
let server: S3TestServer | undefined;
let work = "";
let binary = "";
let client: Bun.S3Client;
const IMAGES = 8;

if (s3ServerMissing) console.warn(`skipping S3 tests: ${s3ServerMissing}`);

beforeAll(async () => {
  if (s3ServerMissing) return;
  server = await startS3Server(["images", "annotations"]);
  work = mkdtempSync(join(tmpdir(), "glamm-s3-"));
  binary = buildBinary(join(work, "bin", "glamm"));
  client = new Bun.S3Client({ endpoint: server.endpoint, accessKeyId: "S3RVER", secretAccessKey: "S3RVER", bucket: "images" });
  for (let i = 0; i < IMAGES; i++) await client.write(`photos/${i % 2 ? "a/" : ""}p${i}.png`, testPicture(i));
  await client.write("photos/notes.txt", "not an image");
});

afterAll(async () => {
  await server?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

/** Runs the binary without blocking this process, which serves the S3 requests. */
function glamm(args: string[], extra: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env = { HOME: work, GLAMM_HOME: join(work, "home"), PATH: process.env.PATH ?? "", GLAMM_S3_BACKOFF_MS: "5", ...server!.env, ...extra };
  const child = spawn(binary, args, { cwd: work, env });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  return new Promise((done) => child.on("close", (code) => done({ code, stdout, stderr })));
}

const keys = async (bucket: string, prefix: string) => ((await client.list({ prefix }, { bucket })).contents ?? []).map((o) => o.key).sort();
const run = ["--model", "demo", "--device", "cpu", "--max-tokens", "3"];

describe.skipIf(Boolean(s3ServerMissing))("object storage", () => {
  test("s3:// prefix in, s3:// prefix out, two shards: outputs mirror the keys, results only for uploaded images, merge in the bucket", async () => {
    for (const shard of ["0/2", "1/2"]) {
      const r = await glamm(["gcg", "s3://images/photos/", "--out", "s3://annotations/run1/", ...run, "--shard", shard]);
      expect(r.code, r.stderr).toBe(0);
    }
    const out = await keys("annotations", "run1/");
    const expected = Array.from({ length: IMAGES }, (_, i) => `run1/${i % 2 ? "a/" : ""}p${i}.glamm`).flatMap((s) => [`${s}.json`, `${s}.png`]);
    expect(out.filter((k) => k.includes(".glamm."))).toEqual(expected.sort());
    expect(out).toContain("run1/results-0-of-2.jsonl");
    const lines = (await client.file("run1/results-1-of-2.jsonl", { bucket: "annotations" }).text()).trim().split("\n").map((l) => JSON.parse(l));
    for (const line of lines) expect(line.outputs.every((o: string) => o.startsWith("s3://annotations/run1/"))).toBe(true);
    const json = JSON.parse(await client.file("run1/a/p1.glamm.json", { bucket: "annotations" }).text());
    expect(json.image.path).toBe("s3://images/photos/a/p1.png");
    const merge = await glamm(["results", "merge", "s3://annotations/run1/"]);
    expect(merge.code, merge.stdout + merge.stderr).toBe(0);
    expect(merge.stdout).toContain(`${IMAGES} ok, 0 failed, 0 missing`);
    const merged = (await client.file("run1/results.jsonl", { bucket: "annotations" }).text()).trim().split("\n");
    expect(merged).toHaveLength(IMAGES);
    // Run again: the shard's results come back from the bucket and nothing is redone.
    const again = await glamm(["gcg", "s3://images/photos/", "--out", "s3://annotations/run1/", ...run, "--shard", "0/2"]);
    expect(again.stderr).toContain("already done in s3://annotations/run1/results-0-of-2.jsonl");
  }, 120_000);

  test("a store that fails every third request: retried with backoff, every image done once", async () => {
    const flaky = server!;
    flaky.failEvery = 3;
    const failedBefore = flaky.stats.failed;
    try {
      const r = await glamm(["gcg", "s3://images/photos/a/", "--out", "s3://annotations/flaky/", ...run]);
      expect(r.code, r.stderr).toBe(0);
    } finally {
      flaky.failEvery = 0;
    }
    expect(flaky.stats.failed - failedBefore).toBeGreaterThan(3);
    const lines = (await client.file("flaky/results.jsonl", { bucket: "annotations" }).text()).trim().split("\n").map((l) => JSON.parse(l));
    expect(lines.map((l) => l.image).sort()).toEqual([1, 3, 5, 7].map((i) => `s3://images/photos/a/p${i}.png`));
    expect((await keys("annotations", "flaky/")).filter((k) => k.endsWith(".glamm.png"))).toHaveLength(4);
  }, 120_000);

  test("a store that never answers every fourth upload: abandoned after GLAMM_S3_TIMEOUT_MS, retried, done", async () => {
    const slow = server!;
    slow.stallEvery = 4;
    const stalledBefore = slow.stats.stalled;
    const finished = glamm(["gcg", "s3://images/photos/a/", "--out", "s3://annotations/stalled/", ...run], { GLAMM_S3_TIMEOUT_MS: "400" });
    // Without the client's timeout the run would wait on the first unanswered request forever; with it, every image's
    // results line reaches the bucket while the stalled requests are still open.
    let lines: string[] = [];
    try {
      for (let waited = 0; lines.length < 4 && waited < 90_000; waited += 500) {
        await Bun.sleep(500);
        const text = await client.file("stalled/results.jsonl", { bucket: "annotations" }).text().catch(() => "");
        lines = text.trim().split("\n").filter(Boolean);
      }
    } finally {
      slow.stallEvery = 0;
      slow.releaseStalled(); // the abandoned requests end, and with them the process
    }
    const r = await finished;
    expect(lines).toHaveLength(4);
    expect(r.code, r.stderr).toBe(0);
    expect(slow.stats.stalled - stalledBefore).toBeGreaterThan(1);
  }, 120_000);

  test("a single object in, a local folder out", async () => {
    const r = await glamm(["gcg", "s3://images/photos/p2.png", "--out", "local", ...run]);
    expect(r.code, r.stderr).toBe(0);
    expect(Bun.file(join(work, "local/p2.glamm.png")).size).toBeGreaterThan(0);
  }, 60_000);

  test("wrong credentials, a missing bucket, a missing prefix: one line each, no outputs", async () => {
    const cases: [string[], Record<string, string>, RegExp, number][] = [
      [["gcg", "s3://images/photos/", "--out", "bad-auth"], { S3_ACCESS_KEY_ID: "WRONG" }, /S3 refused access to s3:\/\/images\/photos\/ \(InvalidAccessKeyId\)/, 4],
      [["gcg", "s3://no-such-bucket/x/", "--out", "bad-bucket"], {}, /no such S3 bucket: no-such-bucket/, 2],
      [["gcg", "s3://images/nothing-here", "--out", "bad-prefix"], {}, /no such S3 object or prefix: s3:\/\/images\/nothing-here/, 2],
      [["gcg", "s3://images/photos/p2.png", "--out", "s3://no-such-bucket/out/"], {}, /no such S3 bucket: no-such-bucket/, 2],
    ];
    for (const [args, extra, message, code] of cases) {
      const r = await glamm([...args, ...run], extra);
      expect(r.code, r.stderr).toBe(code);
      const lines = r.stderr.trim().split("\n").filter((l) => !l.includes("running on CPU"));
      expect(lines.at(-1)).toMatch(message);
      expect(lines.filter((l) => /^\s+at /.test(l))).toEqual([]);
      if (!args[3].startsWith("s3://")) expect(existsSync(join(work, args[3]))).toBe(false);
    }
  }, 60_000);
});
