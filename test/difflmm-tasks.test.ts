import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import schema from "../src/output/schema.json" with { type: "json" };
import { buildBinary } from "./helpers/build-binary.ts";
import { validate } from "./output-schema-validator.ts";
import { glammLines } from "./helpers/expect-error.ts";

// `--backend attend --model <DiffLMM LoRA folder>` end to end through the compiled binary, on the DiffLMM oracle's
// checkpoint (official layout: the base LLM, SD and CLIP folders found from the LoRA folder's configs).
const root = join(import.meta.dir, "../../shared/oracle-difflmm/tiny-a");
const present = existsSync(join(root, "refs/index.json"));
if (!present) console.warn(`skipping DiffLMM task tests: no ${root}/refs/index.json`);

interface Result {
  model: { noise?: { seed?: number; file?: string } };
  text: string;
  segments: { phrase: string; point: [number, number]; heatmap?: { values: number[] } }[];
}

describe.skipIf(!present)("DiffLMM tasks through the binary (oracle checkpoint)", () => {
  let work = "";
  let binary = "";
  const index = present ? JSON.parse(readFileSync(join(root, "refs/index.json"), "utf8")) : { runs: {}, config_sizes: { dirs: {} } };
  const lora = join(root, index.config_sizes.dirs.lora_dir ?? "");
  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), "glamm-difflmm-tasks-"));
    binary = buildBinary(join(work, "bin", "glamm"));
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  const glamm = (task: string, out: string, extra: string[]) => {
    const args = [task, "--backend", "attend", "--model", lora, "--sam", join(root, "sam_tiny.pth"), "--device", "cpu", "--precision", "fp32", "--max-tokens", "8", "--out", join(work, out), "--json", ...extra, join(root, "image.png")];
    return spawnSync(binary, args, { cwd: work, env: { HOME: work, GLAMM_HOME: join(work, "home") }, encoding: "utf8" });
  };
  const run = (task: string, out: string, extra: string[]): Result => {
    const r = glamm(task, out, extra);
    expect(glammLines(r.stderr)).toEqual([]);
    expect(r.status).toBe(0);
    const doc = JSON.parse(readFileSync(join(work, out, "image.glamm.json"), "utf8"));
    expect(validate(schema, doc)).toEqual([]);
    return doc as Result;
  };

  test("ground with the recorded noise: the oracle's phrases and SAM points", () => {
    const ref = index.runs.teacher_forced;
    let marked = ref.forced_answer as string;
    for (const phrase of [...ref.phrases].reverse() as string[]) {
      const at = marked.lastIndexOf(phrase);
      marked = `${marked.slice(0, at)}<p>${phrase}</p>${marked.slice(at + phrase.length)}`;
    }
    const doc = run("ground", "ground", ["--text", marked, "--noise", join(root, "refs/noise.npy")]);
    expect(doc.model.noise).toEqual({ file: join(root, "refs/noise.npy") });
    expect(doc.text).toBe(ref.answer);
    expect(doc.segments.map((s) => s.phrase)).toEqual(ref.phrases);
    doc.segments.forEach((s, i) => expect([ref.points[i], ref.runner_up_points[i]]).toContainEqual(s.point));
  }, 120_000);

  test("a --noise array of the wrong shape is a one-line input error before any image is written", () => {
    const r = glamm("gcg", "bad-noise", ["--noise", join(root, "refs/vae_noise.npy")]);
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split("\n").filter((l) => l.startsWith("glamm:"))).toEqual([expect.stringMatching(/vae_noise\.npy holds <f4 \[4, 48, 48\]; the model needs float32 \[2, 1, 4, 48, 48\]$/)]);
    expect(existsSync(join(work, "bad-noise", "image.glamm.json"))).toBe(false);
  }, 60_000);

  test("gcg draws seeded noise by default, reports the seed, and another seed changes the image tokens", () => {
    const first = run("gcg", "gcg-default", ["--heatmaps"]);
    const again = run("gcg", "gcg-again", ["--heatmaps"]);
    const other = run("caption", "caption-seed-1", ["--heatmaps", "--noise-seed", "1"]);
    expect(first.model.noise).toEqual({ seed: 0 });
    expect(other.model.noise).toEqual({ seed: 1 });
    expect(again.text).toBe(first.text);
    expect(again.segments).toEqual(first.segments);
    // Same question and greedy decoding: only the diffusion noise differs, so the logits and attention do.
    expect(other.text !== first.text || JSON.stringify(other.segments) !== JSON.stringify(first.segments)).toBe(true);
  }, 180_000);
});
