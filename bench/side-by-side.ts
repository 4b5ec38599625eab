/**
 * Side-by-side CPU benchmark: each stage's glamm benchmark (`glamm bench NAME --json`) and its PyTorch fp32 reference
 * (bench/reference/*.py, Debian python3-torch) run alternately, one process per round each, after waiting for a quiet
 * machine. Prints per stage the median, min and max of all timed runs, the peak RSS, and the ratio of medians
 * (reference / glamm: how many times faster glamm is). With --before DIR, a second glamm checkout (e.g. an older
 * commit) runs in the same rotation; with --also NAME=VALUE, this checkout runs a second time with that benchmark param
 * (e.g. linears=int8 for clip, sam and region, block=128 for llama).
 *
 *   npx bun bench/side-by-side.ts [stage ...] [--rounds 3] [--repeat 3] [--warmup 1] [--before DIR] [--also K=V] [--markdown]
 *
 * Stage names match by prefix (llama, clip, sam, region, sdxl). SIDE_BY_SIDE_LAYERS (default 2) and
 * SIDE_BY_SIDE_SAM_BLOCKS (default 8: blocks 0-7, the last global) size the LLaMA and SAM stages;
 * SIDE_BY_SIDE_SDXL_SCALE (default 1: the real UNet, ~10-12 GB peak each side) and SIDE_BY_SIDE_SDXL_SIDE (default
 * 128 latents) the SDXL UNet step. sdxl runs only when named (its real size needs a big-memory slot).
 */
import { spawnSync } from "node:child_process";
import { cpus, loadavg } from "node:os";
import { join } from "node:path";

interface Stage {
  name: string;
  glamm: string[];
  reference: string[];
}

const LAYERS = process.env.SIDE_BY_SIDE_LAYERS ?? "2";
const SAM_BLOCKS = process.env.SIDE_BY_SIDE_SAM_BLOCKS ?? "8";
const SDXL_SCALE = process.env.SIDE_BY_SIDE_SDXL_SCALE ?? "1";
const SDXL_SIDE = process.env.SIDE_BY_SIDE_SDXL_SIDE ?? "128";

const STAGES: Stage[] = [
  {
    name: `llama-prefill (7B-wide, ${LAYERS} layers, 600 tokens, int4)`,
    glamm: ["llama-prefill", "--param", "precision=int4", "--param", `layers=${LAYERS}`],
    reference: ["llama.py", "--stage", "prefill", "--layers", LAYERS],
  },
  {
    name: `llama-decode (7B-wide, ${LAYERS} layers, ctx 600, 16 tokens, int4)`,
    glamm: ["llama-decode", "--param", "precision=int4", "--param", `layers=${LAYERS}`],
    reference: ["llama.py", "--stage", "decode", "--layers", LAYERS],
  },
  { name: "clip (ViT-L/14-336 + projector)", glamm: ["clip"], reference: ["clip.py"] },
  {
    name: `sam-encoder (ViT-H 1024², first ${SAM_BLOCKS} of 32 blocks)`,
    glamm: ["sam-encoder", "--param", `blocks=${SAM_BLOCKS}`],
    reference: ["sam_encoder.py", "--blocks", SAM_BLOCKS],
  },
  { name: "region-encoder (2 boxes)", glamm: ["region-encoder"], reference: ["region_encoder.py"] },
  {
    name: `sdxl-unet (one step, CFG batch 2, ${SDXL_SIDE}² latents, widths × ${SDXL_SCALE})`,
    glamm: ["sdxl-unet", "--param", `scale=${SDXL_SCALE}`, "--param", `side=${SDXL_SIDE}`],
    reference: ["sdxl_unet.py", "--scale", SDXL_SCALE, "--side", SDXL_SIDE],
  },
];
/** Stages run only when named on the command line. */
const ON_REQUEST = new Set(["sdxl-unet"]);

interface Sample {
  times: number[];
  peakRssMiB: number;
}

const root = join(import.meta.dir, "..");
const args = process.argv.slice(2);
const option = (name: string, fallback: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args.splice(i, 2)[1] : fallback;
};
const rounds = Number(option("--rounds", "3"));
const repeat = option("--repeat", "3");
const warmup = option("--warmup", "1");
const before = option("--before", "");
const also = option("--also", "");
const maxLoadWaitS = Number(option("--max-wait", "120"));
const markdown = args.includes("--markdown") && Boolean(args.splice(args.indexOf("--markdown"), 1));
const chosen = args.length ? STAGES.filter((s) => args.some((a) => s.name.startsWith(a))) : STAGES.filter((s) => !ON_REQUEST.has(s.glamm[0]));

/** Waits (up to --max-wait seconds) until the 1-minute load is under half the cores; returns the load it ran at. */
function waitForQuiet(): number {
  const limit = cpus().length / 2;
  const deadline = Date.now() + maxLoadWaitS * 1000;
  while (loadavg()[0] > limit && Date.now() < deadline) Bun.sleepSync(5000);
  return loadavg()[0];
}

function runGlamm(dir: string, stage: Stage, extra: string[] = []): Sample {
  const out = spawnSync("bun", ["src/main.ts", "bench", ...stage.glamm, ...extra, "--device", "cpu", "--json", "--repeat", repeat, "--warmup", warmup], { cwd: dir, encoding: "utf8" });
  if (out.status !== 0) throw new Error(`glamm bench ${stage.glamm[0]} in ${dir} failed: ${out.stderr.trim().split("\n").at(-1)}`);
  const [result] = JSON.parse(out.stdout) as { timesMs?: number[]; medianMs: number; peakRssMiB: number }[];
  // Checkouts from before timesMs existed report the median only.
  return { times: result.timesMs ?? [result.medianMs], peakRssMiB: result.peakRssMiB };
}

function runReference(stage: Stage): Sample {
  const [script, ...rest] = stage.reference;
  const out = spawnSync("/usr/bin/python3", [join(root, "bench/reference", script), ...rest, "--repeat", repeat, "--warmup", warmup], { encoding: "utf8" });
  if (out.status !== 0) throw new Error(`${script} failed: ${out.stderr.trim().split("\n").at(-1)}`);
  const result = JSON.parse(out.stdout.trim().split("\n").at(-1)!) as { times_ms: number[]; peak_rss_mib: number };
  return { times: result.times_ms, peakRssMiB: result.peak_rss_mib };
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

const fmt = (ms: number) => (ms >= 10000 ? `${(ms / 1000).toFixed(1)} s` : ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(0)} ms`);
const summary = (samples: Sample[]) => {
  const times = samples.flatMap((s) => s.times);
  return { median: median(times), min: Math.min(...times), max: Math.max(...times), rss: Math.max(...samples.map((s) => s.peakRssMiB)), runs: times.length };
};

const sides: [string, (stage: Stage) => Sample][] = [
  ...(before ? ([["glamm before", (s: Stage) => runGlamm(before, s)]] as [string, (stage: Stage) => Sample][]) : []),
  ["glamm", (s) => runGlamm(root, s)],
  ...(also ? ([[`glamm ${also}`, (s: Stage) => runGlamm(root, s, ["--param", also])]] as [string, (stage: Stage) => Sample][]) : []),
  ["PyTorch", runReference],
];

/** The sides whose ratio to PyTorch is reported (all but PyTorch and an older checkout). */
const glammSides = sides.map(([name]) => name).filter((name) => name !== "PyTorch" && name !== "glamm before");
const rows: string[] = [];
for (const stage of chosen) {
  const samples = new Map<string, Sample[]>(sides.map(([name]) => [name, []]));
  const loads: number[] = [];
  for (let round = 0; round < rounds; round++) {
    for (const [name, run] of sides) {
      loads.push(waitForQuiet());
      const sample = run(stage);
      samples.get(name)!.push(sample);
      // Each run as it ends (stderr), so a long stage stopped part-way still leaves its figures.
      console.error(`${stage.name} round ${round + 1} ${name}: ${sample.times.map(fmt).join(", ")}, ${(sample.peakRssMiB / 1024).toFixed(2)} GiB peak, load ${loads.at(-1)!.toFixed(1)} -> ${loadavg()[0].toFixed(1)}`);
    }
  }
  const stats = new Map([...samples].map(([name, s]) => [name, summary(s)]));
  const ratios = glammSides.map((name) => `${(stats.get("PyTorch")!.median / stats.get(name)!.median).toFixed(2)}×`);
  const cells = sides.map(([name]) => {
    const s = stats.get(name)!;
    return `${fmt(s.median)} (${fmt(s.min)}–${fmt(s.max)}, ${(s.rss / 1024).toFixed(1)} GB)`;
  });
  const load = `${Math.min(...loads).toFixed(1)}–${Math.max(...loads).toFixed(1)}`;
  const ratioText = glammSides.map((name, i) => `PyTorch/${name} ${ratios[i]}`).join(", ");
  rows.push(markdown ? `| ${stage.name} | ${cells.join(" | ")} | ${ratios.join(" | ")} | ${load} |` : `${stage.name}\n  ${sides.map(([n], i) => `${n}: ${cells[i]}`).join("\n  ")}\n  median ratios ${ratioText}, load ${load}`);
  console.log(rows.at(-1));
}
if (markdown) {
  console.log(`\n| stage | ${sides.map(([n]) => `${n} median (min–max, peak RSS)`).join(" | ")} | ${glammSides.map((n) => `PyTorch / ${n}`).join(" | ")} | load avg |`);
  console.log(`|---|${sides.map(() => "---|").join("")}${glammSides.map(() => "---|").join("")}---|`);
  for (const row of rows) console.log(row);
}
