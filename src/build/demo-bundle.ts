import { join, resolve } from "node:path";
import type { BunPlugin } from "bun";
import { hashDemoFiles, listDemoFiles } from "../pipeline/demo-folder.ts";

const defaultDemoFolder = resolve(import.meta.dir, "../../models/demo");

/** The source of src/pipeline/demo-files.ts in the binary: every file of `folder` embedded, and their hash. */
export function demoBundleModule(folder: string): string {
  const files = listDemoFiles(folder).map((relative) => ({ embedded: join(folder, relative), relative }));
  const imports = files.map((f, i) => `import f${i} from ${JSON.stringify(f.embedded)} with { type: "file" };`);
  const entries = files.map((f, i) => `{ embedded: f${i}, relative: ${JSON.stringify(f.relative)} }`);
  const hash = files.length ? hashDemoFiles(files) : "";
  return [...imports, `export const bundledDemo = { hash: ${JSON.stringify(hash)}, files: [${entries.join(", ")}] };`].join("\n");
}

/** Embeds the trained demo of models/demo (when there is one) in the compiled binary; see src/pipeline/demo.ts. */
export const embedDemoModel = (folder = defaultDemoFolder): BunPlugin => ({
  name: "glamm-embed-demo",
  setup(build) {
    build.onLoad({ filter: /src[\\/]pipeline[\\/]demo-files\.ts$/ }, () => ({ contents: demoBundleModule(folder), loader: "js" }));
  },
});
