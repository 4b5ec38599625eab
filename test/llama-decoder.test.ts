import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { LlamaDecoder } from "../src/models/llama-runner.ts";
import { generate, teacherForced } from "../src/pipeline/generate.ts";
import { PrefixCache } from "../src/pipeline/prefix-cache.ts";
import { deviation, Oracle, oracleConfigs, skipWithoutOracle } from "./llama-oracle.ts";

const expectClose = (actual: Float32Array, expected: Float32Array) => {
  const { error, tolerance } = deviation(actual, expected);
  expect(error).toBeLessThanOrEqual(tolerance);
};

skipWithoutOracle("LLaMA decoder vs the official oracle");
for (const name of oracleConfigs) {
  for (const attention of ["plain", "gqa"] as const) {
    describe(`LLaMA decoder fp32 ${attention} vs official oracle ${name}`, () => {
      let oracle: Oracle;
      let decoder: LlamaDecoder;
      beforeAll(async () => {
        oracle = new Oracle(name);
        decoder = await oracle.decoder({ precision: "fp32", attention });
      });
      afterAll(() => decoder.release());

      test("teacher-forced cases: final hidden states, [SEG] positions, [SEG] hidden states and logits", async () => {
        for (const caseName of oracle.casesOf("_tf")) {
          const result = await teacherForced(decoder, oracle.sequence(caseName), oracle.segTokenId);
          expectClose(result.hiddenStates, oracle.floats(caseName, "final_hidden_states"));
          expect(result.seg.positions).toEqual(oracle.ints(caseName, "seg_positions"));
          expectClose(result.seg.hiddenStates, oracle.floats(caseName, "seg_hidden_states"));
          expectClose(result.logitsAtSeg, oracle.floats(caseName, "logits_at_seg_positions"));
        }
      });

      test("generation cases: last-position logits and hidden state, 16 greedy tokens with the KV cache", async () => {
        for (const caseName of oracle.casesOf("_gen")) {
          const generated = oracle.ints(caseName, "generated_ids");
          const streamed: number[] = [];
          const result = await generate(decoder, oracle.table, oracle.sequence(caseName), {
            maxNewTokens: generated.length,
            eosTokenId: oracle.eosTokenId,
            segTokenId: oracle.segTokenId,
            onToken: (token, index) => streamed.push(token, index),
          });
          expectClose(result.logitsLast, oracle.floats(caseName, "logits_last"));
          expectClose(result.finalHiddenLast, oracle.floats(caseName, "final_hidden_last"));
          expect(result.tokens).toEqual(generated);
          expect(streamed).toEqual(generated.flatMap((token, index) => [token, index]));
        }
      });
    });
  }

  describe(`generation loop on oracle ${name}`, () => {
    let oracle: Oracle;
    let decoder: LlamaDecoder;
    beforeAll(async () => {
      oracle = new Oracle(name);
      decoder = await oracle.decoder();
    });
    afterAll(() => decoder.release());

    test("the official no-cache recomputation gives the same tokens as the KV cache", async () => {
      const caseName = oracle.casesOf("_gen")[0];
      const options = { maxNewTokens: 8, eosTokenId: oracle.eosTokenId };
      const cached = await generate(decoder, oracle.table, oracle.sequence(caseName), options);
      const recomputed = await generate(decoder, oracle.table, oracle.sequence(caseName), { ...options, recompute: true });
      expect(recomputed.tokens).toEqual(cached.tokens);
      expect(recomputed.tokens).toEqual(oracle.ints(caseName, "generated_ids").slice(0, 8));
    });

    test("stops at EOS, keeping it as the last token", async () => {
      const caseName = oracle.casesOf("_gen")[0];
      const reference = oracle.ints(caseName, "generated_ids");
      const stopAt = reference[2];
      const result = await generate(decoder, oracle.table, oracle.sequence(caseName), { maxNewTokens: 16, eosTokenId: stopAt });
      expect(result.tokens).toEqual(reference.slice(0, reference.indexOf(stopAt) + 1));
    });

    test("a generated [SEG] yields the hidden state of the position before it, as one full forward pass computes it", async () => {
      const caseName = oracle.casesOf("_gen")[0];
      const reference = oracle.ints(caseName, "generated_ids");
      const seg = reference[1]; // stand-in [SEG]: a token this random model does generate
      const prompt = oracle.sequence(caseName);
      const result = await generate(decoder, oracle.table, prompt, { maxNewTokens: 12, eosTokenId: oracle.eosTokenId, segTokenId: seg });
      const ids = [...oracle.ints(caseName, "input_ids"), ...result.tokens];
      const expanded = await teacherForced(decoder, oracle.sequenceOf(ids), seg);
      expect(result.seg.positions).toEqual(expanded.seg.positions);
      expect(result.seg.positions.length).toBeGreaterThan(0);
      expectClose(result.seg.hiddenStates, expanded.seg.hiddenStates);
    });

    test("with a PrefixCache a prompt prefills only the rows after those it shares with the one before, and answers the same", async () => {
      const prefix = new PrefixCache();
      const fed: number[] = [];
      const counting: LlamaDecoder = Object.assign(Object.create(decoder), {
        forward: (...args: Parameters<LlamaDecoder["forward"]>) => {
          fed.push(args[0].length / decoder.config.hiddenSize);
          return decoder.forward(...args);
        },
      });
      const cases = oracle.casesOf("_gen");
      for (const [run, caseName] of [cases[0], cases[0], ...cases.slice(1)].entries()) {
        const generated = oracle.ints(caseName, "generated_ids");
        const prompt = oracle.sequence(caseName);
        fed.length = 0;
        const result = await generate(counting, oracle.table, prompt, { maxNewTokens: generated.length, eosTokenId: oracle.eosTokenId, segTokenId: oracle.segTokenId, prefix });
        expect(result.tokens).toEqual(generated);
        expectClose(result.logitsLast, oracle.floats(caseName, "logits_last"));
        expectClose(result.finalHiddenLast, oracle.floats(caseName, "final_hidden_last"));
        const length = prompt.expandedIds.length;
        // First run: the whole prompt; the same prompt again: its last row only; another prompt: less than all (<s> at least is shared).
        if (run === 0) expect(fed[0]).toBe(length);
        else if (run === 1) expect(fed[0]).toBe(1);
        else expect(fed[0]).toBeLessThan(length);
      }
    });

    test("with a PrefixCache, prompt rows whose hidden state a [SEG] needs are computed again", async () => {
      const caseName = oracle.casesOf("_gen")[0];
      const reference = oracle.ints(caseName, "generated_ids");
      const seg = reference[1];
      const prefix = new PrefixCache();
      await generate(decoder, oracle.table, oracle.sequence(caseName), { maxNewTokens: 12, eosTokenId: oracle.eosTokenId, prefix });
      // The previous answer is now part of the prompt, as in a chat; its [SEG] rows lie inside the shared prefix.
      const longer = oracle.sequenceOf([...oracle.ints(caseName, "input_ids"), ...reference.slice(0, 8)]);
      const reused = await generate(decoder, oracle.table, longer, { maxNewTokens: 2, eosTokenId: oracle.eosTokenId, segTokenId: seg, prefix });
      const fresh = await teacherForced(decoder, longer, seg);
      expect(reused.seg.positions.slice(0, fresh.seg.positions.length)).toEqual(fresh.seg.positions);
      expect(fresh.seg.positions.length).toBeGreaterThan(0);
      const width = decoder.config.hiddenSize;
      expectClose(reused.seg.hiddenStates.subarray(0, fresh.seg.positions.length * width), fresh.seg.hiddenStates);
    });

    test("the same seed gives the same sampled tokens, another seed other tokens", async () => {
      const caseName = oracle.casesOf("_gen")[0];
      const run = (seed: number) =>
        generate(decoder, oracle.table, oracle.sequence(caseName), { maxNewTokens: 12, eosTokenId: -1, sampling: { temperature: 5, seed } });
      const [a, b, c] = [await run(1), await run(1), await run(2)];
      expect(a.tokens).toEqual(b.tokens);
      expect(a.tokens).not.toEqual(c.tokens);
    });
  });
}
