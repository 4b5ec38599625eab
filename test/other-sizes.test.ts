import { afterAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeTinyCheckpoint, type TinySizes } from "../src/models/tiny-checkpoint.ts";
import { readNpy } from "../src/output/npy.ts";

// glamm must read every size from the checkpoint: a GLaMM with other widths, head counts, depths, eps, CLIP and SAM
// input sizes, windows and global-attention layers than tiny-a must go through the whole pipeline with consistent
// shapes. (Numbers are checked against the official code by the oracle conformance tests; this checks the plumbing.)
const sizes: TinySizes = {
  vocab: 300,
  hidden: 96,
  layers: 3,
  heads: 6,
  intermediate: 200,
  clip: { width: 48, layers: 13, heads: 3, intermediate: 96, patch: 14, image: 224 },
  sam: { dim: 48, depth: 3, heads: 3, globalAttn: [2], window: 8, image: 512, patch: 16 },
  decoder: { dim: 32, mlp: 48, heads: 4, iouHidden: 24, maskInChans: 8 },
  region: { midDims: 40, posHidden: 24, gnGroups: 8, levels: 4 },
};

const work = mkdtempSync(join(tmpdir(), "glamm-sizes-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function glamm(args: string[]) {
  const r = spawnSync(process.execPath, [join(import.meta.dir, "../src/main.ts"), ...args], {
    env: { ...process.env, GLAMM_HOME: join(work, "home") },
    encoding: "utf8",
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("a GLaMM of other sizes", () => {
  const { glamm: model } = writeTinyCheckpoint(join(work, "ckpt"), 11, sizes);
  const config = JSON.parse(readFileSync(join(model, "config.json"), "utf8"));
  writeFileSync(join(model, "config.json"), JSON.stringify({ ...config, rms_norm_eps: 1e-5 }));
  const image = join(import.meta.dir, "../examples/images/kite.png"); // 800x600

  test("trace: teacher-forced masks and region features with the checkpoint's shapes", () => {
    const out = join(work, "trace");
    const r = glamm([
      "trace", "--model", model, "--device", "cpu", "--out", out, image,
      "--instruction", "Can you describe <bbox> and <bbox>?", "--box", "10,20,300,400", "--box", "400,100,780,590",
      "--answer", "A <p> kite </p> [SEG] and a <p> person </p> [SEG].",
    ]);
    expect(r.stderr.split("\n").filter((l) => l.startsWith("glamm:"))).toEqual([]);
    expect(r.code).toBe(0);
    const shape = (name: string) => readNpy(join(out, `${name}.npy`)).shape;
    expect(shape("image/clip_pixel_values")).toEqual([1, 3, 224, 224]);
    expect(shape("clip/projector_out")).toEqual([1, 256, 96]);
    expect(shape("image/sam_pixel_values")).toEqual([1, 3, 512, 512]);
    expect(shape("image/sam_resized_uint8")).toEqual([384, 512, 3]);
    expect(shape("sam/image_embeddings")).toEqual([1, 32, 32, 32]);
    expect(shape("region_features")).toEqual([2, 96]);
    expect(shape("roi_align_level0")).toEqual([2, 48, 14, 14]);
    expect(shape("seg_hidden_states")).toEqual([2, 96]);
    expect(shape("low_res_masks")).toEqual([2, 1, 128, 128]);
    expect(shape("pred_masks_binary")).toEqual([2, 600, 800]);
    const ids = readNpy(join(out, "input_ids.npy")).data as BigInt64Array;
    const expanded = shape("final_hidden_states");
    expect(expanded).toEqual([ids.length - 1 + 256, 96]);
  });

  test("segment and region run end to end at every precision", () => {
    for (const precision of ["fp32", "fp16", "int4"]) {
      const seg = glamm(["segment", "the kite", image, "--model", model, "--precision", precision, "--device", "cpu", "--out", join(work, `seg-${precision}`), "--max-tokens", "6", "--json"]);
      expect(seg.code).toBe(0);
      expect(JSON.parse(seg.stdout).image).toMatchObject({ width: 800, height: 600 });
    }
    const region = glamm(["region", image, "--box", "10,20,300,400", "--model", model, "--device", "cpu", "--out", join(work, "region"), "--max-tokens", "6", "--json"]);
    expect(region.code).toBe(0);
    expect(JSON.parse(region.stdout).boxes).toHaveLength(1);
  });
});
