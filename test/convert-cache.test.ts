import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GlammError } from "../src/cli/errors.ts";
import { convertedEntries, convertedRoot, ensureCachedGraphs } from "../src/convert/cache.ts";
import { withFileLock } from "../src/hub/lock.ts";
import { checkFreeDisk } from "../src/util/disk.ts";

const work = mkdtempSync(join(tmpdir(), "glamm-convert-cache-"));
const savedHome = process.env.GLAMM_HOME;
const source = join(work, "checkpoint");

beforeAll(() => {
  process.env.GLAMM_HOME = join(work, "home");
  mkdirSync(source);
  writeFileSync(join(source, "weights.bin"), "not really weights");
});
afterAll(() => {
  if (savedHome === undefined) delete process.env.GLAMM_HOME;
  else process.env.GLAMM_HOME = savedHome;
  rmSync(work, { recursive: true, force: true });
});

const entries = () => readdirSync(convertedRoot()).filter((name) => !name.endsWith(".lock"));

describe("the converted-graph cache", () => {
  test("a conversion that fails half-way leaves nothing behind; the next one builds the entry", async () => {
    const failing = ensureCachedGraphs({
      sources: [source],
      variant: "test",
      estimatedBytes: () => 0,
      build: async (dir) => {
        writeFileSync(join(dir, "half.onnx"), "half a graph");
        throw new Error("killed half-way");
      },
    });
    expect(failing).rejects.toThrow("killed half-way");
    await failing.catch(() => {});
    expect(entries()).toEqual([]);

    let builds = 0;
    const request = {
      sources: [source],
      variant: "test",
      estimatedBytes: () => 0,
      build: async (dir: string, fingerprint: string) => {
        builds++;
        writeFileSync(join(dir, "graph.onnx"), "whole graph");
        return { fingerprint };
      },
    };
    const first = await ensureCachedGraphs(request);
    const second = await ensureCachedGraphs(request);
    expect(builds).toBe(1);
    expect(second).toEqual(first);
    expect(readFileSync(join(first.dir, "graph.onnx"), "utf8")).toBe("whole graph");
    expect(first.dir.endsWith(`${first.manifest.fingerprint.slice(0, 16)}-test`)).toBe(true);
    expect(convertedEntries()).toEqual([{ dir: first.dir, sources: [source], variant: "test", bytes: statSync(join(first.dir, "graph.onnx")).size + statSync(join(first.dir, "manifest.json")).size }]);
  });

  test("what a killed conversion left (temporary folder, lock, entry without manifest) is cleared and rebuilt", async () => {
    // A process that dies at once gives a pid that is surely dead.
    const dead = spawnSync("true").pid;
    const request = {
      sources: [source],
      variant: "killed",
      estimatedBytes: () => 0,
      build: async (dir: string) => {
        writeFileSync(join(dir, "graph.onnx"), "rebuilt");
        return { ok: true };
      },
    };
    const probe = await ensureCachedGraphs({ ...request, variant: "probe" });
    const name = probe.dir.split("/").at(-1)!.replace(/-probe$/, "-killed");
    const root = convertedRoot();
    mkdirSync(join(root, `${name}.tmp-${dead}`));
    writeFileSync(join(root, `${name}.tmp-${dead}`, "graph.onnx"), "half");
    mkdirSync(join(root, name));
    writeFileSync(join(root, name, "graph.onnx"), "no manifest");
    writeFileSync(join(root, `${name}.lock`), JSON.stringify({ pid: dead, host: (await import("node:os")).hostname() }));
    const result = await ensureCachedGraphs(request);
    expect(readFileSync(join(result.dir, "graph.onnx"), "utf8")).toBe("rebuilt");
    expect(readdirSync(root).filter((entry) => entry.includes(".tmp-"))).toEqual([]);
    // The dead process's lock is no obstacle: it is free for the next conversion at once.
    expect(await withFileLock(join(root, `${name}.lock`), async () => "taken", { staleMs: 3_600_000 })).toBe("taken");
  });

  test("too little free disk is one error line naming the need and the folder, before anything is built", async () => {
    let built = false;
    const attempt = ensureCachedGraphs({
      sources: [source],
      variant: "huge",
      estimatedBytes: () => 2 ** 60 /* far more than any disk */,
      build: async () => {
        built = true;
        return {};
      },
    });
    const error = await attempt.catch((e) => e);
    expect(error).toBeInstanceOf(GlammError);
    expect(error.message).toMatch(/^converting the model needs [\d.]+ TB free in .+converted, but only [\d.]+ [kMGT]?B is available$/);
    expect(error.message).not.toContain("\n");
    expect(built).toBe(false);
    expect(() => checkFreeDisk(work, 1, "a small thing")).not.toThrow();
  });
});
