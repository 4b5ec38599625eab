import { closeSync, mkdirSync, openSync, readFileSync, rmSync, statSync, utimesSync, writeSync } from "node:fs";
import { hostname } from "node:os";
import { dirname } from "node:path";
import { runtimeError } from "../cli/errors.ts";

export interface LockOptions {
  /** A lock whose file has not been touched for this long is taken over (default 60 s; holders touch it every third). */
  staleMs?: number;
  pollMs?: number;
  signal?: AbortSignal;
  /** Called once when the lock is busy, with the holder's description. */
  onWait?(holder: string): void;
}

interface Holder {
  pid: number;
  host: string;
}

/**
 * Runs fn while holding an exclusive lock file (created with O_EXCL). A lock left by a dead process on this host, or
 * one not refreshed within staleMs, is removed so a crashed pull never blocks later ones.
 */
export async function withFileLock<T>(path: string, fn: () => Promise<T>, options: LockOptions = {}): Promise<T> {
  const staleMs = options.staleMs ?? 60_000;
  mkdirSync(dirname(path), { recursive: true });
  let announced = false;
  for (;;) {
    if (tryCreate(path)) break;
    const holder = readHolder(path);
    if (isStale(path, holder, staleMs)) {
      rmSync(path, { force: true });
      continue;
    }
    if (!announced) {
      announced = true;
      options.onWait?.(holder ? `pid ${holder.pid} on ${holder.host}` : "another process");
    }
    if (options.signal?.aborted) throw runtimeError(`interrupted while waiting for the lock ${path}`);
    await Bun.sleep(options.pollMs ?? 200);
  }
  const heartbeat = setInterval(() => touch(path), Math.max(10, Math.floor(staleMs / 3)));
  try {
    return await fn();
  } finally {
    clearInterval(heartbeat);
    rmSync(path, { force: true });
  }
}

function tryCreate(path: string): boolean {
  try {
    const fd = openSync(path, "wx");
    try {
      writeSync(fd, JSON.stringify({ pid: process.pid, host: hostname() } satisfies Holder));
    } finally {
      closeSync(fd);
    }
    return true;
  } catch (error) {
    if ((error as { code?: string }).code === "EEXIST") return false;
    throw runtimeError(`cannot create the lock file ${path}: ${(error as Error).message}`);
  }
}

function readHolder(path: string): Holder | undefined {
  try {
    const holder = JSON.parse(readFileSync(path, "utf8")) as Partial<Holder>;
    return typeof holder.pid === "number" && typeof holder.host === "string" ? (holder as Holder) : undefined;
  } catch {
    return undefined;
  }
}

function isStale(path: string, holder: Holder | undefined, staleMs: number): boolean {
  if (holder && holder.host === hostname() && !processAlive(holder.pid)) return true;
  try {
    return Date.now() - statSync(path).mtimeMs > staleMs;
  } catch {
    return false; // released between our attempts: the next tryCreate decides
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as { code?: string }).code === "EPERM";
  }
}

function touch(path: string): void {
  try {
    const now = new Date();
    utimesSync(path, now, now);
  } catch {
    // The lock was taken over as stale; the holder finishes anyway and the blob re-check keeps the result whole.
  }
}
