import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { inputError } from "../cli/errors.ts";
import { writeFileAtomic } from "../output/atomic.ts";
import type { ResultsDir } from "../pipeline/results.ts";
import { isS3Url, parseS3Url, S3Bucket } from "./s3.ts";

/** A results folder on disk. */
function localResultsDir(dir: string): ResultsDir {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw inputError(`no such results folder: ${dir}`);
  return {
    name: dir,
    list: async () => readdirSync(dir),
    read: async (file) => readFileSync(join(dir, file), "utf8"),
    write: async (file, text) => writeFileAtomic(join(dir, file), text),
  };
}

/** The files directly under an s3:// prefix. */
function s3ResultsDir(url: string): ResultsDir {
  const { bucket, key } = parseS3Url(url);
  const prefix = key && !key.endsWith("/") ? `${key}/` : key;
  const s3 = new S3Bucket(bucket);
  return {
    name: url,
    list: async () => (await s3.list(prefix)).map((o) => o.key.slice(prefix.length)).filter((name) => name && !name.includes("/")),
    read: async (file) => new TextDecoder().decode(await s3.read(`${prefix}${file}`)),
    write: (file, text) => s3.write(`${prefix}${file}`, text),
  };
}

/** A results folder: a local path or s3://bucket/prefix/. */
export async function openResultsDir(dir: string): Promise<ResultsDir> {
  if (!dir) throw inputError("no results folder given");
  return isS3Url(dir) ? s3ResultsDir(dir) : localResultsDir(dir);
}
