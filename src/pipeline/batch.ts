import { createHash } from "node:crypto";
import { accessSync, closeSync, constants, existsSync, fstatSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, realpathSync, rmSync, statSync, writeSync, type Stats } from "node:fs";
import { hostname } from "node:os";
import { basename, dirname, extname, join, relative, resolve } from "node:path";
import { fsError, fsReason } from "../cli/fs-error.ts";
import { GlammError, inputError, usageError } from "../cli/errors.ts";
import { notice } from "../cli/ui.ts";

export const IMAGE_EXTENSIONS = new Set([".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".gif", ".bmp", ".avif", ".heic"]);

/** IMAGE arguments that mean "read the image from stdin". */
export const isStdin = (arg: string): boolean => arg === "-" || arg === "/dev/stdin";

/** One image of a batch and where its outputs go: `<out>/<relative>` without the extension, plus `.glamm.*`. */
export interface BatchItem {
  /** The image file, or "-" for stdin. */
  path: string;
  /** Output path stem, e.g. out/sub/photo (outputs: out/sub/photo.glamm.png, .glamm.json). */
  stem: string;
}

const hasGlob = (arg: string) => /[*?[{]/.test(arg);
const isImageName = (name: string) => IMAGE_EXTENSIONS.has(extname(name).toLowerCase());

function kind(stats: Stats): string {
  if (stats.isFIFO()) return "a FIFO";
  if (stats.isSocket()) return "a socket";
  if (stats.isCharacterDevice() || stats.isBlockDevice()) return "a device";
  return "not a regular file";
}

/** stat that follows links, or the reason it cannot (a loop, a dangling link). */
function statOrReason(path: string): Stats | string {
  try {
    return statSync(path);
  } catch (error) {
    return fsReason(error) ?? (error as Error).message;
  }
}

/**
 * Image files under `dir`, recursively, following symbolic links; each folder is visited once (a link back up the
 * tree is not a loop). Links that cannot be followed and non-regular files are skipped with a notice.
 */
function walk(root: string): string[] {
  const files: string[] = [];
  const visited = new Set<string>();
  const visit = (dir: string) => {
    const real = realpathSync(dir);
    if (visited.has(real)) return;
    visited.add(real);
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) visit(path);
      else if (entry.isFile()) {
        if (isImageName(entry.name)) files.push(path);
      } else if (entry.isSymbolicLink() || isImageName(entry.name)) {
        const stats = statOrReason(path);
        if (typeof stats === "string") notice(`skipping ${path}: ${stats}`);
        else if (stats.isDirectory()) visit(path);
        else if (!isImageName(entry.name)) continue;
        else if (stats.isFile()) files.push(path);
        else notice(`skipping ${path}: ${kind(stats)}`);
      }
    }
  };
  visit(root);
  return files.sort();
}

/** The fixed directory part of a glob, which outputs are made relative to. */
function globBase(pattern: string): string {
  const parts = pattern.split("/");
  const fixed = parts.slice(0, parts.findIndex((p) => hasGlob(p)));
  return fixed.length ? fixed.join("/") : ".";
}

/**
 * Expands IMAGE arguments — files, folders (recursively, image files only), globs, and "-" for stdin — into batch
 * items whose outputs mirror the input tree under `out`. A missing file, a non-regular file, or an empty folder or glob
 * is a one-line input error; an image named twice is done once.
 */
export function expandInputs(args: readonly string[], out: string): BatchItem[] {
  const items: BatchItem[] = [];
  const stem = (path: string, base: string) => {
    const rel = relative(base, path);
    return join(out, dirname(rel), basename(rel, extname(rel)));
  };
  for (const arg of args) {
    if (isStdin(arg)) {
      items.push({ path: "-", stem: join(out, "stdin") });
    } else if (hasGlob(arg) && !existsSync(arg)) {
      const base = globBase(arg);
      const matches = [...new Bun.Glob(arg).scanSync({ cwd: ".", onlyFiles: true })].filter(isImageName).sort();
      if (matches.length === 0) throw inputError(`no images match ${arg}`);
      for (const path of matches) items.push({ path, stem: stem(path, base) });
    } else {
      const stats = statOrReason(arg);
      if (typeof stats === "string") throw inputError(`no such image or folder: ${arg}${stats.startsWith("no such") ? "" : ` (${stats})`}`);
      if (stats.isDirectory()) {
        const files = walk(arg);
        if (files.length === 0) throw inputError(`no images in folder ${arg}`);
        for (const path of files) items.push({ path, stem: stem(path, arg) });
      } else if (!stats.isFile()) {
        throw inputError(`${arg} is ${kind(stats)}, not an image file (use - to read an image from stdin)`);
      } else {
        items.push({ path: arg, stem: join(out, basename(arg, extname(arg))) });
      }
    }
  }
  const byStem = new Map<string, BatchItem>();
  const unique: BatchItem[] = [];
  const identity = (path: string) => (path === "-" ? path : realpathSync(path));
  for (const item of items) {
    const other = byStem.get(item.stem);
    if (other && identity(other.path) === identity(item.path)) continue;
    if (other) throw inputError(`${other.path} and ${item.path} would write the same outputs (${item.stem}.glamm.*); run them separately`);
    byStem.set(item.stem, item);
    unique.push(item);
  }
  if (unique.filter((i) => i.path === "-").length > 1) throw usageError("stdin (-) can be given once");
  return unique;
}

/**
 * Creates the output folder (or checks the one there) before any work, so a bad --out is one line naming it:
 * not a folder, under a file, read-only.
 */
export function openOutputFolder(out: string): void {
  if (out.trim() === "") throw usageError("--out needs a folder name");
  try {
    mkdirSync(out, { recursive: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") throw inputError(`--out ${out} is a file, not a folder`);
    throw fsError(error, "--out: cannot create") ?? error;
  }
  try {
    accessSync(out, constants.W_OK);
  } catch (error) {
    throw fsError(error, "--out: cannot write in") ?? error;
  }
}

/** One line of results.jsonl. */
export interface BatchRecord {
  image: string;
  /** Identifies the run's settings, so a resumed batch with other settings redoes the image. */
  key: string;
  status: "ok" | "error";
  outputs?: string[];
  error?: string;
  exitCode?: number;
  result?: unknown;
  /** When the line was written (ISO 8601); `glamm results summary` reads throughput from it. */
  at?: string;
}

/** A hash of what decides an image's outputs besides the image itself (task, model, options). */
export const runKey = (settings: unknown): string => createHash("sha256").update(JSON.stringify(settings)).digest("hex").slice(0, 16);

/**
 * results.jsonl under the output folder: one line per finished image, appended with a single write. Other processes
 * may append to it too; `refresh` reads what they added.
 */
export class BatchLog {
  readonly path: string;
  private readonly done = new Set<string>();
  private readOffset = 0;

  /** `name`: results-INDEX-of-COUNT.jsonl for a shard; `exists`: how an output is found (object storage). */
  constructor(out: string, name = "results.jsonl", private readonly exists: (path: string) => boolean = existsSync) {
    this.path = join(out, name);
    this.refresh();
  }

  /** Reads the lines appended since the last read (by this or another process). */
  refresh(): void {
    if (!existsSync(this.path)) return;
    const fd = openSync(this.path, "r");
    let text: string;
    try {
      const size = fstatSync(fd).size;
      const bytes = Buffer.alloc(Math.max(0, size - this.readOffset));
      const read = readSync(fd, bytes, 0, bytes.length, this.readOffset);
      const end = bytes.lastIndexOf(10, read - 1) + 1;
      text = bytes.subarray(0, end).toString("utf8");
      this.readOffset += end;
    } finally {
      closeSync(fd);
    }
    for (const line of text.split("\n")) {
      if (!line.trim()) continue;
      try {
        const record = JSON.parse(line) as BatchRecord;
        if (record.status === "ok" && (record.outputs ?? []).every((o) => this.exists(o))) this.done.add(this.id(record.image, record.key));
      } catch {
        // a line cut short by a crash: that image is simply done again
      }
    }
  }

  private id(image: string, key: string): string {
    return `${resolve(image)}\0${key}`;
  }

  /** Finished earlier with the same settings and its outputs are still there (never for stdin). */
  isDone(image: string, key: string): boolean {
    return image !== "-" && this.done.has(this.id(image, key));
  }

  append(record: BatchRecord): void {
    const fd = openSync(this.path, "a");
    try {
      writeSync(fd, `${JSON.stringify({ ...record, at: new Date().toISOString() })}\n`);
    } finally {
      closeSync(fd);
    }
  }
}

/**
 * A claim on one image's outputs (`.NAME.glamm.lock` beside them), so that two processes writing to the same --out
 * never do the same image: the second skips what the first holds. A claim whose process is gone is taken over.
 */
export class OutputClaim {
  private constructor(private readonly path: string) {}

  static lockPath(stem: string): string {
    return join(dirname(stem), `.${basename(stem)}.glamm.lock`);
  }

  /** The claim, or the pid of the live process holding it. */
  static take(stem: string): OutputClaim | number {
    const path = OutputClaim.lockPath(stem);
    mkdirSync(dirname(path), { recursive: true });
    for (let attempt = 0; ; attempt++) {
      try {
        const fd = openSync(path, "wx");
        writeSync(fd, `${process.pid} ${hostname()}\n`);
        closeSync(fd);
        return new OutputClaim(path);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      }
      const holder = OutputClaim.holder(path);
      if (holder !== undefined || attempt > 0) return holder ?? -1;
      rmSync(path, { force: true });
    }
  }

  /** The pid holding the lock at `path` when that process is alive (on this host), else undefined. */
  private static holder(path: string): number | undefined {
    let text: string;
    try {
      text = readFileSync(path, "utf8");
    } catch {
      return undefined;
    }
    const [pid, host] = text.trim().split(" ");
    const id = Number(pid);
    if (host !== hostname()) return id; // another machine's claim: cannot check, respect it
    if (!Number.isInteger(id) || id <= 0) return text === "" ? -1 : undefined; // being written right now
    try {
      process.kill(id, 0);
      return id;
    } catch (error) {
      return (error as NodeJS.ErrnoException).code === "EPERM" ? id : undefined;
    }
  }

  release(): void {
    rmSync(this.path, { force: true });
  }
}

export interface BatchOutcome {
  processed: number;
  skipped: number;
  /** Images another process was working on. */
  claimedElsewhere: number;
  /** Stopped by the signal before every image was done. */
  interrupted: boolean;
  failed: { image: string; error: string; exitCode: number }[];
}

export interface BatchCallbacks<T> {
  /** Decodes/prepares an image; started for the next image while the current one runs. */
  prepare(item: BatchItem): Promise<T>;
  /** Runs the model and writes the outputs; returns the files written and a summary for results.jsonl. */
  run(item: BatchItem, prepared: T): Promise<{ outputs: string[]; result: unknown }>;
  onProgress?(done: number, total: number, item: BatchItem): void;
  onError?(item: BatchItem, error: GlammError | Error): void;
  /** Aborting lets the current image finish (outputs and its results line) and starts no other. */
  signal?: AbortSignal;
}

/**
 * Runs every item not already done, one at a time, preparing the next image while the model works on the current
 * one. Each image is claimed first (another process on the same --out skips it) and checked against results.jsonl
 * again once claimed. A failing image is logged and reported and the batch goes on; errors that are not about the
 * input stop it.
 */
export async function runBatch<T>(items: readonly BatchItem[], log: BatchLog, key: string, callbacks: BatchCallbacks<T>): Promise<BatchOutcome> {
  const todo = items.filter((item) => !log.isDone(item.path, key));
  const outcome: BatchOutcome = { processed: 0, skipped: items.length - todo.length, claimedElsewhere: 0, interrupted: false, failed: [] };
  const settle = (p: Promise<T>) => p.then((value) => ({ value }), (error: unknown) => ({ error }));
  let next = todo.length ? settle(callbacks.prepare(todo[0])) : undefined;
  for (let i = 0; i < todo.length; i++) {
    if (callbacks.signal?.aborted) {
      outcome.interrupted = true;
      break;
    }
    const item = todo[i];
    const prepared = await next!;
    next = i + 1 < todo.length ? settle(callbacks.prepare(todo[i + 1])) : undefined;
    const claim = OutputClaim.take(item.stem);
    if (typeof claim === "number") {
      outcome.claimedElsewhere++;
      continue;
    }
    try {
      log.refresh();
      if (log.isDone(item.path, key)) {
        outcome.skipped++;
        continue;
      }
      if ("error" in prepared) throw prepared.error;
      const { outputs, result } = await callbacks.run(item, prepared.value);
      log.append({ image: item.path, key, status: "ok", outputs, result });
      outcome.processed++;
    } catch (error) {
      const isInputProblem = error instanceof GlammError && error.exitCode === 2;
      if (!isInputProblem || todo.length === 1) throw error;
      log.append({ image: item.path, key, status: "error", error: error.message, exitCode: error.exitCode });
      outcome.failed.push({ image: item.path, error: error.message, exitCode: error.exitCode });
      callbacks.onError?.(item, error);
    } finally {
      claim.release();
    }
    callbacks.onProgress?.(i + 1, todo.length, item);
  }
  return outcome;
}
