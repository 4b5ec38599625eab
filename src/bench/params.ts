import { parseCount } from "../cli/parse.ts";

/** A whole-number `--param name=N` (at least `min`), or `fallback` when it is not given. */
export const countParam = (params: Record<string, string>, name: string, fallback: number, min = 1): number =>
  params[name] === undefined ? fallback : parseCount(`--param ${name}`, params[name], min);
