import { closeSync, openSync, renameSync, rmSync, writeSync } from "node:fs";

/**
 * Writes a file through `body(write)` under a temporary name beside `path` and renames it into place when done, so
 * a crash or error never leaves a partial file at `path` (the temporary is removed on error).
 */
export function writeThroughTemp(path: string, body: (write: (bytes: Uint8Array) => void) => void): void {
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, "w");
  try {
    body((bytes) => {
      for (let done = 0; done < bytes.byteLength; ) done += writeSync(fd, bytes, done, bytes.byteLength - done);
    });
  } catch (error) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw error;
  }
  closeSync(fd);
  renameSync(tmp, path);
}
