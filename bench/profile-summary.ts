/**
 * Summarises an onnxruntime profile (from `GLAMM_BENCH_PROFILE=PREFIX glamm bench NAME`): per op type the time, its
 * share of all node time and, for the GEMM-like ops, the GFLOP/s reached; then the slowest nodes. Only the last
 * `--runs` session runs are counted (default 1: the last timed run), so a warm-up does not blur the figures.
 *
 *   npx bun bench/profile-summary.ts PROFILE.json [--runs 1] [--top 15]
 */
import { readFileSync } from "node:fs";

interface ProfileEvent {
  cat: string;
  name: string;
  dur: number;
  ts: number;
  args?: { op_name?: string; input_type_shape?: Record<string, number[]>[]; output_type_shape?: Record<string, number[]>[] };
}

const args = process.argv.slice(2);
const option = (name: string, fallback: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args.splice(i, 2)[1] : fallback;
};
const runs = Number(option("--runs", "1"));
const top = Number(option("--top", "15"));
const [path] = args;
if (!path) throw new Error("usage: bench/profile-summary.ts PROFILE.json [--runs 1] [--top 15]");

const events = JSON.parse(readFileSync(path, "utf8")) as ProfileEvent[];
const sessionRuns = events.filter((e) => e.cat === "Session" && e.name === "model_run").sort((a, b) => a.ts - b.ts);
const counted = sessionRuns.slice(-runs);
if (counted.length === 0) throw new Error(`${path} has no model_run events`);
const inCounted = (e: ProfileEvent) => counted.some((r) => e.ts >= r.ts && e.ts <= r.ts + r.dur);
const nodes = events.filter((e) => e.cat === "Node" && e.name.endsWith("_kernel_time") && inCounted(e));

const dims = (shape: Record<string, number[]> | undefined) => (shape ? Object.values(shape)[0] : []);
const elements = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/** Multiply-adds × 2 of the GEMM-like ops, from the recorded shapes (0 for other ops). */
function flops(e: ProfileEvent): number {
  const op = e.args?.op_name ?? "";
  const inputs = (e.args?.input_type_shape ?? []).map(dims);
  const output = dims(e.args?.output_type_shape?.[0]);
  if (["MatMul", "FusedMatMul", "Gemm", "MatMulNBits", "DynamicQuantizeMatMul", "MatMulInteger", "MatMulIntegerToFloat", "FusedGemm"].includes(op)) {
    const a = inputs[0];
    return 2 * elements(output) * a[a.length - 1];
  }
  if (op === "Conv" || op === "FusedConv" || op === "ConvInteger") {
    const w = inputs[1];
    return 2 * elements(output) * elements(w.slice(1));
  }
  return 0;
}

interface Row {
  ms: number;
  count: number;
  gflop: number;
}
const byType = new Map<string, Row>();
const byNode = new Map<string, Row & { op: string }>();
let total = 0;
for (const e of nodes) {
  const op = e.args?.op_name ?? "?";
  const ms = e.dur / 1000;
  const gflop = flops(e) / 1e9;
  total += ms;
  const row = byType.get(op) ?? { ms: 0, count: 0, gflop: 0 };
  byType.set(op, { ms: row.ms + ms, count: row.count + 1, gflop: row.gflop + gflop });
  const node = e.name.replace(/_kernel_time$/, "");
  const n = byNode.get(node) ?? { ms: 0, count: 0, gflop: 0, op };
  byNode.set(node, { ms: n.ms + ms, count: n.count + 1, gflop: n.gflop + gflop, op });
}

const wall = counted.reduce((sum, r) => sum + r.dur / 1000, 0);
console.log(`${path}: ${counted.length} run(s), wall ${(wall / 1000).toFixed(2)} s, node time ${(total / 1000).toFixed(2)} s, ${nodes.length} node calls`);
console.log("| op type | calls | time (s) | share | GFLOP | GFLOP/s |\n|---|---|---|---|---|---|");
for (const [op, r] of [...byType].sort((a, b) => b[1].ms - a[1].ms)) {
  const rate = r.gflop ? (r.gflop / (r.ms / 1000)).toFixed(0) : "";
  console.log(`| ${op} | ${r.count} | ${(r.ms / 1000).toFixed(3)} | ${((100 * r.ms) / total).toFixed(1)}% | ${r.gflop ? r.gflop.toFixed(1) : ""} | ${rate} |`);
}
console.log(`\nslowest ${top} nodes:`);
for (const [name, r] of [...byNode].sort((a, b) => b[1].ms - a[1].ms).slice(0, top)) {
  const rate = r.gflop ? ` ${(r.gflop / (r.ms / 1000)).toFixed(0)} GFLOP/s` : "";
  console.log(`  ${(r.ms / 1000).toFixed(3)} s  ${r.op}  ${name}${rate}`);
}
