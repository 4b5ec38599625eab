import { test } from "bun:test";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { readNpy, type NpyArray } from "../src/output/npy.ts";

// The official SDXL-inpainting edit pipeline's arrays on tiny random checkpoints (../shared/oracle-edit/README.md).
export const EDIT_ORACLE = join(import.meta.dir, "../../shared/oracle-edit");

/** Every configuration folder present (each has refs/index.json); sizes come from its checkpoint, not the README. */
export const editConfigs: string[] = existsSync(EDIT_ORACLE)
  ? readdirSync(EDIT_ORACLE).filter((name) => existsSync(join(EDIT_ORACLE, name, "refs/index.json"))).sort()
  : [];

export const EDIT_SKIP_REASON = `no ${EDIT_ORACLE}/*/refs/index.json (the edit oracle is not present)`;

/** Inside an oracle describe: without the oracle, one test shows as SKIPPED with the reason (never vanishes). */
export function skipWithoutEditOracle(): void {
  if (editConfigs.length === 0) test.skip(`SKIPPED: ${EDIT_SKIP_REASON}`, () => {});
}

export interface EditConfig {
  root: string;
  modelDir: string;
  refs: (run?: "main" | "s4") => string;
  ref: (name: string, run?: "main" | "s4") => NpyArray;
  index: (run?: "main" | "s4") => { parameters: { pipe_call_kwargs: { num_inference_steps: number; strength: number; prompt: string } } };
}

export function editConfig(name: string): EditConfig {
  const root = join(EDIT_ORACLE, name);
  const model = readdirSync(root).find((f) => existsSync(join(root, f, "model_index.json")));
  if (model === undefined) throw new Error(`no model_index.json folder in ${root}`);
  const refs = (run: "main" | "s4" = "main") => (run === "main" ? join(root, "refs") : join(root, "refs", run));
  return {
    root,
    modelDir: join(root, model),
    refs,
    ref: (file, run) => readNpy(join(refs(run), `${file}.npy`)),
    index: (run) => JSON.parse(readFileSync(join(refs(run), "index.json"), "utf8")),
  };
}

/** The runs kept for a configuration: the main run and, when present, the s4 run. */
export const editRuns = (config: EditConfig): Array<"main" | "s4"> =>
  existsSync(join(config.refs("s4"), "index.json")) ? ["main", "s4"] : ["main"];
