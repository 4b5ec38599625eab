import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import type { EmbeddedFile } from "../runtime/extract.ts";

/** Files of a models/demo folder, relative and sorted; hidden files (.gitkeep) are not part of the demo. */
export function listDemoFiles(folder: string): string[] {
  if (!existsSync(folder)) return [];
  return readdirSync(folder, { recursive: true })
    .map(String)
    .filter((relative) => !relative.split("/").some((part) => part.startsWith(".")) && statSync(join(folder, relative)).isFile())
    .sort();
}

/** sha256 over the files' names and bytes: names the extraction folder and is the demo's revision in results. */
export function hashDemoFiles(files: readonly EmbeddedFile[]): string {
  const hash = createHash("sha256");
  for (const file of files) hash.update(`${file.relative}\0`).update(readFileSync(file.embedded));
  return hash.digest("hex");
}
