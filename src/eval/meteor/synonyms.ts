/**
 * METEOR's WordNet synonym dictionary (edu.cmu.meteor.aligner.SynonymDictionary): word → synset ids, inflected form →
 * base forms (WordNet exception lists), and WordNet 3.0's suffix-detachment morphology for regular inflections.
 */

// WordNet 3.0 morphy detachment rules (noun, verb, adjective), in the order the jar tries them.
const SUFFIXES = ["s", "ses", "xes", "zes", "ches", "shes", "men", "ies", "s", "ies", "es", "es", "ed", "ed", "ing", "ing", "er", "est", "er", "est"];
const ENDINGS = ["", "s", "x", "z", "ch", "sh", "man", "y", "", "y", "e", "", "e", "", "e", "", "", "", "e", "e"];

export class SynonymDictionary {
  constructor(
    private readonly wordToSynsets: ReadonlyMap<string, ReadonlySet<number>>,
    private readonly formToBases: ReadonlyMap<string, readonly string[]>,
  ) {}

  /**
   * Parses the jar's synonym/english.synsets (a word line, then a line of synset ids, repeated) and
   * synonym/english.exceptions (a base-form line, then a line of its inflected forms, repeated).
   */
  static parse(synsetsText: string, exceptionsText: string): SynonymDictionary {
    const synsets = new Map<string, Set<number>>();
    const pairs = (text: string) => {
      const lines = text.split("\n").map((l) => l.replace(/\r$/, ""));
      if (lines.at(-1) === "") lines.pop();
      const out: [string, string[]][] = [];
      for (let i = 0; i + 1 < lines.length; i += 2) out.push([lines[i], lines[i + 1].split(/\s+/).filter(Boolean)]);
      return out;
    };
    for (const [word, ids] of pairs(synsetsText)) synsets.set(word, new Set(ids.map(Number)));
    const bases = new Map<string, string[]>();
    for (const [base, forms] of pairs(exceptionsText)) for (const form of forms) bases.set(form, [...(bases.get(form) ?? []), base]);
    return new SynonymDictionary(synsets, bases);
  }

  synsets(word: string): ReadonlySet<number> {
    return this.wordToSynsets.get(word) ?? new Set();
  }

  /** Synsets of the word's base forms: from the exception lists when listed there, else by suffix detachment. */
  stemSynsets(word: string): ReadonlySet<number> {
    const bases = this.formToBases.get(word);
    if (bases) return new Set(bases.flatMap((base) => [...this.synsets(base)]));
    return this.synsets(this.morph(word));
  }

  /** The first detachment that yields a known word; the word itself when it ends in "ss" or is ≤ 2 letters; else "". */
  private morph(word: string): string {
    if (word.endsWith("ss") || word.length <= 2) return word;
    for (let i = 0; i < SUFFIXES.length; i++) {
      if (!word.endsWith(SUFFIXES[i])) continue;
      const candidate = word.slice(0, word.length - SUFFIXES[i].length) + ENDINGS[i];
      if (this.wordToSynsets.has(candidate)) return candidate;
    }
    return "";
  }
}
