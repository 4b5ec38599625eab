#!/usr/bin/env bun
/**
 * The user's first run at full size: full-size random checkpoints in the published layouts (bench/full-size-checkpoints.ts)
 * served by the loopback Hub (test/helpers/http-server.ts), `glamm pull` (download + conversion), then every task of
 * both backends on one image. One child process per phase, each under /usr/bin/time: wall time and peak RSS, plus the
 * disk the pulled checkpoints and the converted graphs take. A served checkpoint is deleted once pulled, so the run
 * needs about 60 GB of free disk rather than 90.
 *
 *   nice -n 10 bun bench/real-size-full.ts --dir /tmp/real-full [--precision auto] [--max-tokens 16] [--backends glamm,attend]
 *
 * --layers N writes a language model N layers deep (default 32, the published depth) to try the pipeline quickly.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync, appendFileSync, existsSync, readdirSync, statSync } from "node:fs";
import { loadavg } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { blobSha256, servedCommit, startHubServer } from "../test/helpers/http-server.ts";
import type { GeneratedRepo } from "./full-size-checkpoints.ts";

const IMAGE = resolve(import.meta.dir, "../examples/images/kite.png");
const MAIN = resolve(import.meta.dir, "../src/main.ts");
const GENERATOR = resolve(import.meta.dir, "full-size-checkpoints.ts");

const { values } = parseArgs({
  options: {
    dir: { type: "string" },
    layers: { type: "string", default: "32" },
    precision: { type: "string", default: "auto" },
    "max-tokens": { type: "string", default: "16" },
    backends: { type: "string", default: "glamm,attend" },
    /** Write, serve and pull only (e.g. a second run in the same --dir preparing the attend models meanwhile). */
    "pull-only": { type: "boolean", default: false },
    /** Only these tasks (comma-separated phase names as printed, e.g. "glamm: region,attend: chat (2 turns)"). */
    only: { type: "string" },
  },
});
if (!values.dir) throw new Error("--dir DIR is required (scratch for the served checkpoints, HF_HOME and GLAMM_HOME)");
const dir = resolve(values.dir);
const served = join(dir, "served");
const home = join(dir, "home");
const out = join(dir, "out");
const results = join(dir, "results.jsonl");
mkdirSync(out, { recursive: true });

function bytesUnder(path: string): number {
  if (!existsSync(path)) return 0;
  let total = 0;
  for (const entry of readdirSync(path, { withFileTypes: true, recursive: true })) if (entry.isFile()) total += statSync(join(entry.parentPath, entry.name)).size;
  return total;
}

const server = startHubServer();
// GLAMM_DEBUG=1: the tasks write their per-stage times (graph loads, encoders, prefill, decode, masks) to the logs.
const env = { ...process.env, GLAMM_HOME: home, HF_HOME: join(dir, "hf"), HF_ENDPOINT: server.url, GLAMM_DEBUG: "1" };

interface Phase {
  phase: string;
  command: string;
  wallS: number;
  peakRssGB: number;
  status: number;
  /** The machine's 1-minute load average sampled every 5 s during the phase: mean and highest. */
  load: { mean: number; max: number };
  disk: { served: number; pulled: number; converted: number };
}

/** Runs one phase in its own process under /usr/bin/time (asynchronously: the Hub server lives in this process). */
async function measure(phase: string, command: string[], stdin?: string): Promise<Phase> {
  // One file per harness process: a second run in the same --dir (--pull-only) measures at the same time.
  const timing = join(dir, `time-${process.pid}.txt`);
  const started = performance.now();
  const loads = [loadavg()[0]];
  const sampler = setInterval(() => loads.push(loadavg()[0]), 5000);
  const child = Bun.spawn(["/usr/bin/time", "-f", "%M", "-o", timing, ...command], {
    env,
    stdin: stdin === undefined ? "ignore" : new Blob([stdin]),
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text()]);
  const status = await child.exited;
  clearInterval(sampler);
  const load = { mean: Number((loads.reduce((a, b) => a + b, 0) / loads.length).toFixed(2)), max: Math.max(...loads) };
  const wallS = (performance.now() - started) / 1000;
  const peakKiB = Number(readFileSync(timing, "utf8").trim().split("\n").at(-1));
  writeFileSync(join(out, `${phase.replace(/[^a-z0-9]+/gi, "-")}.log`), `$ ${command.join(" ")}\n${stdout}\n--- stderr\n${stderr}`);
  if (status !== 0) process.stderr.write(`${phase} failed (${status}):\n${stderr.trim().split("\n").slice(-8).join("\n")}\n`);
  const disk = { served: bytesUnder(served) / 1e9, pulled: bytesUnder(env.HF_HOME) / 1e9, converted: bytesUnder(join(home, "converted")) / 1e9 };
  const result = { phase, command: command.join(" "), wallS, peakRssGB: (peakKiB * 1024) / 1e9, status, load, disk };
  appendFileSync(results, `${JSON.stringify(result)}\n`);
  console.log(
    `${phase.padEnd(46)} wall ${wallS.toFixed(1).padStart(7)} s  peak RSS ${result.peakRssGB.toFixed(2).padStart(6)} GB  ` +
      `disk: served ${disk.served.toFixed(1)} GB, pulled ${disk.pulled.toFixed(1)} GB, converted ${disk.converted.toFixed(1)} GB, load ${load.mean.toFixed(1)} (max ${load.max.toFixed(1)})${status === 0 ? "" : "  FAILED"}`,
  );
  return result;
}

const servedNow = new Set<string>();

/**
 * Writes one repository in a child process (measured; kept from an earlier run when complete), then serves it, its
 * large files hashed up front so the server answers at once.
 */
async function generateAndServe(which: string): Promise<GeneratedRepo> {
  const target = join(served, which);
  const listing = `${target}.json`;
  if (!existsSync(listing)) {
    const phase = await measure(`write ${which} checkpoint`, [process.execPath, GENERATOR, which, target, values.layers!]);
    if (phase.status !== 0) throw new Error(`writing ${which} failed`);
    writeFileSync(listing, readFileSync(join(out, `write-${which}-checkpoint.log`), "utf8").split("\n")[1]);
  }
  const repo = JSON.parse(readFileSync(listing, "utf8")) as GeneratedRepo;
  servedNow.add(which);
  const files = Object.fromEntries(Object.entries(repo.files).map(([name, path]) => [name, Bun.file(path)]));
  const started = performance.now();
  await Promise.all(Object.values(files).map(blobSha256));
  console.log(`(serving ${repo.id}: hashed in ${((performance.now() - started) / 1000).toFixed(1)} s)`);
  server.addRepo({ id: repo.id, commit: servedCommit(repo.id, "f".repeat(40)), files });
  return repo;
}

function unserve(which: string): void {
  rmSync(join(served, which), { recursive: true, force: true });
  rmSync(join(served, `${which}.json`), { force: true });
}

const glamm = (task: string, ...args: string[]) => [process.execPath, MAIN, task, ...args, "--precision", values.precision!, "--max-tokens", values["max-tokens"]!, "--device", "cpu"];
const chatTurns = "What is in the image?\nWhere is the kite?\n";
const failures: string[] = [];
const only = values.only?.split(",").map((name) => name.trim());
const run = async (phase: string, command: string[], stdin?: string) => {
  if (only && !only.some((name) => phase.startsWith(name))) return;
  if ((await measure(phase, command, stdin)).status !== 0) failures.push(phase);
};
/** A pull every later phase needs: stop at its failure. */
const pull = async (phase: string, name: string) => {
  if ((await measure(phase, [process.execPath, MAIN, "pull", name])).status !== 0) throw new Error(`${phase} failed; see ${out}`);
};
/** Installed by an earlier run into the same --dir: its tasks are measured again without writing and pulling it anew. */
const installed = (name: string) => existsSync(join(home, "models", name, "install.json"));

console.log(`full-size run: LLM layers ${values.layers}, precision ${values.precision}, max tokens ${values["max-tokens"]}, scratch ${dir}`);
try {
  const backends = values.backends!.split(",");
  if (backends.includes("glamm")) {
    if (!installed("glamm-fullscope")) {
      await generateAndServe("clip");
      await generateAndServe("glamm");
      await pull("glamm: pull glamm-fullscope (+clip, convert)", "glamm-fullscope");
      unserve("glamm");
    }
    if (values["pull-only"]) process.exit(0);
    await run("glamm: gcg (first)", glamm("gcg", IMAGE, "--out", join(out, "gcg-1")));
    await run("glamm: gcg (same image again)", glamm("gcg", IMAGE, "--out", join(out, "gcg-2")));
    await run("glamm: segment", glamm("segment", "the kite", IMAGE, "--out", join(out, "segment")));
    await run("glamm: region", glamm("region", IMAGE, "--box", "100,80,400,300", "--out", join(out, "region")));
    await run("glamm: caption", glamm("caption", IMAGE, "--out", join(out, "caption")));
    await run("glamm: ground", glamm("ground", IMAGE, "--text", "A <p>kite</p> flies over the <p>grass</p>.", "--out", join(out, "ground")));
    await run("glamm: chat (2 turns)", glamm("chat", IMAGE, "--json", "--out", join(out, "chat")), chatTurns);
  }
  if (backends.includes("attend")) {
    if (!installed("llava-v1.5-7b")) {
      if (!servedNow.has("clip")) await generateAndServe("clip");
      await generateAndServe("llava");
      await pull("attend: pull llava-v1.5-7b (+clip)", "llava-v1.5-7b");
      unserve("llava");
    }
    if (!installed("sam-vit-h")) {
      await generateAndServe("sam");
      await pull("attend: pull sam-vit-h", "sam-vit-h");
      unserve("sam");
    }
    if (values["pull-only"]) process.exit(0);
    const attend = (task: string, ...args: string[]) => [...glamm(task, ...args), "--backend", "attend"];
    await run("attend: gcg (first: converts)", attend("gcg", IMAGE, "--out", join(out, "attend-gcg-1")));
    await run("attend: gcg (same image again)", attend("gcg", IMAGE, "--out", join(out, "attend-gcg-2")));
    await run("attend: ground", attend("ground", IMAGE, "--text", "A kite flies over the grass.", "--out", join(out, "attend-ground")));
    await run("attend: chat (2 turns)", attend("chat", IMAGE, "--json", "--out", join(out, "attend-chat")), chatTurns);
  }
} finally {
  server.close();
}
console.log(failures.length === 0 ? "every phase passed" : `failed: ${failures.join(", ")}`);
process.exit(failures.length === 0 ? 0 : 1);
