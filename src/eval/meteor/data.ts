/**
 * Reads the files METEOR 1.5 loads besides the sentences, from a folder laid out as the jar's resources
 * (function/english.words, synonym/english.synsets, synonym/english.exceptions, optional nonbreaking/english.prefixes),
 * or with the synonym data derived from a WordNet 3.0 database (dict/index.{noun,verb,adj,adv} and dict/*.exc).
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { inputError } from "../../cli/errors.ts";
import type { NonbreakingPrefixes } from "./normalize.ts";
import type { MeteorResources } from "./score.ts";
import { SynonymDictionary } from "./synonyms.ts";

const WORDNET_POS = ["noun", "verb", "adj", "adv"] as const;

function readText(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    throw inputError(`cannot read METEOR data file ${path}`);
  }
}

const lines = (text: string) => text.split("\n").map((l) => l.replace(/\r$/, ""));

/** WordNet index.* lines: lemma pos synset_cnt p_cnt [ptr...] sense_cnt tagsense_cnt offset×synset_cnt. */
export function wordnetSynonyms(indexTexts: Record<(typeof WORDNET_POS)[number], string>, exceptionTexts: string[]): SynonymDictionary {
  const synsets = new Map<string, Set<number>>();
  WORDNET_POS.forEach((pos, p) => {
    for (const line of lines(indexTexts[pos])) {
      if (!line || line.startsWith(" ")) continue;
      const fields = line.trim().split(/\s+/);
      const count = Number(fields[2]);
      const set = synsets.get(fields[0]) ?? new Set<number>();
      // Offsets are unique within one part of speech only.
      for (const offset of fields.slice(fields.length - count)) set.add(Number(offset) * WORDNET_POS.length + p);
      synsets.set(fields[0], set);
    }
  });
  const bases = new Map<string, string[]>();
  for (const text of exceptionTexts) {
    for (const line of lines(text)) {
      const [form, ...formBases] = line.trim().split(/\s+/);
      if (form) bases.set(form, [...(bases.get(form) ?? []), ...formBases]);
    }
  }
  return new SynonymDictionary(synsets, bases);
}

function readPrefixes(path: string): NonbreakingPrefixes {
  const prefixes = new Map<string, "any" | "numeric">();
  for (const line of lines(readText(path))) {
    const [prefix, marker] = line.trim().split(/\s+/);
    if (!prefix || prefix.startsWith("#")) continue;
    prefixes.set(prefix, marker === "#NUMERIC_ONLY#" ? "numeric" : "any");
  }
  return prefixes;
}

export function loadMeteorResources(dir: string): MeteorResources {
  const functionPath = join(dir, "function", "english.words");
  if (!existsSync(functionPath)) throw inputError(`METEOR data folder ${dir} has no function/english.words (copy it from meteor-1.5.jar)`);
  const functionWords = new Set(lines(readText(functionPath)));
  let synonyms: SynonymDictionary;
  if (existsSync(join(dir, "synonym", "english.synsets"))) {
    synonyms = SynonymDictionary.parse(readText(join(dir, "synonym", "english.synsets")), readText(join(dir, "synonym", "english.exceptions")));
  } else if (existsSync(join(dir, "dict", "index.noun"))) {
    const index = Object.fromEntries(WORDNET_POS.map((pos) => [pos, readText(join(dir, "dict", `index.${pos}`))])) as Record<(typeof WORDNET_POS)[number], string>;
    const exceptions = WORDNET_POS.map((pos) => join(dir, "dict", `${pos}.exc`)).filter(existsSync).map(readText);
    synonyms = wordnetSynonyms(index, exceptions);
  } else {
    throw inputError(`METEOR data folder ${dir} has neither synonym/english.synsets nor a WordNet 3.0 dict/ folder`);
  }
  const prefixesPath = join(dir, "nonbreaking", "english.prefixes");
  return { functionWords, synonyms, nonbreakingPrefixes: existsSync(prefixesPath) ? readPrefixes(prefixesPath) : undefined };
}
