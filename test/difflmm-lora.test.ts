import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LoraMergedWeights } from "../src/weights/lora.ts";
import { writeSafetensors } from "../src/weights/safetensors-writer.ts";

// peft's merge on a hand-made checkpoint: values chosen so W + B·A·scaling is exact, the expected matrix written out.
let dir = "";
const W = [1, 2, 3, 4, 5, 6]; // q_proj [2 out, 3 in]
const A = [1, 0, 2]; // r = 1: [1, 3]
const B = [0.5, -1]; // [2, 1]

function checkpoint(name: string, adapterFile: string, config: Record<string, unknown>, targets = ["q_proj"]): [string, string] {
  const base = join(dir, name, "base");
  const lora = join(dir, name, "lora");
  mkdirSync(base, { recursive: true });
  mkdirSync(lora, { recursive: true });
  writeSafetensors(join(base, "model.safetensors"), [
    { name: "model.layers.0.self_attn.q_proj.weight", shape: [2, 3], data: () => Float32Array.from(W) },
    { name: "model.layers.0.self_attn.k_proj.weight", shape: [2, 3], data: () => Float32Array.from(W) },
  ]);
  if (adapterFile === "adapter_model.bin") {
    // peft's fallback file: a torch.save zip of bf16 tensors (q_proj only), written by the fixture's script.
    copyFileSync(join(import.meta.dir, "fixtures/weights/lora/adapter_model.bin"), join(lora, adapterFile));
  } else {
    writeSafetensors(
      join(lora, adapterFile),
      targets.flatMap((t) => [
        { name: `base_model.model.model.layers.0.self_attn.${t}.lora_A.weight`, shape: [1, 3], data: () => Float32Array.from(A) },
        { name: `base_model.model.model.layers.0.self_attn.${t}.lora_B.weight`, shape: [2, 1], data: () => Float32Array.from(B) },
      ]),
    );
  }
  writeFileSync(join(lora, "adapter_config.json"), JSON.stringify({ peft_type: "LORA", r: 1, lora_alpha: 4, target_modules: ["q_proj"], ...config }));
  return [lora, base];
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "glamm-lora-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("LoRA merge", () => {
  test("W + (B·A)·alpha/r from a torch-saved bf16 adapter_model.bin when there is no safetensors; untargeted weights pass through", () => {
    const merged = LoraMergedWeights.open(...checkpoint("plain", "adapter_model.bin", {}));
    // B·A = [[0.5, 0, 1], [-1, 0, -2]], scaling 4.
    expect(Array.from(merged.read("model.layers.0.self_attn.q_proj.weight"))).toEqual([3, 2, 7, 0, 5, -2]);
    expect(Array.from(merged.read("model.layers.0.self_attn.k_proj.weight"))).toEqual(W);
    merged.close();
  });

  test("use_rslora scales by alpha/√r; the delta is rounded to fp16 before the add, as peft does", () => {
    const rs = LoraMergedWeights.open(...checkpoint("rslora", "adapter_model.safetensors", { r: 1, lora_alpha: 2, use_rslora: true }));
    expect(Array.from(rs.read("model.layers.0.self_attn.q_proj.weight"))).toEqual([2, 2, 5, 2, 5, 2]);
    rs.close();
    const big = LoraMergedWeights.open(...checkpoint("rounding", "adapter_model.safetensors", { lora_alpha: 2049 }));
    // peft casts the delta to the weight's fp16 before adding: 0.5·2049 = 1024.5 → 1024 (ties to even), then 1 + 1024.
    // Rounding only the sum would give 1025.5 → 1026.
    expect(big.read("model.layers.0.self_attn.q_proj.weight")[0]).toBe(1025);
    big.close();
  });

  test("refuses what plain peft LoRA merging does not cover", () => {
    expect(() => LoraMergedWeights.open(...checkpoint("dora", "adapter_model.safetensors", { use_dora: true }))).toThrow(/use_dora/);
    expect(() => LoraMergedWeights.open(...checkpoint("untargeted", "adapter_model.safetensors", {}, ["q_proj", "k_proj"]))).toThrow(/target_modules does not name/);
    expect(() => LoraMergedWeights.open(...checkpoint("other", "adapter_model.safetensors", { peft_type: "IA3" }))).toThrow(/not LORA/);
  });
});
