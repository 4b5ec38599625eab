import { homedir, tmpdir } from "node:os";
import { join } from "node:path";

/** Root of everything glamm stores: GLAMM_HOME, else $XDG_CACHE_HOME/glamm, else ~/.cache/glamm. */
export function glammHome(env: NodeJS.ProcessEnv = process.env): string {
  if (env.GLAMM_HOME) return env.GLAMM_HOME;
  const cache = env.XDG_CACHE_HOME || join(env.HOME || homedir(), ".cache");
  return join(cache, "glamm");
}

/** Native libraries extracted from the compiled binary, one content-hashed folder per bundle. */
export const runtimeDir = (env: NodeJS.ProcessEnv = process.env) => join(glammHome(env), "runtime");

/** A write refused because the folder is read-only or not ours (a shared GLAMM_HOME). */
export const isReadOnlyError = (error: unknown): boolean => ["EROFS", "EACCES", "EPERM"].includes((error as NodeJS.ErrnoException)?.code ?? "");

/** Where native libraries go when GLAMM_HOME is read-only and lacks this binary's: a per-user temporary folder. */
export const fallbackRuntimeDir = (): string => join(tmpdir(), `glamm-runtime-${process.getuid?.() ?? "user"}`);
