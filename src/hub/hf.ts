import { createHash } from "node:crypto";
import { createReadStream, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync } from "node:fs";
import { homedir } from "node:os";
import { basename, dirname, join, relative } from "node:path";
import { modelError, runtimeError } from "../cli/errors.ts";
import { writeFileAtomic } from "../output/atomic.ts";
import { downloadFile, httpError, NetworkError, requestWithTimeout, type DownloadProgress } from "./download.ts";
import { checkFreeDisk } from "../util/disk.ts";
import { withFileLock } from "./lock.ts";

/** Hub settings from the environment, with huggingface_hub's names and defaults. */
export interface HubConfig {
  endpoint: string;
  token?: string;
  offline: boolean;
  /** The hub cache shared with Python tools ($HF_HUB_CACHE, default $HF_HOME/hub). */
  cacheDir: string;
}

const truthy = (value: string | undefined) => ["1", "on", "yes", "true"].includes((value ?? "").toLowerCase());

export function hubConfig(env: Record<string, string | undefined> = process.env): HubConfig {
  const hfHome = env.HF_HOME ?? join(env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "huggingface");
  return {
    endpoint: (env.HF_ENDPOINT ?? "https://huggingface.co").replace(/\/+$/, ""),
    token: env.HF_TOKEN || env.HUGGING_FACE_HUB_TOKEN || readTokenFile(env.HF_TOKEN_PATH ?? join(hfHome, "token")),
    offline: truthy(env.HF_HUB_OFFLINE),
    cacheDir: env.HF_HUB_CACHE ?? env.HUGGINGFACE_HUB_CACHE ?? join(hfHome, "hub"),
  };
}

function readTokenFile(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8").trim() || undefined;
  } catch {
    return undefined;
  }
}

const encodePath = (file: string) => file.split("/").map(encodeURIComponent).join("/");

export function resolveUrl(config: HubConfig, repo: string, revision: string, file: string): string {
  return `${config.endpoint}/${repo}/resolve/${encodeURIComponent(revision)}/${encodePath(file)}`;
}

export function authHeaders(config: HubConfig): Record<string, string> {
  return config.token ? { Authorization: `Bearer ${config.token}` } : {};
}

/** huggingface_hub's folder for a model repo: models--{org}--{name}. */
export function repoCacheDir(config: HubConfig, repo: string): string {
  return join(config.cacheDir, `models--${repo.replaceAll("/", "--")}`);
}

export const isCommitHash = (revision: string) => /^[0-9a-f]{40}$/.test(revision);

/** The commit a revision points at in the cache (refs/{revision}), or the revision itself when it is a commit. */
export function cachedCommit(config: HubConfig, repo: string, revision: string): string | undefined {
  if (isCommitHash(revision)) return revision;
  try {
    return readFileSync(join(repoCacheDir(config, repo), "refs", revision), "utf8").trim() || undefined;
  } catch {
    return undefined;
  }
}

export function snapshotDir(config: HubConfig, repo: string, commit: string): string {
  return join(repoCacheDir(config, repo), "snapshots", commit);
}

/** The snapshot path of a cached file, when its blob is present. */
export function cachedFile(config: HubConfig, repo: string, revision: string, file: string): string | undefined {
  const commit = cachedCommit(config, repo, revision);
  if (!commit) return undefined;
  const path = join(snapshotDir(config, repo, commit), file);
  return existsSync(path) ? path : undefined; // existsSync follows the symlink: a dangling pointer counts as missing
}

/** Files of a cached snapshot, relative to it. */
export function cachedSnapshotFiles(config: HubConfig, repo: string, commit: string): string[] {
  const root = snapshotDir(config, repo, commit);
  const walk = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
      const path = join(dir, entry.name);
      return entry.isDirectory() ? walk(path) : existsSync(path) ? [relative(root, path)] : [];
    });
  return existsSync(root) ? walk(root).sort() : [];
}

export interface FileMetadata {
  commit: string;
  /** Normalized: no W/ prefix, no quotes. For LFS files this is the sha256 of the content. */
  etag: string;
  size?: number;
}

/** HEAD on the resolve URL, reading headers as huggingface_hub's get_hf_file_metadata does. */
export async function fetchFileMetadata(config: HubConfig, repo: string, revision: string, file: string, signal?: AbortSignal): Promise<FileMetadata> {
  let url = resolveUrl(config, repo, revision, file);
  for (let hop = 0; hop < 10; hop++) {
    const response = await requestWithTimeout(url, { method: "HEAD", redirect: "manual", headers: { ...authHeaders(config), "Accept-Encoding": "identity" } }, { signal, timeoutMs: 30_000 });
    const location = response.headers.get("location");
    const next = location ? new URL(location, url) : undefined;
    // Relative redirects (renamed repos) are followed; a redirect elsewhere is the LFS CDN and already carries X-Linked-*.
    if (response.status >= 300 && response.status < 400 && next && next.origin === new URL(url).origin) {
      url = next.href;
      continue;
    }
    if (response.status >= 400) throw httpError(response.status, resolveUrl(config, repo, revision, file));
    const commit = response.headers.get("x-repo-commit");
    const etag = normalizeEtag(response.headers.get("x-linked-etag") ?? response.headers.get("etag"));
    const size = response.headers.get("x-linked-size") ?? response.headers.get("content-length");
    if (!commit || !etag) throw runtimeError(`${config.endpoint} did not send X-Repo-Commit/ETag for ${repo}/${file}; is HF_ENDPOINT a Hugging Face Hub?`);
    return { commit, etag, size: size === null ? undefined : Number(size) };
  }
  throw runtimeError(`too many redirects resolving ${repo}/${file}`);
}

export function normalizeEtag(etag: string | null): string | undefined {
  return etag?.replace(/^W\//, "").replace(/^"|"$/g, "") || undefined;
}

export interface RepoInfo {
  commit: string;
  files: string[];
}

/** `{endpoint}/api/models/{repo}/revision/{rev}`: the commit a revision points at and the repo's file list. */
export async function fetchRepoInfo(config: HubConfig, repo: string, revision: string, signal?: AbortSignal): Promise<RepoInfo> {
  const url = `${config.endpoint}/api/models/${repo}/revision/${encodeURIComponent(revision)}`;
  const response = await requestWithTimeout(url, { headers: authHeaders(config) }, { signal, timeoutMs: 30_000 });
  if (!response.ok) throw httpError(response.status, url);
  const body = (await response.json().catch(() => undefined)) as { sha?: unknown; siblings?: { rfilename?: unknown }[] } | undefined;
  if (typeof body?.sha !== "string" || !Array.isArray(body.siblings)) throw runtimeError(`unexpected answer from ${url}; is HF_ENDPOINT a Hugging Face Hub?`);
  return { commit: body.sha, files: body.siblings.map((s) => s.rfilename).filter((f): f is string => typeof f === "string") };
}

export interface HubFile {
  /** Path inside snapshots/{commit}/ (a symlink to the blob). */
  path: string;
  commit: string;
  etag: string;
  size: number;
  /** Bytes fetched over the network by this call (0 when the cache already had the file). */
  downloaded: number;
}

export interface HubDownloadOptions {
  onProgress?(progress: DownloadProgress): void;
  signal?: AbortSignal;
  stallTimeoutMs?: number;
  onWait?(what: string): void;
}

/**
 * hf_hub_download in TypeScript: the file lands in the shared cache (blobs/{etag}, refs/{revision},
 * snapshots/{commit}/{file} → ../../blobs/{etag}), so files fetched by Python tools are reused and vice versa.
 */
export async function hubDownload(config: HubConfig, repo: string, revision: string, file: string, options: HubDownloadOptions = {}): Promise<HubFile> {
  if (config.offline) return fromCache(config, repo, revision, file, "HF_HUB_OFFLINE=1 is set");
  let metadata: FileMetadata;
  try {
    metadata = await fetchFileMetadata(config, repo, revision, file, options.signal);
  } catch (error) {
    if (error instanceof NetworkError && cachedFile(config, repo, revision, file)) return fromCache(config, repo, revision, file, error.message);
    throw error;
  }
  const repoDir = repoCacheDir(config, repo);
  writeRef(config, repo, revision, metadata.commit);
  const pointer = join(snapshotDir(config, repo, metadata.commit), file);
  const blob = join(repoDir, "blobs", metadata.etag);
  const result = (downloaded: number): HubFile => ({ path: pointer, commit: metadata.commit, etag: metadata.etag, size: statSync(pointer).size, downloaded });
  if (existsSync(pointer)) return result(0);

  let downloaded = 0;
  const lock = join(config.cacheDir, ".locks", `models--${repo.replaceAll("/", "--")}`, `${metadata.etag}.glamm-lock`);
  await withFileLock(
    lock,
    async () => {
      if (existsSync(blob)) return;
      if (metadata.size !== undefined) {
        const partial = existsSync(`${blob}.incomplete`) ? statSync(`${blob}.incomplete`).size : 0;
        checkFreeDisk(repoDir, metadata.size - partial, `downloading ${repo}/${file}`);
      }
      const fetched = await downloadFile({
        url: resolveUrl(config, repo, metadata.commit, file),
        dest: blob,
        partPath: `${blob}.incomplete`, // huggingface_hub's name, so either tool resumes the other's partial file
        headers: authHeaders(config),
        expectedSize: metadata.size,
        expectedSha256: /^[0-9a-f]{64}$/.test(metadata.etag) ? metadata.etag : undefined,
        onProgress: options.onProgress,
        signal: options.signal,
        stallTimeoutMs: options.stallTimeoutMs,
      });
      if (/^[0-9a-f]{40}$/.test(metadata.etag)) await verifyGitBlob(blob, metadata.etag, `${repo}/${file}`);
      downloaded = fetched.size;
    },
    { signal: options.signal, onWait: (holder) => options.onWait?.(`${repo}/${file} is being downloaded by ${holder}; waiting`) },
  );
  linkSnapshot(pointer, blob);
  return result(downloaded);
}

function fromCache(config: HubConfig, repo: string, revision: string, file: string, why: string): HubFile {
  const path = cachedFile(config, repo, revision, file);
  if (!path) {
    throw modelError(`${why} and ${repo}/${file} (revision ${revision}) is not in the cache ${config.cacheDir}; unset HF_HUB_OFFLINE, or install from a local copy with --from DIR`);
  }
  const commit = cachedCommit(config, repo, revision)!;
  const target = lstatSync(path).isSymbolicLink() ? readlinkSync(path) : path;
  return { path, commit, etag: basename(target), size: statSync(path).size, downloaded: 0 };
}

function linkSnapshot(pointer: string, blob: string): void {
  mkdirSync(dirname(pointer), { recursive: true });
  rmSync(pointer, { force: true });
  try {
    symlinkSync(relative(dirname(pointer), blob), pointer);
  } catch (error) {
    if ((error as { code?: string }).code !== "EEXIST") throw error; // a concurrent pull linked it first
  }
}

/** Small (non-LFS) files carry git's blob id as ETag: sha1("blob <size>\0" + content). */
async function verifyGitBlob(path: string, expected: string, name: string): Promise<void> {
  const hash = createHash("sha1").update(`blob ${statSync(path).size}\0`);
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  const actual = hash.digest("hex");
  if (actual !== expected) {
    rmSync(path, { force: true });
    throw modelError(`checksum mismatch for ${name}: git blob id ${actual}, expected ${expected}; the download was discarded`);
  }
}

/** Records that `revision` points at `commit` (refs/{revision}), as huggingface_hub does after resolving a branch. */
export function writeRef(config: HubConfig, repo: string, revision: string, commit: string): void {
  if (isCommitHash(revision) || cachedCommit(config, repo, revision) === commit) return;
  mkdirSync(join(repoCacheDir(config, repo), "refs"), { recursive: true });
  writeFileAtomic(join(repoCacheDir(config, repo), "refs", revision), commit);
}
