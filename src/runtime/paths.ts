import { existsSync, statSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { runtimeError } from "../cli/errors.ts";
import { join } from "node:path";

/** Root of everything glamm stores: GLAMM_HOME, else $XDG_CACHE_HOME/glamm, else ~/.cache/glamm. */
export function glammHome(env: NodeJS.ProcessEnv = process.env): string {
  if (env.GLAMM_HOME) {
    if (existsSync(env.GLAMM_HOME) && !statSync(env.GLAMM_HOME).isDirectory()) throw runtimeError(`GLAMM_HOME=${env.GLAMM_HOME} is a file, not a folder`);
    return env.GLAMM_HOME;
  }
  const cache = env.XDG_CACHE_HOME || join(env.HOME || homedir(), ".cache");
  return join(cache, "glamm");
}

/** Native libraries extracted from the compiled binary, one content-hashed folder per bundle. */
export const runtimeDir = (env: NodeJS.ProcessEnv = process.env) => join(glammHome(env), "runtime");

/** A write refused because the folder is read-only or not ours (a shared GLAMM_HOME). */
export const isReadOnlyError = (error: unknown): boolean => ["EROFS", "EACCES", "EPERM"].includes((error as NodeJS.ErrnoException)?.code ?? "");

/** Where native libraries go when GLAMM_HOME is read-only and lacks this binary's: a per-user temporary folder. */
export const fallbackRuntimeDir = (): string => join(tmpdir(), `glamm-runtime-${process.getuid?.() ?? "user"}`);
