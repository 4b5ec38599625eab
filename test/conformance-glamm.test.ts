import { afterAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readNpy, type NpyArray } from "../src/output/npy.ts";

// Drives `glamm trace` through the real CLI on every case of every oracle configuration present and compares each
// reference tensor with the trace contract's tolerances (../shared/oracle/README.md).
const root = join(import.meta.dir, "..");
const oracleRoot = join(root, "../shared/oracle");
const configs = existsSync(oracleRoot) ? readdirSync(oracleRoot).filter((d) => existsSync(join(oracleRoot, d, "refs/index.json"))) : [];
// Absent data shows as a skipped test with the reason, never as nothing.
if (configs.length === 0) test.skip("GLaMM conformance: skipped, no ../shared/oracle/*/refs/index.json", () => {});

const home = mkdtempSync(join(tmpdir(), "glamm-conformance-"));
afterAll(() => rmSync(home, { recursive: true, force: true }));

interface Case {
  kind: string;
  instruction: string;
  answer?: string;
  boxes_px?: number[][] | null;
}

/** Reference names the trace writes in full: the oracle keeps a subsample (every 8th/4th pixel, or a centre crop). */
function fromFull(name: string): { name: string; view: (a: NpyArray) => NpyArray } {
  const stride = /_sub(\d+)$/.exec(name);
  if (stride) return { name: name.slice(0, stride.index), view: (a) => subsample(a, Number(stride[1])) };
  if (name.endsWith("_center64")) return { name: name.slice(0, -"_center64".length), view: (a) => centre(a, 64) };
  return { name, view: (a) => a };
}

function planes(a: NpyArray): { lead: number; h: number; w: number } {
  const [h, w] = a.shape.slice(-2);
  return { lead: a.data.length / (h * w), h, w };
}

function subsample(a: NpyArray, step: number): NpyArray {
  const { lead, h, w } = planes(a);
  const [oh, ow] = [Math.ceil(h / step), Math.ceil(w / step)];
  const out = new Float32Array(lead * oh * ow);
  const src = a.data as Float32Array;
  for (let p = 0; p < lead; p++) for (let y = 0; y < oh; y++) for (let x = 0; x < ow; x++) out[(p * oh + y) * ow + x] = src[(p * h + y * step) * w + x * step];
  return { dtype: a.dtype, shape: [...a.shape.slice(0, -2), oh, ow], data: out };
}

/** The oracle's centre crop: rows and columns [size/2 - 32, size/2 + 32) of the full plane. */
function centre(a: NpyArray, size: number): NpyArray {
  const { lead, h, w } = planes(a);
  const [y0, x0] = [(h >> 1) - size / 2, (w >> 1) - size / 2];
  const out = new Float32Array(lead * size * size);
  const src = a.data as Float32Array;
  for (let p = 0; p < lead; p++) for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) out[(p * size + y) * size + x] = src[(p * h + y0 + y) * w + x0 + x];
  return { dtype: a.dtype, shape: [...a.shape.slice(0, -2), size, size], data: out };
}

/** IoU of each mask plane [n, H, W] on its own: the contract is per mask, not pooled over a case. */
function iouPerMask(a: NpyArray, b: NpyArray): number[] {
  const { lead, h, w } = planes(b);
  return Array.from({ length: lead }, (_, p) => {
    let inter = 0;
    let union = 0;
    for (let i = p * h * w; i < (p + 1) * h * w; i++) {
      const [x, y] = [Number(a.data[i]) > 0, Number(b.data[i]) > 0];
      if (x && y) inter++;
      if (x || y) union++;
    }
    return union === 0 ? 1 : inter / union;
  });
}

function compare(label: string, got: NpyArray, ref: NpyArray): void {
  expect(got.shape, `${label} shape`).toEqual(ref.shape);
  if (label.endsWith("pred_masks_binary")) {
    iouPerMask(got, ref).forEach((iou, m) => expect(iou, `${label} mask ${m} IoU`).toBeGreaterThanOrEqual(0.999));
  } else if (ref.dtype === "<f4" || ref.dtype === "<f8") {
    let maxRef = 0;
    let maxErr = 0;
    for (let i = 0; i < ref.data.length; i++) {
      maxRef = Math.max(maxRef, Math.abs(Number(ref.data[i])));
      maxErr = Math.max(maxErr, Math.abs(Number(got.data[i]) - Number(ref.data[i])));
    }
    expect(maxErr, `${label} max error`).toBeLessThanOrEqual(1e-4 * (1 + maxRef));
  } else {
    expect(Array.from(got.data, Number), `${label} values`).toEqual(Array.from(ref.data, Number));
  }
}

function traceArgs(dir: string, c: Case, refs: string, name: string): string[] {
  const args = ["trace", "--model", join(dir, "glamm"), "--instruction", c.instruction, "--out", join(home, name), "--device", "cpu"];
  for (const box of c.boxes_px ?? []) args.push("--box", box.join(","));
  if (c.kind.startsWith("teacher_forced")) args.push("--answer", c.answer ?? "");
  else args.push("--max-tokens", String(readNpy(join(refs, name, "generated_ids.npy")).shape[0]));
  return [...args, join(dir, "image.png")];
}

for (const config of configs) {
  const dir = join(oracleRoot, config);
  const refs = join(dir, "refs");
  const index = JSON.parse(readFileSync(join(refs, "index.json"), "utf8")) as { cases: Record<string, Case> };
  describe(`GLaMM conformance on ${config}`, () => {
    for (const [name, c] of Object.entries(index.cases)) {
      test(name, () => {
        const run = spawnSync(process.execPath, [join(root, "src/main.ts"), ...traceArgs(dir, c, refs, name)], {
          env: { ...process.env, GLAMM_HOME: home },
          encoding: "utf8",
        });
        expect(run.stderr.split("\n").filter((l) => l.startsWith("glamm:"))).toEqual([]);
        expect(run.status).toBe(0);
        const out = join(home, name);
        for (const sub of ["image", "clip", "sam", name]) {
          for (const file of readdirSync(join(refs, sub)).filter((f) => f.endsWith(".npy"))) {
            const ref = readNpy(join(refs, sub, file));
            const refName = (sub === name ? "" : `${sub}/`) + file.slice(0, -4);
            const target = fromFull(refName);
            const path = join(out, `${target.name}.npy`);
            expect(existsSync(path), `${target.name}.npy written`).toBe(true);
            compare(`${name}/${refName}`, target.view(readNpy(path)), ref);
          }
        }
      });
    }
  });
}
