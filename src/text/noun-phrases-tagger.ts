// Part-of-speech tagging with wink-nlp (Universal Dependencies tags, like spaCy's `token.pos_`), with exact
// character offsets into the input string. The wink model (~3 MB) is loaded once, on first use.
import type { Model, WinkMethods } from "wink-nlp";
import { runtimeError } from "../cli/errors.ts";

/** One token; offsets are JavaScript string indices (UTF-16 code units): `text.slice(start, end) === word.text`. */
export interface TaggedWord {
  text: string;
  lower: string;
  lemma: string;
  pos: string;
  start: number;
  end: number;
}

let nlp: WinkMethods | undefined;

// Required on first use (importing the model costs ~0.2 s); static strings, so `bun build` still bundles both.
// Sentence boundaries feed the POS tagger; entities, sentiment and negation are not needed.
function tagger(): WinkMethods {
  if (nlp === undefined) {
    const winkNLP: typeof import("wink-nlp").default = require("wink-nlp");
    const model: Model = require("wink-eng-lite-web-model");
    nlp = winkNLP(model, ["sbd", "pos"]);
  }
  return nlp;
}

// wink mangles many hyphenated words ("double-decker" -> "do u ble - decker") and then mis-tags the rest of the
// sentence, so it reads such hyphens as spaces (same length, same offsets); they come back as PUNCT "-" tokens,
// like spaCy's infix split of "t-shirt" into "t", "-", "shirt".
const WORD_HYPHEN = /(?<=[\p{L}\p{N}])[-‐‑](?=[\p{L}\p{N}])/gu;

export const isHyphen = (s: string) => s === "-" || s === "‐" || s === "‑";

export function tagWords(text: string): TaggedWord[] {
  const spaced = text.replace(WORD_HYPHEN, " ");
  const its = tagger().its;
  const tokens = tagger().readDoc(spaced).tokens();
  const values = tokens.out(its.value);
  const tags = tokens.out(its.pos);
  // its.lemma takes the model's addons (wink passes them at run time); its declared type omits that
  const lemmas = tokens.out(its.lemma as unknown as typeof its.value);
  const spaces = tokens.out(its.precedingSpaces);
  const words: TaggedWord[] = [];
  let cursor = 0;
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    // wink keeps each token's original spelling; locate it after the whitespace wink reports (or, if wink
    // reported it differently, the next occurrence) so offsets stay exact with any spacing or script.
    const expected = cursor + spaces[i].length;
    const start = spaced.startsWith(value, expected) ? expected : spaced.indexOf(value, cursor);
    if (start < 0) throw runtimeError(`noun phrases: cannot locate token ${JSON.stringify(value)} in the text`);
    if (start === cursor + 1 && isHyphen(text[cursor]) && spaced[cursor] === " ") {
      const hyphen = text[cursor];
      words.push({ text: hyphen, lower: hyphen, lemma: hyphen, pos: "PUNCT", start: cursor, end: cursor + 1 });
    }
    const lower = value.toLowerCase();
    words.push({ text: value, lower, lemma: lemmas[i].toLowerCase(), pos: tags[i], start, end: start + value.length });
    cursor = start + value.length;
  }
  return words;
}
