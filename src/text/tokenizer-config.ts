import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { modelError } from "../cli/errors.ts";

/** Whitespace flags of a token given as an AddedToken (tokens given as plain strings strip both sides instead). */
export interface NoSplitToken {
  content: string;
  lstrip: boolean;
  rstrip: boolean;
}

export interface TokenizerFiles {
  addBosToken: boolean;
  addEosToken: boolean;
  cleanUpTokenizationSpaces: boolean;
  /** bos/eos/unk/pad contents (null when unset) as transformers' special-token attributes resolve them. */
  special: { bos: string | null; eos: string | null; unk: string | null; pad: string | null };
  additionalSpecialTokens: string[];
  /** Flags of special tokens given as AddedToken objects; plain-string tokens are absent. */
  addedTokenFlags: Map<string, NoSplitToken>;
  /** added_tokens.json (or, without it, tokenizer_config's added_tokens_decoder), content → id. */
  addedTokens: Map<string, number>;
  /**
   * transformers' `legacy` flag (default true, as GLaMM's 4.30 tokenizer behaves). LLaVA-1.5 sets false: text that
   * follows an added token then gets no dummy-prefix space.
   */
  legacy: boolean;
}

type Json = Record<string, unknown>;
type TokenValue = string | { content: string; lstrip?: boolean; rstrip?: boolean } | null;

function readJson(dir: string, name: string): Json | undefined {
  const path = join(dir, name);
  if (!existsSync(path)) return undefined;
  try {
    const value = JSON.parse(readFileSync(path, "utf8"));
    if (typeof value !== "object" || value === null || Array.isArray(value)) throw new Error("not a JSON object");
    return value as Json;
  } catch (error) {
    throw modelError(`${path}: ${(error as Error).message}`);
  }
}

function tokenValue(value: unknown, where: string): TokenValue {
  if (value === null || typeof value === "string") return value;
  if (typeof value === "object" && typeof (value as Json).content === "string") return value as TokenValue;
  throw modelError(`${where}: expected a token string or {"content": ...}, got ${JSON.stringify(value)}`);
}

function addedTokensFrom(dir: string, config: Json): Map<string, number> {
  const file = readJson(dir, "added_tokens.json");
  const entries: Array<[string, unknown]> = file
    ? Object.entries(file)
    : Object.entries((config.added_tokens_decoder as Json | undefined) ?? {}).map(([id, token]) => [
        (tokenValue(token, "tokenizer_config.json added_tokens_decoder") as { content: string }).content,
        Number(id),
      ]);
  const added = new Map<string, number>();
  for (const [content, id] of entries) {
    if (!Number.isInteger(id)) throw modelError(`${dir}: added token ${JSON.stringify(content)} has id ${id}`);
    added.set(content, id as number);
  }
  return added;
}

/**
 * Reads tokenizer_config.json, special_tokens_map.json and added_tokens.json the way transformers 4.30's
 * LlamaTokenizer.from_pretrained does: the special-tokens map overrides the config, and bos/eos/unk/pad given as
 * plain strings in the config become AddedTokens without stripping (LlamaTokenizer.__init__).
 */
export function readTokenizerFiles(dir: string): TokenizerFiles {
  const config = readJson(dir, "tokenizer_config.json") ?? {};
  const specialMap = readJson(dir, "special_tokens_map.json") ?? {};
  const addedTokenFlags = new Map<string, NoSplitToken>();
  const defaults: Json = { bos_token: "<s>", eos_token: "</s>", unk_token: "<unk>", pad_token: null };

  const resolve = (key: string): string | null => {
    const fromMap = key in specialMap;
    const raw = fromMap ? specialMap[key] : key in config ? config[key] : defaults[key];
    const value = tokenValue(raw, `${dir} ${key}`);
    if (value === null) return null;
    if (typeof value === "string") {
      if (!fromMap) addedTokenFlags.set(value, { content: value, lstrip: false, rstrip: false });
      return value;
    }
    addedTokenFlags.set(value.content, { content: value.content, lstrip: !!value.lstrip, rstrip: !!value.rstrip });
    return value.content;
  };
  const special = { bos: resolve("bos_token"), eos: resolve("eos_token"), unk: resolve("unk_token"), pad: resolve("pad_token") };

  const additionalRaw = specialMap.additional_special_tokens ?? config.additional_special_tokens ?? [];
  if (!Array.isArray(additionalRaw)) throw modelError(`${dir}: additional_special_tokens must be a list`);
  const additionalSpecialTokens = additionalRaw.map((raw) => {
    const value = tokenValue(raw, `${dir} additional_special_tokens`)!;
    if (typeof value === "string") return value;
    addedTokenFlags.set(value.content, { content: value.content, lstrip: !!value.lstrip, rstrip: !!value.rstrip });
    return value.content;
  });

  return {
    addBosToken: config.add_bos_token !== false,
    addEosToken: config.add_eos_token === true,
    cleanUpTokenizationSpaces: config.clean_up_tokenization_spaces === true,
    special,
    additionalSpecialTokens,
    addedTokenFlags,
    addedTokens: addedTokensFrom(dir, config),
    legacy: config.legacy !== false,
  };
}
