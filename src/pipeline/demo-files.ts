import { resolve } from "node:path";
import type { EmbeddedFile } from "../runtime/extract.ts";

/** The compiled binary's demo: the files of models/demo embedded at build time and a sha256 over them (none: no trained demo). */
export interface EmbeddedDemo {
  hash: string;
  files: EmbeddedFile[];
}

/** Where the trained demo's checkpoints (the repository's models/demo) are read from: in place when running from source. */
export type DemoBundle = { folder: string } | EmbeddedDemo;

/** The compiled binary replaces this module with the embedded files (src/build/demo-bundle.ts). */
export const bundledDemo: DemoBundle = { folder: resolve(import.meta.dir, "../../models/demo") };
