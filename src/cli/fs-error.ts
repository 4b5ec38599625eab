import { ExitCode, GlammError } from "./errors.ts";

const REASONS: Record<string, [string, ExitCode]> = {
  ENOSPC: ["no space left on the device", ExitCode.runtime],
  EDQUOT: ["disk quota exceeded", ExitCode.runtime],
  EIO: ["input/output error", ExitCode.runtime],
  EMFILE: ["too many open files", ExitCode.runtime],
  EACCES: ["permission denied", ExitCode.input],
  EPERM: ["operation not permitted", ExitCode.input],
  EROFS: ["read-only file system", ExitCode.input],
  ENOTDIR: ["a part of the path is a file, not a folder", ExitCode.input],
  EEXIST: ["a file is in the way", ExitCode.input],
  EISDIR: ["is a folder", ExitCode.input],
  ENOENT: ["no such file or folder", ExitCode.input],
  ELOOP: ["symbolic link loop", ExitCode.input],
  ENAMETOOLONG: ["name too long", ExitCode.input],
};

/** What went wrong, in words, for a file-system error with a known code. */
export function fsReason(error: unknown): string | undefined {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code ? REASONS[code]?.[0] : undefined;
}

/**
 * A file-system error (Node's errno errors carry `code` and `path`) as one line naming the path and the problem:
 * exit 4 for a full or failing disk, exit 2 for a path the user gave that cannot be used. Undefined for other errors.
 */
export function fsError(error: unknown, what = "cannot use"): GlammError | undefined {
  const { code, path } = (error ?? {}) as NodeJS.ErrnoException;
  const known = code ? REASONS[code] : undefined;
  if (!known) return undefined;
  return new GlammError(path ? `${what} ${path}: ${known[0]}` : `${known[0]} (${code})`, known[1]);
}
