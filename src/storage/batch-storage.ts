import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, extname, join, relative, sep } from "node:path";
import { inputError, usageError } from "../cli/errors.ts";
import { IMAGE_EXTENSIONS, expandInputs, openOutputFolder, type BatchItem } from "../pipeline/batch.ts";
import { isS3Url, parseS3Url, S3Bucket, s3Url } from "./s3.ts";

/**
 * Where a batch reads its images and puts its outputs: local folders, or s3:// prefixes. Outputs and the results file
 * are always written under a local folder first (`localOut`); for an s3:// --out, `publish` uploads an image's files
 * before its results line is written, and `sync` uploads the results file after each line.
 */
export interface BatchStorage {
  /** Every input, with output stems under `localOut`. */
  items: BatchItem[];
  localOut: string;
  /** How the results file finds earlier outputs (objects are trusted: their line is written only after upload). */
  exists(path: string): boolean;
  /** Runs `use` on a local copy of the image (an object is downloaded to a temporary file, removed afterwards). */
  withLocalInput<T>(item: BatchItem, use: (path: string) => Promise<T>): Promise<T>;
  /** Makes an image's files visible at --out; returns their final names. */
  publish(files: string[]): Promise<string[]>;
  /** Where a file under `localOut` ends up (its s3:// address for an s3:// --out). */
  finalName(path: string): string;
  /** Brings an earlier run's file (a shard's results) from --out into `localOut`, for resuming. */
  restore(name: string): Promise<void>;
  /** Copies a bookkeeping file under `localOut` to --out; uploads run in order, `close` waits for them. */
  sync(path: string): void;
  close(): Promise<void>;
}

const buckets = new Map<string, S3Bucket>();
const bucketFor = (name: string) => buckets.get(name) ?? buckets.set(name, new S3Bucket(name)).get(name)!;

const posix = (path: string) => path.split(sep).join("/");

/** The images under an s3:// prefix, or the single object it names. */
async function expandS3(url: string, localOut: string): Promise<BatchItem[]> {
  const { bucket, key } = parseS3Url(url);
  const s3 = bucketFor(bucket);
  const isImage = (k: string) => IMAGE_EXTENSIONS.has(extname(k).toLowerCase());
  let prefix = key === "" || key.endsWith("/") ? key : undefined;
  if (prefix === undefined) {
    const found = await s3.list(key);
    if (found.some((o) => o.key === key)) return [{ path: url, stem: join(localOut, basename(key, extname(key))) }];
    if (!found.some((o) => o.key.startsWith(`${key}/`))) throw inputError(`no such S3 object or prefix: ${url}`);
    prefix = `${key}/`;
  }
  const keys = (await s3.list(prefix)).map((o) => o.key).filter(isImage);
  if (keys.length === 0) throw inputError(`no images under ${url}`);
  return keys.map((k) => {
    const rel = k.slice(prefix.length);
    return { path: s3Url(bucket, k), stem: join(localOut, dirname(rel), basename(rel, extname(rel))) };
  });
}

/** Opens the batch's inputs (files, folders, globs, s3:// objects and prefixes) and its --out (folder or s3:// prefix). */
export async function openBatchStorage(images: readonly string[], out: string, options: { gallery?: boolean } = {}): Promise<BatchStorage> {
  const remoteOut = isS3Url(out) ? parseS3Url(out) : undefined;
  if (remoteOut && options.gallery) throw usageError("--gallery writes a local page; use a local --out with it");
  const localOut = remoteOut ? mkdtempSync(join(tmpdir(), "glamm-out-")) : out;
  const cleanup = () => remoteOut && rmSync(localOut, { recursive: true, force: true });
  const outPrefix = remoteOut && remoteOut.key && !remoteOut.key.endsWith("/") ? `${remoteOut.key}/` : (remoteOut?.key ?? "");
  const items: BatchItem[] = [];
  try {
    // Local arguments in one call, so an image named twice (or through two arguments) is done once.
    const local = images.filter((arg) => !isS3Url(arg));
    if (local.length > 0) items.push(...expandInputs(local, localOut));
    for (const arg of images.filter(isS3Url)) items.push(...(await expandS3(arg, localOut)));
    if (!remoteOut) openOutputFolder(out);
  } catch (error) {
    cleanup();
    throw error;
  }
  const outKey = (path: string) => `${outPrefix}${posix(relative(localOut, path))}`;
  let uploads: Promise<void> = Promise.resolve();
  const scratch = mkdtempSync(join(tmpdir(), "glamm-in-"));
  let downloads = 0;
  return {
    items,
    localOut,
    exists: (path) => isS3Url(path) || existsSync(path),
    async withLocalInput(item, use) {
      if (!isS3Url(item.path)) return use(item.path);
      const { bucket, key } = parseS3Url(item.path);
      const local = join(scratch, `${downloads++}${extname(key)}`);
      writeFileSync(local, await bucketFor(bucket).read(key));
      try {
        return await use(local);
      } finally {
        rmSync(local, { force: true });
      }
    },
    async publish(files) {
      if (!remoteOut) return files;
      const s3 = bucketFor(remoteOut.bucket);
      for (const file of files) await s3.write(outKey(file), readFileSync(file));
      for (const file of files) rmSync(file, { force: true });
      return files.map((file) => s3Url(remoteOut.bucket, outKey(file)));
    },
    finalName: (path) => (remoteOut ? s3Url(remoteOut.bucket, outKey(path)) : path),
    async restore(name) {
      if (!remoteOut) return;
      const bytes = await bucketFor(remoteOut.bucket).readIfExists(`${outPrefix}${name}`);
      if (bytes) {
        mkdirSync(localOut, { recursive: true });
        writeFileSync(join(localOut, name), bytes);
      }
    },
    sync(path) {
      if (!remoteOut) return;
      const bytes = readFileSync(path);
      uploads = uploads.then(() => bucketFor(remoteOut.bucket).write(outKey(path), bytes));
    },
    async close() {
      try {
        await uploads;
      } finally {
        rmSync(scratch, { recursive: true, force: true });
        cleanup();
      }
    },
  };
}
