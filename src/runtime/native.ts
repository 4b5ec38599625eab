import { join } from "node:path";
import { runtimeError } from "../cli/errors.ts";
import { extractOnce, type EmbeddedFile } from "./extract.ts";
import { fallbackRuntimeDir, isReadOnlyError, runtimeDir } from "./paths.ts";

/** A native addon and the shared libraries it links, embedded in the compiled binary. */
export interface NativeBundle {
  /** e.g. "onnxruntime-1.30.0"; with the content hash it names the extraction folder. */
  name: string;
  /** sha256 over every file's bytes, computed at build time so start-up never hashes 60 MB. */
  hash: string;
  /** Path of each embedded file inside the binary, and where it goes in the extraction folder. */
  files: EmbeddedFile[];
  /** The `.node` addon to load, relative to the extraction folder. */
  addon: string;
}

const extractedDirs = new Map<string, string>();

/** Extracts a bundle once into `<runtime>/<name>-<hash>/` (atomically, see extractOnce) and returns that folder. */
export function extractBundle(bundle: NativeBundle): string {
  const cached = extractedDirs.get(bundle.name);
  if (cached) return cached;
  const name = `${bundle.name}-${bundle.hash.slice(0, 16)}`;
  let dir = join(runtimeDir(), name);
  try {
    extractInto(bundle, dir);
  } catch (error) {
    // A read-only GLAMM_HOME shared by many tasks: extract this binary's libraries to a private temporary folder.
    if (!isReadOnlyError((error as { cause?: unknown }).cause)) throw error;
    dir = join(fallbackRuntimeDir(), name);
    extractInto(bundle, dir);
  }
  extractedDirs.set(bundle.name, dir);
  return dir;
}

function extractInto(bundle: NativeBundle, dir: string): void {
  try {
    extractOnce(bundle.files, dir);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw Object.assign(runtimeError(`cannot extract native libraries to ${dir}: ${reason} (set GLAMM_HOME to a writable folder)`), { cause: error });
  }
}

/** Loads the bundle's addon from its extraction folder; its shared libraries are found through the addon's RPATH. */
export function loadBundle(bundle: NativeBundle): unknown {
  const dir = extractBundle(bundle);
  const module = { exports: {} as unknown };
  process.dlopen(module, join(dir, bundle.addon));
  return module.exports;
}

/** Folders of bundles this process extracted (for `glamm doctor` and the CUDA provider install). */
export function extractedBundleDir(name: string): string | undefined {
  return extractedDirs.get(name);
}
