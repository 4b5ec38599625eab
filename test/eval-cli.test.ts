import { afterAll, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const oracle = join(import.meta.dir, "../../shared/oracle-eval");
const present = existsSync(join(oracle, "set-a/expected.json"));
if (!present) console.warn("skipping eval CLI test: ../shared/oracle-eval is absent");

const home = mkdtempSync(join(tmpdir(), "glamm-eval-cli-"));
afterAll(() => rmSync(home, { recursive: true, force: true }));

function glamm(args: string[]) {
  const r = spawnSync(process.execPath, [join(import.meta.dir, "../src/main.ts"), ...args], { env: { ...process.env, GLAMM_HOME: home, HF_HOME: join(home, "hf") }, encoding: "utf8" });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test.skipIf(!present)("eval gcg uses a pulled bert-base-uncased for recall by default, as --bert DIR does", () => {
  const gcg = ["eval", "gcg", join(oracle, "set-a/predictions"), "--gt-dir", join(oracle, "set-a/gt"), "--split", "val", "--json"];
  const exact = glamm(gcg);
  expect(exact.code).toBe(0);
  expect(exact.stderr).toContain("exact lower-cased match");
  const explicit = glamm([...gcg, "--bert", join(oracle, "bert-tiny-a")]);
  expect(explicit.code).toBe(0);
  expect(glamm(["pull", "bert-base-uncased", "--from", join(oracle, "bert-tiny-a")]).code).toBe(0);
  const pulled = glamm(gcg);
  expect(pulled.code).toBe(0);
  expect(pulled.stderr).not.toContain("exact lower-cased match");
  const recall = (r: { stdout: string }) => JSON.parse(r.stdout).metrics.recall;
  expect(recall(pulled)).toBe(recall(explicit));
  expect(recall(pulled)).not.toBe(recall(exact));
});
