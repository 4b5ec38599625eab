import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawn, spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildBinary } from "./helpers/build-binary.ts";
import { readNpy } from "../src/output/npy.ts";
import schema from "../src/output/schema.json" with { type: "json" };
import { validate } from "./output-schema-validator.ts";

// Every task command end to end through the compiled binary: on the built-in demo model, and on the oracle's
// checkpoint written by the official code (phrase/mask alignment against its teacher-forced answer).
const oracle = join(import.meta.dir, "../../shared/oracle/tiny-a");
const haveOracle = existsSync(join(oracle, "refs/index.json"));
const aas = join(import.meta.dir, "../../shared/oracle-aas/tiny-a");
const haveAas = existsSync(join(aas, "refs/index.json"));
if (!haveOracle) console.warn("skipping oracle task checks: ../shared/oracle/tiny-a is absent");

let work: string;
let binary: string;
let image: string;

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), "glamm-tasks-"));
  binary = buildBinary(join(work, "bin", "glamm"));
  image = join(work, "shapes.png");
  // A small test picture drawn with the binary's own libvips would be circular; a PNG written byte by byte is not.
  writeFileSync(image, pngOf(64, 48, (x, y) => [x * 4, y * 5, (x + y) % 2 ? 200 : 30]));
});

afterAll(() => rmSync(work, { recursive: true, force: true }));

function glamm(args: string[], input?: string) {
  const r = spawnSync(binary, args, { cwd: work, env: { HOME: work, GLAMM_HOME: join(work, "home") }, encoding: "utf8", input });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A truecolour PNG with stored (uncompressed) deflate blocks, from nothing but its definition. */
function pngOf(width: number, height: number, pixel: (x: number, y: number) => [number, number, number]): Uint8Array {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (bytes: number[]) => (bytes.reduce((c, b) => crcTable[(c ^ b) & 0xff] ^ (c >>> 8), 0xffffffff) ^ 0xffffffff) >>> 0;
  const u32 = (n: number) => [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];
  const chunk = (type: string, data: number[]) => {
    const body = [...type].map((c) => c.charCodeAt(0)).concat(data);
    return [...u32(data.length), ...body, ...u32(crc(body))];
  };
  const raw: number[] = [];
  for (let y = 0; y < height; y++) {
    raw.push(0);
    for (let x = 0; x < width; x++) raw.push(...pixel(x, y).map((v) => v & 255));
  }
  const blocks: number[] = [0x78, 0x01];
  for (let i = 0; i < raw.length; i += 65535) {
    const part = raw.slice(i, i + 65535);
    const last = i + 65535 >= raw.length ? 1 : 0;
    blocks.push(last, part.length & 255, part.length >> 8, ~part.length & 255, (~part.length >> 8) & 255, ...part);
  }
  let a = 1;
  let b = 0;
  for (const v of raw) {
    a = (a + v) % 65521;
    b = (b + a) % 65521;
  }
  blocks.push(...u32(((b << 16) | a) >>> 0));
  const header = [...u32(width), ...u32(height), 8, 2, 0, 0, 0];
  return new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, ...chunk("IHDR", header), ...chunk("IDAT", blocks), ...chunk("IEND", [])]);
}

/** pycocotools' compressed RLE string → column-major counts → row-major mask (written here from the format spec). */
function decodeCocoRle(counts: string, h: number, w: number): Uint8Array {
  const runs: number[] = [];
  let p = 0;
  while (p < counts.length) {
    let x = 0;
    let k = 0;
    let more = true;
    while (more) {
      const c = counts.charCodeAt(p++) - 48;
      x |= (c & 0x1f) << (5 * k);
      more = (c & 0x20) !== 0;
      k++;
      if (!more && c & 0x10) x |= -1 << (5 * k);
    }
    if (runs.length > 2) x += runs[runs.length - 2];
    runs.push(x);
  }
  const mask = new Uint8Array(h * w);
  let index = 0;
  runs.forEach((run, i) => {
    for (let j = 0; j < run; j++, index++) if (i % 2 === 1) mask[(index % h) * w + Math.floor(index / h)] = 1;
  });
  return mask;
}

const iou = (a: Uint8Array, b: Uint8Array) => {
  let inter = 0;
  let union = 0;
  for (let i = 0; i < a.length; i++) {
    inter += a[i] & b[i];
    union += a[i] | b[i];
  }
  return union ? inter / union : 1;
};

describe("task commands through the compiled binary", () => {
  test("gcg on the demo model writes an overlay, JSON that matches the schema, and a results line", () => {
    const r = glamm(["gcg", image, "--out", "out-gcg", "--max-tokens", "8", "--device", "cpu"]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("demo model");
    const doc = JSON.parse(readFileSync(join(work, "out-gcg/shapes.glamm.json"), "utf8"));
    expect(doc).toMatchObject({ schemaVersion: 1, task: "gcg", image: { width: 64, height: 48 } });
    expect(validate(schema, doc)).toEqual([]);
    expect(JSON.parse(r.stdout.trim().split("\n")[0]).task).toBe("gcg");
    expect(readFileSync(join(work, "out-gcg/shapes.glamm.png")).subarray(1, 4).toString()).toBe("PNG");
    const lines = readFileSync(join(work, "out-gcg/results.jsonl"), "utf8").trim().split("\n");
    expect(lines.map((l) => JSON.parse(l).status)).toEqual(["ok"]);
  });

  test("segment, region, caption and chat run and write their outputs", () => {
    expect(glamm(["segment", "the square", "-e", "the circle", image, "--out", "o-seg", "--max-tokens", "6", "--device", "cpu"]).code).toBe(0);
    expect(existsSync(join(work, "o-seg/shapes.glamm.json"))).toBe(true);
    const region = glamm(["region", image, "--box", "1,1,30,20", "--box", "10,10,60,40", "--out", "o-reg", "--max-tokens", "6", "--device", "cpu"]);
    expect(region.code).toBe(0);
    expect(JSON.parse(readFileSync(join(work, "o-reg/shapes.glamm.json"), "utf8")).boxes).toHaveLength(2);
    expect(glamm(["caption", image, "--out", "o-cap", "--max-tokens", "6", "--device", "cpu"]).code).toBe(0);
    const chat = glamm(["chat", image, "--out", "o-chat", "--max-tokens", "4", "--device", "cpu"], "Hello\n/box 1,1,20,20\nAnd <bbox>?\n/quit\n");
    expect(chat.code).toBe(0);
    expect(chat.stdout.trim().split("\n")).toHaveLength(2);
    expect(readdirSync(join(work, "o-chat")).sort()).toEqual(["shapes.turn1.glamm.json", "shapes.turn1.glamm.png", "shapes.turn2.glamm.json", "shapes.turn2.glamm.png"]);
  });

  test("bad input: one line, exit 2, no output files", () => {
    const box = glamm(["region", image, "--box", "10,10,100,20", "--out", "o-bad", "--device", "cpu"]);
    expect(box.code).toBe(2);
    expect(box.stderr.trim().split("\n").at(-1)).toMatch(/^glamm: box 1 \(10,10,100,20\) lies outside the 64x48 image$/);
    writeFileSync(join(work, "broken.png"), "not an image");
    const broken = glamm(["gcg", join(work, "broken.png"), "--out", "o-broken", "--device", "cpu"]);
    expect(broken.code).toBe(2);
    expect(broken.stderr.trim().split("\n").at(-1)).toMatch(/^glamm: .*broken\.png/);
    expect(existsSync(join(work, "o-broken/broken.glamm.json"))).toBe(false);
    expect(glamm(["gcg", join(work, "missing.png"), "--device", "cpu"]).code).toBe(2);
  });

  test("a batch goes on past a bad file, mirrors the tree, and a re-run only does what is missing", () => {
    const photos = join(work, "photos");
    mkdirSync(join(photos, "sub"), { recursive: true });
    copyFileSync(image, join(photos, "a.png"));
    copyFileSync(image, join(photos, "sub", "b.png"));
    writeFileSync(join(photos, "c.png"), "truncated");
    const args = ["gcg", photos, "--out", "o-batch", "--max-tokens", "4", "--device", "cpu"];
    const first = glamm(args);
    expect(first.code).toBe(2);
    expect(existsSync(join(work, "o-batch/a.glamm.json"))).toBe(true);
    expect(existsSync(join(work, "o-batch/sub/b.glamm.json"))).toBe(true);
    const log = () => readFileSync(join(work, "o-batch/results.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l));
    expect(log().map((r) => [r.image.split("/").slice(-1)[0], r.status]).sort()).toEqual([["a.png", "ok"], ["b.png", "ok"], ["c.png", "error"]]);

    copyFileSync(image, join(photos, "c.png"));
    const second = glamm(args);
    expect(second.code).toBe(0);
    expect(second.stderr).toMatch(/2 image\(s\) already done/);
    const ok = log().filter((r) => r.status === "ok").map((r) => r.image.split("/").slice(-1)[0]);
    expect(ok.sort()).toEqual(["a.png", "b.png", "c.png"]);
  });

  test("Ctrl-C finishes the current image and stops; the same command resumes with nothing lost or duplicated", async () => {
    const many = join(work, "many");
    mkdirSync(many, { recursive: true });
    for (let i = 0; i < 8; i++) copyFileSync(image, join(many, `p${i}.png`));
    const args = ["gcg", many, "--out", "o-int", "--max-tokens", "48", "--device", "cpu"];
    const results = join(work, "o-int/results.jsonl");
    const lines = () => (existsSync(results) ? readFileSync(results, "utf8").trim().split("\n").filter(Boolean).map((l) => JSON.parse(l)) : []);
    const child = spawn(binary, args, { cwd: work, env: { HOME: work, GLAMM_HOME: join(work, "home") }, stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += d));
    let code: number | null | undefined;
    const exited = new Promise<void>((resolve) => child.on("close", (c) => resolve(void (code = c))));
    while (lines().length === 0 && code === undefined) await Bun.sleep(20);
    child.kill("SIGINT");
    await exited;
    expect(stderr.split("\n").filter((l) => l.includes("internal error"))).toEqual([]);
    expect(code).toBe(130);
    const partial = lines();
    expect(partial.length).toBeGreaterThan(0);
    expect(partial.length).toBeLessThan(8);
    for (const record of partial) for (const file of record.outputs) expect(existsSync(join(work, file))).toBe(true);
    expect(readdirSync(join(work, "o-int")).filter((f) => f.endsWith(".tmp"))).toEqual([]);

    const resumed = glamm(args);
    expect(resumed.stderr.split("\n").filter((l) => l.includes("internal error"))).toEqual([]);
    expect(resumed.code).toBe(0);
    const names = lines().map((r) => r.image.split("/").at(-1)).sort();
    expect(names).toEqual(Array.from({ length: 8 }, (_, i) => `p${i}.png`).sort());
  });

  test.skipIf(!haveOracle)("ground on the official checkpoint gives the oracle's masks for its phrases", () => {
    const index = JSON.parse(readFileSync(join(oracle, "refs/index.json"), "utf8"));
    const answer: string = index.cases.gcg_tf.answer;
    const r = glamm(["ground", join(oracle, "image.png"), "--model", join(oracle, "glamm"), "--text", answer, "--out", "o-ground", "--precision", "fp32", "--device", "cpu", "--json"]);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(validate(schema, doc)).toEqual([]);
    expect(doc.segments.map((s: { phrase: string }) => s.phrase)).toEqual(["red square", "blue circle"]);
    for (const s of doc.segments) expect(doc.text.slice(s.start, s.end)).toBe(s.phrase);
    const ref = readNpy(join(oracle, "refs/gcg_tf/pred_masks_binary.npy"));
    const [n, h, w] = ref.shape;
    expect(doc.segments).toHaveLength(n);
    doc.segments.forEach((s: { mask: { size: number[]; counts: string } }, i: number) => {
      expect(s.mask.size).toEqual([h, w]);
      const want = (ref.data as Uint8Array).subarray(i * h * w, (i + 1) * h * w);
      expect(iou(decodeCocoRle(s.mask.counts, h, w), want)).toBeGreaterThanOrEqual(0.999);
    });
  });

  test.skipIf(!haveAas)("gcg and ground with --backend attend on the official LLaVA/SAM checkpoints: points as the oracle", () => {
    const common = ["--backend", "attend", "--model", join(aas, "llava-v1.5-tiny-a"), "--sam", join(aas, "sam_tiny.pth"), "--precision", "fp32", "--device", "cpu", "--json"];
    const gcg = glamm(["gcg", join(aas, "image.png"), ...common, "--out", "o-aas", "--max-tokens", "16", "--heatmaps"]);
    expect(gcg.code).toBe(0);
    const doc = JSON.parse(gcg.stdout);
    expect(doc.backend).toBe("attend");
    expect(validate(schema, doc)).toEqual([]);
    expect(doc.segments.length).toBeGreaterThan(0);
    for (const s of doc.segments) expect(s.heatmap.values).toHaveLength(s.heatmap.size[0] * s.heatmap.size[1]);
    expect(existsSync(join(work, "o-aas/image.heatmap-1.png"))).toBe(true);

    const run = JSON.parse(readFileSync(join(aas, "refs/index.json"), "utf8")).runs.teacher_forced;
    const ground = glamm(["ground", join(aas, "image.png"), ...common, "--out", "o-aas-ground", "--text", run.forced_answer]);
    expect(ground.code).toBe(0);
    expect(JSON.parse(ground.stdout).segments.map((s: { point: number[] }) => s.point)).toEqual(run.points);
  });

  test.skipIf(!haveAas)("chat with --backend attend: two grounded turns, files per turn, /box refused in one line", () => {
    const args = ["chat", join(aas, "image.png"), "--backend", "attend", "--model", join(aas, "llava-v1.5-tiny-a"), "--sam", join(aas, "sam_tiny.pth")];
    const r = glamm([...args, "--precision", "fp32", "--device", "cpu", "--max-tokens", "12", "--heatmaps", "--out", "o-aas-chat"], "Describe the image in detail.\n/box 1,1,20,20\nWhat else?\n");
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("glamm: /box is not supported with the attend backend");
    const docs = r.stdout.trim().split("\n").map((l) => JSON.parse(l));
    expect(docs.map((d) => [d.backend, d.task, d.prompt])).toEqual([["attend", "chat", "Describe the image in detail."], ["attend", "chat", "What else?"]]);
    for (const doc of docs) {
      expect(validate(schema, doc)).toEqual([]);
      expect(doc.segments.length).toBeGreaterThan(0);
      for (const s of doc.segments) expect(s.point).toHaveLength(2);
    }
    const files = readdirSync(join(work, "o-aas-chat"));
    for (const turn of [1, 2]) {
      expect(files).toContain(`image.turn${turn}.glamm.png`);
      expect(files).toContain(`image.turn${turn}.glamm.json`);
      const heatmaps = files.filter((f) => f.startsWith(`image.turn${turn}.heatmap-`));
      expect(heatmaps).toHaveLength(docs[turn - 1].segments.length);
    }
  });
});
