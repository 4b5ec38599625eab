/**
 * The Snowball English ("Porter2") stemmer, written from the published algorithm description
 * (snowballstem.org/algorithms/english/stemmer.html): METEOR's stem stage compares these stems.
 */

const VOWELS = new Set(["a", "e", "i", "o", "u", "y"]);
const isVowel = (ch: string | undefined) => ch !== undefined && VOWELS.has(ch);
const DOUBLES = new Set(["bb", "dd", "ff", "gg", "mm", "nn", "pp", "rr", "tt"]);
const LI_ENDINGS = new Set(["c", "d", "e", "g", "h", "k", "m", "n", "r", "t"]);

const SPECIAL_WORDS: Record<string, string> = {
  skis: "ski",
  skies: "sky",
  dying: "die",
  lying: "lie",
  tying: "tie",
  idly: "idl",
  gently: "gentl",
  ugly: "ugli",
  early: "earli",
  only: "onli",
  singly: "singl",
  sky: "sky",
  news: "news",
  howe: "howe",
  atlas: "atlas",
  cosmos: "cosmos",
  bias: "bias",
  andes: "andes",
};
const INVARIANT_AFTER_1A = new Set(["inning", "outing", "canning", "herring", "earring", "proceed", "exceed", "succeed"]);

const STEP2: [string, string][] = [
  ["ization", "ize"],
  ["ational", "ate"],
  ["fulness", "ful"],
  ["ousness", "ous"],
  ["iveness", "ive"],
  ["tional", "tion"],
  ["biliti", "ble"],
  ["lessli", "less"],
  ["entli", "ent"],
  ["ation", "ate"],
  ["alism", "al"],
  ["aliti", "al"],
  ["ousli", "ous"],
  ["iviti", "ive"],
  ["fulli", "ful"],
  ["enci", "ence"],
  ["anci", "ance"],
  ["abli", "able"],
  ["izer", "ize"],
  ["ator", "ate"],
  ["alli", "al"],
  ["bli", "ble"],
  ["ogi", "og"],
  ["li", ""],
];
const STEP3: [string, string][] = [
  ["ational", "ate"],
  ["tional", "tion"],
  ["alize", "al"],
  ["icate", "ic"],
  ["iciti", "ic"],
  ["ative", ""],
  ["ical", "ic"],
  ["ness", ""],
  ["ful", ""],
];
const STEP4 = ["ement", "ance", "ence", "able", "ible", "ment", "ant", "ent", "ism", "ate", "iti", "ous", "ive", "ize", "ion", "al", "er", "ic"];

/** The longest of `suffixes` that `word` ends with (lists are ordered longest first). */
const longestSuffix = (word: string, suffixes: readonly string[]) => suffixes.find((s) => word.endsWith(s));

/** Start of the region after the first non-vowel that follows a vowel, searching from `from`. */
function regionAfter(word: string, from: number): number {
  for (let i = from + 1; i < word.length; i++) if (!isVowel(word[i]) && isVowel(word[i - 1])) return i + 1;
  return word.length;
}

/** A short syllable ending at index `end` (inclusive). */
function endsWithShortSyllable(word: string, end = word.length - 1): boolean {
  if (end === 1) return isVowel(word[0]) && !isVowel(word[1]);
  if (end < 1) return false;
  const [before, vowel, after] = [word[end - 2], word[end - 1], word[end]];
  return !isVowel(before) && isVowel(vowel) && !isVowel(after) && after !== "w" && after !== "x" && after !== "Y";
}

export function stemEnglish(input: string): string {
  if (input.length <= 2) return input;
  const special = SPECIAL_WORDS[input];
  if (special) return special;
  let word = input.startsWith("'") ? input.slice(1) : input;
  word = word.replace(/^y/, "Y").replace(/([aeiouy])y/g, "$1Y");

  const prefix = ["gener", "commun", "arsen"].find((p) => word.startsWith(p));
  const r1 = prefix ? prefix.length : regionAfter(word, 0);
  const r2 = regionAfter(word, r1);
  const inR1 = (suffix: string) => word.length - suffix.length >= r1;
  const inR2 = (suffix: string) => word.length - suffix.length >= r2;
  const chop = (suffix: string, replacement = "") => (word = word.slice(0, word.length - suffix.length) + replacement);
  const isShortWord = () => r1 >= word.length && endsWithShortSyllable(word);

  // Step 0
  const apostrophe = longestSuffix(word, ["'s'", "'s", "'"]);
  if (apostrophe) chop(apostrophe);

  // Step 1a
  const s1a = longestSuffix(word, ["sses", "ied", "ies", "us", "ss", "s"]);
  if (s1a === "sses") chop("sses", "ss");
  else if (s1a === "ied" || s1a === "ies") chop(s1a, word.length > 4 ? "i" : "ie");
  else if (s1a === "s" && /[aeiouy]/.test(word.slice(0, -2))) chop("s");
  if (INVARIANT_AFTER_1A.has(word)) return word;

  // Step 1b
  const s1b = longestSuffix(word, ["eedly", "ingly", "edly", "eed", "ing", "ed"]);
  if (s1b === "eed" || s1b === "eedly") {
    if (inR1(s1b)) chop(s1b, "ee");
  } else if (s1b && /[aeiouy]/.test(word.slice(0, word.length - s1b.length))) {
    chop(s1b);
    if (word.endsWith("at") || word.endsWith("bl") || word.endsWith("iz")) word += "e";
    else if (DOUBLES.has(word.slice(-2))) word = word.slice(0, -1);
    else if (isShortWord()) word += "e";
  }

  // Step 1c
  if (word.length > 2 && (word.endsWith("y") || word.endsWith("Y")) && !isVowel(word[word.length - 2])) chop("y", "i");

  // Step 2
  const s2 = STEP2.find(([suffix]) => word.endsWith(suffix));
  if (s2 && inR1(s2[0])) {
    const [suffix, replacement] = s2;
    if (suffix === "ogi") {
      if (word[word.length - 4] === "l") chop(suffix, replacement);
    } else if (suffix === "li") {
      if (LI_ENDINGS.has(word[word.length - 3])) chop(suffix);
    } else chop(suffix, replacement);
  }

  // Step 3
  const s3 = STEP3.find(([suffix]) => word.endsWith(suffix));
  if (s3 && inR1(s3[0])) {
    if (s3[0] === "ative") {
      if (inR2("ative")) chop("ative");
    } else chop(s3[0], s3[1]);
  }

  // Step 4
  const s4 = longestSuffix(word, STEP4);
  if (s4 && inR2(s4)) {
    if (s4 !== "ion" || /[st]$/.test(word.slice(0, -3))) chop(s4);
  }

  // Step 5
  if (word.endsWith("e")) {
    if (inR2("e") || (inR1("e") && !endsWithShortSyllable(word, word.length - 2))) chop("e");
  } else if (word.endsWith("l") && inR2("l") && word[word.length - 2] === "l") chop("l");

  return word.replace(/Y/g, "y");
}
