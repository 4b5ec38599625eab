import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sdxlUNetConfig } from "../src/bench/sdxl.ts";
import { buildSdxlUNetGraph, SDXL_UNET_IO } from "../src/models/sdxl-unet.ts";
import { readNpy } from "../src/output/npy.ts";
import { createSession, ort } from "../src/runtime/ort.ts";
import { openWeights } from "../src/weights/index.ts";

// glamm's SDXL UNet graph at the real model's structure (2 layers per block, heads 5/10/20, 2048-wide context,
// 1280 + 6 × 256 add_embedding; widths and groups at 1/8, transformer depths 1/2/2 instead of 1/2/10 and 8² latents to
// stay quick) against bench/reference/sdxl_unet.py, an independent PyTorch copy of diffusers' blocks with its own
// random weights (Debian python3-torch).
const PYTHON = "/usr/bin/python3";
const hasTorch = spawnSync(PYTHON, ["-c", "import torch, numpy"], { encoding: "utf8" }).status === 0;
const SKIP = `${PYTHON} with torch and numpy is not available`;

describe("SDXL UNet graph against the PyTorch reference blocks", () => {
  if (!hasTorch) test.skip(`SKIPPED: ${SKIP}`, () => {});
  let dir = "";
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "glamm-sdxl-unet-ref-"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test.skipIf(!hasTorch)("noise prediction of a batch of 2 within 1e-4 · (1 + max |ref|)", async () => {
    const made = spawnSync(PYTHON, ["sdxl_unet.py", "--scale", "0.125", "--side", "8", "--depths", "1,2,2", "--dump", dir], { cwd: join(import.meta.dir, "../bench/reference"), encoding: "utf8" });
    expect(made.status, made.stderr).toBe(0);
    const weights = openWeights(join(dir, "unet.safetensors"));
    const graph = buildSdxlUNetGraph(weights, sdxlUNetConfig(4), { latentSide: 8, contextLength: 77, timeIds: 6 });
    const session = await createSession(graph.toBytes(), { device: "cpu" });
    const feeds: Record<string, ort.Tensor> = {};
    for (const name of Object.values(SDXL_UNET_IO).filter((n) => n !== SDXL_UNET_IO.out)) {
      const array = readNpy(join(dir, `${name}.npy`));
      feeds[name] = new ort.Tensor("float32", array.data as Float32Array, array.shape);
    }
    const ours = (await session.run(feeds))[SDXL_UNET_IO.out].data as Float32Array;
    await session.release();
    weights.close();
    const ref = readNpy(join(dir, "noise_pred.npy")).data as Float32Array;
    expect(ours.length).toBe(ref.length);
    const maxRef = ref.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    const worst = ref.reduce((m, v, i) => Math.max(m, Math.abs(ours[i] - v)), 0);
    expect(maxRef).toBeGreaterThan(0.01);
    expect(worst).toBeLessThanOrEqual(1e-4 * (1 + maxRef));
  }, 120_000);
});
