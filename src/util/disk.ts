import { existsSync, statfsSync } from "node:fs";
import { dirname } from "node:path";
import { runtimeError } from "../cli/errors.ts";
import { formatBytes } from "../hub/progress.ts";

/** `path` itself when it exists, else its closest existing parent folder. */
export function nearestExisting(path: string): string {
  let dir = path;
  while (!existsSync(dir) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
}

/** Free bytes for an unprivileged user on the file system that holds (or will hold) `path`. */
export function freeBytes(path: string): number {
  const stat = statfsSync(nearestExisting(path));
  return stat.bavail * stat.bsize;
}

/** Fails, in one line, when `dir`'s file system has less than `needed` bytes free for `what`. */
export function checkFreeDisk(dir: string, needed: number, what: string): void {
  const free = freeBytes(dir);
  if (free < needed) throw runtimeError(`${what} needs ${formatBytes(needed)} free in ${dir}, but only ${formatBytes(free)} is available`);
}
