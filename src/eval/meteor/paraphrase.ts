/**
 * METEOR's paraphrase table (edu.cmu.meteor.aligner.ParaphraseTransducer): gzip text of three-line records
 * (probability, phrase A, phrase B). The jar walks a trie of phrase A and gives, for a start word, every record whose
 * phrase A equals the next 1, 2, ... words, shorter first, in file order. Its words are interned ids, so equality is
 * string equality; a map from phrase A to its records gives the same answers without a trie.
 */
import { gunzipSync } from "node:zlib";
import { inputError } from "../../cli/errors.ts";

/** java.util.StringTokenizer's default delimiters. */
const TOKEN_SPLIT = /[ \t\n\r\f]+/;
/** Never inside a token, so it can join tokens into a map key. */
const KEY_SEPARATOR = "\n";

/** BufferedReader.readLine: lines end at \n, \r or \r\n; a final terminator adds no empty line. */
function* readLines(text: string): Generator<string> {
  const lineEnd = /\r\n?|\n/g;
  let start = 0;
  while (start < text.length) {
    lineEnd.lastIndex = start;
    const end = lineEnd.exec(text);
    yield text.slice(start, end ? end.index : text.length);
    start = end ? end.index + end[0].length : text.length;
  }
}

const tokensOf = (line: string) => line.split(TOKEN_SPLIT).filter(Boolean);

export interface ParaphrasePath {
  /** Words of phrase A matched from the start position. */
  length: number;
  /** Phrase B of the record. */
  paraphrase: readonly string[];
}

export class ParaphraseTable {
  private readonly recordsByPhrase = new Map<string, number[]>();
  private readonly paraphrases: string[][] = [];
  private longestPhrase = 0;

  /** Parses the decompressed text; `where` names the file in errors. */
  constructor(text: string, where: string) {
    const lines = readLines(text);
    for (;;) {
      const probability = lines.next();
      if (probability.done) break;
      const phraseLine = lines.next();
      const paraphraseLine = lines.next();
      // The jar fails on a record cut short (a null line reaches StringTokenizer).
      if (phraseLine.done || paraphraseLine.done) throw inputError(`paraphrase table ${where}: the last record is incomplete (records are three lines: probability, phrase, paraphrase)`);
      const phrase = tokensOf(phraseLine.value);
      const record = this.paraphrases.length;
      this.paraphrases.push(tokensOf(paraphraseLine.value));
      // An empty phrase A sits on the trie's root, which the lookup never emits.
      if (phrase.length === 0) continue;
      const key = phrase.join(KEY_SEPARATOR);
      const records = this.recordsByPhrase.get(key);
      if (records) records.push(record);
      else this.recordsByPhrase.set(key, [record]);
      this.longestPhrase = Math.max(this.longestPhrase, phrase.length);
    }
  }

  static fromGzip(bytes: Uint8Array, where: string): ParaphraseTable {
    let text: string;
    try {
      text = gunzipSync(bytes).toString("utf8");
    } catch (error) {
      throw inputError(`paraphrase table ${where} is not a readable gzip file (${(error as Error).message})`);
    }
    return new ParaphraseTable(text, where);
  }

  get size(): number {
    return this.paraphrases.length;
  }

  /** ParaphraseTransducer.getReferencePaths: the records whose phrase A starts at words[start], shorter first. */
  paths(words: readonly string[], start: number): ParaphrasePath[] {
    const out: ParaphrasePath[] = [];
    const last = Math.min(words.length, start + this.longestPhrase);
    let key = "";
    for (let end = start + 1; end <= last; end++) {
      key = end === start + 1 ? words[start] : `${key}${KEY_SEPARATOR}${words[end - 1]}`;
      for (const record of this.recordsByPhrase.get(key) ?? []) out.push({ length: end - start, paraphrase: this.paraphrases[record] });
    }
    return out;
  }
}
