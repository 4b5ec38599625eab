import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { modelError } from "../cli/errors.ts";
import { cleanText } from "../eval/wordpiece.ts";
import { readTokenizerFiles } from "./tokenizer-config.ts";

/**
 * The slow CLIPTokenizer of transformers 4.3x without ftfy, as the SDXL pipeline loads it from `tokenizer/` and
 * `tokenizer_2/` (vocab.json, merges.txt): BasicTokenizer clean-up (control characters dropped, whitespace to
 * spaces, CJK characters spaced, NFC, lower-cased, no accent stripping, no punctuation split), the CLIP regex,
 * byte-to-unicode mapping, then byte-level BPE with "</w>" on each word's last symbol. `encodeForPipeline` is the
 * diffusers call `tokenizer(prompt, padding="max_length", max_length=model_max_length, truncation=True)`.
 */

const SPECIALS = ["<|startoftext|>", "<|endoftext|>"];
const WORD = /<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|\p{L}+|\p{N}|[^\s\p{L}\p{N}]+/giu;
/** transformers reads at most this many merges (merges.txt lines 1 .. 49152 − 256 − 2). */
const MAX_MERGES = 49152 - 256 - 2;

/** GPT-2's bytes_to_unicode: printable bytes map to themselves, the others to U+0100 onwards. */
const BYTE_TO_CHAR: string[] = (() => {
  const printable = (b: number) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  let extra = 0;
  return Array.from({ length: 256 }, (_, b) => String.fromCodePoint(printable(b) ? b : 256 + extra++));
})();

/** BasicTokenizer(do_lower_case=True, strip_accents=False, do_split_on_punc=False).tokenize joined by spaces. */
function basicClean(text: string): string {
  const words = cleanText(text).normalize("NFC").split(" ").filter((w) => w !== "");
  // Character by character: Python's str.lower() has no final-sigma rule.
  return words.map((w) => Array.from(w, (ch) => ch.toLowerCase()).join("")).join(" ");
}

export class ClipBpeTokenizer {
  private readonly cache = new Map<string, string[]>();

  private constructor(
    private readonly vocab: Map<string, number>,
    private readonly ranks: Map<string, number>,
    readonly bosId: number,
    readonly eosId: number,
    readonly padId: number,
    private readonly unkId: number,
    readonly maxLength: number,
  ) {}

  /** Reads vocab.json, merges.txt and the special tokens of a diffusers `tokenizer*` folder. */
  static fromDir(dir: string): ClipBpeTokenizer {
    const read = (name: string): string => {
      const path = join(dir, name);
      if (!existsSync(path)) throw modelError(`${dir}: missing ${name} (a CLIP BPE tokenizer needs vocab.json and merges.txt)`);
      return readFileSync(path, "utf8");
    };
    let entries: Array<[string, unknown]>;
    try {
      entries = Object.entries(JSON.parse(read("vocab.json")));
    } catch (error) {
      throw modelError(`${join(dir, "vocab.json")}: ${(error as Error).message}`);
    }
    const vocab = new Map<string, number>();
    for (const [token, id] of entries) {
      if (!Number.isInteger(id)) throw modelError(`${join(dir, "vocab.json")}: id of ${JSON.stringify(token)} is ${JSON.stringify(id)}`);
      vocab.set(token, id as number);
    }
    const ranks = new Map<string, number>();
    const lines = read("merges.txt").trim().split("\n").slice(1, MAX_MERGES + 1);
    lines.forEach((line, rank) => {
      const pair = line.replace(/\r$/, "").split(" ");
      if (pair.length !== 2) throw modelError(`${join(dir, "merges.txt")}: line ${rank + 2} is not a pair: ${JSON.stringify(line)}`);
      if (!ranks.has(pair.join(" "))) ranks.set(pair.join(" "), rank);
    });
    const files = readTokenizerFiles(dir);
    const idOf = (role: string, token: string | null): number => {
      const id = token === null ? undefined : vocab.get(token);
      if (id === undefined) throw modelError(`${dir}: ${role} token ${JSON.stringify(token)} is not in vocab.json`);
      return id;
    };
    const config = JSON.parse(existsSync(join(dir, "tokenizer_config.json")) ? read("tokenizer_config.json") : "{}");
    const maxLength = Number.isInteger(config.model_max_length) && config.model_max_length < 1e6 ? config.model_max_length : 77;
    const eos = idOf("eos", files.special.eos);
    return new ClipBpeTokenizer(
      vocab,
      ranks,
      idOf("bos", files.special.bos),
      eos,
      files.special.pad === null ? eos : idOf("pad", files.special.pad),
      idOf("unk", files.special.unk),
      maxLength,
    );
  }

  /** CLIPTokenizer.bpe: merge the lowest-ranked adjacent pair (every occurrence, left to right) until none is known. */
  private bpe(token: string): string[] {
    const cached = this.cache.get(token);
    if (cached) return cached;
    const chars = Array.from(token);
    let word = [...chars.slice(0, -1), `${chars[chars.length - 1]}</w>`];
    while (word.length > 1) {
      let best = -1;
      let bestRank = Infinity;
      for (let i = 0; i + 1 < word.length; i++) {
        const rank = this.ranks.get(`${word[i]} ${word[i + 1]}`);
        if (rank !== undefined && rank < bestRank) [best, bestRank] = [i, rank];
      }
      if (best < 0) break;
      const [first, second] = [word[best], word[best + 1]];
      const merged: string[] = [];
      for (let i = 0; i < word.length; ) {
        if (i + 1 < word.length && word[i] === first && word[i + 1] === second) {
          merged.push(first + second);
          i += 2;
        } else merged.push(word[i++]);
      }
      word = merged;
    }
    this.cache.set(token, word);
    return word;
  }

  /** Token ids of the text without BOS/EOS (the special tokens written in the text keep their ids). */
  encode(text: string): number[] {
    const ids: number[] = [];
    const pattern = new RegExp(`(${SPECIALS.map((s) => s.replace(/[|]/g, "\\|")).join("|")})`);
    for (const part of text.split(pattern)) {
      if (part === "") continue;
      if (SPECIALS.includes(part)) {
        ids.push(this.vocab.get(part) ?? this.unkId);
        continue;
      }
      for (const match of basicClean(part).matchAll(WORD)) {
        const bytes = new TextEncoder().encode(match[0]);
        const mapped = Array.from(bytes, (b) => BYTE_TO_CHAR[b]).join("");
        for (const piece of this.bpe(mapped)) ids.push(this.vocab.get(piece) ?? this.unkId);
      }
    }
    return ids;
  }

  /** [BOS] + ids (truncated to maxLength − 2) + [EOS], right-padded with the pad id to maxLength. */
  encodeForPipeline(text: string): Int32Array {
    const body = this.encode(text).slice(0, this.maxLength - 2);
    const ids = new Int32Array(this.maxLength).fill(this.padId);
    ids[0] = this.bosId;
    ids.set(body, 1);
    ids[body.length + 1] = this.eosId;
    return ids;
  }
}
