import { accessSync, constants, existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { withFileLock } from "../hub/lock.ts";
import { modelError } from "../cli/errors.ts";
import { glammHome, isReadOnlyError } from "../runtime/paths.ts";
import { checkFreeDisk } from "../util/disk.ts";
import { readJsonObject } from "../util/json.ts";
import { sourceFingerprint } from "./fingerprint.ts";

/** Where converted graphs live, one folder per (sources' content hash, variant), for every backend. */
export const convertedRoot = (): string => join(glammHome(), "converted");

export interface CacheRequest<M> {
  /** Checkpoint folders or files whose content keys the entry. */
  sources: readonly string[];
  /** What tells conversions of the same sources apart (backend, precision, trace), e.g. "int4" or "sam-fp32". */
  variant: string;
  /** Bytes the conversion writes at most, checked against the free space before it starts. */
  estimatedBytes: () => number;
  /** Writes the graphs into `dir` and returns the manifest recorded beside them. */
  build(dir: string, fingerprint: string): Promise<M>;
  /** Whether an existing entry's manifest is still usable (else the entry is built again); default: always. */
  accept?(manifest: M): boolean;
  onProgress?(message: string): void;
}

export interface CachedGraphs<M> {
  dir: string;
  manifest: M;
}

const MANIFEST = "manifest.json";

/** What every manifest.json of the cache records about its entry (under "cacheEntry"), for `glamm models`. */
interface CacheEntryInfo {
  sources: string[];
  variant: string;
}

export interface ConvertedEntry extends CacheEntryInfo {
  dir: string;
  /** Bytes of the entry's files on disk. */
  bytes: number;
}

/** Every complete entry of the converted-graph cache. */
export function convertedEntries(): ConvertedEntry[] {
  const root = convertedRoot();
  if (!existsSync(root)) return [];
  return readdirSync(root).flatMap((name) => {
    const dir = join(root, name);
    if (!existsSync(join(dir, MANIFEST))) return [];
    const info = readJsonObject(join(dir, MANIFEST)).cacheEntry as CacheEntryInfo | undefined;
    if (!info || !Array.isArray(info.sources) || typeof info.variant !== "string") return [];
    return [{ dir, sources: info.sources, variant: info.variant, bytes: folderBytes(dir) }];
  });
}

/** Where the cache entry for these sources and variant is (or will be), and the sources' content hash. */
export async function cachedGraphsLocation(sources: readonly string[], variant: string, onProgress?: (message: string) => void): Promise<{ dir: string; name: string; fingerprint: string }> {
  const fingerprint = await sourceFingerprint(sources, (path) => onProgress?.(`hashing ${path}`));
  const name = `${fingerprint.slice(0, 16)}-${variant}`;
  return { dir: join(convertedRoot(), name), name, fingerprint };
}

/**
 * The converted graphs for these sources: built on first use under $GLAMM_HOME/converted/<hash>-<variant>/, into a
 * temporary folder renamed into place once the manifest is written, so an interrupted conversion never leaves a
 * half-written entry. One process converts at a time (a lock file); temporary folders left by a killed one are removed.
 */
export async function ensureCachedGraphs<M>(request: CacheRequest<M>): Promise<CachedGraphs<M>> {
  const { dir, name, fingerprint } = await cachedGraphsLocation(request.sources, request.variant, request.onProgress);
  const root = convertedRoot();
  const manifestPath = join(dir, MANIFEST);
  const cached = (): CachedGraphs<M> | undefined => {
    if (!existsSync(manifestPath)) return undefined;
    const manifest = readJsonObject(manifestPath) as unknown as M;
    return (request.accept?.(manifest) ?? true) ? { dir, manifest } : undefined;
  };
  const ready = cached();
  if (ready) return ready;
  try {
    mkdirSync(root, { recursive: true });
    accessSync(root, constants.W_OK);
  } catch (error) {
    if (!isReadOnlyError(error)) throw error;
    throw modelError(`the model is not converted in the read-only GLAMM_HOME ${glammHome()} (${name} missing): run the same command once with write access to it`);
  }
  return withFileLock(
    join(root, `${name}.lock`),
    async () => {
      const done = cached(); // converted by the process that held the lock
      if (done) return done;
      for (const entry of readdirSync(root)) if (entry.startsWith(`${name}.tmp-`)) rmSync(join(root, entry), { recursive: true, force: true });
      if (existsSync(dir)) rmSync(dir, { recursive: true, force: true }); // no manifest, or one not accepted: rebuild
      checkFreeDisk(root, request.estimatedBytes(), "converting the model");
      const tmp = `${dir}.tmp-${process.pid}`;
      mkdirSync(tmp, { recursive: true });
      try {
        const manifest = await request.build(tmp, fingerprint);
        const entry: CacheEntryInfo = { sources: request.sources.map((source) => resolve(source)), variant: request.variant };
        const recorded = { ...manifest, cacheEntry: entry };
        writeFileSync(join(tmp, MANIFEST), JSON.stringify(recorded, null, 2));
        renameSync(tmp, dir);
        return { dir, manifest: recorded };
      } catch (error) {
        rmSync(tmp, { recursive: true, force: true });
        throw error;
      }
    },
    // Building a graph can hold the event loop (and the lock's heartbeat) for minutes; a dead holder is found by its pid.
    { staleMs: 3_600_000, onWait: (holder) => request.onProgress?.(`waiting for ${holder} to finish converting`) },
  );
}

/** Bytes of every file under `dir`. */
export function folderBytes(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) total += statSync(join(entry.parentPath, entry.name)).size;
  }
  return total;
}
