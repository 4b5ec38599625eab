import { createHash } from "node:crypto";
import { createReadStream, mkdirSync, readdirSync, readFileSync, statSync } from "node:fs";
import { basename, join, relative } from "node:path";
import { writeFileAtomic } from "../output/atomic.ts";
import { glammHome } from "../runtime/paths.ts";

interface HashMemo {
  [path: string]: { size: number; mtimeMs: number; sha256: string };
}

/** Files this large take seconds to hash: worth a progress line. */
const REPORT_BYTES = 64 << 20;

const memoPath = () => join(glammHome(), "hash-memo.json");

function loadMemo(): HashMemo {
  try {
    return JSON.parse(readFileSync(memoPath(), "utf8")) as HashMemo;
  } catch {
    return {};
  }
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path, { highWaterMark: 8 << 20 })) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

/** Every file under `path` (a folder), or the file itself. */
function listFiles(path: string): string[] {
  if (!statSync(path).isDirectory()) return [path];
  const dir = path;
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() || (e.isSymbolicLink() && statSync(join(e.parentPath, e.name)).isFile()))
    .map((e) => join(e.parentPath, e.name))
    .sort();
}

function saveMemo(memo: HashMemo): void {
  mkdirSync(glammHome(), { recursive: true });
  writeFileAtomic(memoPath(), JSON.stringify(memo));
}

/** Records sha256s computed elsewhere (`glamm pull` verifies every file it installs), so they are not hashed again. */
export function rememberFileHashes(files: readonly { path: string; sha256: string }[]): void {
  const memo = loadMemo();
  for (const { path, sha256 } of files) {
    const { size, mtimeMs } = statSync(path);
    memo[path] = { size, mtimeMs, sha256 };
  }
  saveMemo(memo);
}

/**
 * A content hash over every file of the given checkpoint folders or files (names and bytes). Each file's sha256 is remembered
 * by (path, size, mtime), so a 15 GB checkpoint is hashed once, not on every run.
 */
export async function sourceFingerprint(sources: readonly string[], onFile?: (path: string) => void): Promise<string> {
  const memo = loadMemo();
  let changed = false;
  const total = createHash("sha256");
  for (const dir of sources) {
    for (const path of listFiles(dir)) {
      const { size, mtimeMs } = statSync(path);
      let entry = memo[path];
      if (!entry || entry.size !== size || entry.mtimeMs !== mtimeMs) {
        if (size >= REPORT_BYTES) onFile?.(path);
        entry = { size, mtimeMs, sha256: await sha256File(path) };
        memo[path] = entry;
        changed = true;
      }
      total.update(`${relative(dir, path) || basename(path)}\0${entry.sha256}\n`);
    }
    total.update("\0dir\0");
  }
  if (changed) saveMemo(memo);
  return total.digest("hex");
}
