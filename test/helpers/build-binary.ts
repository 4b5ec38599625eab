import { spawnSync } from "node:child_process";
import { join } from "node:path";

/**
 * Builds the single binary in a separate process: Bun.build inside the test runner can see modules the runner has
 * already loaded (sharp, once another test imported it) and bundle them without the native-embedding plugin.
 */
export function buildBinary(outfile: string): string {
  const result = spawnSync(process.execPath, [join(import.meta.dir, "../../src/build/compile.ts"), outfile], { encoding: "utf8" });
  if (result.status !== 0) throw new Error(`building the binary failed: ${result.stderr || result.stdout}`);
  return outfile;
}
