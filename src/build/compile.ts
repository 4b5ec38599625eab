import { statSync } from "node:fs";
import { resolve } from "node:path";
import { embedDemoModel } from "./demo-bundle.ts";
import { embedNativeBundles } from "./native-bundles.ts";

/** Builds dist/glamm: one executable with the Bun runtime, the code, ONNX Runtime, sharp/libvips and the trained demo inside. */
export async function compileBinary(outfile = resolve(import.meta.dir, "../../dist/glamm")): Promise<string> {
  const result = await Bun.build({
    entrypoints: [resolve(import.meta.dir, "../main.ts")],
    compile: { outfile },
    target: "bun",
    minify: { syntax: true, whitespace: true },
    plugins: [embedNativeBundles, embedDemoModel()],
  });
  if (!result.success) throw new AggregateError(result.logs, "bun build failed");
  return outfile;
}

if (import.meta.main) {
  const start = performance.now();
  const outfile = await compileBinary(process.argv[2] ? resolve(process.argv[2]) : undefined);
  const mb = (statSync(outfile).size / 2 ** 20).toFixed(1);
  console.log(`wrote ${outfile} (${mb} MiB) in ${((performance.now() - start) / 1000).toFixed(1)} s`);
}
