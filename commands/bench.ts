import { Command, Option } from "clipanion";
import { usageError } from "../src/cli/errors.ts";
import type { BenchResult } from "../src/bench/runner.ts";

function parseParams(pairs: string[]): Record<string, string> {
  const params: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf("=");
    if (eq <= 0) throw usageError(`--param takes KEY=VALUE, got "${pair}"`);
    params[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return params;
}

const row = (r: BenchResult) =>
  `${r.name.padEnd(24)} median ${r.medianMs.toFixed(2).padStart(10)} ms  min ${r.minMs.toFixed(2).padStart(10)}  max ${r.maxMs
    .toFixed(2)
    .padStart(10)}  ${r.rate ? `${r.rate.median.toFixed(1)} ${r.rate.unit}  ` : ""}peak RSS ${r.peakRssMiB.toFixed(0)} MiB`;

export default class BenchCommand extends Command {
  static paths = [["bench"]];
  static usage = Command.Usage({
    description: "run named benchmarks (warm-up, repeats, median/min/max, peak RSS)",
    examples: [
      ["List benchmarks", "glamm bench --list"],
      ["Run one, 10 repeats, as JSON", "glamm bench onnx-matmul --repeat 10 --json"],
    ],
  });

  names = Option.Rest();
  list = Option.Boolean("--list", false, { description: "list the benchmarks and exit" });
  repeat = Option.String("--repeat", { description: "timed runs per benchmark (default 5, or the benchmark's own)" });
  warmup = Option.String("--warmup", { description: "untimed runs first (default 1, or the benchmark's own)" });
  device = Option.String("--device", "auto", { description: "auto, cpu or cuda" });
  param = Option.Array("--param", [], { description: "KEY=VALUE passed to the benchmarks (e.g. size=2048)" });
  json = Option.Boolean("--json", false, { description: "print results as JSON" });

  async execute(): Promise<number> {
    const { benchmarks } = await import("../src/bench/index.ts");
    const { runBenchmark } = await import("../src/bench/runner.ts");
    const { parseDevice } = await import("../src/runtime/ort.ts");
    if (this.list) {
      for (const b of benchmarks) this.context.stdout.write(`${b.name.padEnd(24)} ${b.description}\n`);
      return 0;
    }
    const unknown = this.names.filter((n) => !benchmarks.some((b) => b.name === n));
    if (unknown.length) throw usageError(`unknown benchmark ${unknown.join(", ")} (glamm bench --list)`);
    const params = parseParams(this.param);
    const runnable = (b: (typeof benchmarks)[number]) => (b.requiredParams ?? []).every((p) => p in params);
    const chosen = this.names.length ? benchmarks.filter((b) => this.names.includes(b.name)) : benchmarks.filter(runnable);
    const counts = (bench: (typeof benchmarks)[number]) => {
      const repeat = Number(this.repeat ?? bench.runs?.repeat ?? 5);
      const warmup = Number(this.warmup ?? bench.runs?.warmup ?? 1);
      if (!(Number.isInteger(repeat) && repeat > 0 && Number.isInteger(warmup) && warmup >= 0)) {
        throw usageError("--repeat must be a positive integer and --warmup a non-negative integer");
      }
      return { repeat, warmup };
    };
    for (const bench of chosen) counts(bench);
    const options = { device: parseDevice(this.device), params };
    const results: BenchResult[] = [];
    for (const bench of chosen) {
      const result = await runBenchmark(bench, options, counts(bench));
      results.push(result);
      if (!this.json) {
        this.context.stdout.write(`${row(result)}\n`);
        for (const [key, value] of Object.entries(result.metrics ?? {})) this.context.stdout.write(`  ${key.padEnd(28)} ${typeof value === "number" ? +value.toFixed(4) : value}\n`);
      }
    }
    if (this.json) this.context.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
    return 0;
  }
}
