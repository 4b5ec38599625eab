import { createHash } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, utimesSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "../output/atomic.ts";
import { glammHome } from "../runtime/paths.ts";

/** What a cached embedding is computed from. */
export interface SamCacheKey {
  /** sha256 (hex) of the image file's bytes (see imageSha256). */
  imageSha256: string;
  /** Identifies the SAM weights, e.g. a model name plus its checkpoint hash. */
  modelId: string;
  /** Precision the encoder ran in, e.g. "fp32" or "fp16". */
  precision: string;
}

export interface SamEmbedding {
  dims: number[];
  data: Float32Array;
}

export interface SamCacheOptions {
  /** Cache folder (default <glamm home>/sam-cache). */
  dir?: string;
  /** Size limit in bytes; least recently used entries go first (default 2 GiB). */
  maxBytes?: number;
  /** false (--no-cache): never read or write entries. */
  enabled?: boolean;
}

export const DEFAULT_SAM_CACHE_BYTES = 2 * 1024 ** 3;
export const samCacheDir = (env: NodeJS.ProcessEnv = process.env): string => join(glammHome(env), "sam-cache");

const MAGIC = "GLSAMEMB";
const EXTENSION = ".samemb";
const DIGEST_BYTES = 32;
/** Temporary files of writers that died are removed after this long. */
const STALE_TEMP_MS = 60 * 60 * 1000;

export const imageSha256 = (bytes: Uint8Array): string => createHash("sha256").update(bytes).digest("hex");

const sha256 = (...parts: Uint8Array[]): Buffer => {
  const hash = createHash("sha256");
  for (const part of parts) hash.update(part);
  return hash.digest();
};

/** Entry layout: magic, uint32 LE header length, JSON header (key + dims), float32 LE data, sha256 of all before it. */
function encodeEntry(key: SamCacheKey, embedding: SamEmbedding): Uint8Array {
  const header = Buffer.from(JSON.stringify({ ...key, dims: embedding.dims }));
  const data = embedding.data;
  const body = Buffer.alloc(MAGIC.length + 4 + header.length + data.byteLength);
  body.write(MAGIC, 0, "latin1");
  body.writeUInt32LE(header.length, MAGIC.length);
  header.copy(body, MAGIC.length + 4);
  Buffer.from(data.buffer, data.byteOffset, data.byteLength).copy(body, MAGIC.length + 4 + header.length);
  return Buffer.concat([body, sha256(body)]);
}

/** The embedding in `bytes` when the entry is whole and stored for `key`; undefined otherwise. */
function decodeEntry(bytes: Buffer, key: SamCacheKey): SamEmbedding | undefined {
  const headerStart = MAGIC.length + 4;
  if (bytes.length < headerStart + DIGEST_BYTES || bytes.toString("latin1", 0, MAGIC.length) !== MAGIC) return undefined;
  const body = bytes.subarray(0, bytes.length - DIGEST_BYTES);
  if (!sha256(body).equals(bytes.subarray(body.length))) return undefined;
  const headerEnd = headerStart + bytes.readUInt32LE(MAGIC.length);
  let header: { imageSha256?: unknown; modelId?: unknown; precision?: unknown; dims?: unknown };
  try {
    header = JSON.parse(body.toString("utf8", headerStart, headerEnd));
  } catch {
    return undefined;
  }
  const { dims } = header;
  if (header.imageSha256 !== key.imageSha256 || header.modelId !== key.modelId || header.precision !== key.precision) return undefined;
  if (!Array.isArray(dims) || !dims.every((d) => Number.isSafeInteger(d) && d >= 0)) return undefined;
  const count = dims.reduce((a: number, b: number) => a * b, 1);
  if (body.length - headerEnd !== count * 4) return undefined;
  const data = new Float32Array(count);
  new Uint8Array(data.buffer).set(body.subarray(headerEnd));
  return { dims, data };
}

/**
 * SAM image embeddings on disk, one file per (image, model, precision). Writes are atomic (temp file + rename), so
 * concurrent processes see whole entries or none; damaged entries are deleted and count as misses. Reads refresh an
 * entry's mtime, which orders eviction. Cache I/O failures never fail the caller: they are misses or skipped writes.
 */
export class SamEmbeddingCache {
  readonly dir: string;
  readonly maxBytes: number;
  readonly enabled: boolean;

  constructor(options: SamCacheOptions = {}) {
    this.dir = options.dir ?? samCacheDir();
    this.maxBytes = options.maxBytes ?? DEFAULT_SAM_CACHE_BYTES;
    this.enabled = options.enabled ?? true;
  }

  /** The entry's file path. */
  pathFor(key: SamCacheKey): string {
    const name = createHash("sha256").update(JSON.stringify([key.imageSha256, key.modelId, key.precision])).digest("hex");
    return join(this.dir, name + EXTENSION);
  }

  get(key: SamCacheKey): SamEmbedding | undefined {
    if (!this.enabled) return undefined;
    const path = this.pathFor(key);
    let bytes: Buffer;
    try {
      bytes = readFileSync(path);
    } catch {
      return undefined;
    }
    const embedding = decodeEntry(bytes, key);
    try {
      if (embedding) {
        const now = new Date();
        utimesSync(path, now, now);
      } else {
        rmSync(path, { force: true });
      }
    } catch {
      // Another process evicted or replaced the entry meanwhile; what was read stands.
    }
    return embedding;
  }

  /** Stores an entry, then evicts least recently used ones beyond the size limit; false when nothing was written. */
  put(key: SamCacheKey, embedding: SamEmbedding): boolean {
    if (!this.enabled) return false;
    const bytes = encodeEntry(key, embedding);
    if (bytes.length > this.maxBytes) return false;
    try {
      mkdirSync(this.dir, { recursive: true });
      writeFileAtomic(this.pathFor(key), bytes);
    } catch {
      return false;
    }
    this.evict(this.pathFor(key));
    return true;
  }

  /** The cached embedding, or `compute()`'s result stored for next time. */
  async getOrCompute(key: SamCacheKey, compute: () => Promise<SamEmbedding>): Promise<{ embedding: SamEmbedding; hit: boolean }> {
    const cached = this.get(key);
    if (cached) return { embedding: cached, hit: true };
    const embedding = await compute();
    this.put(key, embedding);
    return { embedding, hit: false };
  }

  /** Entries (path, size, last use), least recently used first. */
  entries(): { path: string; bytes: number; lastUsedMs: number }[] {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch {
      return [];
    }
    const now = Date.now();
    const found: { path: string; bytes: number; lastUsedMs: number }[] = [];
    for (const name of names) {
      const path = join(this.dir, name);
      try {
        const stat = statSync(path);
        if (name.endsWith(EXTENSION)) found.push({ path, bytes: stat.size, lastUsedMs: stat.mtimeMs });
        else if (name.endsWith(".tmp") && now - stat.mtimeMs > STALE_TEMP_MS) rmSync(path, { force: true });
      } catch {
        // Removed by another process between readdir and stat.
      }
    }
    return found.sort((a, b) => a.lastUsedMs - b.lastUsedMs);
  }

  private evict(keep: string): void {
    const entries = this.entries();
    let total = entries.reduce((sum, entry) => sum + entry.bytes, 0);
    for (const entry of entries) {
      if (total <= this.maxBytes) break;
      if (entry.path === keep) continue;
      try {
        rmSync(entry.path, { force: true });
        total -= entry.bytes;
      } catch {
        // Not removable (permissions): the limit is best effort.
      }
    }
  }
}
