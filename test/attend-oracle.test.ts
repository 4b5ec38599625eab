import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readNpy, type NpyArray } from "../src/output/npy.ts";
import type { TraceResult } from "../src/pipeline/trace-output.ts";
import { compareArrays } from "./helpers/oracle-compare.ts";

// The official attend-and-segment pipeline's arrays for tiny random checkpoints (see ../shared/oracle-aas/README.md),
// compared with what `glamm trace --backend attend` writes through the real CLI.
const ORACLE_ROOT = "../shared/oracle-aas";
const configs = existsSync(ORACLE_ROOT) ? readdirSync(ORACLE_ROOT).filter((d) => existsSync(`${ORACLE_ROOT}/${d}/refs/index.json`)) : [];
// Absent data shows as a skipped test with the reason, never as nothing.
if (configs.length === 0) test.skip(`attend-and-segment oracle: skipped, no ${ORACLE_ROOT}/*/refs/index.json`, () => {});

interface RunRef {
  question: string;
  forced_answer?: string;
  n_steps: number;
  groups: { phrase: string; core_word: string; tokens: number[]; start_char: number; end_char: number }[];
  points: [number, number][];
  answer: string;
}

/** Compares every reference array of a run (and the image-level ones) with the trace, by the contract's tolerances. */
const compareRun = (root: string, trace: TraceResult, run: string): void => compareArrays(trace, [`${root}/refs`, `${root}/refs/${run}`], { skip: /^attn_lastrow_/ });

const RUNS = [
  ["teacher_forced", false],
  ["greedy", false],
  ["teacher_forced_remove_corner", true],
] as const;

for (const config of configs) {
  const ROOT = `${ORACLE_ROOT}/${config}`;
  const index = JSON.parse(readFileSync(`${ROOT}/refs/index.json`, "utf8")) as { runs: Record<string, RunRef> };
  const llava = readdirSync(ROOT).find((d) => d.startsWith("llava") && existsSync(`${ROOT}/${d}/config.json`));
  const sam = readdirSync(ROOT).find((f) => f.startsWith("sam") && f.endsWith(".pth"));

  describe(`attend-and-segment against the official pipeline (${config})`, () => {
    let scratch = "";
    beforeAll(() => {
      scratch = mkdtempSync(join(tmpdir(), "glamm-attend-test-"));
    });
    afterAll(() => rmSync(scratch, { recursive: true, force: true }));

    /** Runs `glamm trace --backend attend` through the real CLI and reads back what it wrote. */
    const trace = (run: string, removeCorner: boolean, chunks?: string): TraceResult => {
      const ref = index.runs[run];
      const out = join(scratch, `${run}${chunks ? "" : "-extractor"}`);
      const args = ["trace", "--backend", "attend", "--model", `${ROOT}/${llava}`, "--sam", `${ROOT}/${sam}`, "--instruction", ref.question, "--out", out, "--device", "cpu"];
      if (ref.forced_answer !== undefined) args.push("--answer", ref.forced_answer);
      else args.push("--max-tokens", String(ref.n_steps));
      if (removeCorner) args.push("--remove-corner");
      if (chunks) args.push("--chunks", chunks);
      const cli = spawnSync(process.execPath, ["src/main.ts", ...args, `${ROOT}/image.png`], { encoding: "utf8", env: { ...process.env, GLAMM_HOME: join(scratch, "home") } });
      expect(cli.stderr.split("\n").filter((l) => l.startsWith("glamm:"))).toEqual([]);
      expect(cli.status).toBe(0);
      const arrays = new Map<string, NpyArray>();
      for (const file of readdirSync(out, { recursive: true }) as string[]) {
        if (file.endsWith(".npy")) arrays.set(file.slice(0, -4), readNpy(join(out, file)));
      }
      return { arrays, info: JSON.parse(readFileSync(join(out, "trace.json"), "utf8")) };
    };

    for (const [run, removeCorner] of RUNS) {
      test(`${run}: every array within the contract's tolerances (groups from --chunks)`, async () => {
        const chunks = join(scratch, `${run}.json`);
        writeFileSync(chunks, JSON.stringify(index.runs[run].groups.map(({ phrase, start_char, end_char }) => ({ phrase, start_char, end_char }))));
        const result = trace(run, removeCorner, chunks);
        compareRun(ROOT, result, run);
        expect(result.info.groups).toEqual(index.runs[run].groups);
        expect(result.info.points).toEqual(index.runs[run].points);
        expect(result.info.text).toBe(index.runs[run].answer);
      }, 60_000);
    }

    test("teacher_forced: the phrase extractor finds the oracle's groups", async () => {
      const result = trace("teacher_forced", false);
      expect(result.info.groups).toEqual(index.runs.teacher_forced.groups);
      compareRun(ROOT, result, "teacher_forced");
    }, 60_000);
  });
}
