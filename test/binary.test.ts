import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawn, spawnSync } from "node:child_process";
import { copyFileSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildBinary } from "./helpers/build-binary.ts";

// The compiled binary must run alone: copied to an empty folder, with an environment holding nothing but HOME.
let work: string;
let binary: string;

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), "glamm-binary-"));
  const built = buildBinary(join(work, "build", "glamm"));
  binary = join(work, "alone", "glamm");
  spawnSync("mkdir", ["-p", join(work, "alone")]);
  copyFileSync(built, binary);
  spawnSync("chmod", ["+x", binary]);
  rmSync(join(work, "build"), { recursive: true });
});

afterAll(() => rmSync(work, { recursive: true, force: true }));

function scrubbedEnv(home: string, extra: Record<string, string> = {}): Record<string, string> {
  return { HOME: home, ...extra };
}

function runAlone(args: string[], env: Record<string, string>) {
  const result = spawnSync(binary, args, { cwd: join(work, "alone"), env, encoding: "utf8" });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

function runAloneAsync(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string }> {
  return new Promise((resolve) => {
    const child = spawn(binary, args, { cwd: join(work, "alone"), env });
    let stdout = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.on("close", (code) => resolve({ code, stdout }));
  });
}

describe("compiled binary", () => {
  test("is one file that runs an ONNX graph and a libvips decode from an empty folder", () => {
    const home = join(work, "home1");
    const { code, stdout, stderr } = runAlone(["doctor", "--json"], scrubbedEnv(home));
    expect(stderr).toBe("");
    expect(code).toBe(0);
    const report = JSON.parse(stdout);
    expect(report.executable.compiled).toBe(true);
    expect(report.checks.map((c: { name: string; ok: boolean }) => [c.name, c.ok])).toEqual([
      ["onnxruntime", true],
      ["sharp", true],
    ]);
    // Natives come out of the binary into the default cache below HOME.
    expect(report.paths.runtime).toBe(join(home, ".cache", "glamm", "runtime"));
    const extracted = readdirSync(report.paths.runtime).sort();
    expect(extracted.map((d) => d.replace(/-[0-9a-f]{16}$/, ""))).toEqual(["onnxruntime", "sharp"]);
    expect(report.paths.onnxruntimeLibraries.startsWith(report.paths.runtime)).toBe(true);
  });

  test("honours XDG_CACHE_HOME and GLAMM_HOME", () => {
    const xdg = runAlone(["doctor", "--json"], scrubbedEnv(join(work, "h2"), { XDG_CACHE_HOME: join(work, "xdg") }));
    expect(xdg.code).toBe(0);
    expect(JSON.parse(xdg.stdout).paths.runtime).toBe(join(work, "xdg", "glamm", "runtime"));
    const own = runAlone(["doctor", "--json"], scrubbedEnv(join(work, "h3"), { GLAMM_HOME: join(work, "own") }));
    expect(own.code).toBe(0);
    expect(JSON.parse(own.stdout).paths.runtime).toBe(join(work, "own", "runtime"));
  });

  test("two processes extracting at the same time both succeed and leave one copy", async () => {
    const env = scrubbedEnv(join(work, "h4"), { GLAMM_HOME: join(work, "race") });
    const results = await Promise.all([1, 2, 3].map(() => runAloneAsync(["doctor", "--json"], env)));
    for (const r of results) {
      expect(r.code).toBe(0);
      expect(JSON.parse(r.stdout).checks.every((c: { ok: boolean }) => c.ok)).toBe(true);
    }
    const entries = readdirSync(join(work, "race", "runtime")).sort();
    expect(entries.map((d) => d.replace(/-[0-9a-f]{16}$/, ""))).toEqual(["onnxruntime", "sharp"]);
  });

  test("prints help and version, and a usage error exits 1 with one line", () => {
    const env = scrubbedEnv(join(work, "h5"));
    const help = runAlone(["--help"], env);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("doctor");
    const version = runAlone(["--version"], env);
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
    const bad = runAlone(["no-such-command"], env);
    expect(bad.code).toBe(1);
    expect(bad.stderr.trim().split("\n")).toHaveLength(1);
    expect(statSync(binary).size).toBeGreaterThan(50 * 2 ** 20);
  });
});
