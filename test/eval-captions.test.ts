import { afterAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ExitCode } from "../src/cli/errors.ts";
import { formatPerImageTable } from "../src/eval/run.ts";

const ORACLE = join(import.meta.dir, "../../shared/oracle-eval/set-a");
const METEOR_DATA = join(import.meta.dir, "../../shared/meteor/data");
const missing = [join(ORACLE, "expected.json"), METEOR_DATA].filter((p) => !existsSync(p));
if (missing.length) console.warn(`skipping eval captions oracle checks: ${missing.join(", ")} absent`);

const home = mkdtempSync(join(tmpdir(), "glamm-eval-captions-"));
afterAll(() => rmSync(home, { recursive: true, force: true }));

/** Runs the CLI with stdout as a pipe (so JSON is the default output) and an empty GLAMM_HOME. */
function glamm(args: string[]) {
  const r = spawnSync(process.execPath, [join(import.meta.dir, "../src/main.ts"), ...args], { env: { ...process.env, GLAMM_HOME: home }, encoding: "utf8" });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe.if(missing.length === 0)("glamm eval captions on the GCG captions of oracle set-a", () => {
  // The GCG predictions written as a COCO results file; the GCG caption ground truth is a COCO captions file already.
  const candidates = join(home, "gcg-candidates.json");
  const references = join(ORACLE, "gt/val_gcg_coco_caption_gt.json");
  if (missing.length === 0) {
    const predictions = readdirSync(join(ORACLE, "predictions")).map((f) => JSON.parse(readFileSync(join(ORACLE, "predictions", f), "utf8")));
    writeFileSync(candidates, JSON.stringify(predictions.map((p) => ({ image_id: p.image_id, caption: p.caption }))));
  }
  const meteor = ["--meteor-data", METEOR_DATA, "--no-paraphrase"];

  test("gives the GCG path's caption metrics, overall and per image, and --no-paraphrase gives the oracle's METEOR", () => {
    const captions = glamm(["eval", "captions", "--candidates", candidates, "--references", references, ...meteor]);
    const gcg = glamm(["eval", "gcg", join(ORACLE, "predictions"), "--gt-dir", join(ORACLE, "gt"), "--per-image", "--json", ...meteor]);
    expect([captions.code, gcg.code]).toEqual([0, 0]);
    const a = JSON.parse(captions.stdout);
    const b = JSON.parse(gcg.stdout);
    const names = ["Bleu_1", "Bleu_2", "Bleu_3", "Bleu_4", "METEOR", "ROUGE_L", "CIDEr"];
    expect(Object.keys(a.metrics)).toEqual(names);
    for (const name of names) expect([name, a.metrics[name]]).toEqual([name, b.metrics[name]]);
    const gcgRows = new Map(b.perImage.map((row: Record<string, unknown>) => [row.image_id, row]));
    expect(a.perImage.length).toBe(gcgRows.size);
    for (const row of a.perImage) for (const name of names) expect([row.image_id, name, row[name]]).toEqual([row.image_id, name, (gcgRows.get(row.image_id) as Record<string, unknown>)[name]]);

    const oracle = JSON.parse(readFileSync(join(ORACLE, "expected.json"), "utf8")).gcg;
    expect(Math.abs(a.metrics.METEOR - oracle.caption_metrics.METEOR)).toBeLessThan(1e-12);
    for (const row of a.perImage) expect(Math.abs(row.METEOR - oracle.caption_metrics_per_image[row.image_id].METEOR)).toBeLessThan(1e-12);
  });

  test("eval regcap --no-paraphrase gives the oracle's METEOR, overall and per image", () => {
    const r = glamm(["eval", "regcap", join(ORACLE, "region_captioning/results.json"), "--gt", join(ORACLE, "region_captioning/gt_captions.json"), "--per-image", ...meteor]);
    expect(r.code).toBe(0);
    const record = JSON.parse(r.stdout);
    const oracle = JSON.parse(readFileSync(join(ORACLE, "expected.json"), "utf8")).region_captioning;
    expect(Math.abs(record.metrics.METEOR - oracle.caption_metrics.METEOR)).toBeLessThan(1e-12);
    expect(record.perImage.length).toBe(Object.keys(oracle.caption_metrics_per_image).length);
    for (const row of record.perImage) expect(Math.abs(row.METEOR - oracle.caption_metrics_per_image[row.image_id].METEOR)).toBeLessThan(1e-12);
  });

  test("without METEOR data: one notice naming the metric and the fix, the other metrics printed", () => {
    const r = glamm(["eval", "captions", "--candidates", candidates, "--references", references]);
    expect(r.code).toBe(0);
    expect(r.stderr.match(/METEOR/g)?.length).toBe(1);
    expect(r.stderr).toContain("glamm pull meteor-1.5");
    expect(Object.keys(JSON.parse(r.stdout).metrics)).toEqual(["Bleu_1", "Bleu_2", "Bleu_3", "Bleu_4", "ROUGE_L", "CIDEr"]);
  });

  // script(1) gives the command a terminal.
  if (!existsSync("/usr/bin/script")) console.warn("skipping the terminal-table test: no /usr/bin/script to give glamm a terminal");
  test.skipIf(!existsSync("/usr/bin/script"))("a readable table on a terminal", () => {
    const command = [process.execPath, join(import.meta.dir, "../src/main.ts"), "eval", "captions", "--candidates", candidates, "--references", references, ...meteor, "--per-image"];
    const r = spawnSync("/usr/bin/script", ["-qec", command.map((a) => `'${a}'`).join(" "), "/dev/null"], { env: { ...process.env, GLAMM_HOME: home }, encoding: "utf8" });
    const lines = r.stdout.replaceAll("\r", "").split("\n");
    expect(lines[0]).toMatch(/^metric +value$/);
    expect(lines).toContainEqual(expect.stringMatching(/^METEOR +0\.\d{4}$/));
    expect(lines).toContainEqual(expect.stringMatching(/^image_id +Bleu_1 +Bleu_2 +Bleu_3 +Bleu_4 +METEOR +ROUGE_L +CIDEr$/));
    expect(r.stdout).not.toContain("{");
  });
});

const CASES = join(import.meta.dir, "../../shared/meteor/cases.json");
describe.if(existsSync(CASES))("glamm eval captions --tokenize none on ../shared/meteor/cases.json as COCO files", () => {
  test("the jar's METEOR per segment and in aggregate, without (a) and with (b) the small paraphrase table", () => {
    const file = JSON.parse(readFileSync(CASES, "utf8"));
    const references = join(home, "cases-references.json");
    const candidates = join(home, "cases-candidates.json");
    const annotations = file.cases.flatMap((c: { id: string; references: string[] }) => c.references.map((caption, k) => ({ id: k, image_id: c.id, caption })));
    writeFileSync(references, JSON.stringify({ images: file.cases.map((c: { id: string }) => ({ id: c.id })), annotations }));
    writeFileSync(candidates, JSON.stringify(file.cases.map((c: { id: string; hypothesis: string }) => ({ image_id: c.id, caption: c.hypothesis }))));
    const base = ["eval", "captions", "--candidates", candidates, "--references", references, "--tokenize", "none", "--meteor-data", METEOR_DATA];
    for (const [config, flags] of [["a", ["--no-paraphrase"]], ["b", ["--paraphrase-table", join(METEOR_DATA, "paraphrase/paraphrase-en-small.gz")]]] as const) {
      const r = glamm([...base, ...flags]);
      expect(r.code).toBe(0);
      const record = JSON.parse(r.stdout);
      const want = file.configs[config];
      expect(record.perImage.map((row: { image_id: string; METEOR: number }) => [row.image_id, row.METEOR])).toEqual(want.segments.map((s: { id: string; score: number }) => [s.id, s.score]));
      expect(record.metrics.METEOR).toBe(want.aggregate_score);
    }
  });
});

describe("glamm eval captions input checks", () => {
  test("--tokenize takes ptb or none", () => {
    const r = glamm(["eval", "captions", "--candidates", "x.json", "--references", "y.json", "--tokenize", "moses"]);
    expect(r.code).toBe(ExitCode.usage);
    expect(r.stderr).toContain("--tokenize must be ptb or none");
  });

  test("--paraphrase-table and --no-paraphrase together are refused", () => {
    const r = glamm(["eval", "captions", "--candidates", "x.json", "--references", "y.json", "--paraphrase-table", "t.gz", "--no-paraphrase"]);
    expect(r.code).toBe(ExitCode.usage);
  });

  test("a candidate for an image the references do not list is named", () => {
    const refs = join(home, "refs.json");
    const cands = join(home, "cands.json");
    writeFileSync(refs, JSON.stringify({ images: [{ id: 1 }], annotations: [{ image_id: 1, caption: "a dog" }] }));
    writeFileSync(cands, JSON.stringify([{ image_id: 2, caption: "a cat" }]));
    const r = glamm(["eval", "captions", "--candidates", cands, "--references", refs, "--no-paraphrase"]);
    expect(r.code).toBe(ExitCode.input);
    expect(r.stderr).toContain("result for image 2, which the ground truth does not list");
  });

  test("per-image table: one aligned column per value, '-' where a value is missing", () => {
    const table = formatPerImageTable([
      { image_id: "long-image-name", METEOR: 0.5 },
      { image_id: 7, METEOR: null },
    ]).split("\n");
    expect(table).toEqual(["image_id         METEOR", "long-image-name  0.5000", "7                -"]);
  });
});
