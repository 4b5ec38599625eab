import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { ClipBpeTokenizer } from "../src/text/clip-bpe.ts";
import { numbers } from "./helpers/oracle-compare.ts";
import { editConfig, editConfigs, editRuns, skipWithoutEditOracle } from "./edit-oracle.ts";


describe("CLIP BPE tokenizers of the SDXL pipeline against the edit oracle", () => {
  skipWithoutEditOracle();
  for (const name of editConfigs) {
    const config = editConfig(name);
    let loaded: ClipBpeTokenizer[] | undefined;
    const tokenizers = () => (loaded ??= ["tokenizer", "tokenizer_2"].map((dir) => ClipBpeTokenizer.fromDir(join(config.modelDir, dir))));

    for (const run of editRuns(config)) {
      test(`${name} ${run}: prompt ids of both tokenizers`, () => {
        const prompt = config.index(run).parameters.pipe_call_kwargs.prompt;
        tokenizers().forEach((tokenizer, i) => {
          const file = `tokens_${i + 1}`;
          const ref = run === "main" ? config.ref(file) : config.ref(file, "main");
          expect(Array.from(tokenizer.encodeForPipeline(prompt)), file).toEqual(numbers(ref));
        });
      });
    }

    test(`${name}: the empty prompt (the diagnostic neg_tokens)`, () => {
      tokenizers().forEach((tokenizer, i) => {
        expect(Array.from(tokenizer.encodeForPipeline("")), `neg_tokens_${i + 1}`).toEqual(numbers(config.ref(`neg_tokens_${i + 1}`)));
      });
    });

    test(`${name}: special ids, padding and truncation`, () => {
      const [first, second] = tokenizers();
      expect([first.bosId, first.eosId, first.padId]).toEqual([49406, 49407, 49407]);
      expect(second.padId).toBe(0); // "!" in tokenizer_2
      const long = Array.from({ length: 100 }, (_, i) => `word${i}`).join(" ");
      for (const tokenizer of [first, second]) {
        const ids = tokenizer.encodeForPipeline(long);
        expect(ids.length).toBe(77);
        expect(ids[0]).toBe(49406);
        expect(ids[76]).toBe(49407);
        expect(Array.from(ids.subarray(1, 76))).toEqual(tokenizer.encode(long).slice(0, 75));
      }
      // Independent facts of the CLIP vocabulary: "hello" and "world" are single word tokens; case and spacing vanish.
      expect(first.encode("Hello   WORLD")).toEqual([3306, 1002]);
      expect(first.encode("hello,world!")).toEqual(first.encode("hello , world !"));
    });
  }
});
