/** A named benchmark: `prepare` does the untimed set-up and returns the step that is timed. */
export interface Benchmark {
  name: string;
  description: string;
  /** Params without which it cannot run; `glamm bench` with no names skips it when they are not given. */
  requiredParams?: string[];
  /** Warm-up and timed runs when the command line does not say (a quality measurement runs once). */
  runs?: { warmup: number; repeat: number };
  prepare(options: BenchOptions): Promise<PreparedBenchmark>;
}

export interface PreparedBenchmark {
  run(): Promise<void>;
  dispose?(): Promise<void>;
  /** Work done by one run, for a rate such as tokens/s or MB/s. */
  unit?: { name: string; perRun: number };
  /** Figures measured by the last run besides its time (e.g. quality scores). */
  metrics?(): Record<string, number | boolean>;
}

export interface BenchOptions {
  device: "auto" | "cpu" | "cuda";
  params: Record<string, string>;
}

export interface BenchResult {
  name: string;
  runs: number;
  warmup: number;
  medianMs: number;
  minMs: number;
  maxMs: number;
  /** Every timed run, in order. */
  timesMs: number[];
  rate?: { unit: string; median: number };
  peakRssMiB: number;
  metrics?: Record<string, number | boolean>;
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

/** Peak resident set of this process so far (Linux reports maxRSS in KiB). */
export const peakRssMiB = (): number => process.resourceUsage().maxRSS / 1024;

export async function runBenchmark(
  bench: Benchmark,
  options: BenchOptions,
  { warmup, repeat }: { warmup: number; repeat: number },
): Promise<BenchResult> {
  const prepared = await bench.prepare(options);
  try {
    for (let i = 0; i < warmup; i++) await prepared.run();
    const times: number[] = [];
    for (let i = 0; i < repeat; i++) {
      const start = performance.now();
      await prepared.run();
      times.push(performance.now() - start);
    }
    const medianMs = median(times);
    return {
      name: bench.name,
      runs: repeat,
      warmup,
      medianMs,
      minMs: Math.min(...times),
      maxMs: Math.max(...times),
      timesMs: times,
      ...(prepared.unit ? { rate: { unit: `${prepared.unit.name}/s`, median: prepared.unit.perRun / (medianMs / 1000) } } : {}),
      peakRssMiB: peakRssMiB(),
      ...(prepared.metrics ? { metrics: prepared.metrics() } : {}),
    };
  } finally {
    await prepared.dispose?.();
  }
}
