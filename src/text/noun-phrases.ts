// Noun phrases of a generated answer, for attend-and-segment token grouping.
//
// The official code takes spaCy `en_core_web_lg` `doc.noun_chunks`: for every NOUN/PROPN/PRON token whose
// dependency label is nsubj, dobj, nsubjpass, pcomp, pobj, dative, appos, attr or ROOT (or a conj of one), the span
// from its subtree's left edge to the token itself; the chunk's root is that token, i.e. always the chunk's last
// token. wink-nlp has POS tags but no dependency parser, so the left-edge subtree is approximated by a pattern:
//   [predeterminer] [determiner | possessive] (modifier)* (NOUN|PROPN)+ [('s | ') <repeat>]
// where modifiers are adjectives, numbers, hyphenated words, degree adverbs before an adjective, participles after
// a determiner, and commas/conjunctions between adjectives; the head (root) is the last noun. A pronoun on its own
// (it, they, her, who, which, relative that, ...) is a chunk, as in spaCy (its POS is PRON); possessives, expletive
// "there", demonstratives and quantifiers used alone are not. Known differences: test/fixtures/noun-phrases/README.md.
//
// Offsets are JavaScript string indices (UTF-16 code units) into the given text.
import { inputError } from "../cli/errors.ts";
import { isHyphen, tagWords, type TaggedWord } from "./noun-phrases-tagger.ts";

export interface TextSpan {
  text: string;
  start: number;
  end: number;
}

/** A noun phrase and its root (head) word, both as exact spans of the source text. */
export interface NounPhrase {
  phrase: string;
  start: number;
  end: number;
  root: TextSpan;
}

/** Text with `<p>...</p>` marks removed, and the marked phrases as spans of that clean text. */
export interface MarkedPhrases {
  text: string;
  phrases: NounPhrase[];
}

// A word, or several glued by hyphens ("t-shirt", "black-and-white", "10-year-old"), with one chunking tag.
interface Unit {
  tag: string;
  lower: string;
  lemma: string;
  start: number;
  end: number;
  rootStart: number; // spaCy splits hyphenated words, so a head "t-shirt" has root "shirt"
}

const POSSESSIVE_DETERMINERS = new Set(["my", "your", "its", "our", "their", "whose"]);
const OBJECT_OR_POSSESSIVE = new Set(["his", "her"]);
const DEMONSTRATIVES = new Set(["this", "that", "these", "those", "which", "what", "whatever", "whichever"]);
const QUANTIFIERS = new Set([
  "all", "both", "each", "every", "some", "any", "no", "many", "several", "few", "most", "either", "neither",
  "another", "half", "such", "much", "certain",
]);
const DEGREE_ADVERBS = new Set([
  "very", "quite", "rather", "fairly", "really", "pretty", "too", "so", "extremely", "slightly", "somewhat",
  "relatively", "about", "around", "approximately", "nearly", "almost", "roughly", "over",
]);
// Position words spaCy tags NOUN in "on top of", "the top of", "on the left", where wink often says ADJ/ADV.
const POSITION_WORDS = new Set([
  "top", "bottom", "left", "right", "middle", "center", "centre", "front", "back", "rear", "side", "inside",
  "outside", "edge", "foreground", "background", "distance",
]);
// "a few feet away", "six feet tall": spaCy labels the noun npadvmod, which is not a noun-chunk label.
const MEASURE_ADVERBS = new Set(["away", "apart", "ago", "old", "tall", "long", "wide", "high", "deep", "thick"]);

const isWordLike = (w: TaggedWord) => /[\p{L}\p{N}]/u.test(w.text);

/** Glue hyphenated words ("word - word", no whitespace around the hyphen) into one unit. */
function buildUnits(words: TaggedWord[]): Unit[] {
  const units: Unit[] = [];
  const glued = (j: number) =>
    j + 2 < words.length &&
    isHyphen(words[j + 1].text) &&
    words[j + 1].start === words[j].end &&
    words[j + 2].start === words[j + 1].end &&
    isWordLike(words[j + 2]);
  for (let i = 0; i < words.length; i++) {
    let j = i;
    if (isWordLike(words[i])) while (glued(j)) j += 2;
    const last = words[j];
    const tag = j === i ? last.pos : hyphenatedTag(words.slice(i, j + 1));
    units.push({ tag, lower: last.lower, lemma: last.lemma, start: words[i].start, end: last.end, rootStart: last.start });
    i = j;
  }
  return units;
}

function hyphenatedTag(parts: TaggedWord[]): string {
  const last = parts[parts.length - 1].pos;
  if (last === "NOUN" || last === "PROPN") return last;
  if (parts.every((p) => p.pos === "NUM" || isHyphen(p.text))) return "NUM";
  return "ADJ";
}

const NOMINAL = new Set(["NOUN", "PROPN"]);
/** Can a noun phrase start at unit i ("her [very long hair]", "her [smiling face]")? */
function startsNominal(units: Unit[], i: number): boolean {
  const u = units[i];
  if (u === undefined) return false;
  if (NOMINAL.has(u.tag) || u.tag === "ADJ" || u.tag === "NUM") return true;
  const next = units[i + 1];
  if (u.tag === "ADV") return next !== undefined && (next.tag === "ADJ" || next.tag === "NUM");
  return isParticiple(u) && next !== undefined && NOMINAL.has(next.tag);
}

/** Word-level corrections of wink tags into the categories the chunker uses (adds POSS, POSS_MARK, NONE). */
function retag(units: Unit[]): void {
  units.forEach((u, i) => {
    const prev = units[i - 1];
    const next = units[i + 1];
    const w = u.lower;
    if (POSSESSIVE_DETERMINERS.has(w)) u.tag = "POSS";
    else if (OBJECT_OR_POSSESSIVE.has(w)) u.tag = startsNominal(units, i + 1) ? "POSS" : "PRON";
    else if (w === "there" && u.tag === "PRON") u.tag = "NONE";
    else if (w === "that" && prev !== undefined && NOMINAL.has(prev.tag)) u.tag = "PRON"; // "a dog that runs"
    else if (DEMONSTRATIVES.has(w) || QUANTIFIERS.has(w)) {
      if (startsNominal(units, i + 1) && u.tag !== "ADV") u.tag = "DET";
      else if (w === "which" || w === "what") u.tag = "PRON";
      else if (u.tag === "PRON" || u.tag === "DET") u.tag = "NONE";
    } else if (isPossessiveMarker(u, prev)) u.tag = "POSS_MARK";
    else if (w === "one" && (prev?.tag === "ADJ" || prev?.tag === "DET") && !startsNominal(units, i + 1)) u.tag = "NOUN";
  });
  // right to left, so that a fixed head ("a naive painting" -> NOUN) is seen by the words before it
  for (let i = units.length - 1; i >= 0; i--) units[i].tag = contextualTag(units, i) ?? units[i].tag;
}

// Boundaries after which a noun phrase cannot continue.
const BOUNDARY = new Set(["PUNCT", "ADP", "CCONJ", "SCONJ", "AUX", "VERB", "PART", "SYM", "SPACE", "PRON"]);
const endsPhrase = (u: Unit | undefined) => u === undefined || BOUNDARY.has(u.tag);
const isBaseForm = (u: Unit) => u.lemma === u.lower && !/(s|ed|ing)$/.test(u.lower);
// Nouns ending in -ing that stay nouns after another noun ("the school building").
const ING_NOUNS = new Set([
  "building", "ceiling", "clothing", "wedding", "evening", "morning", "railing", "awning", "icing", "frosting",
  "topping", "thing", "string", "something", "nothing", "anything", "everything", "lightning", "spring", "swing",
  "wing", "ring", "king", "sling", "sibling", "pudding", "stuffing", "siding", "parking", "sailing", "bedding",
]);
const SUBJECT_PRONOUNS = new Set(["that", "which", "who", "he", "she", "it"]);
const NOT_NOMINAL = new Set(["other", "same", "former", "latter"]);
// Adverbs that often follow a noun ("the people outside"); other ADV tags there are usually wink mistakes.
const POSTNOMINAL_ADVERBS = new Set([
  "outside", "inside", "nearby", "here", "there", "too", "together", "away", "back", "up", "down", "around",
  "ahead", "behind", "below", "above", "alone", "again", "now", "today", "also", "overall", "instead", "off", "out",
  "on", "in", "over", "well", "still", "then", "yet", "just", "only", "even", "very", "so", "as",
]);

/** Local corrections of wink's most common errors in captions (Brill-style contextual rules). */
function contextualTag(units: Unit[], i: number): string | undefined {
  const u = units[i];
  const prev = units[i - 1];
  const next = units[i + 1];
  const inPhrase = (p: Unit | undefined) =>
    p !== undefined && (p.tag === "DET" || p.tag === "POSS" || p.tag === "ADJ" || p.tag === "NUM");
  // "on top of", "the top of", "on the left": spaCy tags these NOUN
  if (POSITION_WORDS.has(u.lower) && u.tag !== "NOUN" && (prev?.tag === "DET" || prev?.tag === "ADP")) {
    return next === undefined || !(NOMINAL.has(next.tag) || next.tag === "ADJ") ? "NOUN" : undefined;
  }
  // "a table drinking wine", "sheep are grazing": -ing after a noun or an auxiliary is a verb
  if (u.tag === "NOUN" && /ing$/.test(u.lower) && !ING_NOUNS.has(u.lower) && (prev?.tag === "AUX" || NOMINAL.has(prev?.tag ?? ""))) {
    return "VERB";
  }
  // "is cluttered with": a past participle after an auxiliary
  if (u.tag === "NOUN" && /..ed$/.test(u.lower) && u.lower.length > 5 && prev?.tag === "AUX") return "VERB";
  // "a dog that chases", "it sits": a -s word right after a subject pronoun is the verb
  if (u.tag === "NOUN" && /[^s]s$/.test(u.lower) && SUBJECT_PRONOUNS.has(prev?.lower ?? "")) return "VERB";
  // "The image features a man": a plural-looking last noun followed by a determiner is the verb
  if (u.tag === "NOUN" && NOMINAL.has(prev?.tag ?? "") && /[^s]s$/.test(u.lower) && (next?.tag === "DET" || next?.tag === "POSS" || next?.tag === "NUM")) {
    return "VERB";
  }
  if (!endsPhrase(next)) return undefined;
  // "a red light.", "the back seat of", "a naive painting of", "the fallen leaves cover": a determiner phrase with
  // no noun yet ends in a noun (but not "a black and white ...", "a large, ornate ...", "each other", "the best")
  const coordinated = (next?.tag === "CCONJ" || next?.lower === ",") && units[i + 2]?.tag === "ADJ";
  const nounLike = u.tag === "ADJ" || (u.tag === "ADV" && !u.lower.endsWith("ly")) || u.tag === "VERB";
  if (nounLike && !coordinated && precededByDeterminerOnly(units, i)) {
    return QUANTIFIERS.has(u.lower) || NOT_NOMINAL.has(u.lower) || /est$/.test(u.lower) ? undefined : "NOUN";
  }
  // "the bus stop.", "a traffic light hangs": a base-form verb or stray adverb right after a singular noun
  if (prev !== undefined && NOMINAL.has(prev.tag) && prev.lemma === prev.lower && (inPhrase(units[i - 2]) || NOMINAL.has(units[i - 2]?.tag ?? ""))) {
    if (u.tag === "VERB" && isBaseForm(u)) return "NOUN";
    if (u.tag === "ADV" && !POSTNOMINAL_ADVERBS.has(u.lower) && !u.lower.endsWith("ly")) return "NOUN";
  }
  // "covered with paint.", "a load of logs down": after a preposition (other than "to"), not a gerund
  if (u.tag === "VERB" && !u.lower.endsWith("ing") && prev?.tag === "ADP" && prev.lower !== "to") return "NOUN";
  // "eating leaves from a tree"
  if (u.tag === "VERB" && /[^s]s$/.test(u.lower) && prev?.tag === "VERB" && prev.lower.endsWith("ing")) return "NOUN";
  return undefined;
}

/** True when units before i, back to a determiner, are only adjectives, adverbs or numbers. */
function precededByDeterminerOnly(units: Unit[], i: number): boolean {
  for (let j = i - 1; j >= 0; j--) {
    const tag = units[j].tag;
    if (tag === "DET" || tag === "POSS") return true;
    if (tag !== "ADJ" && tag !== "ADV" && tag !== "NUM" && !isParticiple(units[j])) return false;
  }
  return false;
}

function isPossessiveMarker(u: Unit, prev: Unit | undefined): boolean {
  if (prev === undefined || !NOMINAL.has(prev.tag) || prev.end !== u.start) return false;
  if (u.lower === "'s" || u.lower === "’s") return u.tag === "PART";
  return (u.lower === "'" || u.lower === "’") && prev.lower.endsWith("s");
}

const isParticiple = (u: Unit) => u.tag === "VERB" && /(ed|ing|en)$/.test(u.lower);

// Modifiers inside a chunk, before the head noun(s). `started`: a determiner or modifier precedes in the chunk.
function isModifier(units: Unit[], j: number, started: boolean): boolean {
  const u = units[j];
  const next = units[j + 1];
  if (next === undefined) return false;
  if (u.tag === "ADJ" || u.tag === "NUM") return true;
  if (u.tag === "ADV") {
    // after a determiner wink often tags adjectives ADV ("a small white dog")
    if (started) return next.tag === "ADJ" || next.tag === "NUM" || isParticiple(next) || NOMINAL.has(next.tag);
    return (DEGREE_ADVERBS.has(u.lower) || u.lower.endsWith("ly")) && (next.tag === "ADJ" || next.tag === "NUM");
  }
  if (isParticiple(u)) return started && (NOMINAL.has(next.tag) || next.tag === "ADJ");
  // "a red and white shirt", "a large, ornate building": only between two adjectives
  if (u.tag === "CCONJ" || u.lower === ",") {
    const prev = units[j - 1];
    return started && prev !== undefined && (prev.tag === "ADJ" || prev.tag === "NUM") && next.tag === "ADJ";
  }
  return false;
}

/** The chunk starting at unit i, as [start, head] unit indices, or null. */
function matchChunk(units: Unit[], i: number): [number, number] | null {
  if (units[i].tag === "PRON") return [i, i];
  let j = i;
  while (j < units.length && (units[j].tag === "DET" || units[j].tag === "POSS")) j++;
  let head = -1;
  for (;;) {
    while (j < units.length && isModifier(units, j, j > i)) j++;
    const nounsFrom = j;
    while (j < units.length && NOMINAL.has(units[j].tag)) j++;
    if (j === nounsFrom) break;
    head = j - 1;
    if (units[j]?.tag !== "POSS_MARK") break;
    j++; // "the man's dog": the possessor is inside the possessed noun's chunk
  }
  if (head < 0) return null;
  if (units[head].tag === "NOUN" && MEASURE_ADVERBS.has(units[head + 1]?.lower ?? "")) return null;
  return [i, head];
}

function chunkUnits(text: string, units: Unit[]): NounPhrase[] {
  const phrases: NounPhrase[] = [];
  for (let i = 0; i < units.length; i++) {
    const match = matchChunk(units, i);
    if (match === null) continue;
    const [first, head] = match;
    const start = units[first].start;
    const end = units[head].end;
    const root = units[head];
    phrases.push({
      phrase: text.slice(start, end),
      start,
      end,
      root: { text: text.slice(root.rootStart, root.end), start: root.rootStart, end: root.end },
    });
    i = head;
  }
  return phrases;
}

/** spaCy-style noun chunks of `text` (see the comment at the top of this file). */
export function extractNounPhrases(text: string): NounPhrase[] {
  const units = buildUnits(tagWords(text));
  retag(units);
  return chunkUnits(text, units);
}

const MARK = /<\/?p>/g;

/**
 * Phrases marked by the user with `<p>...</p>`. The marks (and whitespace just inside them) are removed from the
 * text. A phrase's root is the root of the first noun chunk whose root lies inside it (the head of "a man in a red
 * shirt" is "man"); a phrase with no noun chunk has its last word as root. Text without marks gives no phrases.
 */
export function phrasesFromMarkup(marked: string): MarkedPhrases {
  let clean = "";
  const spans: { start: number; end: number }[] = [];
  let open = false;
  let last = 0;
  for (const m of marked.matchAll(MARK)) {
    const piece = marked.slice(last, m.index);
    last = m.index + m[0].length;
    if (m[0] === "<p>") {
      if (open) throw inputError("phrase marks: <p> inside another <p>...</p>");
      clean += piece;
      open = true;
    } else {
      if (!open) throw inputError("phrase marks: </p> without a matching <p>");
      const inner = piece.trim();
      if (inner === "") throw inputError("phrase marks: empty <p></p>");
      clean += inner;
      spans.push({ start: clean.length - inner.length, end: clean.length });
      open = false;
    }
  }
  if (open) throw inputError("phrase marks: <p> without a closing </p>");
  clean += marked.slice(last);
  if (spans.length === 0) return { text: clean, phrases: [] };
  const chunks = extractNounPhrases(clean);
  const words = tagWords(clean).filter((w) => /[\p{L}\p{N}]/u.test(w.text));
  const phrases = spans.map(({ start, end }): NounPhrase => {
    const inside = (s: TextSpan) => s.start >= start && s.end <= end;
    const chunk = chunks.find((c) => inside(c.root));
    const lastWord = words.filter(inside).at(-1);
    const root = chunk?.root ?? (lastWord ? { text: lastWord.text, start: lastWord.start, end: lastWord.end } : { text: clean.slice(start, end), start, end });
    return { phrase: clean.slice(start, end), start, end, root };
  });
  return { text: clean, phrases };
}
