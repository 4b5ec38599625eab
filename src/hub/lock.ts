import { closeSync, mkdirSync, openSync, readFileSync, rmSync, statSync, utimesSync, writeSync } from "node:fs";
import { hostname } from "node:os";
import { dirname } from "node:path";
import { runtimeError } from "../cli/errors.ts";

export interface LockOptions {
  /** A soft lock whose file has not been touched for this long is taken over (default 60 s; holders touch it every third). */
  staleMs?: number;
  pollMs?: number;
  signal?: AbortSignal;
  /** Called once when the lock is busy, with the holder's description. */
  onWait?(holder: string): void;
}

/**
 * Runs fn while holding an exclusive lock on `path`, the way huggingface_hub's WeakFileLock (py-filelock) does:
 * flock(LOCK_EX) on the file, which stays in place afterwards, so a Python download and a glamm pull of the same blob
 * (`.locks/models--org--name/{etag}.lock`) exclude each other and a crashed holder never blocks anyone (the kernel drops
 * its lock). Where flock is unavailable (no libc, or a filesystem without it) it falls back, like filelock's
 * SoftFileLock, to a file created with O_EXCL and removed on release; a dead or silent holder's file is taken over.
 */
export async function withFileLock<T>(path: string, fn: () => Promise<T>, options: LockOptions = {}): Promise<T> {
  mkdirSync(dirname(path), { recursive: true });
  const flock = libcFlock();
  if (!flock) return withSoftLock(path, fn, options);
  const fd = openLockFile(path);
  let locked = false;
  try {
    let announced = false;
    for (;;) {
      const outcome = flock(fd, lockExclusive | lockNonBlocking);
      if (outcome === "unsupported") break;
      if (outcome === "locked") {
        locked = true;
        break;
      }
      if (!announced) {
        announced = true;
        options.onWait?.("another process");
      }
      if (options.signal?.aborted) throw runtimeError(`interrupted while waiting for the lock ${path}`);
      await Bun.sleep(options.pollMs ?? 200);
    }
    if (locked) return await fn();
  } finally {
    closeSync(fd); // closing the descriptor releases the flock
  }
  return withSoftLock(path, fn, options);
}

const lockExclusive = 2;
const lockNonBlocking = 4;

/** Opens the lock file, creating it with mode 0664 as huggingface_hub does (a shared cache lets the group wait on it). */
function openLockFile(path: string): number {
  try {
    return openSync(path, "a", 0o664);
  } catch (error) {
    throw runtimeError(`cannot create the lock file ${path}: ${(error as Error).message}`);
  }
}

type Flock = (fd: number, operation: number) => "locked" | "busy" | "unsupported";
let cachedFlock: Flock | null | undefined;

/** flock(2) through bun:ffi (Node has no binding); null where libc cannot be loaded. */
function libcFlock(): Flock | undefined {
  if (cachedFlock !== undefined) return cachedFlock ?? undefined;
  cachedFlock = null;
  if (process.platform !== "linux" && process.platform !== "darwin") return undefined;
  try {
    const { dlopen, FFIType, read } = require("bun:ffi") as typeof import("bun:ffi");
    const lib = process.platform === "darwin" ? "libSystem.B.dylib" : "libc.so.6";
    const errnoSymbol = process.platform === "darwin" ? "__error" : "__errno_location";
    const libc = dlopen(lib, {
      flock: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 },
      [errnoSymbol]: { args: [], returns: FFIType.ptr },
    });
    const errnoOf = libc.symbols[errnoSymbol] as () => number;
    cachedFlock = (fd, operation) => {
      if (libc.symbols.flock(fd, operation) === 0) return "locked";
      const wouldBlock = process.platform === "darwin" ? 35 : 11; // EWOULDBLOCK
      return read.i32(errnoOf() as never) === wouldBlock ? "busy" : "unsupported";
    };
  } catch {
    cachedFlock = null;
  }
  return cachedFlock ?? undefined;
}

interface Holder {
  pid: number;
  host: string;
}

async function withSoftLock<T>(path: string, fn: () => Promise<T>, options: LockOptions): Promise<T> {
  const staleMs = options.staleMs ?? 60_000;
  const soft = `${path}.soft`;
  let announced = false;
  for (;;) {
    if (tryCreate(soft)) break;
    const holder = readHolder(soft);
    if (isStale(soft, holder, staleMs)) {
      rmSync(soft, { force: true });
      continue;
    }
    if (!announced) {
      announced = true;
      options.onWait?.(holder ? `pid ${holder.pid} on ${holder.host}` : "another process");
    }
    if (options.signal?.aborted) throw runtimeError(`interrupted while waiting for the lock ${soft}`);
    await Bun.sleep(options.pollMs ?? 200);
  }
  const heartbeat = setInterval(() => touch(soft), Math.max(10, Math.floor(staleMs / 3)));
  try {
    return await fn();
  } finally {
    clearInterval(heartbeat);
    rmSync(soft, { force: true });
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
