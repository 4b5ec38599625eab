import { createHash } from "node:crypto";
import { createReadStream, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { basename, dirname, join, relative } from "node:path";
import { ExitCode, modelError, runtimeError, usageError } from "../cli/errors.ts";
import { writeFileAtomic } from "../output/atomic.ts";
import { downloadFile, NetworkError, requestWithTimeout, type DownloadProgress } from "./download.ts";
import { canUseCache, hubResponseError, type HubRequestContext } from "./errors.ts";
import { checkFreeDisk } from "../util/disk.ts";
import { withFileLock } from "./lock.ts";

/*
 * hf_hub_download / snapshot_download in TypeScript, on huggingface_hub's cache layout, error codes, locks and
 * environment. The npm package @huggingface/hub (2.17.5, evaluated for #23) was not adopted: its downloadFileToCacheDir
 * files each blob under snapshots/{last commit that touched the file} instead of the revision's commit and writes no
 * refs/{revision}, takes no .locks lock, truncates .incomplete files instead of resuming them, verifies neither size nor
 * sha256, has no offline mode or cache fallback, reports no progress and reads no X-Error-Code; what would remain
 * (a model-info call, the cache folder name) is a few lines, against ~12 MB of dependencies in the binary.
 */

/** Hub settings from the environment, with huggingface_hub's names and defaults (constants.py). */
export interface HubConfig {
  endpoint: string;
  /** The token to send: HF_TOKEN, else the token file; none under HF_HUB_DISABLE_IMPLICIT_TOKEN (glamm has no explicit token). */
  token?: string;
  offline: boolean;
  /** The hub cache shared with Python tools ($HF_HUB_CACHE, default $HF_HOME/hub). */
  cacheDir: string;
  /** HF_HUB_ETAG_TIMEOUT: how long a metadata request (HEAD, repo info) may go unanswered. */
  etagTimeoutMs: number;
  /** HF_HUB_DOWNLOAD_TIMEOUT: how long a download may go without a byte. */
  downloadTimeoutMs: number;
}

const truthy = (value: string | undefined) => ["1", "ON", "YES", "TRUE"].includes((value ?? "").toUpperCase());

/** Seconds from the environment; unset or 0 means huggingface_hub's default of 10 s (`_as_int(...) or DEFAULT`). */
function seconds(env: Record<string, string | undefined>, name: string): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === "") return 10_000;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0) throw usageError(`${name}="${raw}" is not a number of seconds`);
  return (value || 10) * 1000;
}

export function hubConfig(env: Record<string, string | undefined> = process.env): HubConfig {
  const hfHome = env.HF_HOME ?? join(env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "huggingface");
  const token = env.HF_TOKEN || env.HUGGING_FACE_HUB_TOKEN || readTokenFile(env.HF_TOKEN_PATH ?? join(hfHome, "token"));
  return {
    endpoint: (env.HF_ENDPOINT ?? "https://huggingface.co").replace(/\/+$/, ""),
    token: truthy(env.HF_HUB_DISABLE_IMPLICIT_TOKEN) ? undefined : token,
    offline: truthy(env.HF_HUB_OFFLINE || env.TRANSFORMERS_OFFLINE),
    cacheDir: env.HF_HUB_CACHE ?? env.HUGGINGFACE_HUB_CACHE ?? join(hfHome, "hub"),
    etagTimeoutMs: seconds(env, "HF_HUB_ETAG_TIMEOUT"),
    downloadTimeoutMs: seconds(env, "HF_HUB_DOWNLOAD_TIMEOUT"),
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

const isRelativeLocation = (location: string) => !/^([a-z][a-z0-9+.-]*:)?\/\//i.test(location);

/**
 * A metadata request to the Hub under HF_HUB_ETAG_TIMEOUT, following relative redirects (renamed repos) and, when
 * followAbsolute, redirects to other origins without the token (as requests/httpx do); returns the last answer.
 */
async function hubRequest(config: HubConfig, url: string, method: "GET" | "HEAD", followAbsolute: boolean, signal?: AbortSignal): Promise<{ response: Response; url: string }> {
  let headers: Record<string, string> = { ...authHeaders(config), "Accept-Encoding": "identity" };
  const origin = new URL(url).origin;
  for (let hop = 0; hop < 10; hop++) {
    let response: Response;
    try {
      response = await requestWithTimeout(url, { method, redirect: "manual", headers }, { signal, timeoutMs: config.etagTimeoutMs, timeoutVariable: "HF_HUB_ETAG_TIMEOUT" });
    } catch (error) {
      if (!(error instanceof NetworkError) || new URL(url).origin === origin) throw error;
      throw new NetworkError(`${origin} redirected to ${new URL(url).origin}, and then: ${error.message}`, ExitCode.runtime);
    }
    const location = response.headers.get("location");
    if (response.status < 300 || response.status >= 400 || !location || (!followAbsolute && !isRelativeLocation(location))) return { response, url };
    const next = new URL(location, url);
    if (next.origin !== new URL(url).origin) headers = { "Accept-Encoding": "identity" };
    url = next.href;
  }
  throw runtimeError(`too many redirects from ${url}`);
}

const requestContext = (config: HubConfig, repo: string, revision: string, file?: string): HubRequestContext => ({
  endpoint: config.endpoint,
  repo,
  revision,
  file,
  tokenSent: config.token !== undefined,
});

/** HEAD on the resolve URL, reading headers as huggingface_hub's get_hf_file_metadata does. */
export async function fetchFileMetadata(config: HubConfig, repo: string, revision: string, file: string, signal?: AbortSignal): Promise<FileMetadata> {
  const requested = resolveUrl(config, repo, revision, file);
  const { response, url } = await hubRequest(config, requested, "HEAD", false, signal);
  if (response.status >= 400) {
    const commit = response.headers.get("x-repo-commit");
    if (response.headers.get("x-error-code") === "EntryNotFound" && commit) recordMissingFile(config, repo, revision, commit, file);
    throw hubResponseError(response, url, requestContext(config, repo, revision, file));
  }
  const commit = response.headers.get("x-repo-commit");
  const etag = normalizeEtag(response.headers.get("x-linked-etag") ?? response.headers.get("etag"));
  const size = response.headers.get("x-linked-size") ?? response.headers.get("content-length");
  if (!commit || !etag) {
    // A redirect elsewhere without the Hub's headers (a mirror forwarding to another host), or a server that is no Hub.
    const location = response.headers.get("location");
    const what = location ? `redirected ${repo}/${file} to ${new URL(location, url).origin}` : `answered HTTP ${response.status} for ${repo}/${file}`;
    throw new NetworkError(`${config.endpoint} ${what} without the Hub's X-Repo-Commit/ETag headers, so it is not serving as a Hub; set HF_ENDPOINT to the Hub or mirror itself`, ExitCode.runtime);
  }
  return { commit, etag, size: size === null ? undefined : Number(size) };
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
  const requested = `${config.endpoint}/api/models/${repo}/revision/${encodeURIComponent(revision)}`;
  const { response, url } = await hubRequest(config, requested, "GET", true, signal);
  if (response.status >= 400) throw hubResponseError(response, url, requestContext(config, repo, revision));
  const body = response.ok ? ((await response.json().catch(() => undefined)) as { sha?: unknown; siblings?: { rfilename?: unknown }[] } | undefined) : undefined;
  if (typeof body?.sha !== "string" || !Array.isArray(body.siblings)) {
    const via = url === requested ? "" : ` (redirected to ${new URL(url).origin})`;
    throw new NetworkError(`unexpected answer (HTTP ${response.status}) from ${requested}${via}; is HF_ENDPOINT a Hugging Face Hub?`, ExitCode.runtime);
  }
  return { commit: body.sha, files: body.siblings.map((s) => s.rfilename).filter((f): f is string => typeof f === "string") };
}

/** huggingface_hub's `.no_exist/{commit}/{file}` marker (and the ref) for a file the Hub says is not at that revision. */
function recordMissingFile(config: HubConfig, repo: string, revision: string, commit: string, file: string): void {
  try {
    const marker = join(repoCacheDir(config, repo), ".no_exist", commit, file);
    mkdirSync(dirname(marker), { recursive: true });
    writeFileSync(marker, "");
    writeRef(config, repo, revision, commit);
  } catch {
    // A read-only cache: the marker only saves a request next time.
  }
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
  /** One line when a cached copy stands in for a failed Hub request. */
  onNotice?(message: string): void;
  /** Take the file from the cache without asking the Hub, for this reason (the Hub already failed for the repo). */
  cacheOnly?: string;
}

/**
 * hf_hub_download in TypeScript: the file lands in the shared cache (blobs/{etag}, refs/{revision},
 * snapshots/{commit}/{file} → ../../blobs/{etag}), so files fetched by Python tools are reused and vice versa.
 */
export async function hubDownload(config: HubConfig, repo: string, revision: string, file: string, options: HubDownloadOptions = {}): Promise<HubFile> {
  if (config.offline) return fromCache(config, repo, revision, file, "HF_HUB_OFFLINE=1 is set");
  if (options.cacheOnly !== undefined) return fromCache(config, repo, revision, file, options.cacheOnly);
  let metadata: FileMetadata;
  try {
    metadata = await fetchFileMetadata(config, repo, revision, file, options.signal);
  } catch (error) {
    // As huggingface_hub: a file cached for this revision stands in for an outage, a timeout or an auth failure.
    if (canUseCache(error) && cachedFile(config, repo, revision, file)) {
      options.onNotice?.(`${fallbackReason(error)}; using the cached ${repo}/${file}`);
      return fromCache(config, repo, revision, file, fallbackReason(error));
    }
    throw error;
  }
  const repoDir = repoCacheDir(config, repo);
  writeRef(config, repo, revision, metadata.commit);
  const pointer = join(snapshotDir(config, repo, metadata.commit), file);
  const blob = join(repoDir, "blobs", metadata.etag);
  const result = (downloaded: number): HubFile => ({ path: pointer, commit: metadata.commit, etag: metadata.etag, size: statSync(pointer).size, downloaded });
  if (existsSync(pointer)) return result(0);

  let downloaded = 0;
  const lock = join(config.cacheDir, ".locks", basename(repoDir), `${metadata.etag}.lock`); // huggingface_hub's lock for this blob
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
        // huggingface_hub before 1.18 resumes this name too; 1.18+ writes {etag}.{random}.incomplete and never resumes.
        partPath: `${blob}.incomplete`,
        headers: authHeaders(config),
        expectedSize: metadata.size,
        expectedSha256: /^[0-9a-f]{64}$/.test(metadata.etag) ? metadata.etag : undefined,
        onProgress: options.onProgress,
        signal: options.signal,
        stallTimeoutMs: options.stallTimeoutMs ?? config.downloadTimeoutMs,
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
    const retry = config.offline ? "unset HF_HUB_OFFLINE" : "run again when the Hub answers";
    throw modelError(`${why} and ${repo}/${file} (revision ${revision}) is not in the cache ${config.cacheDir}; ${retry}, or install from a local copy with --from DIR`);
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

/**
 * Records that `revision` points at `commit` in refs/{revision}, as huggingface_hub does: a revision with slashes
 * (refs/pr/1, a branch feature/x) is a nested path, refs/refs/pr/1.
 */
export function writeRef(config: HubConfig, repo: string, revision: string, commit: string): void {
  if (revision === commit || cachedCommit(config, repo, revision) === commit) return;
  const ref = join(repoCacheDir(config, repo), "refs", revision);
  mkdirSync(dirname(ref), { recursive: true });
  writeFileAtomic(ref, commit);
}

/** The first clause of an error, for a one-line notice. */
export function fallbackReason(error: unknown): string {
  return (error as Error).message.split(";")[0];
}
