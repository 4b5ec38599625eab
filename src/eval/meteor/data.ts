/**
 * Reads the files METEOR 1.5 loads besides the sentences from a folder laid out like the jar (function/english.words,
 * synonym/english.{synsets,exceptions}, nonbreaking/english.prefixes, as an unpacked meteor-1.5.jar) or like its
 * source repository (the same under resources/), with the paraphrase table at data/paraphrase-en.gz in both.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { inputError } from "../../cli/errors.ts";
import type { NonbreakingPrefixes } from "./normalize.ts";
import { ParaphraseTable } from "./paraphrase.ts";
import { installedDataDir, METEOR_DATA, type DataManifest } from "./pull.ts";
import type { MeteorResources } from "./score.ts";
import { SynonymDictionary } from "./synonyms.ts";

/** Where the default paraphrase table sits: next to the jar, and in the repository. */
export const PARAPHRASE_TABLE_PATH = "data/paraphrase-en.gz";

function readText(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    throw inputError(`cannot read METEOR data file ${path}`);
  }
}

const lines = (text: string) => text.split("\n").map((l) => l.replace(/\r$/, ""));

function readPrefixes(path: string): NonbreakingPrefixes {
  const prefixes = new Map<string, "any" | "numeric">();
  for (const line of lines(readText(path))) {
    const [prefix, marker] = line.trim().split(/\s+/);
    if (!prefix || prefix.startsWith("#")) continue;
    prefixes.set(prefix, marker === "#NUMERIC_ONLY#" ? "numeric" : "any");
  }
  return prefixes;
}

/** The folder holding function/, synonym/ and nonbreaking/: DIR itself (jar layout) or DIR/resources (repository). */
function resourceRoot(dir: string): string {
  if (existsSync(join(dir, "resources", "function", "english.words"))) return join(dir, "resources");
  if (existsSync(join(dir, "function", "english.words"))) return dir;
  throw inputError(`METEOR data folder ${dir} has neither function/english.words (unpacked meteor-1.5.jar) nor resources/function/english.words (the METEOR repository); \`glamm pull meteor-1.5\` installs it`);
}

export function readParaphraseTable(path: string): ParaphraseTable {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch {
    throw inputError(`cannot read the paraphrase table ${path}`);
  }
  return ParaphraseTable.fromGzip(bytes, path);
}

export interface MeteorDataOptions {
  /** A paraphrase table in the official format; false: no paraphrase stage; default: DIR/data/paraphrase-en.gz. */
  paraphraseTable?: string | false;
}

export function loadMeteorResources(dir: string, options: MeteorDataOptions = {}): MeteorResources {
  const root = resourceRoot(dir);
  const functionWords = new Set(lines(readText(join(root, "function", "english.words"))));
  const synonyms = SynonymDictionary.parse(readText(join(root, "synonym", "english.synsets")), readText(join(root, "synonym", "english.exceptions")));
  let tablePath = options.paraphraseTable;
  if (tablePath === undefined) {
    tablePath = join(dir, PARAPHRASE_TABLE_PATH);
    if (!existsSync(tablePath)) throw inputError(`METEOR data folder ${dir} has no ${PARAPHRASE_TABLE_PATH}; name a table with --paraphrase-table FILE, or score without paraphrases with --no-paraphrase`);
  }
  return {
    functionWords,
    synonyms,
    nonbreakingPrefixes: readPrefixes(join(root, "nonbreaking", "english.prefixes")),
    paraphrases: tablePath === false ? undefined : readParaphraseTable(tablePath),
  };
}

/** METEOR's data as loaded for one evaluation, and how it was chosen (for the record). */
export interface MeteorSetup {
  resources: MeteorResources;
  description: string;
}

export interface MeteorChoice {
  /** --meteor-data DIR (default: the data `glamm pull meteor-1.5` installed). */
  meteorData?: string;
  /** --paraphrase-table FILE (default: DIR/data/paraphrase-en.gz). */
  paraphraseTable?: string;
  /** false for --no-paraphrase (paraphraseTable is then ignored). */
  paraphrase: boolean;
}

/** The METEOR data an evaluation uses; undefined when none was named and none is installed. */
export function chooseMeteorData(choice: MeteorChoice, env: Record<string, string | undefined> = process.env, manifest: DataManifest = METEOR_DATA): MeteorSetup | undefined {
  const dir = choice.meteorData ?? installedDataDir(manifest, env);
  if (dir === undefined) return undefined;
  const table = choice.paraphrase ? choice.paraphraseTable : false;
  const resources = loadMeteorResources(dir, { paraphraseTable: table });
  const stages = resources.paraphrases
    ? `with paraphrase table ${table || join(dir, PARAPHRASE_TABLE_PATH)} (${resources.paraphrases.size} records)`
    : "without the paraphrase stage";
  return { resources, description: `METEOR 1.5 (${dir}) ${stages}` };
}
