import { expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";

// The demo trainer's PyTorch forward pass (training/glamm_model.py) against the official GLaMM outputs: a trained demo
// is only right if training computed what glamm's graphs compute. Needs Debian's python3-torch/numpy/pil.
const oracle = join(import.meta.dir, "../../shared/oracle/tiny-a");
const python = "/usr/bin/python3";
const haveTorch = existsSync(python) && spawnSync(python, ["-c", "import torch, numpy, PIL"]).status === 0;
const haveOracle = existsSync(join(oracle, "refs/index.json"));
if (!haveTorch) console.warn("skipping the training forward-pass check: Debian's python3-torch, python3-numpy, python3-pil are not installed");
if (!haveOracle) console.warn("skipping the training forward-pass check: ../shared/oracle/tiny-a is absent");

test.skipIf(!haveTorch || !haveOracle)("training's GLaMM forward pass matches the official code on tiny-a", () => {
  const run = spawnSync(python, [join(import.meta.dir, "../training/check_oracle.py"), oracle], { encoding: "utf8", env: { ...process.env, PYTHONDONTWRITEBYTECODE: "1" } });
  const lines = run.stdout.trim().split("\n");
  expect(lines.filter((l) => l.startsWith("FAIL"))).toEqual([]);
  expect(lines.filter((l) => l.startsWith("ok")).length).toBe(15);
  expect(run.status).toBe(0);
}, 120_000);
