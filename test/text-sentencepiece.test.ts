import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { SentencePieceProcessor } from "../src/text/sentencepiece.ts";

const FIXTURES = join(import.meta.dir, "fixtures/text");

interface ModelCases {
  ids: number[][];
  decoded: Array<string | null>;
  decode: Array<{ ids: number[]; decoded: string }>;
}
interface Expected {
  sentencepiece_version: string;
  strings: string[];
  models: Record<string, ModelCases>;
}
const expected: Expected = JSON.parse(readFileSync(join(FIXTURES, "expected.json"), "utf8"));

describe(`sentencepiece agreement with python sentencepiece ${expected.sentencepiece_version}`, () => {
  for (const [file, cases] of Object.entries(expected.models)) {
    const sp = SentencePieceProcessor.fromFile(join(FIXTURES, file));

    test(`${file}: encode ${expected.strings.length} strings`, () => {
      const mismatches = expected.strings.filter((s, k) => !Bun.deepEquals(sp.encode(s), cases.ids[k]));
      expect(mismatches).toEqual([]);
    });

    test(`${file}: decode their ids`, () => {
      const mismatches = expected.strings.filter((s, k) => sp.decode(cases.ids[k]) !== (cases.decoded[k] ?? s));
      expect(mismatches).toEqual([]);
    });

    test(`${file}: decode ${cases.decode.length} arbitrary id sequences`, () => {
      const mismatches = cases.decode.filter(({ ids, decoded }) => sp.decode(ids) !== decoded);
      expect(mismatches).toEqual([]);
    });
  }
});
