import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { findManifest } from "../src/hub/manifests.ts";
import { pullModel, readInstallRecord } from "../src/hub/store.ts";
import { openWeights } from "../src/weights/index.ts";
import { servedCommit, startHubServer, type FakeRepo, type HubServer } from "./helpers/http-server.ts";
import { glammLines } from "./helpers/expect-error.ts";

// `glamm pull difflmm-7b` from a loopback Hub serving the DiffLMM oracle's tiny checkpoint under the real repo ids
// and manifest file names, then a task run on the installed name alone.
const root = join(import.meta.dir, "../../shared/oracle-difflmm/tiny-a");
const present = existsSync(join(root, "refs/index.json"));
if (!present) console.warn(`skipping the difflmm-7b pull test: no ${root}/refs/index.json`);

const read = (path: string) => new Uint8Array(readFileSync(join(root, path)));
const json = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));
const edited = (path: string, changes: Record<string, unknown>) => json({ ...JSON.parse(readFileSync(join(root, path), "utf8")), ...changes });

/** Each manifest's repo, its files taken from the oracle folder (`source` maps a manifest file to an oracle file). */
function repo(name: string, commitDigit: string, source: (file: string) => Uint8Array): FakeRepo {
  const manifest = findManifest(name)!;
  return { id: manifest.repo, commit: servedCommit(manifest.repo, commitDigit.repeat(40)), files: Object.fromEntries(manifest.files.map((file) => [file, source(file)])) };
}

function oracleRepos(): FakeRepo[] {
  const lora = "difflmm-llava-v1.5-tiny-a-lora";
  const base = "lmsys/vicuna-tiny-a";
  const sd = "stable-diffusion-v1-5/stable-diffusion-tiny-a";
  const names = { _name_or_path: "lmsys/vicuna-7b-v1.5", mm_vision_tower: "stable-diffusion-v1-5/stable-diffusion-v1-5", mm_vision_sd_clip: "openai/clip-vit-large-patch14-336" };
  const baseKeys = baseTensorNames(base);
  return [
    repo("difflmm-7b", "3", (file) => (file === "config.json" ? edited(`${lora}/config.json`, names) : file === "adapter_config.json" ? edited(`${lora}/adapter_config.json`, { base_model_name_or_path: "lmsys/vicuna-7b-v1.5" }) : read(`${lora}/${file}`))),
    // The real base is two shards: here both shards are the oracle's single file, the index placing every tensor in the first.
    repo("vicuna-7b-v1.5", "4", (file) =>
      file === "pytorch_model.bin.index.json" ? json({ weight_map: Object.fromEntries(baseKeys.map((k) => [k, "pytorch_model-00001-of-00002.bin"])) }) : read(`${base}/${file.startsWith("pytorch_model-") ? "pytorch_model.bin" : file}`),
    ),
    // The readers go by content, so the oracle's .bin weights can stand under the manifest's .safetensors names.
    repo("stable-diffusion-v1-5", "5", (file) => read(`${sd}/${file.replace(".safetensors", ".bin")}`)),
    repo("clip-vit-large-patch14-336", "6", (file) => read(`openai/clip-vit-tiny-a-patch14-336/${file}`)),
    repo("sam-vit-h", "7", () => read("sam_tiny.pth")),
  ];
}

/** The base checkpoint's tensor names, read with glamm's own reader. */
function baseTensorNames(dir: string): string[] {
  const weights = openWeights(join(root, dir));
  try {
    return weights.keys();
  } finally {
    weights.close();
  }
}

describe.skipIf(!present)("glamm pull difflmm-7b (loopback Hub)", () => {
  let server: HubServer;
  let work = "";
  beforeAll(() => {
    server = startHubServer();
    for (const r of oracleRepos()) server.addRepo(r);
    work = mkdtempSync(join(tmpdir(), "glamm-difflmm-pull-"));
  });
  afterAll(() => {
    server.close();
    rmSync(work, { recursive: true, force: true });
  });

  test("pulls the LoRA, its SD-1.5 vision tower and every required model; a task then runs on the name", async () => {
    const env = { GLAMM_HOME: join(work, "glamm"), HF_HOME: join(work, "hf"), HF_ENDPOINT: server.url };
    const results = await pullModel("difflmm-7b", { env });
    expect(results.map((r) => r.record.name)).toEqual(["difflmm-7b", "stable-diffusion-v1-5", "vicuna-7b-v1.5", "clip-vit-large-patch14-336", "sam-vit-h"]);
    expect(readInstallRecord("difflmm-7b", env)?.files.map((f) => f.path).sort()).toEqual([...findManifest("difflmm-7b")!.files].sort());

    const ref = JSON.parse(readFileSync(join(root, "refs/index.json"), "utf8")).runs.teacher_forced;
    let marked: string = ref.forced_answer;
    for (const phrase of [...ref.phrases].reverse() as string[]) {
      const at = marked.lastIndexOf(phrase);
      marked = `${marked.slice(0, at)}<p>${phrase}</p>${marked.slice(at + phrase.length)}`;
    }
    const out = join(work, "out");
    const args = ["ground", "--backend", "attend", "--model", "difflmm-7b", "--sam", join(root, "sam_tiny.pth"), "--noise", join(root, "refs/noise.npy"), "--text", marked];
    const cli = spawnSync(process.execPath, ["src/main.ts", ...args, "--device", "cpu", "--precision", "fp32", "--out", out, "--json", join(root, "image.png")], { encoding: "utf8", env: { ...process.env, ...env } });
    expect(glammLines(cli.stderr)).toEqual([]);
    expect(cli.status).toBe(0);
    const doc = JSON.parse(readFileSync(join(out, "image.glamm.json"), "utf8"));
    doc.segments.forEach((s: { point: [number, number] }, i: number) => expect([ref.points[i], ref.runner_up_points[i]]).toContainEqual(s.point));
  }, 120_000);
});
