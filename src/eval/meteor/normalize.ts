/**
 * METEOR's `-norm` for English (edu.cmu.meteor.util.Normalizer.normalizeLine with punctuation kept): Moses-style
 * tokenization of punctuation, quotes, dashes, contractions and sentence-final dots, then lower-casing.
 */

// The jar's letter ranges: Western European and Cyrillic.
const ALPHA = "A-Za-zŠŽšžŸÀ-ÖØ-öø-žЀ-ӿԀ-ԧꙀ-ꙮ꙾-ꚗᴀ-ᵿ";
const ALNUM = `0-9${ALPHA}`;

// Java's \s is [ \t\n\x0B\f\r]; JavaScript's would also spare the Unicode spaces.
const SEPARATE_OTHER = new RegExp(`([^${ALNUM} \\t\\n\\x0B\\f\\r.'\`,\\-‘’])`, "gu");
const MULTI_DOT = /\.([.]+)/g;
const MULTI_DOT_NEXT = /DOTMULTI\.([^.])/g;
// Java's \p{Digit} and \p{Lower} are ASCII-only: [0-9] and [a-z].
const COMMA = /([^0-9]),([^0-9])/gu;
const COMMA_AFTER_DIGIT = /([0-9]),([^0-9])/gu;
const COMMA_BEFORE_DIGIT = /([^0-9]),([0-9])/gu;
const DASH_BETWEEN_WORDS = new RegExp(`([${ALNUM}.])-([${ALNUM}])`, "gu");
const CONTRACTIONS: [RegExp, string][] = [
  [new RegExp(`([^${ALPHA}])'([^${ALPHA}])`, "gu"), "$1 ' $2"],
  [new RegExp(`([^${ALPHA}0-9])'([${ALPHA}])`, "gu"), "$1 ' $2"],
  [new RegExp(`([${ALPHA}])'([^${ALPHA}])`, "gu"), "$1 ' $2"],
  [new RegExp(`([${ALPHA}])'([${ALPHA}])`, "gu"), "$1 '$2"],
  [/([0-9])'(s)/gu, "$1 '$2"],
];
const HAS_ALPHA = new RegExp(`[${ALPHA}]`, "u");
const WHITESPACE = /[ \u00a0\u2000-\u200a\u202f\u205f\u3000]+/g;

/** Java's String.trim: strips every char <= U+0020 at both ends (JavaScript's trim strips Unicode spaces instead). */
export function javaTrim(text: string): string {
  let start = 0;
  let end = text.length;
  while (start < end && text.charCodeAt(start) <= 0x20) start++;
  while (end > start && text.charCodeAt(end - 1) <= 0x20) end--;
  return text.slice(start, end);
}

/** Nonbreaking prefixes (nonbreaking/english.prefixes): "any" keeps the dot always, "numeric" only before a number. */
export type NonbreakingPrefixes = ReadonlyMap<string, "any" | "numeric">;

/** Rebuilds the line, splitting a word-final dot off unless the word is an abbreviation or a nonbreaking prefix. */
function splitSentenceDots(words: string[], prefixes: NonbreakingPrefixes): string {
  return words
    .map((word, i) => {
      if (word.length <= 1 || !word.endsWith(".")) return word;
      const pre = word.slice(0, -1);
      const type = prefixes.get(pre);
      const next = words[i + 1];
      if (pre.includes(".") && HAS_ALPHA.test(pre)) return word.replaceAll(".", "");
      if (type === "any" || (next !== undefined && /^[a-z]/.test(next))) return word;
      if (type === "numeric" && next !== undefined && /^[0-9]+/.test(next)) return word;
      return `${pre} .`;
    })
    .join(" ");
}

export function normalizeEnglish(line: string, prefixes: NonbreakingPrefixes = new Map()): string {
  let text = ` ${line} `.replace(SEPARATE_OTHER, " $1 ");
  text = text.replace(MULTI_DOT, " DOTMULTI$1");
  while (text.includes("DOTMULTI.")) text = text.replace(MULTI_DOT_NEXT, "DOTDOTMULTI $1").replaceAll("DOTMULTI.", "DOTDOTMULTI");
  text = text.replace(COMMA, "$1 , $2").replace(COMMA_AFTER_DIGIT, "$1 , $2").replace(COMMA_BEFORE_DIGIT, "$1 , $2");
  text = text.replace(/[`‘’]/g, "'").replace(/[“”]|''/g, ' " ');
  text = text.replaceAll("–", "-").replaceAll("--", "-");
  text = text.replace(DASH_BETWEEN_WORDS, "$1 $2");
  for (const [pattern, replacement] of CONTRACTIONS) text = text.replace(pattern, replacement);
  text = splitSentenceDots(text.split(/[ \t\n\r\f]+/).filter(Boolean), prefixes) + " ";
  while (text.includes("DOTDOTMULTI")) text = text.replaceAll("DOTDOTMULTI", "DOTMULTI.");
  text = text.replaceAll("DOTMULTI", ".");
  return javaTrim(text.replace(WHITESPACE, " ")).toLowerCase();
}
