import { loadavg } from "node:os";

/**
 * With GLAMM_DEBUG=1, one stderr line per stage of a run (each graph load, the encoders, prefill, decode, masks) with
 * the 1-minute load average: where a full-size run's time goes.
 */
export function reportStage(stage: string, startMs: number): void {
  if (process.env.GLAMM_DEBUG !== "1") return;
  process.stderr.write(`glamm: [time] ${stage} ${((performance.now() - startMs) / 1000).toFixed(1)} s (load ${loadavg()[0].toFixed(1)})\n`);
}

/** Runs `work` and reports it as `stage` (see reportStage). */
export async function timed<T>(stage: string, work: () => Promise<T>): Promise<T> {
  const start = performance.now();
  const result = await work();
  reportStage(stage, start);
  return result;
}
