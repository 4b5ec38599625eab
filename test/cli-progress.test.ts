import { expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { join } from "node:path";

test("on a pipe, the spinner prints its first text and every new one as plain lines (a long conversion shows progress)", () => {
  const ui = join(import.meta.dir, "../src/cli/ui.ts");
  const script = `import { spinner } from ${JSON.stringify(ui)};
const s = spinner("loading the model");
s.update("converting llama: 1 GB / 4 GB (25%)");
s.update("converting llama: 1 GB / 4 GB (25%)");
s.update("converted llama in 7m31s");
s.stop();`;
  const run = spawnSync(process.execPath, ["-e", script], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  expect(run.status).toBe(0);
  expect(run.stderr).toBe("loading the model\nconverting llama: 1 GB / 4 GB (25%)\nconverted llama in 7m31s\n");
});
