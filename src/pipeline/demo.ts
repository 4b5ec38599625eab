import { existsSync } from "node:fs";
import { join } from "node:path";
import { modelError } from "../cli/errors.ts";
import { extractOnce } from "../runtime/extract.ts";
import { glammHome, isReadOnlyError } from "../runtime/paths.ts";
import { hashDemoFiles, listDemoFiles } from "./demo-folder.ts";
import { bundledDemo, type DemoBundle } from "./demo-files.ts";

/** What results and overlays of the trained demo carry, so its pictures are never taken for a real model's. */
export const DEMO_MARK = "demo model (trained on synthetic shapes)";

/** The two demos models/demo may hold, by the files each needs (packed by training/pack-demo.ts). */
const demoFiles = {
  glamm: ["glamm/config.json", "clip/config.json"],
  attend: ["llava-demo/config.json", "clip-llava-demo/config.json", "sam_demo.pth", "sam_demo.json"],
} as const;
export type DemoKind = keyof typeof demoFiles;

/** Whether this build (or checkout) holds the trained demo of that kind; nothing is extracted. */
export function hasTrainedDemo(kind: DemoKind, bundle: DemoBundle = bundledDemo): boolean {
  const present = (relative: string) => ("folder" in bundle ? existsSync(join(bundle.folder, relative)) : bundle.files.some((f) => f.relative === relative));
  return demoFiles[kind].every(present);
}

/** The trained demo's folder and revision: the checkout's models/demo, or the embedded files extracted once. */
export interface TrainedDemo {
  dir: string;
  revision: string;
}

/**
 * Locates the trained demo. From source it is models/demo in place; the compiled binary extracts its embedded files
 * to `<home>/demo/<hash>/` on first use (atomically: a folder of that name is always complete) and reuses them.
 */
export function trainedDemo(bundle: DemoBundle = bundledDemo, home = glammHome()): TrainedDemo {
  if ("folder" in bundle) return { dir: bundle.folder, revision: folderRevision(bundle.folder) };
  const revision = bundle.hash.slice(0, 16);
  const dir = join(home, "demo", revision);
  try {
    extractOnce(bundle.files, dir);
  } catch (error) {
    if (isReadOnlyError(error)) throw modelError(`the demo model is not in the read-only GLAMM_HOME ${home}: run the command once with write access to it`);
    throw error;
  }
  return { dir, revision };
}

/** From source, the revision hashes every file of the folder (~20 MB): once a process, not at every resolve. */
const folderRevisions = new Map<string, string>();
function folderRevision(folder: string): string {
  let revision = folderRevisions.get(folder);
  if (!revision) {
    const files = listDemoFiles(folder).map((relative) => ({ embedded: join(folder, relative), relative }));
    revision = hashDemoFiles(files).slice(0, 16);
    folderRevisions.set(folder, revision);
  }
  return revision;
}
