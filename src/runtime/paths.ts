import { homedir } from "node:os";
import { join } from "node:path";

/** Root of everything glamm stores: GLAMM_HOME, else $XDG_CACHE_HOME/glamm, else ~/.cache/glamm. */
export function glammHome(env: NodeJS.ProcessEnv = process.env): string {
  if (env.GLAMM_HOME) return env.GLAMM_HOME;
  const cache = env.XDG_CACHE_HOME || join(env.HOME || homedir(), ".cache");
  return join(cache, "glamm");
}

/** Native libraries extracted from the compiled binary, one content-hashed folder per bundle. */
export const runtimeDir = (env: NodeJS.ProcessEnv = process.env) => join(glammHome(env), "runtime");
