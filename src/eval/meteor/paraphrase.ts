/**
 * METEOR's paraphrase table (edu.cmu.meteor.aligner.ParaphraseTransducer): gzip text of three-line records
 * (probability, phrase A, phrase B). The jar walks a trie of phrase A and gives, for a start word, every record whose
 * phrase A equals the next 1, 2, ... words, shorter first, in file order; its words are interned ids, so equality is
 * string equality. Here a map from phrase A to its first record, a per-record link to the next record with the same
 * phrase and phrase B kept as its line give the same answers in far less memory and load time than a trie of objects
 * (the English table has millions of records).
 */
import { gunzipSync } from "node:zlib";
import { inputError } from "../../cli/errors.ts";

/** java.util.StringTokenizer's default delimiters. */
const TOKEN_SPLIT = /[ \t\n\r\f]+/;
/** A phrase line already in the form "w1 w2 ...", usable as its own key. */
const CANONICAL_PHRASE = /^[^ \t\n\r\f]+(?: [^ \t\n\r\f]+)*$/;

const tokensOf = (line: string) => line.split(TOKEN_SPLIT).filter(Boolean);
/** Tokens joined by single spaces (tokens never contain a space). */
const phraseKey = (line: string) => (CANONICAL_PHRASE.test(line) ? line : tokensOf(line).join(" "));

/** Words in a phrase key: one more than its spaces. */
function wordCount(key: string): number {
  let count = 1;
  for (let at = key.indexOf(" "); at !== -1; at = key.indexOf(" ", at + 1)) count++;
  return count;
}

/** A growable Int32Array. */
class IntList {
  data = new Int32Array(1024);
  length = 0;
  push(value: number): void {
    if (this.length === this.data.length) {
      const grown = new Int32Array(this.data.length * 2);
      grown.set(this.data);
      this.data = grown;
    }
    this.data[this.length++] = value;
  }
}

export interface ParaphrasePath {
  /** Words of phrase A matched from the start position. */
  length: number;
  /** Phrase B of the record. */
  paraphrase: string[];
}

export class ParaphraseTable {
  /** Phrase A (see phraseKey) → its first record. */
  private readonly firstRecord = new Map<string, number>();
  /** Per record: the next record with the same phrase A, or -1. */
  private readonly nextRecord = new IntList();
  /** Per record: the phrase B line as read (split when a lookup reaches it). */
  private readonly paraphraseLines: string[] = [];
  private longestPhrase = 0;

  /** Parses the decompressed table; `where` names the file in errors. */
  constructor(text: string, where: string) {
    // BufferedReader.readLine ends a line at \n, \r or \r\n.
    if (text.includes("\r")) text = text.replace(/\r\n?/g, "\n");
    // Per record that starts a phrase's list: the last record of that list so far.
    const lastOfPhrase = new IntList();
    let position = 0;
    const nextLine = (): string | undefined => {
      if (position >= text.length) return undefined;
      const end = text.indexOf("\n", position);
      const line = text.slice(position, end === -1 ? text.length : end);
      position = end === -1 ? text.length : end + 1;
      return line;
    };
    // The probability line is never parsed, as in the jar.
    while (nextLine() !== undefined) {
      const phraseLine = nextLine();
      const paraphraseLine = nextLine();
      // The jar fails on a record cut short (a null line reaches StringTokenizer).
      if (phraseLine === undefined || paraphraseLine === undefined) throw inputError(`paraphrase table ${where}: the last record is incomplete (records are three lines: probability, phrase, paraphrase)`);
      const record = this.paraphraseLines.length;
      this.paraphraseLines.push(paraphraseLine);
      this.nextRecord.push(-1);
      lastOfPhrase.push(record);
      const key = phraseKey(phraseLine);
      // An empty phrase A sits on the trie's root, which the lookup never emits.
      if (key === "") continue;
      const first = this.firstRecord.get(key);
      if (first === undefined) this.firstRecord.set(key, record);
      else {
        this.nextRecord.data[lastOfPhrase.data[first]] = record;
        lastOfPhrase.data[first] = record;
      }
      if (key.length > this.longestPhrase) this.longestPhrase = Math.max(this.longestPhrase, wordCount(key));
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
    return this.paraphraseLines.length;
  }

  /** ParaphraseTransducer.getReferencePaths: the records whose phrase A starts at words[start], shorter first. */
  paths(words: readonly string[], start: number): ParaphrasePath[] {
    const out: ParaphrasePath[] = [];
    const last = Math.min(words.length, start + this.longestPhrase);
    let key = "";
    for (let end = start + 1; end <= last; end++) {
      key = end === start + 1 ? words[start] : `${key} ${words[end - 1]}`;
      for (let record = this.firstRecord.get(key) ?? -1; record !== -1; record = this.nextRecord.data[record]) {
        out.push({ length: end - start, paraphrase: tokensOf(this.paraphraseLines[record]) });
      }
    }
    return out;
  }
}
