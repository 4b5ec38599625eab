import { expect, test } from "bun:test";
import { formatBytes, formatDuration, ProgressReporter, progressReporter } from "../src/hub/progress.ts";

function sink(isTTY: boolean) {
  const writes: string[] = [];
  return { stream: { isTTY, write: (text: string) => writes.push(text) }, writes };
}

test("byte and duration formatting", () => {
  expect([0, 999, 1000, 1_536_000, 25_000_000, 999_000_000, 16_100_000_000].map(formatBytes)).toEqual(["0 B", "999 B", "1.00 kB", "1.54 MB", "25.0 MB", "999 MB", "16.1 GB"]);
  expect([0.2, 59, 75, 3725, Number.POSITIVE_INFINITY].map(formatDuration)).toEqual(["1s", "59s", "1m15s", "1h02m", "?"]);
});

test("totals, rate and ETA across files; periodic plain lines when not a TTY", () => {
  let now = 0;
  const { stream, writes } = sink(false);
  const reporter = new ProgressReporter({ stream, label: "glamm-gcg", now: () => now });
  const a = reporter.addFile("a.bin", 4_000_000);
  const b = reporter.addFile("b.bin", 6_000_000);
  a.update({ received: 1_000_000, total: 4_000_000, rate: 1_000_000 });
  now = 1000; // within the first 10 s interval: no line yet
  b.update({ received: 1_000_000, total: 6_000_000, rate: 1_000_000 });
  expect(writes).toEqual([]);
  // 2 MB of 10 MB at 2 MB/s: 4 s left.
  expect(reporter.line()).toBe("glamm-gcg  2.00 MB / 10.0 MB (20%)  2.00 MB/s  ETA 4s  0/2 files");
  now = 11_000;
  a.update({ received: 4_000_000, total: 4_000_000, rate: 1_000_000 });
  // 5 MB left at 2 MB/s.
  expect(writes.at(-1)).toBe("glamm-gcg  5.00 MB / 10.0 MB (50%)  2.00 MB/s  ETA 3s  0/2 files\n");
  a.done();
  expect(reporter.line()).toBe("glamm-gcg  5.00 MB / 10.0 MB (50%)  1.00 MB/s  ETA 5s  1/2 files  b.bin");
  expect(writes.every((w) => !w.includes("\r"))).toBe(true);
});

test("a live line on a TTY, ended by a newline", () => {
  const { stream, writes } = sink(true);
  const progress = progressReporter("CUDA provider", { stream, now: () => 0 });
  progress.update({ received: 500, total: 1000, rate: 100 });
  progress.done();
  expect(writes[0]).toBe("\r\x1b[KCUDA provider  500 B / 1.00 kB (50%)  100 B/s  ETA 5s  0/1 files  CUDA provider");
  expect(writes.at(-1)).toBe("\n");
});
