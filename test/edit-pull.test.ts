import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { findManifest } from "../src/hub/manifests.ts";
import { pullModel, readInstallRecord } from "../src/hub/store.ts";
import { resolveInpaintModel } from "../src/pipeline/edit-run.ts";
import { runEditTrace } from "../src/pipeline/edit-trace.ts";
import { numbers } from "./helpers/oracle-compare.ts";
import { servedCommit, startHubServer, type HubServer } from "./helpers/http-server.ts";
import { editConfig, editConfigs, skipWithoutEditOracle } from "./edit-oracle.ts";

// `glamm pull sdxl-inpaint` from a loopback Hub serving the edit oracle's tiny checkpoint under the real repo id and
// the manifest's file names; the installed name then runs the official edit.
describe("glamm pull sdxl-inpaint (loopback Hub)", () => {
  skipWithoutEditOracle();
  if (editConfigs.length === 0) return;
  const config = editConfig(editConfigs[0]);
  let server: HubServer;
  let work = "";
  const previousHome = process.env.GLAMM_HOME;
  beforeAll(() => {
    const manifest = findManifest("sdxl-inpaint")!;
    server = startHubServer();
    const files = Object.fromEntries(manifest.files.map((file) => [file, new Uint8Array(readFileSync(join(config.modelDir, file)))]));
    server.addRepo({ id: manifest.repo, commit: servedCommit(manifest.repo, "8".repeat(40)), files });
    work = mkdtempSync(join(tmpdir(), "glamm-edit-pull-"));
  });
  afterAll(() => {
    server.close();
    if (previousHome === undefined) delete process.env.GLAMM_HOME;
    else process.env.GLAMM_HOME = previousHome;
    rmSync(work, { recursive: true, force: true });
  });

  test("installs every manifest file; the default --inpaint-model then gives the oracle's final image", async () => {
    const env = { GLAMM_HOME: join(work, "glamm"), HF_HOME: join(work, "hf"), HF_ENDPOINT: server.url };
    const [result] = await pullModel("sdxl-inpaint", { env });
    expect(result.record.name).toBe("sdxl-inpaint");
    expect(readInstallRecord("sdxl-inpaint", env)?.files.map((f) => f.path).sort()).toEqual([...findManifest("sdxl-inpaint")!.files].sort());
    process.env.GLAMM_HOME = env.GLAMM_HOME;
    const dir = resolveInpaintModel();
    const prompt = config.index("main").parameters.pipe_call_kwargs.prompt;
    const trace = await runEditTrace({ model: dir, image: join(config.root, "image.png"), mask: join(config.root, "mask.png"), noise: join(config.refs("main"), "noise.npy"), seed: 0, prompt, steps: 20, guidance: 8, strength: 0.99 });
    const ours = numbers(trace.arrays.get("result")!);
    const diffs = numbers(config.ref("result")).map((v, i) => Math.abs(v - ours[i]));
    expect(Math.max(...diffs)).toBeLessThanOrEqual(3);
    expect(diffs.filter((d) => d > 1).length / diffs.length).toBeLessThanOrEqual(0.001);
  }, 120_000);
});
