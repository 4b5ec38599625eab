/**
 * `glamm pull meteor-1.5`: METEOR 1.5's data files from its public source repository at a pinned commit
 * (models/meteor-1.5.json), each verified by its git blob id, installed in the repository's layout under
 * $GLAMM_HOME/data/meteor-1.5. Downloads go through src/hub's resumable downloader; `--from DIR` copies a local
 * folder laid out like the repository or like an unpacked meteor-1.5.jar distribution.
 */
import { createHash } from "node:crypto";
import { createReadStream, existsSync, readFileSync, renameSync, rmSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { inputError, modelError } from "../../cli/errors.ts";
import { writeFileAtomic } from "../../output/atomic.ts";
import { glammHome } from "../../runtime/paths.ts";
import { downloadFile } from "../../hub/download.ts";
import { withFileLock } from "../../hub/lock.ts";
import { placeCopy } from "../../hub/store.ts";
import type { ProgressReporter } from "../../hub/progress.ts";
import meteor15 from "../../../models/meteor-1.5.json" with { type: "json" };

type Env = Record<string, string | undefined>;

export interface DataFile {
  /** Path inside the repository. */
  path: string;
  /** Bytes, when pinned (the git blob id pins it anyway). */
  size?: number;
  /** sha1 of "blob <size>\0" + content, as `git hash-object` prints. */
  gitBlob: string;
}

/** A data package pinned to a commit of a public git repository (models/meteor-1.5.json). */
export interface DataManifest {
  name: string;
  description: string;
  /** owner/name on GitHub. */
  repository: string;
  commit: string;
  /** Serves `{endpoint}/{repository}/{commit}/{path}` (raw.githubusercontent.com's layout). */
  endpoint: string;
  files: DataFile[];
}

export const METEOR_DATA: DataManifest = meteor15;

/** install.json beside the files. */
export interface DataInstallRecord {
  name: string;
  repository: string;
  commit: string;
  source: { kind: "url"; endpoint: string } | { kind: "dir"; dir: string };
  files: { path: string; size: number; gitBlob: string }[];
  installedAt: string;
}

export interface DataPullOptions {
  env?: Env;
  /** Install from a local folder instead of the network. */
  from?: string;
  signal?: AbortSignal;
  progress?: ProgressReporter;
  onNotice?(message: string): void;
}

export interface DataPullResult {
  record: DataInstallRecord;
  dir: string;
  upToDate: boolean;
  downloadedBytes: number;
}

/** Where a data package is installed; GLAMM_METEOR_ENDPOINT replaces the manifest's endpoint (mirrors, tests). */
export const dataDir = (manifest: DataManifest, env: Env = process.env) => join(glammHome(env as NodeJS.ProcessEnv), "data", manifest.name);
const endpointOf = (manifest: DataManifest, env: Env) => (env.GLAMM_METEOR_ENDPOINT || manifest.endpoint).replace(/\/+$/, "");

export async function gitBlobId(path: string): Promise<string> {
  const hash = createHash("sha1").update(`blob ${statSync(path).size}\0`);
  for await (const chunk of createReadStream(path, { highWaterMark: 4 << 20 })) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

function readRecord(dir: string): DataInstallRecord | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, "install.json"), "utf8")) as DataInstallRecord;
  } catch {
    return undefined;
  }
}

/** The installed folder when every pinned file is there with its recorded size; else undefined. */
export function installedDataDir(manifest: DataManifest = METEOR_DATA, env: Env = process.env): string | undefined {
  const dir = dataDir(manifest, env);
  const record = readRecord(dir);
  if (!record || !isCurrent(record, manifest, dir)) return undefined;
  return dir;
}

function isCurrent(record: DataInstallRecord, manifest: DataManifest, dir: string): boolean {
  const byPath = new Map(record.files.map((f) => [f.path, f]));
  return (
    record.commit === manifest.commit &&
    manifest.files.every((f) => {
      const got = byPath.get(f.path);
      if (got?.gitBlob !== f.gitBlob) return false;
      try {
        return statSync(join(dir, f.path)).size === got.size;
      } catch {
        return false;
      }
    })
  );
}

export async function pullData(manifest: DataManifest = METEOR_DATA, options: DataPullOptions = {}): Promise<DataPullResult> {
  const env = options.env ?? process.env;
  const dir = dataDir(manifest, env);
  const lock = join(glammHome(env as NodeJS.ProcessEnv), "locks", `${manifest.name}.lock`);
  return withFileLock(lock, () => (options.from ? installFromDir(manifest, dir, resolve(options.from), options) : download(manifest, dir, options)), {
    signal: options.signal,
    onWait: (holder) => options.onNotice?.(`another glamm pull of ${manifest.name} is running (${holder}); waiting for it`),
  });
}

const mismatch = (what: string, got: string, file: DataFile, manifest: DataManifest) =>
  `${what}: git blob id ${got}, expected ${file.gitBlob} (${manifest.repository}@${manifest.commit.slice(0, 10)} ${file.path})`;

/**
 * Files land in DIR.partial (resumable .part files, then verified files) and the folder replaces DIR once all are
 * there, so DIR only ever holds a complete, verified set.
 */
async function download(manifest: DataManifest, dir: string, options: DataPullOptions): Promise<DataPullResult> {
  const env = options.env ?? process.env;
  const existing = readRecord(dir);
  if (existing && isCurrent(existing, manifest, dir)) return { record: existing, dir, upToDate: true, downloadedBytes: 0 };
  const staging = `${dir}.partial`;
  const endpoint = endpointOf(manifest, env);
  let downloadedBytes = 0;
  const files: DataInstallRecord["files"] = [];
  for (const file of manifest.files) {
    const target = join(staging, file.path);
    const url = `${endpoint}/${manifest.repository}/${manifest.commit}/${file.path}`;
    const tracker = options.progress?.addFile(file.path, file.size);
    try {
      if (!(existsSync(target) && (await gitBlobId(target)) === file.gitBlob)) {
        const unverified = `${target}.download`;
        const got = await downloadFile({ url, dest: unverified, partPath: `${target}.part`, expectedSize: file.size, onProgress: tracker?.update, signal: options.signal });
        const blob = await gitBlobId(unverified);
        if (blob !== file.gitBlob) {
          rmSync(unverified, { force: true });
          throw modelError(`${mismatch(`checksum mismatch for ${url}`, blob, file, manifest)}; the download was discarded`);
        }
        renameSync(unverified, target);
        downloadedBytes += got.size;
      }
      const size = statSync(target).size;
      tracker?.update({ received: size, total: size, rate: 0 });
      files.push({ path: file.path, size, gitBlob: file.gitBlob });
    } finally {
      tracker?.done();
    }
  }
  const record: DataInstallRecord = { name: manifest.name, repository: manifest.repository, commit: manifest.commit, source: { kind: "url", endpoint }, files, installedAt: new Date().toISOString() };
  replaceDir(staging, dir, record);
  return { record, dir, upToDate: false, downloadedBytes };
}

/** A file of the manifest in a local folder: at its repository path, or (unpacked jar) without "resources/". */
function localCopy(from: string, file: DataFile): string | undefined {
  const candidates = [file.path, file.path.replace(/^resources\//, "")].map((p) => join(from, p));
  return candidates.find((c) => existsSync(c) && statSync(c).isFile());
}

async function installFromDir(manifest: DataManifest, dir: string, from: string, options: DataPullOptions): Promise<DataPullResult> {
  if (!existsSync(from) || !statSync(from).isDirectory()) throw inputError(`--from ${from}: not a folder`);
  const sources = manifest.files.map((file) => {
    const source = localCopy(from, file);
    if (!source) throw inputError(`--from ${from}: no ${file.path} there (nor ${file.path.replace(/^resources\//, "")}); point --from at a copy of the ${manifest.repository} repository or an unpacked meteor-1.5.jar with its data/ folder`);
    return { file, source };
  });
  const staging = `${dir}.from-${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  try {
    const files: DataInstallRecord["files"] = [];
    for (const { file, source } of sources) {
      const size = statSync(source).size;
      const tracker = options.progress?.addFile(file.path, size);
      const blob = await gitBlobId(source);
      if (blob !== file.gitBlob) throw inputError(mismatch(`--from ${source}`, blob, file, manifest));
      placeCopy(source, join(staging, file.path));
      tracker?.update({ received: size, total: size, rate: 0 });
      tracker?.done();
      files.push({ path: file.path, size, gitBlob: blob });
    }
    const record: DataInstallRecord = { name: manifest.name, repository: manifest.repository, commit: manifest.commit, source: { kind: "dir", dir: from }, files, installedAt: new Date().toISOString() };
    replaceDir(staging, dir, record);
    return { record, dir, upToDate: false, downloadedBytes: 0 };
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

/** Writes the record into the staged folder and moves it into place. */
function replaceDir(staging: string, dir: string, record: DataInstallRecord): void {
  writeFileAtomic(join(staging, "install.json"), `${JSON.stringify(record, null, 2)}\n`);
  rmSync(dir, { recursive: true, force: true });
  renameSync(staging, dir);
}
