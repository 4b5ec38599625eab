import { createHash } from "node:crypto";
import { copyFileSync, createReadStream, existsSync, linkSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from "node:fs";
import { basename, dirname, isAbsolute, join, relative, resolve } from "node:path";
import { inputError, modelError, usageError } from "../cli/errors.ts";
import { writeFileAtomic } from "../output/atomic.ts";
import { glammHome } from "../runtime/paths.ts";
import { convertAfterPull } from "./converters.ts";
import { canUseCache } from "./errors.ts";
import { cachedCommit, cachedSnapshotFiles, fallbackReason, fetchRepoInfo, hubConfig, hubDownload, isCommitHash, snapshotDir, writeRef, type HubConfig } from "./hf.ts";
import { withFileLock } from "./lock.ts";
import { findManifest, manifests, parsePullSpec, type ModelManifest, type PullSpec } from "./manifests.ts";
import { selectFiles, type FileFilter } from "./patterns.ts";
import type { ProgressReporter } from "./progress.ts";

type Env = Record<string, string | undefined>;

export interface InstalledFile {
  /** Relative to the record's dir. */
  path: string;
  size: number;
  sha256: string;
  /** Source modification time, for `--from DIR` installs (decides whether a later pull is a no-op). */
  mtimeMs?: number;
}

/** models/{name}/install.json: what was installed, from where, and its checksums. */
export interface InstallRecord {
  name: string;
  repo: string;
  revision: string;
  /** The Hub commit the files come from (Hub installs). */
  commit?: string;
  source: { kind: "hub"; endpoint: string } | { kind: "dir"; dir: string };
  /** Where the files are: a Hub cache snapshot, or a copy inside the store for `--from DIR`. */
  dir: string;
  files: InstalledFile[];
  /** Names of the records this model needs (its image encoder). */
  dependencies: string[];
  installedAt: string;
}

export interface PullOptions {
  /** Install from a local directory in the official layout instead of the network. */
  from?: string;
  env?: Env;
  signal?: AbortSignal;
  /** Files fetched at once (default 4). */
  concurrency?: number;
  progress?: ProgressReporter;
  onNotice?(message: string): void;
  /** Which files of a repo without a manifest to fetch (`--include`, `--exclude`, `--variant`). */
  filter?: FileFilter;
}

export interface PullResult {
  record: InstallRecord;
  /** Nothing changed: the same inputs were installed already. */
  upToDate: boolean;
  downloadedBytes: number;
  /** Converters convertAfterPull ran. */
  converted: string[];
}

export const storeDir = (env: Env = process.env) => join(glammHome(env as NodeJS.ProcessEnv), "models");
const keyOf = (name: string) => name.replaceAll("/", "--");
const recordPath = (env: Env, name: string) => join(storeDir(env), keyOf(name), "install.json");

export function readInstallRecord(name: string, env: Env = process.env): InstallRecord | undefined {
  try {
    return JSON.parse(readFileSync(recordPath(env, name), "utf8")) as InstallRecord;
  } catch {
    return undefined;
  }
}

export function installedRecords(env: Env = process.env): InstallRecord[] {
  const root = storeDir(env);
  if (!existsSync(root)) return [];
  return readdirSync(root)
    .map((key) => readInstallRecord(key, env))
    .filter((r): r is InstallRecord => r !== undefined);
}

/** Every file of the record is still there with its recorded size. */
export function isIntact(record: InstallRecord): boolean {
  return record.files.every((f) => {
    try {
      return statSync(join(record.dir, f.path)).size === f.size;
    } catch {
      return false;
    }
  });
}

/** `glamm pull NAME[@rev]`: installs the model and its image encoder; returns one result per repo, model first. */
export async function pullModel(spec: string, options: PullOptions = {}): Promise<PullResult[]> {
  const parsed = parsePullSpec(spec);
  const name = parsed.manifest?.name ?? parsed.repo;
  const filtered = options.filter && (options.filter.include || options.filter.exclude || options.filter.variant !== undefined);
  if (filtered && (parsed.manifest || options.from)) {
    throw usageError(`--include, --exclude and --variant choose files of a Hub repo without a manifest; ${parsed.manifest ? `${name} has one (models/${name}.json)` : "--from installs the whole folder"}`);
  }
  if (options.from) return pullFromDir(name, parsed, resolve(options.from), options);
  return pullFromHub(name, parsed, options);
}

async function pullFromHub(name: string, spec: PullSpec, options: PullOptions): Promise<PullResult[]> {
  const env = options.env ?? process.env;
  const config = hubConfig(env);
  const result = await withStoreLock(env, name, options, () => installFromHub(config, name, spec, options));
  const vision = visionDependency(result.record, spec.manifest);
  const required: PullResult[] = [];
  for (const dependency of spec.manifest?.requires ?? []) required.push(...(await pullFromHub(dependency, parsePullSpec(dependency), options)));
  if (!vision) return [result, ...required];
  return [result, ...(await pullFromHub(vision.manifest?.name ?? vision.repo, vision, options)), ...required];
}

/** Where a Hub pull takes its files from: the commit, the repo's file list, and whether only the cache may be read. */
interface HubSource {
  commit: string;
  listing: string[];
  /** Why the files come from the cache without asking the Hub (offline, or the Hub failed for the repo). */
  cacheOnly?: string;
}

/** The Hub's answer for the revision, or, as snapshot_download does, the cached snapshot when offline or the Hub fails. */
async function resolveSource(config: HubConfig, spec: PullSpec, options: PullOptions, keepInstalled: (why: string) => boolean): Promise<HubSource | undefined> {
  let cacheOnly = "HF_HUB_OFFLINE=1 is set";
  if (!config.offline) {
    try {
      const { commit, files } = await fetchRepoInfo(config, spec.repo, spec.revision, options.signal);
      return { commit, listing: files };
    } catch (error) {
      // An outage, a timeout or an auth failure, not a missing revision: what the cache holds for the revision stands in.
      if (!canUseCache(error)) throw error;
      cacheOnly = fallbackReason(error);
      if (keepInstalled(cacheOnly)) return undefined;
      const cached = cachedCommit(config, spec.repo, spec.revision);
      if (!cached || cachedSnapshotFiles(config, spec.repo, cached).length === 0) throw error;
      options.onNotice?.(`${cacheOnly}; using ${spec.repo}@${spec.revision} (${cached.slice(0, 10)}) from the cache ${config.cacheDir}`);
    }
  } else if (keepInstalled(cacheOnly)) return undefined;
  const commit = cachedCommit(config, spec.repo, spec.revision) ?? spec.revision;
  const listing = cachedSnapshotFiles(config, spec.repo, commit);
  if (listing.length === 0) throw modelError(`${cacheOnly} and ${spec.repo}@${spec.revision} is not in the cache ${config.cacheDir}; unset HF_HUB_OFFLINE, or use --from DIR`);
  return { commit, listing, cacheOnly };
}

async function installFromHub(config: HubConfig, name: string, spec: PullSpec, options: PullOptions): Promise<PullResult> {
  const env = options.env ?? process.env;
  const existing = readInstallRecord(name, env);
  const same = existing?.source.kind === "hub" && existing.repo === spec.repo && existing.revision === spec.revision && isIntact(existing);
  const unchanged = (): PullResult => ({ record: existing!, upToDate: true, downloadedBytes: 0, converted: [] });
  if (same && !config.offline && isCommitHash(spec.revision) && existing.commit === spec.revision) return unchanged();
  const keepInstalled = (why: string) => {
    if (same && !config.offline) options.onNotice?.(`${why}; keeping the installed ${name}`);
    return same;
  };
  const source = await resolveSource(config, spec, options, keepInstalled);
  if (!source) return unchanged();
  const { commit, listing, cacheOnly } = source;
  if (cacheOnly === undefined) {
    if (same && existing.commit === commit) return unchanged();
    writeRef(config, spec.repo, spec.revision, commit);
  }
  const files = spec.manifest?.files ?? selectFiles(listing, options.filter ?? {});
  if (files.length === 0) throw usageError(`no file of ${spec.repo}@${spec.revision} matches --include/--exclude/--variant (it has ${listing.length})`);
  let downloadedBytes = 0;
  let fileCommit = commit;
  const installed = await mapLimit(files, options.concurrency ?? 4, async (file) => {
    const tracker = options.progress?.addFile(file);
    try {
      const got = await hubDownload(config, spec.repo, commit, file, {
        onProgress: tracker?.update,
        signal: options.signal,
        onWait: options.onNotice,
        onNotice: options.onNotice,
        cacheOnly,
      });
      tracker?.update({ received: got.size, total: got.size, rate: 0 });
      downloadedBytes += got.downloaded;
      fileCommit = got.commit;
      const sha256 = /^[0-9a-f]{64}$/.test(got.etag) ? got.etag : await sha256File(got.path);
      return { path: file, size: got.size, sha256 };
    } finally {
      tracker?.done();
    }
  });
  const record: InstallRecord = {
    name,
    repo: spec.repo,
    revision: spec.revision,
    commit: fileCommit,
    source: { kind: "hub", endpoint: config.endpoint },
    dir: snapshotDir(config, spec.repo, fileCommit),
    files: installed,
    dependencies: [],
    installedAt: new Date().toISOString(),
  };
  record.dependencies = dependencyNames(record, spec.manifest);
  writeRecord(env, record);
  return { record, upToDate: false, downloadedBytes, converted: await convertAfterPull(record, { signal: options.signal }) };
}

async function pullFromDir(name: string, spec: PullSpec, dir: string, options: PullOptions): Promise<PullResult[]> {
  const env = options.env ?? process.env;
  if (!existsSync(join(dir, "config.json"))) throw inputError(`--from ${dir}: no config.json there; point --from at a folder laid out like the Hub repo ${spec.repo}`);
  const result = await withStoreLock(env, name, options, () => installFromDir(env, name, spec, dir, options));
  const vision = visionDependency(result.record, spec.manifest);
  if (!vision) return [result];
  const local = findLocalDependency(dir, vision.raw);
  const depName = findManifest(vision.raw)?.name ?? findManifest(basename(vision.raw))?.name ?? vision.manifest?.name ?? basename(vision.raw);
  if (local) return [result, ...(await pullFromDir(depName, { ...vision, manifest: findManifest(depName) }, local, options))];
  if (!vision.hubId) throw inputError(`${name} needs the image encoder "${vision.raw}", which is not next to ${dir}; put it at ${join(dirname(dir), basename(vision.raw))}`);
  options.onNotice?.(`${vision.raw} is not next to ${dir}; fetching it from the Hub (or its cache)`);
  return [result, ...(await pullFromHub(depName, vision, options))];
}

async function installFromDir(env: Env, name: string, spec: PullSpec, dir: string, options: PullOptions): Promise<PullResult> {
  const sources = listFiles(dir).map((path) => {
    const stat = statSync(join(dir, path));
    return { path, size: stat.size, mtimeMs: stat.mtimeMs };
  });
  const existing = readInstallRecord(name, env);
  const target = join(storeDir(env), keyOf(name), "files");
  if (existing?.source.kind === "dir" && existing.source.dir === dir && sameSources(existing.files, sources) && isIntact(existing)) {
    return { record: existing, upToDate: true, downloadedBytes: 0, converted: [] };
  }
  const staging = `${target}.tmp-${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  const files = await mapLimit(sources, options.concurrency ?? 4, async (source) => {
    const tracker = options.progress?.addFile(source.path, source.size);
    const sha256 = await sha256File(join(dir, source.path));
    placeCopy(join(dir, source.path), join(staging, source.path));
    tracker?.update({ received: source.size, total: source.size, rate: 0 });
    tracker?.done();
    return { ...source, sha256 };
  });
  rmSync(target, { recursive: true, force: true });
  renameSync(staging, target);
  const record: InstallRecord = {
    name,
    repo: spec.repo,
    revision: spec.revision,
    source: { kind: "dir", dir },
    dir: target,
    files,
    dependencies: [],
    installedAt: new Date().toISOString(),
  };
  record.dependencies = dependencyNames(record, spec.manifest);
  writeRecord(env, record);
  return { record, upToDate: false, downloadedBytes: 0, converted: await convertAfterPull(record, { signal: options.signal }) };
}

function sameSources(installed: InstalledFile[], sources: { path: string; size: number; mtimeMs: number }[]): boolean {
  const byPath = new Map(installed.map((f) => [f.path, f]));
  return installed.length === sources.length && sources.every((s) => byPath.get(s.path)?.size === s.size && byPath.get(s.path)?.mtimeMs === s.mtimeMs);
}

/** A hard link when on the same filesystem (instant, no extra space), else a copy. */
export function placeCopy(from: string, to: string): void {
  mkdirSync(dirname(to), { recursive: true });
  try {
    linkSync(from, to);
  } catch {
    copyFileSync(from, to);
  }
}

function listFiles(root: string, dir = root): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .filter((entry) => !entry.name.startsWith("."))
    .flatMap((entry) => {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) return listFiles(root, path);
      return entry.isFile() || (entry.isSymbolicLink() && statSync(path).isFile()) ? [relative(root, path)] : [];
    })
    .sort();
}

interface VisionDependency extends PullSpec {
  /** The value as written in config.json (a Hub id or a path). */
  raw: string;
  hubId: boolean;
}

/** The image encoder named by config.json (`mm_vision_tower`, else `vision_tower`), else by the manifest. */
function visionDependency(record: InstallRecord, manifest: ModelManifest | undefined): VisionDependency | undefined {
  let raw: string | undefined;
  try {
    const config = JSON.parse(readFileSync(join(record.dir, "config.json"), "utf8")) as Record<string, unknown>;
    const named = config.mm_vision_tower ?? config.vision_tower;
    if (typeof named === "string" && named !== "") raw = named;
  } catch {
    // No readable config.json (e.g. a bare SAM checkpoint): fall back to the manifest.
  }
  raw ??= manifest?.vision ? findManifest(manifest.vision)?.repo : undefined;
  if (!raw || findManifest(raw)?.repo === record.repo || raw === record.repo) return undefined;
  const known = findManifest(raw);
  const hubId = !isAbsolute(raw) && /^[\w.-]+\/[\w.-]+$/.test(raw) && !raw.startsWith(".");
  return { raw, hubId, repo: known?.repo ?? raw, revision: known?.revision ?? "main", manifest: known };
}

function dependencyNames(record: InstallRecord, manifest: ModelManifest | undefined): string[] {
  const vision = visionDependency(record, manifest);
  if (!vision) return [];
  return [findManifest(vision.raw)?.name ?? findManifest(basename(vision.raw))?.name ?? (vision.hubId ? vision.raw : basename(vision.raw))];
}

/** Where an image encoder named in config.json may sit next to a local checkpoint. */
function findLocalDependency(dir: string, raw: string): string | undefined {
  const candidates = isAbsolute(raw) ? [raw] : [join(dir, raw), join(dirname(dir), raw), join(dir, basename(raw)), join(dirname(dir), basename(raw))];
  return candidates.find((c) => existsSync(join(c, "config.json")));
}

function writeRecord(env: Env, record: InstallRecord): void {
  mkdirSync(dirname(recordPath(env, record.name)), { recursive: true });
  writeFileAtomic(recordPath(env, record.name), `${JSON.stringify(record, null, 2)}\n`);
}

function withStoreLock<T>(env: Env, name: string, options: PullOptions, fn: () => Promise<T>): Promise<T> {
  return withFileLock(join(glammHome(env as NodeJS.ProcessEnv), "locks", `${keyOf(name)}.lock`), fn, {
    signal: options.signal,
    onWait: (holder) => options.onNotice?.(`another glamm pull of ${name} is running (${holder}); waiting for it`),
  });
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path, { highWaterMark: 4 << 20 })) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

export interface ModelStatus {
  name: string;
  repo: string;
  description?: string;
  tasks: string[];
  installed: boolean;
  /** Bytes of the installed files. */
  size?: number;
  revision?: string;
  commit?: string;
  source?: "hub" | "dir";
  dependencies: string[];
}

/** Every manifest with its install status, then installed models that have no manifest. */
export function listModels(env: Env = process.env): ModelStatus[] {
  const records = new Map(installedRecords(env).map((r) => [r.name, r]));
  const status = (name: string, repo: string, record: InstallRecord | undefined, manifest?: ModelManifest): ModelStatus => ({
    name,
    repo,
    description: manifest?.description,
    tasks: manifest?.tasks ?? [],
    installed: record !== undefined && isIntact(record),
    size: record ? record.files.reduce((sum, f) => sum + f.size, 0) : undefined,
    revision: record?.revision,
    commit: record?.commit,
    source: record?.source.kind,
    dependencies: record?.dependencies ?? (manifest?.vision ? [manifest.vision] : []),
  });
  const known = manifests.map((m) => status(m.name, m.repo, records.get(m.name), m));
  const others = [...records.values()].filter((r) => !findManifest(r.name)).map((r) => status(r.name, r.repo, r));
  return [...known, ...others];
}
