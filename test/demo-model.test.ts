import { afterAll, describe, expect, test } from "bun:test";
import { spawn, spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import sharp from "sharp";
import { demoBundleModule } from "../src/build/demo-bundle.ts";
import { DEMO_MARK, hasTrainedDemo, trainedDemo } from "../src/pipeline/demo.ts";
import { hashDemoFiles, listDemoFiles } from "../src/pipeline/demo-folder.ts";
import type { EmbeddedDemo } from "../src/pipeline/demo-files.ts";
import { packDemo } from "../training/pack-demo.ts";
import { writeDemoRuns } from "./helpers/demo-runs.ts";
import { validate } from "./output-schema-validator.ts";

// The trained demo of models/demo, packed here from stand-in runs (the repository's own models/demo may or may not
// hold one: these tests never read it). From source the demo is read in place; the binary embeds its files and
// extracts them once. The CLI runs below load src/pipeline/demo-files.ts through the build's own embedding plugin.

const repo = resolve(import.meta.dir, "..");
const work = mkdtempSync(join(tmpdir(), "glamm-demo-model-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const packed = join(work, "models", "demo");
packDemo({ ...writeDemoRuns(join(work, "runs")), out: packed });
const empty = join(work, "empty-demo");
mkdirSync(empty);
writeFileSync(join(empty, ".gitkeep"), "");

const embedded = (folder: string): EmbeddedDemo => {
  const files = listDemoFiles(folder).map((relative) => ({ embedded: join(folder, relative), relative }));
  return { hash: files.length ? hashDemoFiles(files) : "", files };
};

describe("finding and extracting the trained demo", () => {
  test("a missing folder, or one with only .gitkeep, holds no trained demo; the packed one holds both kinds", () => {
    for (const bundle of [{ folder: join(work, "absent") }, { folder: empty }, embedded(empty)]) {
      expect([hasTrainedDemo("glamm", bundle), hasTrainedDemo("attend", bundle)]).toEqual([false, false]);
    }
    for (const bundle of [{ folder: packed }, embedded(packed)]) {
      expect([hasTrainedDemo("glamm", bundle), hasTrainedDemo("attend", bundle)]).toEqual([true, true]);
    }
  });

  test("from source the folder is used in place, with the revision the binary gets from the same files", () => {
    const home = join(work, "home-source");
    expect(trainedDemo({ folder: packed }, home)).toEqual({ dir: packed, revision: embedded(packed).hash.slice(0, 16) });
    expect(existsSync(home)).toBe(false);
  });

  test("embedded files are extracted once to <home>/demo/<hash>/ and reused without being read again", () => {
    const copy = join(work, "embedded-copy");
    cpSync(packed, copy, { recursive: true });
    const bundle = embedded(copy);
    const home = join(work, "home-extract");
    const first = trainedDemo(bundle, home);
    expect(first.dir).toBe(join(home, "demo", bundle.hash.slice(0, 16)));
    expect(listDemoFiles(first.dir)).toEqual(listDemoFiles(packed));
    for (const file of listDemoFiles(packed)) expect(readFileSync(join(first.dir, file))).toEqual(readFileSync(join(packed, file)));
    const written = statSync(join(first.dir, "glamm/model.safetensors")).mtimeMs;
    rmSync(copy, { recursive: true });
    expect(trainedDemo(bundle, home)).toEqual(first);
    expect(statSync(join(first.dir, "glamm/model.safetensors")).mtimeMs).toBe(written);
    expect(readdirSync(join(home, "demo"))).toEqual([bundle.hash.slice(0, 16)]);
  });

  test("a half-written extraction never counts: one killed midway leaves no demo folder, and the next run extracts it whole", async () => {
    const bundle = embedded(packed);
    const home = join(work, "home-killed");
    const target = join(home, "demo", bundle.hash.slice(0, 16));
    // The last file is a pipe nobody writes to: the extraction blocks there with every other file written.
    const pipe = join(work, "never-written");
    expect(spawnSync("mkfifo", [pipe]).status).toBe(0);
    const stuck = { hash: bundle.hash, files: [...bundle.files, { embedded: pipe, relative: "zz-blocked" }] };
    const script = join(work, "extract.ts");
    writeFileSync(script, `import { trainedDemo } from ${JSON.stringify(join(repo, "src/pipeline/demo.ts"))};\ntrainedDemo(JSON.parse(process.argv[2]), process.argv[3]);\n`);
    const child = spawn(process.execPath, [script, JSON.stringify(stuck), home], { stdio: "ignore" });
    const temporary = () => (existsSync(join(home, "demo")) ? readdirSync(join(home, "demo")).find((name) => name.includes(".tmp-")) : undefined);
    const closed = new Promise((done) => child.on("close", done));
    try {
      for (let waited = 0; !(temporary() && existsSync(join(home, "demo", temporary()!, "sam_demo.pth"))); waited += 50) {
        if (waited > 20_000) throw new Error("no temporary folder reached the last file of the extraction");
        await Bun.sleep(50);
      }
      expect(existsSync(target)).toBe(false);
    } finally {
      child.kill("SIGKILL");
      await closed;
    }
    expect(existsSync(target)).toBe(false);
    const abandoned = temporary();
    expect(abandoned).toBeDefined();
    // A temporary folder of a live process (this one) may still be being written: it stays.
    const live = `${target}.tmp-${process.pid}-live`;
    mkdirSync(live);
    expect(trainedDemo(bundle, home).dir).toBe(target);
    expect(listDemoFiles(target)).toEqual(listDemoFiles(packed));
    expect(existsSync(join(home, "demo", abandoned!))).toBe(false);
    expect(existsSync(live)).toBe(true);
  }, 30_000);

  test("a failed extraction leaves nothing behind", () => {
    const bundle = embedded(packed);
    const home = join(work, "home-failed");
    const broken = { hash: bundle.hash, files: [...bundle.files, { embedded: join(work, "gone"), relative: "zz-missing" }] };
    expect(() => trainedDemo(broken, home)).toThrow(/ENOENT/);
    expect(readdirSync(join(home, "demo"))).toEqual([]);
  });

  test("the build's plugin embeds every file of the folder with its hash, and nothing for an empty folder", () => {
    const source = demoBundleModule(packed);
    const files = listDemoFiles(packed);
    expect(source.match(/with \{ type: "file" \}/g)).toHaveLength(files.length);
    expect(source).toContain(`hash: "${embedded(packed).hash}"`);
    for (const file of files) expect(source).toContain(JSON.stringify(join(packed, file)));
    expect(demoBundleModule(empty)).toBe('export const bundledDemo = { hash: "", files: [] };');
  });
});

/** The CLI from source with `folder` embedded as the binary would embed it (the build plugin, loaded at run time). */
function glammWithDemo(folder: string, args: string[], home: string) {
  const preload = join(work, `embed-${folder.replaceAll("/", "_")}.ts`);
  writeFileSync(preload, `import { embedDemoModel } from ${JSON.stringify(join(repo, "src/build/demo-bundle.ts"))};\nBun.plugin(embedDemoModel(${JSON.stringify(folder)}));\n`);
  const env = { HOME: work, GLAMM_HOME: home, PATH: process.env.PATH ?? "" };
  const r = spawnSync(process.execPath, ["--preload", preload, join(repo, "src/main.ts"), ...args, "--device", "cpu", "--json"], { cwd: work, env, encoding: "utf8" });
  expect(r.status, r.stderr).toBe(0);
  return { doc: JSON.parse(r.stdout.trim().split("\n")[0]), stderr: r.stderr };
}

const schema = JSON.parse(readFileSync(join(repo, "src/output/schema.json"), "utf8"));
const image = join(repo, "examples/images/shapes.png");

async function pixels(png: string): Promise<{ data: Uint8Array; width: number; height: number }> {
  const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(data), width: info.width, height: info.height };
}

describe("the demo through the CLI", () => {
  const home = join(work, "home-cli");

  test("with no model installed gcg runs the trained demo: marked in the JSON and in the overlay's corner, a non-demo model not", async () => {
    const demo = glammWithDemo(packed, ["gcg", image, "--out", "o-demo", "--max-tokens", "6"], home);
    const revision = embedded(packed).hash.slice(0, 16);
    expect(demo.stderr).toContain("no model installed: using the built-in demo model, trained only on pictures of coloured shapes");
    expect(demo.doc.model).toMatchObject({ id: "glamm-demo (trained on synthetic shapes)", revision, demo: DEMO_MARK });
    expect(validate(schema, demo.doc)).toEqual([]);
    expect(existsSync(join(home, "demo", revision, "glamm", "config.json"))).toBe(true);

    const plain = glammWithDemo(packed, ["gcg", image, "--out", "o-plain", "--max-tokens", "6", "--model", join(home, "demo", revision, "glamm")], home);
    expect(plain.doc.model.demo).toBeUndefined();
    expect(plain.doc.text).toBe(demo.doc.text);
    const a = await pixels(join(work, "o-demo/shapes.glamm.png"));
    const b = await pixels(join(work, "o-plain/shapes.glamm.png"));
    expect([a.width, a.height]).toEqual([b.width, b.height]);
    // Same weights, same answer: the overlays differ only where the mark is, in the bottom-left corner.
    const differing: [number, number][] = [];
    for (let i = 0; i < a.data.length; i += 3) {
      if (a.data[i] !== b.data[i] || a.data[i + 1] !== b.data[i + 1] || a.data[i + 2] !== b.data[i + 2]) differing.push([(i / 3) % a.width, Math.floor(i / 3 / a.width)]);
    }
    expect(differing.length).toBeGreaterThan(500);
    expect(differing.every(([x, y]) => y >= a.height - 40 && x < a.width * 0.8)).toBe(true);
  }, 60_000);

  test("--backend attend with no --model or --sam runs the trained attend demo, marked", () => {
    const { doc, stderr } = glammWithDemo(packed, ["gcg", image, "--backend", "attend", "--out", "o-attend", "--max-tokens", "6"], home);
    expect(stderr).toContain("using the built-in attend demo");
    expect(doc.model).toMatchObject({ id: "llava-demo (trained on synthetic shapes)", demo: DEMO_MARK });
    expect(validate(schema, doc)).toEqual([]);
  }, 60_000);

  test("without a trained demo it falls back to the random-weight one, unmarked", () => {
    const fallbackHome = join(work, "home-fallback");
    const { doc, stderr } = glammWithDemo(empty, ["gcg", image, "--out", "o-random", "--max-tokens", "3"], fallbackHome);
    expect(stderr).toContain("random-weight demo model");
    expect(doc.model).toEqual({ id: "glamm-demo (random weights)", revision: "seed-0", precision: expect.any(String) });
    expect(readdirSync(join(fallbackHome, "demo")).sort()).toEqual(["clip", "glamm"]);
  }, 60_000);
});
