import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";

/** A file embedded in the compiled binary (or any readable path), and where it goes in its extraction folder. */
export interface EmbeddedFile {
  embedded: string;
  relative: string;
}

/**
 * Writes `files` into `dir` unless `dir` exists. The folder is written under a temporary name and renamed into place,
 * so it is complete whenever it exists and a half-written temporary folder never counts; when two processes race,
 * the loser throws its copy away and uses the winner's. Temporary folders left by extractions that were killed are
 * removed. Throws the file system's error when `dir` could not be made.
 */
export function extractOnce(files: readonly EmbeddedFile[], dir: string): void {
  if (existsSync(dir)) return;
  removeAbandoned(dir);
  const tmp = `${dir}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  try {
    for (const file of files) {
      const target = join(tmp, file.relative);
      mkdirSync(dirname(target), { recursive: true });
      writeFileSync(target, readFileSync(file.embedded));
    }
    renameSync(tmp, dir);
  } catch (error) {
    rmSync(tmp, { recursive: true, force: true });
    if (!existsSync(dir)) throw error;
  }
}

/** Removes `<dir>.tmp-<pid>-*` folders whose process is gone (a live one may still be writing its copy). */
function removeAbandoned(dir: string): void {
  const prefix = `${basename(dir)}.tmp-`;
  let siblings: string[];
  try {
    siblings = readdirSync(dirname(dir));
  } catch {
    return;
  }
  for (const name of siblings) {
    if (!name.startsWith(prefix)) continue;
    const pid = Number(name.slice(prefix.length).split("-")[0]);
    if (Number.isInteger(pid) && pid > 0 && !processAlive(pid)) rmSync(join(dirname(dir), name), { recursive: true, force: true });
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}
