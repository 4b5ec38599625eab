/**
 * BERT WordPiece tokenization as the Hugging Face slow BertTokenizer does it (do_lower_case, accent stripping,
 * BasicTokenizer punctuation and CJK splitting, greedy longest-match-first sub-words), for the recall metric's
 * bert-base-uncased phrase embeddings.
 */
import { readFileSync } from "node:fs";
import { inputError } from "../cli/errors.ts";

const isWhitespace = (ch: string) => ch === " " || ch === "\t" || ch === "\n" || ch === "\r" || /\p{Zs}/u.test(ch);
const isControl = (ch: string) => !(ch === "\t" || ch === "\n" || ch === "\r") && /[\p{Cc}\p{Cf}]/u.test(ch);
const isPunctuation = (ch: string) => {
  const cp = ch.codePointAt(0)!;
  if ((cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) || (cp >= 123 && cp <= 126)) return true;
  return /\p{P}/u.test(ch);
};
const isCjk = (cp: number) =>
  (cp >= 0x4e00 && cp <= 0x9fff) ||
  (cp >= 0x3400 && cp <= 0x4dbf) ||
  (cp >= 0x20000 && cp <= 0x2a6df) ||
  (cp >= 0x2a700 && cp <= 0x2b73f) ||
  (cp >= 0x2b740 && cp <= 0x2b81f) ||
  (cp >= 0x2b820 && cp <= 0x2ceaf) ||
  (cp >= 0xf900 && cp <= 0xfaff) ||
  (cp >= 0x2f800 && cp <= 0x2fa1f);

/** BasicTokenizer's _clean_text and _tokenize_chinese_chars: no NUL, U+FFFD or controls, whitespace as " ", CJK spaced. */
export function cleanText(text: string): string {
  let cleaned = "";
  for (const ch of text) {
    const cp = ch.codePointAt(0)!;
    if (cp === 0 || cp === 0xfffd || isControl(ch)) continue;
    if (isWhitespace(ch)) cleaned += " ";
    else if (isCjk(cp)) cleaned += ` ${ch} `;
    else cleaned += ch;
  }
  return cleaned;
}

/** BasicTokenizer with lower-casing and accent stripping on. */
export function basicTokenize(text: string): string[] {
  const cleaned = cleanText(text);
  const tokens: string[] = [];
  for (const word of cleaned.trim().split(/ +/)) {
    if (!word) continue;
    const normalized = word.toLowerCase().normalize("NFD").replace(/\p{Mn}/gu, "");
    let current = "";
    for (const ch of normalized) {
      if (isPunctuation(ch)) {
        if (current) tokens.push(current);
        tokens.push(ch);
        current = "";
      } else current += ch;
    }
    if (current) tokens.push(current);
  }
  return tokens;
}

export class WordPieceTokenizer {
  private readonly ids: Map<string, number>;

  constructor(vocabulary: readonly string[], private readonly maxCharsPerWord = 100) {
    this.ids = new Map(vocabulary.map((token, id) => [token, id]));
    for (const special of ["[UNK]", "[CLS]", "[SEP]"]) {
      if (!this.ids.has(special)) throw inputError(`WordPiece vocabulary lacks ${special}`);
    }
  }

  /** Reads a vocab.txt (one token per line; the line number is the id). */
  static fromVocabFile(path: string): WordPieceTokenizer {
    let text: string;
    try {
      text = readFileSync(path, "utf8");
    } catch {
      throw inputError(`cannot read WordPiece vocabulary: ${path}`);
    }
    const lines = text.split("\n");
    if (lines[lines.length - 1] === "") lines.pop();
    return new WordPieceTokenizer(lines.map((l) => l.replace(/\r$/, "")));
  }

  /** Sub-word tokens of one text. */
  tokenize(text: string): string[] {
    const out: string[] = [];
    for (const word of basicTokenize(text)) {
      const chars = [...word];
      if (chars.length > this.maxCharsPerWord) {
        out.push("[UNK]");
        continue;
      }
      const pieces: string[] = [];
      let start = 0;
      while (start < chars.length) {
        let end = chars.length;
        let piece: string | null = null;
        while (start < end) {
          const candidate = (start > 0 ? "##" : "") + chars.slice(start, end).join("");
          if (this.ids.has(candidate)) {
            piece = candidate;
            break;
          }
          end--;
        }
        if (piece === null) {
          pieces.length = 0;
          pieces.push("[UNK]");
          break;
        }
        pieces.push(piece);
        start = end;
      }
      out.push(...pieces);
    }
    return out;
  }

  /** Input ids with [CLS] and [SEP], as `tokenizer(text)["input_ids"]` gives them. */
  encode(text: string): number[] {
    return [this.ids.get("[CLS]")!, ...this.tokenize(text).map((t) => this.ids.get(t)!), this.ids.get("[SEP]")!];
  }
}
