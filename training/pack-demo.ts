// Packs a trained demo into models/demo, which the compiled binary embeds as its built-in demo (src/pipeline/demo.ts):
// the GLaMM run's glamm/ and clip/, the attend run's llava-demo/, clip-llava-demo/, sam_demo.pth and sam_demo.json, in
// their official layouts with every float tensor stored as fp16 (safetensors F16, torch.save HalfStorage), and
// provenance.json. The folder is replaced whole, and only once everything is written.
// Usage: bun training/pack-demo.ts --glamm RUN/glamm-demo --attend RUN/attend-demo [--out models/demo] [--command TEXT]
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { listDemoFiles } from "../src/pipeline/demo-folder.ts";
import { openWeights, type WeightSource } from "../src/weights/index.ts";
import { writeSafetensors } from "../src/weights/safetensors-writer.ts";
import { writeTorchZip, type TorchTensorToWrite } from "../src/weights/torch-zip-writer.ts";

/** What the demo says of itself in its GLaMM config.json (the LLaVA config carries train_attend.py's own line). */
export const GLAMM_DEMO_NOTE = "GLaMM demo trained by glamm's training/ on synthetic shapes (coloured shapes on a light background)";

/** What each run must hold; every file keeps its path in models/demo. */
const RUN_PARTS = { glamm: ["glamm", "clip"], attend: ["llava-demo", "clip-llava-demo", "sam_demo.pth", "sam_demo.json"] } as const;

const FLOATS = new Set(["F64", "F32", "F16", "BF16"]);
const HALF_EXPONENT = 0x7c00;

/** A float tensor's fp16 bits; refuses values beyond fp16's range rather than storing them as infinity. */
function halfOf(weights: WeightSource, name: string): Uint16Array {
  const half = weights.read(name, "float16");
  if (weights.info(name).dtype === "F16") return half;
  const values = weights.read(name);
  const overflow = half.findIndex((bits, i) => (bits & HALF_EXPONENT) === HALF_EXPONENT && Number.isFinite(values[i]));
  if (overflow >= 0) throw new Error(`${name}: ${values[overflow]} is beyond fp16's range (±65504); it cannot be packed as fp16`);
  return half;
}

function packSafetensors(source: string, target: string): void {
  const weights = openWeights(source);
  try {
    const tensors = weights.keys().map((name) => {
      const { dtype, shape } = weights.info(name);
      if (!FLOATS.has(dtype)) throw new Error(`${source}: ${name} is ${dtype}; only float tensors are packed`);
      return { name, shape: [...shape], dtype: "F16" as const, data: () => halfOf(weights, name) };
    });
    writeSafetensors(target, tensors);
  } finally {
    weights.close();
  }
}

const bytes = (data: ArrayBufferView) => new Uint8Array(data.buffer, data.byteOffset, data.byteLength);

function packTorchZip(source: string, target: string): void {
  const weights = openWeights(source);
  try {
    const tensors = weights.keys().map((name): TorchTensorToWrite => {
      const { dtype, shape } = weights.info(name);
      if (FLOATS.has(dtype)) return { name, shape: [...shape], dtype: "F16", bytes: () => bytes(halfOf(weights, name)) };
      if (dtype === "I64") return { name, shape: [...shape], dtype, bytes: () => bytes(weights.read(name, "native")) };
      throw new Error(`${source}: ${name} is ${dtype}, which the torch.save writer does not write`);
    });
    writeTorchZip(target, tensors);
  } finally {
    weights.close();
  }
}

function packFile(source: string, target: string): void {
  mkdirSync(dirname(target), { recursive: true });
  if (source.endsWith(".safetensors")) packSafetensors(source, target);
  else if (/\.(bin|pth|pt)$/.test(source)) packTorchZip(source, target);
  else copyFileSync(source, target);
}

function markGlammConfig(path: string): void {
  const { glamm_generated: _random, ...config } = JSON.parse(readFileSync(path, "utf8"));
  writeFileSync(path, `${JSON.stringify({ ...config, glamm_demo: GLAMM_DEMO_NOTE, torch_dtype: "float16" }, null, 2)}\n`);
}

/** The last line of each training log in a run folder (`*log.jsonl`): its step count and final losses. */
function lastLogLines(run: string): Record<string, unknown> {
  const logs = readdirSync(run).filter((name) => name.endsWith("log.jsonl"));
  return Object.fromEntries(
    logs.map((name) => {
      const lines = readFileSync(join(run, name), "utf8").trim().split("\n");
      return [name, JSON.parse(lines.at(-1) || "null")];
    }),
  );
}

/** Puts `replacement` at `path`, moving the old folder aside first and back if the rename fails. */
function replaceFolder(path: string, replacement: string): void {
  const old = `${path}.old-${process.pid}`;
  if (existsSync(path)) renameSync(path, old);
  try {
    renameSync(replacement, path);
  } catch (error) {
    if (existsSync(old)) renameSync(old, path);
    throw error;
  }
  rmSync(old, { recursive: true, force: true });
}

export interface PackOptions {
  glamm: string;
  attend: string;
  out: string;
  /** How the runs were trained, recorded as given (default: the one command of training/README.md). */
  command?: string;
}

/** Packs both runs into `out` (replacing it) and returns each packed file with its size in bytes. */
export function packDemo(options: PackOptions): { file: string; bytes: number }[] {
  const runs = { glamm: resolve(options.glamm), attend: resolve(options.attend) };
  for (const [kind, parts] of Object.entries(RUN_PARTS)) {
    const run = runs[kind as keyof typeof runs];
    const missing = parts.filter((part) => !existsSync(join(run, part)));
    if (missing.length) throw new Error(`${run} is not a trained ${kind} run: it lacks ${missing.join(", ")}`);
  }
  const out = resolve(options.out);
  const tmp = `${out}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  try {
    for (const [kind, parts] of Object.entries(RUN_PARTS)) {
      const run = runs[kind as keyof typeof runs];
      for (const part of parts) {
        const files = statSync(join(run, part)).isDirectory() ? listDemoFiles(join(run, part)).map((f) => join(part, f)) : [part];
        for (const file of files) packFile(join(run, file), join(tmp, file));
      }
    }
    markGlammConfig(join(tmp, "glamm", "config.json"));
    const provenance = {
      packed: new Date().toISOString(),
      command: options.command ?? "bash training/train-demo.sh OUT",
      runs: Object.fromEntries(Object.entries(runs).map(([kind, run]) => [kind, { folder: run, logs: lastLogLines(run) }])),
      precision: "float tensors stored as fp16 by training/pack-demo.ts",
    };
    writeFileSync(join(tmp, "provenance.json"), `${JSON.stringify(provenance, null, 2)}\n`);
  } catch (error) {
    rmSync(tmp, { recursive: true, force: true });
    throw error;
  }
  replaceFolder(out, tmp);
  return listDemoFiles(out).map((file) => ({ file, bytes: statSync(join(out, file)).size }));
}

if (import.meta.main) {
  const { values } = parseArgs({ options: { glamm: { type: "string" }, attend: { type: "string" }, out: { type: "string" }, command: { type: "string" } } });
  if (!values.glamm || !values.attend) throw new Error("usage: bun training/pack-demo.ts --glamm RUN/glamm-demo --attend RUN/attend-demo [--out models/demo] [--command TEXT]");
  const out = values.out ?? resolve(import.meta.dir, "../models/demo");
  const packed = packDemo({ glamm: values.glamm, attend: values.attend, out, command: values.command });
  for (const { file, bytes } of packed) console.log(`${(bytes / 1024).toFixed(1).padStart(9)} KiB  ${file}`);
  console.log(`${(packed.reduce((sum, f) => sum + f.bytes, 0) / 2 ** 20).toFixed(2)} MiB in ${out}`);
}
