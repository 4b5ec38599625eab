import { afterAll, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openWeights } from "../src/weights/index.ts";
import { writeTorchZip, type TorchTensorToWrite } from "../src/weights/torch-zip-writer.ts";

const work = mkdtempSync(join(tmpdir(), "glamm-torch-zip-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const python = "/usr/bin/python3";
const haveTorch = existsSync(python) && spawnSync(python, ["-c", "import torch"]).status === 0;

const f32 = Float32Array.from({ length: 6 }, (_, i) => i * 0.5 - 1);
// bfloat16 bits of 1, -2, 0.5; float16 bits of 1, -2 (written by hand, not by the code under test).
const bf16 = Uint16Array.from([0x3f80, 0xc000, 0x3f00]);
const f16 = Uint16Array.from([0x3c00, 0xc000]);
const tensors: TorchTensorToWrite[] = [
  { name: "a.weight", shape: [2, 3], dtype: "F32", bytes: () => new Uint8Array(f32.buffer) },
  { name: "b.bias", shape: [3], dtype: "BF16", bytes: () => new Uint8Array(bf16.buffer) },
  { name: "c.scale", shape: [1, 2], dtype: "F16", bytes: () => new Uint8Array(f16.buffer) },
  { name: "d.position_ids", shape: [1, 4], dtype: "I64", bytes: () => new Uint8Array(BigInt64Array.from([0n, 1n, 2n, 3n]).buffer) },
];

test("a written torch zip reads back through glamm's reader with every name, shape and value", () => {
  const path = join(work, "pytorch_model.bin");
  writeTorchZip(path, tensors);
  expect(readdirSync(work)).toEqual(["pytorch_model.bin"]);
  const weights = openWeights(path);
  try {
    expect(weights.keys()).toEqual(tensors.map((t) => t.name));
    expect(weights.info("a.weight")).toEqual({ dtype: "F32", shape: [2, 3] });
    expect([...weights.read("a.weight")]).toEqual([...f32]);
    expect([...weights.read("b.bias")]).toEqual([1, -2, 0.5]);
    expect([...weights.read("c.scale")]).toEqual([1, -2]);
    expect(weights.info("d.position_ids").dtype).toBe("I64");
  } finally {
    weights.close();
  }
});

test.skipIf(!haveTorch)("torch.load reads the same file (Debian python3-torch)", () => {
  const path = join(work, "sam_vit_x.pth");
  writeTorchZip(path, tensors);
  const script = `
import sys, torch
sd = torch.load(sys.argv[1], map_location="cpu")
print(type(sd).__name__, [(k, str(v.dtype), list(v.shape), [round(float(x), 4) for x in v.flatten()]) for k, v in sd.items()])`;
  const run = spawnSync(python, ["-c", script, path], { encoding: "utf8" });
  expect(run.stderr).toBe("");
  expect(run.stdout.trim()).toBe(
    "OrderedDict [('a.weight', 'torch.float32', [2, 3], [-1.0, -0.5, 0.0, 0.5, 1.0, 1.5]), ('b.bias', 'torch.bfloat16', [3], [1.0, -2.0, 0.5]), " +
      "('c.scale', 'torch.float16', [1, 2], [1.0, -2.0]), ('d.position_ids', 'torch.int64', [1, 4], [0.0, 1.0, 2.0, 3.0])]",
  );
});
if (!haveTorch) console.warn("skipping the torch.load check: Debian's python3-torch is not installed");
