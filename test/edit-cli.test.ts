import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import sharp from "sharp";
import { decodeImageFile } from "../src/image/decode.ts";
import { readNpy } from "../src/output/npy.ts";
import { numbers } from "./helpers/oracle-compare.ts";
import { buildBinary } from "./helpers/build-binary.ts";
import { isProgressLine } from "./helpers/expect-error.ts";
import { editConfig, editConfigs, skipWithoutEditOracle } from "./edit-oracle.ts";

// `glamm edit` through the compiled binary: bad inputs (one line, the README's exit code, no output files) and, on
// the edit oracle, the final image of the official pipeline.
let work: string;
let binary: string;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function glamm(args: string[]): Run {
  const env = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: work, GLAMM_HOME: join(work, "home") };
  const r = spawnSync(binary, ["edit", ...args], { cwd: work, env, encoding: "utf8", timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

async function png(name: string, width: number, height: number, pixel: (x: number, y: number) => number[]): Promise<string> {
  const data = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) data.set(pixel(x, y), (y * width + x) * 3);
  const path = join(work, name);
  await sharp(data, { raw: { width, height, channels: 3 } }).png().toFile(path);
  return path;
}

const white = [255, 255, 255];
const black = [0, 0, 0];

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "glamm-edit-cli-"));
  binary = buildBinary(join(work, "glamm"));
  mkdirSync(join(work, "not-a-model"));
  await png("photo.png", 240, 160, (x, y) => [x % 256, y % 256, (x * y) % 256]);
  await png("small.png", 90, 90, () => [10, 20, 30]);
  await png("empty.png", 240, 160, () => black);
  await png("full.png", 240, 160, () => white);
  await png("other-size.png", 120, 80, (x) => (x < 60 ? white : black));
  await png("left-edge.png", 240, 160, (x) => (x < 30 ? white : black)); // the centre square is x 40..200
  await png("good.png", 240, 160, (x, y) => (x > 100 && x < 140 && y > 60 && y < 100 ? white : black));
}, 180_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Exit code, one `glamm:` line on stderr (besides progress lines) matching `pattern`, no stack trace, no outputs. */
function expectError(r: Run, code: number, pattern: RegExp, out?: string): void {
  const lines = r.stderr.split("\n").filter((l) => l && !isProgressLine(l));
  expect({ code: r.code, lines }).toEqual({ code, lines: [expect.stringMatching(pattern)] });
  expect(lines[0]).toStartWith("glamm: ");
  expect(r.stderr).not.toMatch(/\n\s+at |internal error|Bun v\d/);
  if (out && existsSync(out)) expect(readdirSync(out).filter((f) => f.includes(".edit"))).toEqual([]);
}

describe("glamm edit: bad inputs", () => {
  const base = (out: string, ...rest: string[]) => ["photo.png", "--prompt", "a boat", "--inpaint-model", "not-a-model", "--out", out, ...rest];

  test("a mask that selects nothing, everything, or only outside the centre square", () => {
    expectError(glamm(base("o1", "--mask", "empty.png")), 2, /selects nothing/, join(work, "o1"));
    expectError(glamm(base("o2", "--mask", "full.png")), 2, /selects the whole image/, join(work, "o2"));
    expectError(glamm(base("o3", "--mask", "left-edge.png")), 2, /outside the centre square \(40,0\)-\(200,160\)/, join(work, "o3"));
  });

  test("a mask of another size is refused, naming both sizes", () => {
    expectError(glamm(base("o4", "--mask", "other-size.png")), 2, /120x80 but the image is 240x160/, join(work, "o4"));
  });

  test("an image too small for the feathered paste, and a box outside the image", () => {
    expectError(glamm(["small.png", "--prompt", "x", "--inpaint-model", "not-a-model", "--box", "10,10,50,50", "--out", "o5"]), 2, /90x90.*101/, join(work, "o5"));
    expectError(glamm(base("o6", "--box", "500,500,600,600")), 2, /covers no pixel/, join(work, "o6"));
  });

  test("an empty or missing prompt, conflicting masks, bad numbers", () => {
    expectError(glamm(["photo.png", "--prompt", "  ", "--mask", "good.png", "--inpaint-model", "not-a-model"]), 2, /--prompt is empty/);
    expectError(glamm(["photo.png", "--mask", "good.png"]), 1, /--prompt is required/);
    expectError(glamm(["photo.png", "--prompt", "a", "--mask", "good.png", "--box", "1,2,3,4"]), 1, /--mask or --box, not both/);
    expectError(glamm(["photo.png", "--prompt", "a", "--mask", "good.png", "--strength", "0"]), 1, /--strength must be a number in \(0, 1\]/);
    expectError(glamm(["photo.png", "--prompt", "a", "--mask", "good.png", "--steps", "2.5"]), 1, /--steps must be a whole number/);
  });

  test("a missing inpainting model names the pull command", () => {
    expectError(glamm(["photo.png", "--prompt", "a", "--mask", "good.png", "--out", "o7"]), 3, /glamm pull sdxl-inpaint/, join(work, "o7"));
    expectError(glamm(["photo.png", "--prompt", "a", "--mask", "good.png", "--inpaint-model", "no/such/folder"]), 3, /no\/such\/folder is neither a diffusers folder nor installed/);
  });
});

describe("glamm edit EXPRESSION: GLaMM's mask", () => {
  test("the demo GLaMM segments the expression first: its mask is edited, or a region it cannot find is one line", () => {
    const r = glamm(["the square", "photo.png", "--model", "demo", "--device", "cpu", "--prompt", "a boat", "--inpaint-model", "not-a-model", "--out", "o8"]);
    const written = existsSync(join(work, "o8")) ? readdirSync(join(work, "o8")).filter((f) => f.includes(".edit")).sort() : [];
    if (r.code === 2) {
      expectError(r, 2, /GLaMM found no region for "the square" in photo\.png \(its answer: ".*"\)$/, join(work, "o8"));
    } else {
      // A trained demo finds it: the mask goes on to SDXL, which cannot load from an empty folder.
      expect(r.code).toBe(3);
      expect(written).toEqual([]);
    }
  }, 120_000);
});

describe("glamm edit on the edit oracle, through the binary", () => {
  skipWithoutEditOracle();
  for (const name of editConfigs) {
    test(`${name}: --mask --inpaint-model --noise writes the official final image, the mask and the JSON`, () => {
      const config = editConfig(name);
      const index = config.index("main");
      const out = join(work, `oracle-${name}`);
      const r = glamm([
        join(config.root, "image.png"),
        "--mask", join(config.root, "mask.png"),
        "--inpaint-model", config.modelDir,
        "--noise", join(config.refs("main"), "noise.npy"),
        "--prompt", index.parameters.pipe_call_kwargs.prompt,
        "--device", "cpu",
        "--out", out,
      ]);
      expect(r.stderr.split("\n").filter((l) => l.startsWith("glamm:") && !l.includes("outputs"))).toEqual([]);
      expect(r.code).toBe(0);
      return (async () => {
        const edited = await decodeImageFile(join(out, "image.edit.png"));
        const ref = numbers(config.ref("result"));
        expect(edited.data.length).toBe(ref.length);
        const diffs = ref.map((v, i) => Math.abs(v - edited.data[i]));
        expect(Math.max(...diffs), "max |Δ|").toBeLessThanOrEqual(3);
        expect(diffs.filter((d) => d > 1).length / diffs.length).toBeLessThanOrEqual(0.001);
        const mask = await decodeImageFile(join(out, "image.edit-mask.png"));
        const given = await decodeImageFile(join(config.root, "mask.png"));
        expect(Buffer.from(mask.data).equals(Buffer.from(given.data))).toBe(true);
        const record = JSON.parse(readFileSync(join(out, "image.edit.json"), "utf8"));
        expect(record).toMatchObject({ task: "edit", prompt: index.parameters.pipe_call_kwargs.prompt, steps: 20, guidance: 8, strength: 0.99, stepsRun: 19 });
        expect(record.mask.counts.length).toBeGreaterThan(0);
        expect(JSON.parse(r.stdout.trim()).outputs.image).toBe(join(out, "image.edit.png"));
      })();
    }, 120_000);
  }

  for (const name of editConfigs) {
    test(`${name}: glamm trace --task edit (s4 run) writes the contract's arrays, trace.json and the final PNG`, async () => {
      const config = editConfig(name);
      const kwargs = config.index("s4").parameters.pipe_call_kwargs;
      const out = join(work, `trace-${name}`);
      const env = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: work, GLAMM_HOME: join(work, "home") };
      const r = spawnSync(binary, [
        "trace", "--task", "edit", "--model", config.modelDir, "--mask", join(config.root, "mask.png"),
        "--noise", join(config.refs("s4"), "noise.npy"), "--prompt", kwargs.prompt,
        "--steps", String(kwargs.num_inference_steps), "--strength", String(kwargs.strength), "--out", out, join(config.root, "image.png"),
      ], { cwd: work, env, encoding: "utf8", timeout: 120_000 });
      expect(r.status, r.stderr).toBe(0);
      const info = JSON.parse(readFileSync(join(out, "trace.json"), "utf8"));
      expect(info).toMatchObject({ task: "edit", steps: 4, stepsRun: 3, strength: 0.8 });
      expect(Object.keys(info.tensors)).toEqual(expect.arrayContaining(["final_latents", "step02_latents_out", "pipe_output", "result", "noise"]));
      const final = readNpy(join(out, "final_latents.npy")).data as Float32Array;
      const ref = numbers(config.ref("final_latents", "s4"));
      const maxRef = ref.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      expect(ref.reduce((m, v, i) => Math.max(m, Math.abs(v - final[i])), 0)).toBeLessThanOrEqual(1e-4 * (1 + maxRef));
      const png = await decodeImageFile(join(out, "result.png"));
      const diffs = numbers(config.ref("result", "s4")).map((v, i) => Math.abs(v - png.data[i]));
      expect(Math.max(...diffs)).toBeLessThanOrEqual(3);
    }, 120_000);
  }
});
