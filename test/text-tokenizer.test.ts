import { afterAll, describe, expect, test } from "bun:test";
import { copyFileSync, cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GlammError } from "../src/cli/errors.ts";
import { readNpy } from "../src/output/npy.ts";
import { LlamaTokenizer, tokenizerImageToken } from "../src/text/tokenizer.ts";

const FIXTURES = join(import.meta.dir, "fixtures/text");
const ORACLE = join(import.meta.dir, "../../shared/oracle/tiny-a");
const hasOracle = existsSync(join(ORACLE, "refs/index.json"));
if (!hasOracle) console.warn(`skipping oracle tokenizer tests: ${ORACLE} is absent`);

interface OracleCase {
  prompt: string;
  decoded?: string;
}
const readIds = (path: string) => Array.from(readNpy(path).data as BigInt64Array, Number);

describe.skipIf(!hasOracle)("GLaMM oracle tokenizer (transformers 4.30.2 slow LlamaTokenizer)", () => {
  const index = hasOracle ? JSON.parse(readFileSync(join(ORACLE, "refs/index.json"), "utf8")) : { cases: {} };
  const cases = Object.entries(index.cases as Record<string, OracleCase>);
  const tokenizer = hasOracle ? LlamaTokenizer.fromDirectory(join(ORACLE, "glamm")) : (undefined as never);

  test("every case prompt gives the recorded input_ids (with -200 for <image>)", () => {
    expect(cases.length).toBeGreaterThan(0);
    for (const [name, c] of cases) {
      const expected = readIds(join(ORACLE, `refs/${name}/input_ids.npy`));
      expect({ name, ids: tokenizerImageToken(c.prompt, tokenizer) }).toEqual({ name, ids: expected });
    }
  });

  test("decoding prompt (without the image placeholder) + generated ids gives the recorded text", () => {
    const generated = cases.filter(([, c]) => c.decoded !== undefined);
    expect(generated.length).toBeGreaterThan(0);
    for (const [name, c] of generated) {
      const prompt = readIds(join(ORACLE, `refs/${name}/input_ids.npy`)).filter((id) => id !== -200);
      const ids = [...prompt, ...readIds(join(ORACLE, `refs/${name}/generated_ids.npy`))];
      expect({ name, text: tokenizer.decode(ids) }).toEqual({ name, text: c.decoded! });
    }
  });

  test("special-token ids come from added_tokens.json, never from encoding the string", () => {
    const addedTokens: Record<string, number> = index.added_tokens;
    for (const [token, id] of Object.entries(addedTokens)) expect(tokenizer.specialTokenId(token)).toBe(id);
    expect(tokenizer.specialTokenId("[SEG]")).toBe(index.token_ids.seg_token_idx);
    // The official demo's bug: sentencepiece alone splits "[SEG]" into ordinary pieces, and input_ids[0] of the
    // tokenizer output is BOS, so neither yields the [SEG] id.
    const plain = tokenizer.sentencepiece.encode("[SEG]");
    expect(plain).not.toContain(index.token_ids.seg_token_idx);
    expect(plain[0]).not.toBe(index.token_ids.seg_token_idx);
    expect(tokenizer.encode("[SEG]")[0]).toBe(tokenizer.bosTokenId!);
    expect(tokenizer.encode("[SEG]")).toEqual([tokenizer.bosTokenId!, index.token_ids.seg_token_idx]);
  });

});

describe("llama-like fixture checkpoint (expected ids: transformers 4.30 split rule + python sentencepiece)", () => {
  const expected = JSON.parse(readFileSync(join(FIXTURES, "expected.json"), "utf8"));
  const strings: string[] = expected.strings;
  const tokenizer = LlamaTokenizer.fromDirectory(join(FIXTURES, "llama-like"));
  const added: Record<string, number> = JSON.parse(readFileSync(join(FIXTURES, "llama-like/added_tokens.json"), "utf8"));

  test(`encode ${strings.length} strings, many touching added tokens`, () => {
    const mismatches = strings.filter((s, k) => !Bun.deepEquals(tokenizer.encode(s), expected.llama_like_tokenizer_ids[k]));
    expect(mismatches).toEqual([]);
  });

  test("whitespace around added tokens is stripped; around <s>/</s> it is kept", () => {
    expect(tokenizer.encode("a [SEG] b")).toEqual(tokenizer.encode("a[SEG]b"));
    expect(tokenizer.encode("a </s> b")).not.toEqual(tokenizer.encode("a</s>b"));
    expect(tokenizer.encode("x", { addSpecialTokens: false })).toEqual(tokenizer.sentencepiece.encode("x"));
  });

  test("decode (with and without special tokens) matches the 4.30 decode rule over python sentencepiece", () => {
    const mismatches = strings.filter((s, k) => {
      const ids = expected.llama_like_tokenizer_ids[k];
      const [withSpecial, withoutSpecial] = expected.llama_like_tokenizer_decoded[k];
      return tokenizer.decode(ids) !== withSpecial || tokenizer.decode(ids, { skipSpecialTokens: true }) !== withoutSpecial;
    });
    expect(mismatches).toEqual([]);
    expect(tokenizer.specialTokenId("[SEG]")).toBe(added["[SEG]"]);
  });

  test("encoding is not quadratic: one 200k-character chunk takes well under a few seconds", () => {
    const text = "The assistant gives helpful, detailed, and polite answers to the human's questions. ".repeat(2_400);
    const started = performance.now();
    const ids = tokenizer.sentencepiece.encode(text);
    const elapsedMs = performance.now() - started;
    expect(ids.length).toBeGreaterThan(text.length / 10);
    expect(elapsedMs).toBeLessThan(5_000);
  });

  test("tokenizer_image_token keeps one BOS and puts -200 where <image> was", () => {
    const ids = tokenizerImageToken("a <image> b<image>", tokenizer);
    const a = tokenizer.encode("a ");
    const b = tokenizer.encode(" b");
    expect(ids).toEqual([...a, -200, ...b.slice(1), -200]);
  });

  test("bad ids and unknown special tokens give clear errors", () => {
    expect(() => tokenizer.decode([-200])).toThrow(/outside the sentencepiece vocabulary/);
    expect(() => tokenizer.specialTokenId("<nope>")).toThrow(/no added or special token/);
  });
});

describe("checkpoint folder variants and broken checkpoints (one-line model errors, exit code 3)", () => {
  const dirs: string[] = [];
  afterAll(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));
  const checkpoint = (files: Record<string, string | Uint8Array>) => {
    const dir = mkdtempSync(join(tmpdir(), "glamm-tokenizer-"));
    dirs.push(dir);
    for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
    return dir;
  };
  const expectModelError = (dir: string, pattern: RegExp) => {
    let error: unknown;
    try {
      LlamaTokenizer.fromDirectory(dir);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(GlammError);
    expect((error as GlammError).exitCode).toBe(3);
    expect((error as GlammError).message).toMatch(pattern);
  };

  test("missing or corrupt tokenizer.model", () => {
    expectModelError(checkpoint({}), /cannot read sentencepiece model/);
    expectModelError(checkpoint({ "tokenizer.model": new Uint8Array([0xff, 0xff, 0xff]) }), /not a sentencepiece model/);
  });

  test("added-token ids that do not follow the vocabulary", () => {
    const dir = checkpoint({ "added_tokens.json": JSON.stringify({ "[SEG]": 5 }) });
    copyFileSync(join(FIXTURES, "llama-like/tokenizer.model"), join(dir, "tokenizer.model"));
    expectModelError(dir, /added token "\[SEG\]" has id 5/);
  });

  test("added_tokens_decoder of newer configs is read when added_tokens.json is absent", () => {
    const added: Record<string, number> = JSON.parse(readFileSync(join(FIXTURES, "llama-like/added_tokens.json"), "utf8"));
    const decoder = Object.fromEntries(
      [["<unk>", 0], ["<s>", 1], ["</s>", 2], ...Object.entries(added)].map(([content, id]) => [String(id), { content }]),
    );
    const dir = checkpoint({ "tokenizer_config.json": JSON.stringify({ added_tokens_decoder: decoder }) });
    copyFileSync(join(FIXTURES, "llama-like/tokenizer.model"), join(dir, "tokenizer.model"));
    const tokenizer = LlamaTokenizer.fromDirectory(dir);
    expect(tokenizer.specialTokenId("[SEG]")).toBe(added["[SEG]"]);
    expect(tokenizer.encode("a[SEG]")).toEqual([1, ...tokenizer.sentencepiece.encode("a"), added["[SEG]"]]);
  });

  test("invalid JSON in a token file", () => {
    const dir = checkpoint({ "tokenizer_config.json": "{oops" });
    copyFileSync(join(FIXTURES, "llama-like/tokenizer.model"), join(dir, "tokenizer.model"));
    expectModelError(dir, /tokenizer_config.json/);
  });
});

describe("legacy: false (LLaVA-1.5's tokenizer_config)", () => {
  test("text after an added token gets no dummy-prefix space; elsewhere the same as legacy", () => {
    const source = join(import.meta.dir, "fixtures/text/llama-like");
    const dir = mkdtempSync(join(tmpdir(), "glamm-legacy-"));
    cpSync(source, dir, { recursive: true });
    const config = JSON.parse(readFileSync(join(dir, "tokenizer_config.json"), "utf8"));
    writeFileSync(join(dir, "tokenizer_config.json"), JSON.stringify({ ...config, legacy: false }));
    const legacy = LlamaTokenizer.fromDirectory(source);
    const modern = LlamaTokenizer.fromDirectory(dir);
    expect(modern.encode("a photo of a dog")).toEqual(legacy.encode("a photo of a dog"));
    const seg = legacy.specialTokenId("[SEG]");
    const after = (t: LlamaTokenizer) => {
      const ids = t.encode("x [SEG]dog");
      return ids.slice(ids.indexOf(seg) + 1);
    };
    // legacy: "▁dog" pieces; non-legacy: "dog" without the space piece, as sentencepiece encodes it mid-word
    expect(after(legacy)).toEqual(legacy.sentencepiece.encode("dog"));
    const mid = legacy.sentencepiece.encode("<unk>dog").slice(legacy.sentencepiece.encode("<unk>").length);
    expect(after(modern)).toEqual(mid);
    expect(after(modern)).not.toEqual(after(legacy));
  });
});
