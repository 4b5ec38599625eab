import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readNpy } from "../src/output/npy.ts";
import { openWeights } from "../src/weights/index.ts";
import { writeWideCheckpoint, type WideCheckpoint } from "./helpers/wide-checkpoint.ts";

// A Vicuna-7B-wide decoder of 6 float16 layers: its fp16 graph holds ~2.4 GB of weights, past protobuf's 2 GiB cap,
// so both backends must write it with external data and onnxruntime must load it from a path. The slowest test in
// the suite (it writes ~2.5 GB of checkpoint and ~2.4 GB of graph per backend); scratch goes to TMPDIR.
const LAYERS = 6;
const TWO_GIB = 2 ** 31;
const IMAGE = "test/fixtures/image/decode/rgba.png";

const work = mkdtempSync(join(tmpdir(), "glamm-over-2gib-"));
const home = join(work, "home");
let checkpoint: WideCheckpoint;

beforeAll(() => {
  checkpoint = writeWideCheckpoint(join(work, "ckpt"), LAYERS);
}, 120_000);
afterAll(() => rmSync(work, { recursive: true, force: true }));

function glamm(args: string[]): void {
  const run = spawnSync(process.execPath, ["src/main.ts", ...args], { encoding: "utf8", env: { ...process.env, GLAMM_HOME: home } });
  expect(run.stderr.split("\n").filter((line) => /error|Error/.test(line))).toEqual([]);
  expect(run.status).toBe(0);
}

/** The converted folder whose name ends with `variant`, and its decoder's external data size. */
function converted(variant: string): { dir: string; dataBytes: number; graphBytes: number } {
  const root = join(home, "converted");
  const name = readdirSync(root).find((entry) => entry.endsWith(`-${variant}`));
  expect(name, `a converted ${variant} entry`).toBeDefined();
  const dir = join(root, name!);
  return { dir, dataBytes: statSync(join(dir, "llama.onnx.data")).size, graphBytes: statSync(join(dir, "llama.onnx")).size };
}

/**
 * The logits of one token once every layer passes its input through (o_proj and down_proj are zero): lm_head ·
 * (RMSNorm(embedding) · norm weight), in float64 from the checkpoint's own tensors.
 */
function expectedLogits(modelDir: string, tokenId: number): Float64Array {
  const weights = openWeights(modelDir);
  try {
    const [vocab, hidden] = weights.info("lm_head.weight").shape;
    const row = weights.read("model.embed_tokens.weight").subarray(tokenId * hidden, (tokenId + 1) * hidden);
    const norm = weights.read("model.norm.weight");
    const head = weights.read("lm_head.weight");
    const rms = Math.sqrt(row.reduce((sum, v) => sum + v * v, 0) / hidden + 1e-6);
    const normed = Float64Array.from(row, (v, i) => (v / rms) * norm[i]);
    return Float64Array.from({ length: vocab }, (_, t) => normed.reduce((sum, v, i) => sum + v * head[t * hidden + i], 0));
  } finally {
    weights.close();
  }
}

const argmax = (values: Float64Array): number => values.reduce((best, v, i) => (v > values[best] ? i : best), 0);

describe("a 7B-wide decoder whose fp16 graph is over 2 GiB", () => {
  test("GLaMM converts it to external data, loads it from disk and its logits are the independent ones", () => {
    const out = join(work, "trace-glamm");
    glamm(["trace", "--model", checkpoint.glamm, "--vision", checkpoint.clip, "--precision", "fp16", "--max-tokens", "1", "--instruction", "Describe the image.", "--out", out, IMAGE]);
    const { dataBytes, graphBytes } = converted("fp16-trace");
    expect(dataBytes).toBeGreaterThan(TWO_GIB);
    expect(graphBytes).toBeLessThan(1 << 20);
    const ids = readNpy(join(out, "input_ids.npy")).data as BigInt64Array;
    const expected = expectedLogits(checkpoint.glamm, Number(ids[ids.length - 1]));
    const logits = readNpy(join(out, "logits_last.npy")).data as Float32Array;
    expect(logits.length).toBe(expected.length);
    const scale = 1 + Math.max(...expected.map(Math.abs));
    // float16 weights and activations: a few thousandths of the logit scale.
    expect(Math.max(...logits.map((v, i) => Math.abs(v - expected[i])))).toBeLessThan(1e-2 * scale);
  }, 600_000);

  test("the attend backend converts LLaVA once into the same cache, loads it from disk and generates the independent token", () => {
    const out = join(work, "trace-attend");
    glamm(["trace", "--backend", "attend", "--model", checkpoint.llava, "--vision", checkpoint.clip, "--sam", checkpoint.sam, "--precision", "fp16", "--max-tokens", "1", "--instruction", "Describe the image.", "--out", out, IMAGE]);
    const { dataBytes, graphBytes } = converted("llava-fp16");
    expect(dataBytes).toBeGreaterThan(TWO_GIB);
    expect(graphBytes).toBeLessThan(1 << 20);
    const ids = readNpy(join(out, "input_ids.npy")).data as BigInt64Array;
    const expected = expectedLogits(checkpoint.llava, Number(ids[ids.length - 1]));
    const generated = Number((readNpy(join(out, "sequences.npy")).data as BigInt64Array)[1]);
    // The greedy token is the independent argmax, or ties with it within float16 rounding.
    expect(expected[argmax(expected)] - expected[generated]).toBeLessThan(1e-2 * (1 + Math.max(...expected.map(Math.abs))));
    const info = JSON.parse(readFileSync(join(out, "trace.json"), "utf8"));
    expect(info.backend).toBe("attend");
  }, 600_000);
});
