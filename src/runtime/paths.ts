import { existsSync, statSync } from "node:fs";
import { homedir } from "node:os";
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
