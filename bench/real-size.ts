#!/usr/bin/env bun
/**
 * Real-size phases, one process each so every phase's peak RSS is its own: write a checkpoint whose language model is
 * Vicuna-7B wide (hidden 4096, MLP 11008) with --layers float16 layers (32 = the full 7B depth; CLIP/SAM/vocabulary
 * stay tiny), convert it for GLaMM and for the attend backend, then run gcg twice on the same image (the second run
 * hits the SAM embedding cache) with each backend. Prints one line per phase: wall time, peak RSS, disk.
 *
 *   bun bench/real-size.ts --dir /tmp/real --layers 32 --precision int4
 *
 * Not covered (yet): the download phase over the loopback Hub, the published full-size file layouts, real-size vision.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";

const IMAGE = resolve(import.meta.dir, "../test/fixtures/image/decode/rgba.png");
const MAIN = resolve(import.meta.dir, "../src/main.ts");

const { values } = parseArgs({
  options: {
    dir: { type: "string" },
    layers: { type: "string", default: "32" },
    precision: { type: "string", default: "int4" },
    phase: { type: "string" },
    backends: { type: "string", default: "glamm,attend" },
  },
});
if (!values.dir) throw new Error("--dir DIR is required (scratch for the checkpoint and GLAMM_HOME)");
const dir = resolve(values.dir);
const ckpt = join(dir, "ckpt");
const home = join(dir, "home");
const precision = values.precision as "fp32" | "fp16" | "int4";

function bytesUnder(path: string): number {
  if (!existsSync(path)) return 0;
  let total = 0;
  for (const entry of readdirSync(path, { withFileTypes: true, recursive: true })) if (entry.isFile()) total += statSync(join(entry.parentPath, entry.name)).size;
  return total;
}

/** The phases that run inside a child process (the others are `glamm` commands). */
async function runPhase(phase: string): Promise<void> {
  if (phase === "write") {
    const { writeWideCheckpoint } = await import("../test/helpers/wide-checkpoint.ts");
    writeWideCheckpoint(ckpt, Number(values.layers));
  } else if (phase === "convert-glamm") {
    const { ensureConverted } = await import("../src/convert/glamm.ts");
    await ensureConverted({ glamm: join(ckpt, "glamm"), clip: join(ckpt, "clip") }, { precision });
  } else if (phase === "convert-attend") {
    const { AttendModel } = await import("../src/pipeline/attend/session.ts");
    const model = await AttendModel.load({ model: join(ckpt, "llava"), vision: join(ckpt, "clip"), sam: join(ckpt, "sam.safetensors"), precision, device: "cpu" });
    await model.release();
  } else throw new Error(`unknown phase ${phase}`);
}

interface PhaseResult {
  phase: string;
  wallS: number;
  peakRssGB: number;
  status: number | null;
}

function measure(phase: string, command: string[]): PhaseResult {
  const started = performance.now();
  const run = spawnSync("/usr/bin/time", ["-f", "%M", ...command], { encoding: "utf8", env: { ...process.env, GLAMM_HOME: home }, maxBuffer: 64 << 20 });
  const wallS = (performance.now() - started) / 1000;
  const lines = run.stderr.trim().split("\n");
  const peakKiB = Number(lines.at(-1));
  if (run.status !== 0) process.stderr.write(`${phase} failed:\n${lines.slice(-5).join("\n")}\n`);
  return { phase, wallS, peakRssGB: (peakKiB * 1024) / 1e9, status: run.status };
}

if (values.phase) {
  await runPhase(values.phase);
} else {
  const self = (phase: string) => [process.execPath, import.meta.path, "--dir", dir, "--layers", values.layers!, "--precision", precision, "--phase", phase];
  const gcg = (backend: string, out: string) =>
    backend === "glamm"
      ? [process.execPath, MAIN, "gcg", IMAGE, "--model", join(ckpt, "glamm"), "--vision", join(ckpt, "clip"), "--precision", precision, "--max-tokens", "16", "--device", "cpu", "--out", join(dir, out)]
      : [process.execPath, MAIN, "gcg", IMAGE, "--backend", "attend", "--model", join(ckpt, "llava"), "--vision", join(ckpt, "clip"), "--sam", join(ckpt, "sam.safetensors"), "--precision", precision, "--max-tokens", "16", "--device", "cpu", "--out", join(dir, out)];
  const phases: [string, string[]][] = [];
  if (!existsSync(join(ckpt, "glamm"))) phases.push(["write checkpoint", self("write")]);
  for (const backend of values.backends!.split(",")) {
    phases.push([`${backend}: convert${backend === "attend" ? " + load" : ""}`, self(`convert-${backend}`)]);
    phases.push([`${backend}: load + first gcg`, gcg(backend, `${backend}-1`)]);
    phases.push([`${backend}: load + second gcg, same image`, gcg(backend, `${backend}-2`)]);
  }
  console.log(`layers ${values.layers}, precision ${precision}, scratch ${dir}`);
  for (const [phase, command] of phases) {
    const result = measure(phase, command);
    const disk = { checkpoint: bytesUnder(ckpt) / 1e9, converted: bytesUnder(join(home, "converted")) / 1e9 };
    console.log(
      `${phase.padEnd(40)} wall ${result.wallS.toFixed(1).padStart(7)} s  peak RSS ${result.peakRssGB.toFixed(2).padStart(6)} GB  ` +
        `disk: checkpoint ${disk.checkpoint.toFixed(2)} GB, converted ${disk.converted.toFixed(2)} GB${result.status === 0 ? "" : `  FAILED (${result.status})`}`,
    );
    if (result.status !== 0) process.exit(1);
  }
}
