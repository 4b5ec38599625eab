import { describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import pkg from "../package.json" with { type: "json" };

const root = join(import.meta.dir, "..");

function glamm(args: string[], env: Record<string, string> = {}) {
  const result = spawnSync(process.execPath, [join(root, "src/main.ts"), ...args], {
    cwd: root,
    env: { ...process.env, GLAMM_DEBUG: "", ...env },
    encoding: "utf8",
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe("CLI conventions", () => {
  test("--version prints the package version", () => {
    const r = glamm(["--version"]);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(pkg.version);
  });

  test("usage errors exit 1 with one line and no stack", () => {
    for (const args of [["no-such-command"], ["runtime", "install", "rocm"], ["bench", "--repeat", "0"], ["bench", "nope"]]) {
      const r = glamm(args);
      expect(r.code).toBe(1);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
      expect(r.stderr).toStartWith("glamm: ");
      expect(r.stderr).not.toMatch(/\bat .*\.ts:\d+/);
    }
  });

  test("GLAMM_DEBUG=1 adds the stack trace", () => {
    const r = glamm(["runtime", "install", "rocm"], { GLAMM_DEBUG: "1" });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/at .*\.ts:\d+/);
  });

  test("doctor explains a machine without CUDA, with no colour codes when piped", () => {
    const r = glamm(["doctor"]);
    expect(r.code).toBe(0);
    expect(r.stdout).not.toContain("\x1b[");
    expect(r.stdout).toMatch(/check +onnxruntime: ok/);
    expect(r.stdout).toMatch(/check +sharp: ok/);
    const report = JSON.parse(glamm(["doctor", "--json"]).stdout);
    if (!report.providers.cuda.available) {
      expect(r.stdout).toMatch(/cuda: unavailable: .+/);
      expect(report.providers.cuda.missing.length).toBeGreaterThan(0);
    }
  });

  test("bench reports median/min/max, a rate and peak RSS as JSON", () => {
    const r = glamm(["bench", "onnx-matmul", "--repeat", "3", "--warmup", "0", "--param", "size=64", "--device", "cpu", "--json"]);
    expect(r.code).toBe(0);
    const [result] = JSON.parse(r.stdout);
    expect(result.name).toBe("onnx-matmul");
    expect(result.runs).toBe(3);
    expect(result.minMs).toBeLessThanOrEqual(result.medianMs);
    expect(result.medianMs).toBeLessThanOrEqual(result.maxMs);
    expect(result.rate.unit).toBe("GFLOP/s");
    expect(result.peakRssMiB).toBeGreaterThan(0);
  });
});
