import { createHash, type Hash } from "node:crypto";
import { closeSync, createReadStream, fsyncSync, mkdirSync, openSync, renameSync, rmSync, statSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import { ExitCode, GlammError, modelError, runtimeError } from "../cli/errors.ts";

export interface DownloadProgress {
  /** Bytes of the file on disk so far, including a resumed part. */
  received: number;
  /** Full size when known (Content-Length, Content-Range or expectedSize). */
  total: number | undefined;
  /** Bytes per second transferred in this session. */
  rate: number;
}

/** Writes one chunk to an open file; injectable so tests can simulate a full disk. */
export type ChunkWriter = (fd: number, chunk: Uint8Array) => void;

export interface DownloadOptions {
  url: string;
  dest: string;
  headers?: Record<string, string>;
  expectedSha256?: string;
  expectedSize?: number;
  onProgress?(progress: DownloadProgress): void;
  signal?: AbortSignal;
  /** Fail when no byte arrives for this long (default 60 s). */
  stallTimeoutMs?: number;
  /** Where the partial file lives (default dest + ".part"). */
  partPath?: string;
  writeChunk?: ChunkWriter;
}

export interface DownloadResult {
  path: string;
  sha256: string;
  size: number;
}

const defaultStallTimeoutMs = 60_000;
const maxRedirects = 10;

const writeAll: ChunkWriter = (fd, chunk) => {
  let offset = 0;
  while (offset < chunk.byteLength) offset += writeSync(fd, chunk, offset, chunk.byteLength - offset);
};

/**
 * Downloads url to dest through a resumable partial file, verifying size and sha256 before an atomic rename.
 * An interrupted download (Ctrl-C, cut connection, stall, full disk) keeps the partial file for the next call.
 */
export async function downloadFile(opts: DownloadOptions): Promise<DownloadResult> {
  const partPath = opts.partPath ?? `${opts.dest}.part`;
  mkdirSync(dirname(opts.dest), { recursive: true });
  let hash = createHash("sha256");
  let resumeFrom = await hashExistingPart(partPath, hash, opts.expectedSize);
  if (resumeFrom === 0) rmSync(partPath, { force: true });

  if (opts.expectedSize === undefined || resumeFrom < opts.expectedSize) {
    const response = await openTransfer(opts, resumeFrom);
    if (response.status === 200 && resumeFrom > 0) {
      // The server ignored the Range request (or the part was unusable): start over from byte 0.
      resumeFrom = 0;
      hash = createHash("sha256");
    }
    await receiveBody(opts, partPath, response, resumeFrom, hash);
  }
  return finish(opts, partPath, hash);
}

/** Feeds an existing partial file into the hash; returns its length, or 0 when it cannot be a prefix of the file. */
async function hashExistingPart(partPath: string, hash: Hash, expectedSize: number | undefined): Promise<number> {
  let size: number;
  try {
    size = statSync(partPath).size;
  } catch {
    return 0;
  }
  if (size === 0 || (expectedSize !== undefined && size > expectedSize)) return 0;
  for await (const chunk of createReadStream(partPath, { highWaterMark: 4 << 20 })) hash.update(chunk as Buffer);
  return size;
}

/** Sends the GET (with Range when resuming), following redirects by hand so credentials never leave the origin. */
async function openTransfer(opts: DownloadOptions, resumeFrom: number): Promise<Response> {
  let url = opts.url;
  const headers: Record<string, string> = { "Accept-Encoding": "identity", ...opts.headers };
  if (resumeFrom > 0) headers.Range = `bytes=${resumeFrom}-`;
  for (let hop = 0; hop <= maxRedirects; hop++) {
    const response = await withStallTimer(opts, (signal) => fetch(url, { headers, redirect: "manual", signal }), url);
    const location = response.headers.get("location");
    if (response.status >= 300 && response.status < 400 && location) {
      const next = new URL(location, url);
      if (next.origin !== new URL(url).origin) deleteHeader(headers, "authorization");
      url = next.href;
      continue;
    }
    if (response.status === 200 || response.status === 206) return response;
    if (response.status === 416 && resumeFrom > 0) {
      // The partial file is as long as (or longer than) the remote file: start over.
      delete headers.Range;
      resumeFrom = 0;
      continue;
    }
    throw httpError(response.status, opts.url, url);
  }
  throw runtimeError(`too many redirects downloading ${opts.url}`);
}

function deleteHeader(headers: Record<string, string>, name: string): void {
  for (const key of Object.keys(headers)) if (key.toLowerCase() === name) delete headers[key];
}

export function httpError(status: number, requestedUrl: string, finalUrl = requestedUrl): GlammError {
  const where = finalUrl === requestedUrl ? requestedUrl : `${requestedUrl} (via ${new URL(finalUrl).host})`;
  if (status === 404) return modelError(`not found (HTTP 404): ${where}; check the model name, revision and file name`);
  if (status === 401 || status === 403) {
    return modelError(
      `access denied (HTTP ${status}) for ${where}; for gated or private repos accept the terms on the Hub and set HF_TOKEN to an access token`,
    );
  }
  return runtimeError(`download failed (HTTP ${status}) for ${where}`);
}

/** No usable answer (host unreachable, no answer in time, not a Hub answer), as opposed to an HTTP error: callers may fall back to a cache. */
export class NetworkError extends GlammError {}

/** Turns a fetch failure into a one-line error naming the host and the ways around the network. */
export function networkError(error: unknown, url: string): GlammError {
  if (error instanceof GlammError) return error;
  const host = new URL(url).host;
  const code = (error as { code?: string })?.code ?? "";
  const cause = code === "ENOTFOUND" || code === "EAI_AGAIN" ? "cannot resolve host" : code === "ECONNREFUSED" ? "connection refused by" : "cannot reach";
  const detail = code ? "" : ` (${String((error as Error)?.message ?? error).split("\n")[0]})`;
  return new NetworkError(`${cause} ${host}${detail}; set HF_ENDPOINT to a reachable mirror or install from a local copy with --from DIR`, ExitCode.runtime);
}

type TimerOptions = Pick<DownloadOptions, "url" | "signal" | "stallTimeoutMs"> & { timeoutError?(): GlammError };

/**
 * A fetch that fails with a one-line GlammError (unreachable host, Ctrl-C) instead of a TypeError; no answer within
 * timeoutMs is a NetworkError naming `timeoutVariable`, the setting that raises the limit.
 */
export function requestWithTimeout(
  url: string,
  init: RequestInit,
  opts: { signal?: AbortSignal; timeoutMs?: number; timeoutVariable?: string } = {},
): Promise<Response> {
  const timeoutError = () => {
    const seconds = ((opts.timeoutMs ?? defaultStallTimeoutMs) / 1000).toString();
    const raise = opts.timeoutVariable ? `; raise ${opts.timeoutVariable}` : "";
    return new NetworkError(`no answer from ${new URL(url).host} within ${seconds} s (${url})${raise} or set HF_ENDPOINT to a reachable mirror`, ExitCode.runtime);
  };
  return withStallTimer({ url, signal: opts.signal, stallTimeoutMs: opts.timeoutMs, timeoutError }, (signal) => fetch(url, { ...init, signal }), url);
}

/** Runs one network step under the stall timer and the caller's abort signal, mapping failures to GlammErrors. */
async function withStallTimer<T>(opts: TimerOptions, step: (signal: AbortSignal) => Promise<T>, url: string): Promise<T> {
  const stall = new StallTimer(opts.stallTimeoutMs ?? defaultStallTimeoutMs);
  const signal = opts.signal ? AbortSignal.any([opts.signal, stall.signal]) : stall.signal;
  try {
    return await step(signal);
  } catch (error) {
    throw stall.fired ? (opts.timeoutError?.() ?? stallError(opts, url)) : opts.signal?.aborted ? interruptedError(opts) : networkError(error, url);
  } finally {
    stall.stop();
  }
}

class StallTimer {
  private readonly controller = new AbortController();
  private timer: ReturnType<typeof setTimeout> | undefined;
  fired = false;
  constructor(private readonly ms: number) {
    this.reset();
  }
  get signal(): AbortSignal {
    return this.controller.signal;
  }
  reset(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.fired = true;
      this.controller.abort(new Error("stalled"));
    }, this.ms);
  }
  stop(): void {
    clearTimeout(this.timer);
  }
}

function stallError(opts: TimerOptions, url: string): GlammError {
  const seconds = ((opts.stallTimeoutMs ?? defaultStallTimeoutMs) / 1000).toString();
  return runtimeError(`download stalled: no data from ${new URL(url).host} for ${seconds} s (${opts.url}); run again to resume`);
}

function interruptedError(opts: TimerOptions): GlammError {
  return runtimeError(`download of ${opts.url} interrupted; run again to resume`);
}

async function receiveBody(opts: DownloadOptions, partPath: string, response: Response, resumeFrom: number, hash: Hash): Promise<void> {
  if (response.status === 206) checkContentRange(response, resumeFrom, opts.url);
  const total = totalSize(response, resumeFrom) ?? opts.expectedSize;
  if (opts.expectedSize !== undefined && total !== undefined && total !== opts.expectedSize) {
    throw modelError(`size mismatch for ${opts.url}: the server reports ${total} bytes, expected ${opts.expectedSize}`);
  }
  const write = opts.writeChunk ?? writeAll;
  const fd = openSync(partPath, resumeFrom > 0 ? "a" : "w");
  const started = performance.now();
  let received = resumeFrom;
  const stall = new StallTimer(opts.stallTimeoutMs ?? defaultStallTimeoutMs);
  const signal = opts.signal ? AbortSignal.any([opts.signal, stall.signal]) : stall.signal;
  const reader = response.body!.getReader();
  const cancel = () => void reader.cancel().catch(() => {});
  signal.addEventListener("abort", cancel);
  try {
    for (;;) {
      let chunk: Awaited<ReturnType<typeof reader.read>>;
      try {
        chunk = await reader.read();
      } catch (error) {
        throw stall.fired ? stallError(opts, response.url || opts.url) : opts.signal?.aborted ? interruptedError(opts) : resumableCut(opts, received, total, error);
      }
      if (signal.aborted) throw stall.fired ? stallError(opts, response.url || opts.url) : interruptedError(opts);
      if (chunk.done) break;
      stall.reset();
      writeChunkOrExplain(write, fd, chunk.value, partPath);
      hash.update(chunk.value);
      received += chunk.value.byteLength;
      const seconds = (performance.now() - started) / 1000;
      opts.onProgress?.({ received, total, rate: seconds > 0 ? (received - resumeFrom) / seconds : 0 });
    }
    fsyncSync(fd);
  } finally {
    stall.stop();
    signal.removeEventListener("abort", cancel);
    closeSync(fd);
  }
  if (total !== undefined && received < total) throw resumableCut(opts, received, total);
}

function writeChunkOrExplain(write: ChunkWriter, fd: number, chunk: Uint8Array, partPath: string): void {
  try {
    write(fd, chunk);
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === "ENOSPC" || code === "EDQUOT") {
      throw runtimeError(`no space left on the disk writing ${partPath}; free some space (or set GLAMM_HOME / HF_HOME elsewhere) and run again to resume`);
    }
    throw runtimeError(`cannot write ${partPath}: ${(error as Error).message}`);
  }
}

function resumableCut(opts: DownloadOptions, received: number, total: number | undefined, error?: unknown): GlammError {
  const of = total === undefined ? "" : ` of ${total}`;
  const why = error ? `: ${String((error as Error)?.message ?? error).split("\n")[0]}` : "";
  return runtimeError(`connection to ${new URL(opts.url).host} closed after ${received}${of} bytes${why}; run again to resume`);
}

function checkContentRange(response: Response, resumeFrom: number, url: string): void {
  const range = response.headers.get("content-range");
  const start = range?.match(/^bytes (\d+)-/)?.[1];
  if (start === undefined || Number(start) !== resumeFrom) {
    throw runtimeError(`the server answered a resume of ${url} at byte ${resumeFrom} with range "${range}"; delete the .part file and run again`);
  }
}

function totalSize(response: Response, resumeFrom: number): number | undefined {
  const range = response.headers.get("content-range")?.match(/\/(\d+)$/)?.[1];
  if (response.status === 206 && range !== undefined) return Number(range);
  const length = response.headers.get("content-length");
  return length === null ? undefined : Number(length) + (response.status === 206 ? resumeFrom : 0);
}

/** Checks size and digest, then moves the partial file into place; a mismatched file is deleted, never renamed. */
function finish(opts: DownloadOptions, partPath: string, hash: Hash): DownloadResult {
  const size = statSync(partPath).size;
  const sha256 = hash.digest("hex");
  if (opts.expectedSize !== undefined && size < opts.expectedSize) throw resumableCut(opts, size, opts.expectedSize);
  if (opts.expectedSize !== undefined && size !== opts.expectedSize) {
    rmSync(partPath, { force: true });
    throw modelError(`size mismatch for ${opts.url}: got ${size} bytes, expected ${opts.expectedSize}; the download was discarded`);
  }
  if (opts.expectedSha256 !== undefined && sha256 !== opts.expectedSha256.toLowerCase()) {
    rmSync(partPath, { force: true });
    throw modelError(`checksum mismatch for ${opts.url}: sha256 ${sha256}, expected ${opts.expectedSha256}; the download was discarded`);
  }
  renameSync(partPath, opts.dest);
  fsyncDirectory(dirname(opts.dest));
  return { path: opts.dest, sha256, size };
}

function fsyncDirectory(dir: string): void {
  try {
    const fd = openSync(dir, "r");
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // Some filesystems refuse fsync on directories; the rename itself is still atomic.
  }
}
