import { readFileSync } from "node:fs";
import { inputError } from "../../cli/errors.ts";
import type { LlamaTokenizer } from "../../text/tokenizer.ts";
import { extractNounPhrases, type NounPhrase } from "../../text/noun-phrases.ts";

/** A phrase and the span its tokens are matched on: the root word's [start, end) in the decoded text. */
export interface PhraseSpan {
  phrase: string;
  startChar: number;
  endChar: number;
  /** The whole phrase's [start, end) when known (the extractor and `<p>` marks give it; a chunks file does not). */
  phraseStart?: number;
  phraseEnd?: number;
}

/** A phrase with the indices of the generated tokens that overlap its root word. */
export interface TokenGroup extends PhraseSpan {
  tokens: number[];
}

/** utils.group_tokens: token j covers [len(decode(tokens[:j])), len(decode(tokens[:j+1]))), special tokens skipped. */
export function tokenCharSpans(tokenizer: LlamaTokenizer, tokens: readonly number[]): { text: string; starts: number[]; ends: number[] } {
  const starts: number[] = [];
  const ends: number[] = [];
  let text = "";
  for (let j = 0; j < tokens.length; j++) {
    starts.push(text.length);
    text = tokenizer.decode(tokens.slice(0, j + 1), { skipSpecialTokens: true });
    ends.push(text.length);
  }
  return { text, starts, ends };
}

export const rootSpans = (phrases: readonly NounPhrase[]): PhraseSpan[] =>
  phrases.map((p) => ({ phrase: p.phrase, startChar: p.root.start, endChar: p.root.end, phraseStart: p.start, phraseEnd: p.end }));

/** The phrases of `text` by the noun-phrase extractor (spaCy noun_chunks in the official code), matched on their roots. */
export const extractedPhrases = (text: string): PhraseSpan[] => rootSpans(extractNounPhrases(text));

/** `--chunks FILE`: a JSON list of {"phrase", "start_char", "end_char"} (root spans, as index.json's groups). */
export function readChunksFile(path: string): PhraseSpan[] {
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(path, "utf8"));
  } catch (error) {
    throw inputError(`cannot read chunks file ${path}: ${(error as Error).message.split("\n")[0]}`);
  }
  if (!Array.isArray(value)) throw inputError(`chunks file ${path} must hold a JSON list`);
  return value.map((item, i): PhraseSpan => {
    const { phrase, start_char: start, end_char: end } = (item ?? {}) as Record<string, unknown>;
    if (typeof phrase !== "string" || !Number.isSafeInteger(start) || !Number.isSafeInteger(end) || (start as number) < 0 || (end as number) < (start as number)) {
      throw inputError(`chunks file ${path}: entry ${i} needs "phrase" (text) and 0 <= "start_char" <= "end_char"`);
    }
    return { phrase, startChar: start as number, endChar: end as number };
  });
}

/** A phrase owns every token whose character span overlaps its root span. */
export function groupTokens(phrases: readonly PhraseSpan[], starts: readonly number[], ends: readonly number[]): TokenGroup[] {
  return phrases.map((p) => ({ ...p, tokens: starts.flatMap((start, j) => (start < p.endChar && ends[j] > p.startChar ? [j] : [])) }));
}
