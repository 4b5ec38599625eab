import { join } from "node:path";
import { modelError } from "../cli/errors.ts";
import { SentencePieceProcessor } from "./sentencepiece.ts";
import { readTokenizerFiles, type TokenizerFiles } from "./tokenizer-config.ts";

/** LLaVA/GLaMM's placeholder id for the image in prompt ids (replaced by the projected CLIP patches). */
export const IMAGE_TOKEN_INDEX = -200;
export const IMAGE_PLACEHOLDER = "<image>";

// The characters Python's str.strip() removes (str.isspace()); JS trim() differs (U+FEFF in, U+001C..U+001F, U+0085 out).
const PY_SPACE = "\\t\\n\\v\\f\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";
const pyLstrip = (s: string) => s.replace(new RegExp(`^[${PY_SPACE}]+`), "");
const pyRstrip = (s: string) => s.replace(new RegExp(`[${PY_SPACE}]+$`), "");

export interface EncodeOptions {
  /** Prepend BOS / append EOS as tokenizer_config's add_bos_token / add_eos_token say (default true). */
  addSpecialTokens?: boolean;
}

export interface DecodeOptions {
  skipSpecialTokens?: boolean;
  /** Defaults to tokenizer_config's clean_up_tokenization_spaces (false for LLaMA). */
  cleanUpTokenizationSpaces?: boolean;
}

type Part = { token: string } | { text: string };

/** transformers' clean_up_tokenization. */
const cleanUpTokenization = (text: string) =>
  text
    .replaceAll(" .", ".")
    .replaceAll(" ?", "?")
    .replaceAll(" !", "!")
    .replaceAll(" ,", ",")
    .replaceAll(" ' ", "'")
    .replaceAll(" n't", "n't")
    .replaceAll(" 'm", "'m")
    .replaceAll(" 's", "'s")
    .replaceAll(" 've", "'ve")
    .replaceAll(" 're", "'re");

/**
 * The slow LlamaTokenizer of transformers 4.30 (use_fast=False, legacy behaviour) as GLaMM loads it from a
 * checkpoint folder: the text is split on added and special tokens (leftmost-longest), whitespace next to added
 * tokens given as plain strings is stripped, every other chunk is encoded by sentencepiece on its own (so each gets
 * a dummy-prefix "▁"), and BOS is prepended. Token ids of added tokens come from the checkpoint's files.
 */
export class LlamaTokenizer {
  private readonly added: Map<string, number>;
  private readonly addedById = new Map<number, string>();
  private readonly specialContents: string[];
  private readonly specialIds: Set<number>;
  private readonly noSplitByFirstChar = new Map<string, string[]>();

  private constructor(
    readonly sentencepiece: SentencePieceProcessor,
    private readonly files: TokenizerFiles,
    dir: string,
  ) {
    this.added = LlamaTokenizer.validatedAddedTokens(sentencepiece, files, dir);
    for (const [content, id] of this.added) this.addedById.set(id, content);
    const { bos, eos, unk, pad } = files.special;
    this.specialContents = [...new Set([bos, eos, unk, pad, ...files.additionalSpecialTokens])].filter(
      (t): t is string => t !== null,
    );
    // transformers' sanitize_special_tokens appends special tokens missing from the vocabulary as added tokens.
    for (const content of this.specialContents) {
      if (this.added.has(content) || content === unk || sentencepiece.pieceToId(content) !== sentencepiece.unkId) continue;
      const id = sentencepiece.size + this.added.size;
      this.added.set(content, id);
      this.addedById.set(id, content);
    }
    this.specialIds = new Set(this.specialContents.map((t) => this.tokenId(t)));
    for (const token of new Set([...this.added.keys(), ...this.specialContents])) {
      const list = this.noSplitByFirstChar.get(token[0]) ?? [];
      list.push(token);
      list.sort((a, b) => b.length - a.length);
      this.noSplitByFirstChar.set(token[0], list);
    }
    if (files.addBosToken && bos === null) throw modelError(`${dir}: add_bos_token is set but there is no bos_token`);
    if (files.addEosToken && eos === null) throw modelError(`${dir}: add_eos_token is set but there is no eos_token`);
  }

  /** Loads tokenizer.model, tokenizer_config.json, special_tokens_map.json and added_tokens.json from `dir`. */
  static fromDirectory(dir: string): LlamaTokenizer {
    return new LlamaTokenizer(SentencePieceProcessor.fromFile(join(dir, "tokenizer.model")), readTokenizerFiles(dir), dir);
  }

  /**
   * The slow tokenizer requires added-token ids to continue the sentencepiece ids without gaps. Entries naming a
   * sentencepiece piece by its own id (newer added_tokens_decoder lists "<unk>", "<s>", "</s>") add nothing.
   */
  private static validatedAddedTokens(sp: SentencePieceProcessor, files: TokenizerFiles, dir: string): Map<string, number> {
    const sorted = [...files.addedTokens]
      .filter(([content, id]) => !(id < sp.size && sp.idToPiece(id) === content))
      .sort((a, b) => a[1] - b[1]);
    sorted.forEach(([content, id], k) => {
      if (id !== sp.size + k) {
        throw modelError(
          `${dir}: added token ${JSON.stringify(content)} has id ${id}, expected ${sp.size + k} (ids must follow the ${sp.size} sentencepiece pieces)`,
        );
      }
    });
    return new Map(sorted);
  }

  /** Number of ids: sentencepiece pieces plus added tokens. */
  get vocabSize(): number {
    return this.sentencepiece.size + this.added.size;
  }

  get bosTokenId(): number | null {
    return this.files.special.bos === null ? null : this.tokenId(this.files.special.bos);
  }

  get eosTokenId(): number | null {
    return this.files.special.eos === null ? null : this.tokenId(this.files.special.eos);
  }

  get padTokenId(): number | null {
    return this.files.special.pad === null ? null : this.tokenId(this.files.special.pad);
  }

  /** transformers' convert_tokens_to_ids for one token: added tokens first, else the sentencepiece piece id. */
  private tokenId(token: string): number {
    return this.added.get(token) ?? this.sentencepiece.pieceToId(token);
  }

  /**
   * Id of an added token ("[SEG]", "<p>", ...) or special token ("<s>", "</s>") from the checkpoint's token files.
   * Never obtained by encoding the string: that would give sentencepiece pieces instead.
   */
  specialTokenId(token: string): number {
    const id = this.added.get(token) ?? (this.specialContents.includes(token) ? this.tokenId(token) : undefined);
    if (id === undefined) throw modelError(`the tokenizer has no added or special token ${JSON.stringify(token)}`);
    return id;
  }

  /** Leftmost-longest split on no-split tokens (transformers' Trie.split), then 4.30's whitespace stripping. */
  private split(text: string): Part[] {
    const parts: Part[] = [];
    let start = 0;
    for (let i = 0; i < text.length; ) {
      const token = this.noSplitByFirstChar.get(text[i])?.find((t) => text.startsWith(t, i));
      if (token === undefined) {
        i += 1;
        continue;
      }
      if (start < i) parts.push({ text: text.slice(start, i) });
      parts.push({ token });
      i += token.length;
      start = i;
    }
    if (start < text.length) parts.push({ text: text.slice(start) });

    parts.forEach((part, i) => {
      if (!("token" in part)) return;
      const flags = this.files.addedTokenFlags.get(part.token);
      const left = parts[i - 1];
      const right = parts[i + 1];
      if (right && "text" in right && (flags?.rstrip ?? true)) right.text = pyLstrip(right.text);
      if (left && "text" in left && (flags?.lstrip ?? true)) left.text = pyRstrip(left.text);
    });
    return parts.filter((part) => !("text" in part) || part.text.length > 0);
  }

  /**
   * Non-legacy LlamaTokenizer (transformers >= 4.34): text after an added token is encoded as `unk + text` with the
   * unk pieces dropped again, so sentencepiece adds no dummy-prefix space.
   */
  private encodeWithoutPrefix(text: string): number[] {
    const unk = this.files.special.unk ?? "<unk>";
    return this.sentencepiece.encode(unk + text).slice(this.sentencepiece.encode(unk).length);
  }

  /** `tokenizer(text).input_ids` of the slow LlamaTokenizer. */
  encode(text: string, { addSpecialTokens = true }: EncodeOptions = {}): number[] {
    const ids: number[] = [];
    if (addSpecialTokens && this.files.addBosToken) ids.push(this.bosTokenId!);
    const parts = this.split(text);
    parts.forEach((part, i) => {
      if ("token" in part) ids.push(this.tokenId(part.token));
      else if (!this.files.legacy && i > 0) ids.push(...this.encodeWithoutPrefix(part.text));
      else ids.push(...this.sentencepiece.encode(part.text));
    });
    if (addSpecialTokens && this.files.addEosToken) ids.push(this.eosTokenId!);
    return ids;
  }

  /** LlamaTokenizer.convert_tokens_to_string (4.30): special tokens verbatim, the rest decoded by sentencepiece. */
  private tokensToString(tokens: string[]): string {
    let out = "";
    let pending: string[] = [];
    let prevIsSpecial = false;
    tokens.forEach((token, i) => {
      if (this.specialContents.includes(token)) {
        if (!prevIsSpecial && i !== 0) out += " ";
        out += this.sentencepiece.decodePieces(pending) + token;
        pending = [];
        prevIsSpecial = true;
      } else {
        pending.push(token);
        prevIsSpecial = false;
      }
    });
    return out + this.sentencepiece.decodePieces(pending);
  }

  /** `tokenizer.decode(ids, skip_special_tokens=...)` of the slow tokenizer (transformers 4.30). */
  decode(ids: readonly number[], options: DecodeOptions = {}): string {
    const skipSpecialTokens = options.skipSpecialTokens ?? false;
    const cleanUp = options.cleanUpTokenizationSpaces ?? this.files.cleanUpTokenizationSpaces;
    const subTexts: string[] = [];
    let current: string[] = [];
    for (const id of ids) {
      if (skipSpecialTokens && this.specialIds.has(id)) continue;
      const added = this.addedById.get(id);
      if (added === undefined) {
        current.push(this.sentencepiece.idToPiece(id));
        continue;
      }
      if (current.length > 0) subTexts.push(this.tokensToString(current));
      current = [];
      subTexts.push(added);
    }
    if (current.length > 0) subTexts.push(this.tokensToString(current));
    // transformers' default spaces_between_special_tokens=True.
    const text = subTexts.join(" ");
    return cleanUp ? cleanUpTokenization(text) : text;
  }
}

/**
 * LLaVA's tokenizer_image_token (llava/mm_utils.py): the prompt is split on "<image>", each chunk encoded with BOS,
 * and the chunks joined by IMAGE_TOKEN_INDEX; when the first chunk starts with BOS, BOS is kept once and the
 * first id of every chunk is dropped.
 */
export function tokenizerImageToken(
  prompt: string,
  tokenizer: LlamaTokenizer,
  imageTokenIndex: number = IMAGE_TOKEN_INDEX,
): number[] {
  const chunks = prompt.split(IMAGE_PLACEHOLDER).map((chunk) => tokenizer.encode(chunk));
  const offset = chunks[0].length > 0 && chunks[0][0] === tokenizer.bosTokenId ? 1 : 0;
  const ids = offset === 1 ? [chunks[0][0]] : [];
  chunks.forEach((chunk, k) => {
    if (k > 0) ids.push(imageTokenIndex);
    ids.push(...chunk.slice(offset));
  });
  return ids;
}
