import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from "node:fs";
import { dirname, basename, join } from "node:path";

export interface FileContent {
  path: string;
  data: Uint8Array | string;
}

const tempPath = (path: string) => join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now()}.tmp`);

function writeWhole(path: string, data: Uint8Array | string): void {
  const fd = openSync(path, "w");
  try {
    const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
    let offset = 0;
    while (offset < bytes.byteLength) offset += writeSync(fd, bytes, offset, bytes.byteLength - offset);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Write a file so that readers see either the old content or the whole new content, never a partial file. */
export function writeFileAtomic(path: string, data: Uint8Array | string): void {
  writeFilesTogether([{ path, data }]);
}

/**
 * Writes several files so that they appear together or not at all: every file is staged in full (a full disk fails
 * here and leaves nothing) before any is renamed into place.
 */
export function writeFilesTogether(files: readonly FileContent[]): void {
  const staged: { tmp: string; path: string }[] = [];
  try {
    for (const file of files) {
      const tmp = tempPath(file.path);
      staged.push({ tmp, path: file.path });
      writeWhole(tmp, file.data);
    }
  } catch (error) {
    for (const { tmp } of staged) rmSync(tmp, { force: true });
    // Name the file the user will look for, not its temporary name.
    if (error && typeof error === "object" && "code" in error) Object.assign(error, { path: staged[staged.length - 1].path });
    throw error;
  }
  for (const { tmp, path } of staged) renameSync(tmp, path);
}
