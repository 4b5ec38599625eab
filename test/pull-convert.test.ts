import { afterAll, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeTinyCheckpoint } from "../src/models/tiny-checkpoint.ts";
import { pullModel } from "../src/hub/store.ts";
import { choosePrecision } from "../src/convert/glamm.ts";
import { sourceFingerprint } from "../src/convert/fingerprint.ts";
import "../src/convert/pull-converter.ts";

const work = mkdtempSync(join(tmpdir(), "glamm-pull-convert-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

test("pull --from converts a GLaMM checkpoint once its vision tower is in, and a repeat pull converts nothing", async () => {
  const { glamm } = writeTinyCheckpoint(join(work, "src"), 5);
  const env = { ...process.env, GLAMM_HOME: join(work, "home"), HF_HOME: join(work, "hf") };
  const saved = process.env.GLAMM_HOME;
  process.env.GLAMM_HOME = env.GLAMM_HOME;
  try {
    const first = await pullModel("glamm-gcg", { from: glamm, env });
    expect(first.map((r) => r.record.name)).toEqual(["glamm-gcg", "clip"]);
    expect(first.every((r) => r.converted.includes("glamm-onnx"))).toBe(true);
    // Entries, without the conversion's lock file (kept in place, as huggingface_hub keeps its .lock files).
    const converted = readdirSync(join(work, "home", "converted")).filter((name) => !name.endsWith(".lock"));
    expect(converted).toHaveLength(1);
    expect(existsSync(join(work, "home", "converted", converted[0], "manifest.json"))).toBe(true);
    // The conversion reused the hashes pull verified; hashing the installed files afresh gives the same key.
    const record = first[0].record;
    const vision = first[1].record;
    process.env.GLAMM_HOME = join(work, "fresh-home");
    const fresh = await sourceFingerprint([record.dir, vision.dir]);
    process.env.GLAMM_HOME = env.GLAMM_HOME;
    expect(converted[0].startsWith(fresh.slice(0, 16))).toBe(true);
    // `glamm models` lists the conversion with its precision and its size on disk.
    const listed = spawnSync(process.execPath, ["src/main.ts", "models", "--json"], { encoding: "utf8", env });
    expect(listed.status).toBe(0);
    const entry = (JSON.parse(listed.stdout) as { name: string; converted: { variant: string; bytes: number }[] }[]).find((m) => m.name === "glamm-gcg");
    const dir = join(work, "home", "converted", converted[0]);
    const onDisk = readdirSync(dir).reduce((sum, name) => sum + statSync(join(dir, name)).size, 0);
    expect(entry?.converted).toEqual([{ variant: choosePrecision("auto", "auto"), bytes: onDisk }]);
    expect(onDisk).toBeGreaterThan(0);
    const again = await pullModel("glamm-gcg", { from: glamm, env });
    expect(again.map((r) => [r.upToDate, r.converted])).toEqual([
      [true, []],
      [true, []],
    ]);
  } finally {
    if (saved === undefined) delete process.env.GLAMM_HOME;
    else process.env.GLAMM_HOME = saved;
  }
});

test("pull remembers the verified hashes of a model glamm does not convert at pull time (the attend backend's first run hashes nothing again)", async () => {
  const { clip } = writeTinyCheckpoint(join(work, "src-clip"), 6);
  const home = join(work, "home-clip");
  const env = { ...process.env, GLAMM_HOME: home, HF_HOME: join(work, "hf-clip") };
  const saved = process.env.GLAMM_HOME;
  process.env.GLAMM_HOME = home;
  try {
    const [{ record, converted }] = await pullModel("clip-vit-large-patch14-336", { from: clip, env });
    expect(converted).toEqual(["glamm-onnx"]);
    expect(existsSync(join(home, "converted"))).toBe(false);
    const memo = JSON.parse(readFileSync(join(home, "hash-memo.json"), "utf8")) as Record<string, { sha256: string }>;
    expect(record.files.map((f) => memo[join(record.dir, f.path)]?.sha256)).toEqual(record.files.map((f) => f.sha256));
  } finally {
    if (saved === undefined) delete process.env.GLAMM_HOME;
    else process.env.GLAMM_HOME = saved;
  }
});
