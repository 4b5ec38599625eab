import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { float16Table, float32ToFloat16 } from "../src/graph/float16.ts";
import { GlammModel } from "../src/pipeline/glamm/model.ts";
import { openSamCheckpoint } from "../src/models/sam-checkpoint.ts";
import { openWeights } from "../src/weights/index.ts";
import { writeSafetensors } from "../src/weights/safetensors-writer.ts";
import { GLAMM_DEMO_NOTE, packDemo } from "../training/pack-demo.ts";
import { writeDemoRuns } from "./helpers/demo-runs.ts";

const work = mkdtempSync(join(tmpdir(), "glamm-pack-demo-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const runs = writeDemoRuns(join(work, "runs"));
const out = join(work, "models", "demo");
const packed = packDemo({ ...runs, out, command: "bash training/train-demo.sh /tmp/run" });

/** Each weights file of the packed folder, with the file it was packed from. */
const weightFiles: [string, string][] = [
  ["glamm/model.safetensors", join(runs.glamm, "glamm/model.safetensors")],
  ["clip/model.safetensors", join(runs.glamm, "clip/model.safetensors")],
  ["llava-demo/pytorch_model.bin", join(runs.attend, "llava-demo/pytorch_model.bin")],
  ["clip-llava-demo/model.safetensors", join(runs.attend, "clip-llava-demo/model.safetensors")],
  ["sam_demo.pth", join(runs.attend, "sam_demo.pth")],
];

describe("training/pack-demo.ts", () => {
  test("packs both runs in their official layouts, nothing else, and reports every file's size", () => {
    expect(packed.map((f) => f.file)).toEqual(
      expect.arrayContaining(["glamm/config.json", "glamm/tokenizer.model", "clip/preprocessor_config.json", "llava-demo/config.json", "sam_demo.json", "provenance.json", ...weightFiles.map(([f]) => f)]),
    );
    expect(packed.some((f) => /log\.jsonl$|resume\.pt$/.test(f.file))).toBe(false);
    for (const { file, bytes } of packed) expect(statSync(join(out, file)).size).toBe(bytes);
    expect(readdirSync(join(work, "models"))).toEqual(["demo"]);
  });

  test("stores every float tensor as fp16, each value the fp16 rounding of the trained one, in half the bytes", () => {
    const half = float16Table();
    for (const [file, original] of weightFiles) {
      const before = openWeights(original);
      const after = openWeights(join(out, file));
      try {
        expect(after.keys()).toEqual(before.keys());
        for (const name of before.keys()) {
          expect(after.info(name)).toEqual({ dtype: "F16", shape: before.info(name).shape });
          const rounded = Float32Array.from(float32ToFloat16(before.read(name)), (bits) => half[bits]);
          expect(after.read(name)).toEqual(rounded);
        }
      } finally {
        before.close();
        after.close();
      }
      expect(statSync(join(out, file)).size / statSync(original).size).toBeLessThan(0.55);
    }
  });

  test("marks the GLaMM config as the trained demo and records where the runs came from", () => {
    const config = JSON.parse(readFileSync(join(out, "glamm/config.json"), "utf8"));
    expect(config.glamm_demo).toBe(GLAMM_DEMO_NOTE);
    expect(config.glamm_generated).toBeUndefined();
    expect(config.torch_dtype).toBe("float16");
    const provenance = JSON.parse(readFileSync(join(out, "provenance.json"), "utf8"));
    expect(provenance.command).toBe("bash training/train-demo.sh /tmp/run");
    expect(provenance.runs.glamm.logs["log.jsonl"]).toEqual({ step: 9, lm: 4.2 });
    expect(provenance.runs.attend.logs["attend-log.jsonl"].step).toBe(4);
    expect(Number.isNaN(Date.parse(provenance.packed))).toBe(false);
  });

  test("glamm's converter loads the packed GLaMM, and its SAM reader the packed sam_demo.pth", async () => {
    const saved = process.env.GLAMM_HOME;
    process.env.GLAMM_HOME = join(work, "home");
    try {
      const model = await GlammModel.load({ glamm: join(out, "glamm"), clip: join(out, "clip") }, { precision: "fp32", device: "cpu", cache: false });
      expect(model.manifest.llama.hiddenSize).toBe(64);
      await model.release();
    } finally {
      if (saved === undefined) delete process.env.GLAMM_HOME;
      else process.env.GLAMM_HOME = saved;
    }
    const sam = openSamCheckpoint(join(out, "sam_demo.pth"));
    expect(sam.config.windowSize).toBe(14);
    expect(sam.weights.read("image_encoder.pos_embed").length).toBeGreaterThan(0);
    sam.weights.close();
  }, 60_000);

  test("a value beyond fp16's range stops the pack and leaves the packed folder as it was", () => {
    const bad = writeDemoRuns(join(work, "bad-runs"));
    writeSafetensors(join(bad.glamm, "clip/model.safetensors"), [{ name: "vision_model.huge", shape: [2], data: () => Float32Array.of(1, 1e6) }]);
    const before = readFileSync(join(out, "provenance.json"), "utf8");
    expect(() => packDemo({ ...bad, out })).toThrow(/vision_model\.huge: 1000000 is beyond fp16's range/);
    expect(readFileSync(join(out, "provenance.json"), "utf8")).toBe(before);
    expect(readdirSync(join(work, "models"))).toEqual(["demo"]);
  });

  test("a run without the demo's files is refused by name", () => {
    rmSync(join(work, "bad-runs", "attend-demo", "sam_demo.pth"));
    expect(() => packDemo({ glamm: runs.glamm, attend: join(work, "bad-runs", "attend-demo"), out })).toThrow(/is not a trained attend run: it lacks sam_demo\.pth/);
    expect(existsSync(join(out, "sam_demo.pth"))).toBe(true);
  });
});
