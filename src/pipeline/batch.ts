import { createHash } from "node:crypto";
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, statSync, writeSync } from "node:fs";
import { basename, dirname, extname, join, relative, resolve } from "node:path";
import { GlammError, inputError } from "../cli/errors.ts";

export const IMAGE_EXTENSIONS = new Set([".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".gif", ".bmp", ".avif", ".heic"]);

/** One image of a batch and where its outputs go: `<out>/<relative>` without the extension, plus `.glamm.*`. */
export interface BatchItem {
  path: string;
  /** Output path stem, e.g. out/sub/photo (outputs: out/sub/photo.glamm.png, .glamm.json). */
  stem: string;
}

const hasGlob = (arg: string) => /[*?[{]/.test(arg);

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && IMAGE_EXTENSIONS.has(extname(e.name).toLowerCase()))
    .map((e) => join(e.parentPath, e.name))
    .sort();
}

/** The fixed directory part of a glob, which outputs are made relative to. */
function globBase(pattern: string): string {
  const parts = pattern.split("/");
  const fixed = parts.slice(0, parts.findIndex((p) => hasGlob(p)));
  return fixed.length ? fixed.join("/") : ".";
}

/**
 * Expands IMAGE arguments — files, folders (recursively, image files only) and globs — into batch items whose outputs
 * mirror the input tree under `out`. A missing file or an empty folder or glob is a one-line input error.
 */
export function expandInputs(args: readonly string[], out: string): BatchItem[] {
  const items: BatchItem[] = [];
  const stem = (path: string, base: string) => {
    const rel = relative(base, path);
    return join(out, dirname(rel), basename(rel, extname(rel)));
  };
  for (const arg of args) {
    if (hasGlob(arg) && !existsSync(arg)) {
      const base = globBase(arg);
      const matches = [...new Bun.Glob(arg).scanSync({ cwd: ".", onlyFiles: true })].filter((p) => IMAGE_EXTENSIONS.has(extname(p).toLowerCase())).sort();
      if (matches.length === 0) throw inputError(`no images match ${arg}`);
      for (const path of matches) items.push({ path, stem: stem(path, base) });
    } else if (!existsSync(arg)) {
      throw inputError(`no such image or folder: ${arg}`);
    } else if (statSync(arg).isDirectory()) {
      const files = walk(arg);
      if (files.length === 0) throw inputError(`no images in folder ${arg}`);
      for (const path of files) items.push({ path, stem: stem(path, arg) });
    } else {
      items.push({ path: arg, stem: join(out, basename(arg, extname(arg))) });
    }
  }
  const seen = new Map<string, string>();
  for (const item of items) {
    const other = seen.get(item.stem);
    if (other && other !== item.path) throw inputError(`${other} and ${item.path} would write the same outputs (${item.stem}.glamm.*); run them separately`);
    seen.set(item.stem, item.path);
  }
  return items;
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

/** results.jsonl under the output folder: one line per finished image, appended with a single write. */
export class BatchLog {
  readonly path: string;
  private readonly done = new Set<string>();

  /** `name`: results-INDEX-of-COUNT.jsonl for a shard; `exists`: how an output is found (object storage). */
  constructor(out: string, name = "results.jsonl", exists: (path: string) => boolean = existsSync) {
    mkdirSync(out, { recursive: true });
    this.path = join(out, name);
    if (!existsSync(this.path)) return;
    for (const line of readFileSync(this.path, "utf8").split("\n")) {
      if (!line.trim()) continue;
      try {
        const record = JSON.parse(line) as BatchRecord;
        if (record.status === "ok" && (record.outputs ?? []).every((o) => exists(o))) this.done.add(`${resolve(record.image)}\0${record.key}`);
      } catch {
        // a line cut short by a crash: that image is simply done again
      }
    }
  }

  /** Finished earlier with the same settings and its outputs are still there. */
  isDone(image: string, key: string): boolean {
    return this.done.has(`${resolve(image)}\0${key}`);
  }

  append(record: BatchRecord): void {
    const fd = openSync(this.path, "a");
    try {
      writeSync(fd, `${JSON.stringify({ ...record, at: new Date().toISOString() })}\n`);
    } finally {
      closeSync(fd);
    }
    if (record.status === "ok") this.done.add(`${resolve(record.image)}\0${record.key}`);
  }
}

export interface BatchOutcome {
  processed: number;
  skipped: number;
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
 * one. A failing image is logged and reported and the batch goes on; errors that are not about the input stop it.
 */
export async function runBatch<T>(items: readonly BatchItem[], log: BatchLog, key: string, callbacks: BatchCallbacks<T>): Promise<BatchOutcome> {
  const todo = items.filter((item) => !log.isDone(item.path, key));
  const outcome: BatchOutcome = { processed: 0, skipped: items.length - todo.length, interrupted: false, failed: [] };
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
    try {
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
    }
    callbacks.onProgress?.(i + 1, todo.length, item);
  }
  return outcome;
}
