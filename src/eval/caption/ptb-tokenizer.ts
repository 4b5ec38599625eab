/**
 * The caption tokenization of pycocoevalcap's PTBTokenizer wrapper: Stanford PTBTokenizer with -lowerCase
 * -preserveLines, then every token in PUNCTUATIONS dropped and the rest joined by single spaces.
 *
 * This is a re-implementation of the PTB rules captions actually exercise (punctuation split-off, quotes to
 * `` and '', brackets to -LRB-/-RRB- style names, English contractions, "cannot", ellipses, dashes, numbers
 * with separators, abbreviations with inner periods); it is exact on plain captions and an approximation of
 * the full Stanford lexer elsewhere.
 */

const PUNCTUATIONS = new Set(["''", "'", "``", "`", "-LRB-", "-RRB-", "-LCB-", "-RCB-", ".", "?", "!", ",", ":", "-", "--", "...", ";"]);

const BRACKETS: Record<string, string> = { "(": "-LRB-", ")": "-RRB-", "[": "-LSB-", "]": "-RSB-", "{": "-LCB-", "}": "-RCB-" };

const CONTRACTION = /^(.+?)(n't|'s|'re|'ve|'ll|'d|'m)$/;
const KEEP_PERIOD = /^([a-z]\.)+[a-z]?$|^(mr|mrs|ms|dr|prof|st|vs|etc|jr|sr|inc|ltd|co|no)\.$/;
const NUMBER = /^[+-]?\d+([.,:/]\d+)*$/;

function splitWord(word: string, out: string[], opening: { quote: boolean }): void {
  const leading: string[] = [];
  const trailing: string[] = [];
  let core = word;
  for (;;) {
    const c = core[0];
    if (core.startsWith("``") || core.startsWith("`")) {
      const q = core.startsWith("``") ? "``" : "`";
      leading.push(q);
      core = core.slice(q.length);
    } else if (c === '"') {
      leading.push(opening.quote ? "``" : "''");
      opening.quote = !opening.quote;
      core = core.slice(1);
    } else if (c === "'" && core.length > 1 && !CONTRACTION.test(core)) {
      leading.push("`");
      core = core.slice(1);
    } else if (c && c in BRACKETS) {
      leading.push(BRACKETS[c]);
      core = core.slice(1);
    } else if (c && "$#&".includes(c) && core.length > 1) {
      leading.push(c);
      core = core.slice(1);
    } else break;
  }
  for (;;) {
    const end = core.slice(-1);
    if (core.endsWith("...")) {
      trailing.unshift("...");
      core = core.slice(0, -3);
    } else if (end === '"') {
      trailing.unshift(opening.quote ? "``" : "''");
      opening.quote = !opening.quote;
      core = core.slice(0, -1);
    } else if (core.endsWith("''")) {
      trailing.unshift("''");
      core = core.slice(0, -2);
    } else if (end === "'" && core.length > 1 && !/s'$/.test(core)) {
      trailing.unshift("'");
      core = core.slice(0, -1);
    } else if (end && end in BRACKETS) {
      trailing.unshift(BRACKETS[end]);
      core = core.slice(0, -1);
    } else if (end && ",;:?!%".includes(end) && core.length > 0) {
      trailing.unshift(end);
      core = core.slice(0, -1);
    } else if (end === "." && !KEEP_PERIOD.test(core)) {
      trailing.unshift(".");
      core = core.slice(0, -1);
    } else break;
  }
  out.push(...leading, ...(core ? splitCore(core) : []), ...trailing);
}

function splitCore(core: string): string[] {
  if (core === "--" || core === "-" || NUMBER.test(core)) return [core];
  if (core === "cannot") return ["can", "not"];
  const parts = core.split(/(--)/).filter((p) => p !== "");
  if (parts.length > 1) return parts.flatMap((p) => (p === "--" ? ["--"] : splitCore(p)));
  const contraction = CONTRACTION.exec(core);
  if (contraction && contraction[1] !== "'") return [contraction[1], contraction[2]];
  return [core];
}

/** PTB tokens of one caption (lower-cased), before the punctuation filter. */
export function ptbTokens(caption: string): string[] {
  const out: string[] = [];
  const opening = { quote: true };
  for (const word of caption.replace(/\n/g, " ").toLowerCase().split(/\s+/)) {
    if (word) splitWord(word, out, opening);
  }
  return out;
}

/** One caption as the pycocoevalcap wrapper returns it: tokens without punctuation, joined by spaces. */
export function tokenizeCaption(caption: string): string {
  return ptbTokens(caption)
    .filter((t) => !PUNCTUATIONS.has(t))
    .join(" ");
}
