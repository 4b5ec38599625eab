import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { NpyArray } from "../src/output/npy.ts";
import { runEditTrace } from "../src/pipeline/edit-trace.ts";
import { decodeImage } from "../src/image/decode.ts";
import { numbers } from "./helpers/oracle-compare.ts";
import { editConfig, editConfigs, editRuns, skipWithoutEditOracle, type EditConfig } from "./edit-oracle.ts";

interface RunIndex {
  arrays: Record<string, { required: boolean; dtype: string }>;
  same_as_main?: Record<string, { required: boolean; dtype: string }>;
  parameters: { pipe_call_kwargs: { num_inference_steps: number; strength: number; guidance_scale: number; prompt: string } };
}

/** Our values at the reference's positions: `_subK` keeps every K-th row/column (HWC: the first two axes, else the last two); crop_mask may be H×W×3. */
function pickedValues(name: string, ours: NpyArray, ref: NpyArray, step: number): number[] {
  const values = numbers(ours);
  const hwc = ours.shape.length === 3 && ours.shape[2] === 3;
  if (hwc && ref.shape.length === 2) {
    // crop_mask: the reference keeps channel 0
    const [h, w] = ours.shape;
    return Array.from({ length: h * w }, (_, i) => values[i * 3]);
  }
  if (step === 1) return values;
  const refValues = numbers(ref);
  if (hwc) {
    const [, w, c] = ours.shape;
    const [, cols] = ref.shape;
    return refValues.map((_, i) => {
      const pixel = Math.floor(i / c);
      return values[((Math.floor(pixel / cols) * step) * w + (pixel % cols) * step) * c + (i % c)];
    });
  }
  const [h, w] = ours.shape.slice(-2);
  const [rows, cols] = ref.shape.slice(-2);
  expect(h, `${name}: rows`).toBeGreaterThanOrEqual(rows);
  return refValues.map((_, i) => {
    const plane = Math.floor(i / (rows * cols));
    return values[(plane * h + (Math.floor(i / cols) % rows) * step) * w + (i % cols) * step];
  });
}

/** The contract's tolerances: integers equal; uint8 |Δ| ≤ 1 on ≥ 99.9 % and ≤ 3 everywhere; floats max |Δ| ≤ 1e-4·(1 + max |ref|). */
function expectMatches(name: string, ours: NpyArray, ref: NpyArray, step: number): void {
  const actual = pickedValues(name, ours, ref, step);
  const expected = numbers(ref);
  expect(actual.length, `${name}: element count`).toBe(expected.length);
  if (ref.dtype === "|u1") {
    let over1 = 0;
    let worst = 0;
    expected.forEach((v, i) => {
      const d = Math.abs(actual[i] - v);
      worst = Math.max(worst, d);
      if (d > 1) over1++;
    });
    expect(worst, `${name}: max |Δ|`).toBeLessThanOrEqual(3);
    expect(over1 / expected.length, `${name}: share with |Δ| > 1`).toBeLessThanOrEqual(0.001);
  } else if (ref.dtype.includes("i")) {
    expect(actual, name).toEqual(expected);
  } else {
    const maxRef = expected.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    const worst = expected.reduce((m, v, i) => Math.max(m, Math.abs(actual[i] - v)), 0);
    expect(worst, `${name}: max |Δ| (tolerance ${1e-4 * (1 + maxRef)})`).toBeLessThanOrEqual(1e-4 * (1 + maxRef));
  }
}

/** Every reference array of a run, `same_as_main` ones read from the main run's folder. */
function referenceArrays(config: EditConfig, run: "main" | "s4"): { file: string; required: boolean; ref: () => NpyArray }[] {
  const index = config.index(run) as unknown as RunIndex;
  const own = Object.entries(index.arrays).map(([file, meta]) => ({ file, required: meta.required, ref: () => config.ref(file, run) }));
  const shared = Object.entries(index.same_as_main ?? {}).map(([file, meta]) => ({ file, required: meta.required, ref: () => config.ref(file, "main") }));
  return [...own, ...shared];
}

describe("glamm trace --task edit against the official SDXL inpainting pipeline", () => {
  skipWithoutEditOracle();
  let home = "";
  const previousHome = process.env.GLAMM_HOME;
  beforeAll(() => {
    home = mkdtempSync(join(tmpdir(), "glamm-edit-oracle-"));
    process.env.GLAMM_HOME = home;
  });
  afterAll(() => {
    if (previousHome === undefined) delete process.env.GLAMM_HOME;
    else process.env.GLAMM_HOME = previousHome;
    if (home) rmSync(home, { recursive: true, force: true });
  });

  for (const name of editConfigs) {
    const config = editConfig(name);
    for (const run of editRuns(config)) {
      test(`${name} ${run}: every stage within the contract's tolerances, the final image too`, async () => {
        const kwargs = (config.index(run) as unknown as RunIndex).parameters.pipe_call_kwargs;
        const trace = await runEditTrace({
          model: config.modelDir,
          image: join(config.root, "image.png"),
          mask: join(config.root, "mask.png"),
          noise: join(config.refs(run), "noise.npy"),
          seed: 0,
          prompt: kwargs.prompt,
          steps: kwargs.num_inference_steps,
          strength: kwargs.strength,
          guidance: kwargs.guidance_scale,
        });
        let compared = 0;
        for (const { file, required, ref } of referenceArrays(config, run)) {
          const match = /^(.*)_sub(\d+)$/.exec(file);
          const [ours, step] = match ? [match[1], Number(match[2])] : [file, 1];
          const array = trace.arrays.get(ours);
          if (array === undefined) {
            expect(required, `${file} is required but the trace has no ${ours}`).toBe(false);
            continue;
          }
          expectMatches(file, array, ref(), step);
          compared++;
        }
        expect(compared).toBeGreaterThan(40);
        const png = await decodeImage(trace.png, "result.png");
        expectMatches("result.png", { dtype: "|u1", shape: [png.height, png.width, 3], data: png.data }, config.ref("result", run), 1);
        expect(existsSync(join(home, "converted"))).toBe(true);
      }, 120_000);
    }
  }

  for (const name of editConfigs) {
    test(`${name}: --seed 0 draws the recorded noise (torch CPU generator) and gives the same final image`, async () => {
      const config = editConfig(name);
      const kwargs = (config.index("main") as unknown as RunIndex).parameters.pipe_call_kwargs;
      const trace = await runEditTrace({
        model: config.modelDir,
        image: join(config.root, "image.png"),
        mask: join(config.root, "mask.png"),
        seed: 0,
        prompt: kwargs.prompt,
        steps: kwargs.num_inference_steps,
        strength: kwargs.strength,
        guidance: kwargs.guidance_scale,
      });
      expectMatches("noise", trace.arrays.get("noise")!, config.ref("noise"), 1);
      expectMatches("result", trace.arrays.get("result")!, config.ref("result"), 1);
    }, 120_000);
  }
});
