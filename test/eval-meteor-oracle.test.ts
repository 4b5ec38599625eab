import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { loadMeteorResources } from "../src/eval/meteor/data.ts";
import { MeteorScorer } from "../src/eval/meteor/score.ts";

const EXPECTED = "../shared/oracle-eval/set-a/expected.json";
const haveOracle = existsSync(EXPECTED);
if (!haveOracle) console.warn(`skipping METEOR oracle checks: ${EXPECTED} is absent`);

// The oracle ran METEOR 1.5 without paraphrases; its captions after PTB tokenization are in expected.json.
// Data: WordNet 3.0 synonyms and the set's function words, see test/fixtures/meteor/make_set_a_data.py.
describe.if(haveOracle)("METEOR matches the jar on oracle set-a (exact, stem, synonym)", () => {
  const expected = haveOracle ? JSON.parse(readFileSync(EXPECTED, "utf8")) : {};
  const scorer = new MeteorScorer(loadMeteorResources("test/fixtures/meteor/set-a"));
  for (const task of ["gcg", "region_captioning"]) {
    test(task, () => {
      const { gts, res } = expected[task].tokenized_captions;
      const ids = Object.keys(gts);
      const result = scorer.scoreSet(ids.map((id) => ({ candidate: res[id][0], references: gts[id] })));
      const perImage = expected[task].caption_metrics_per_image;
      ids.forEach((id, i) => expect(Math.abs(result.perImage[i] - perImage[id].METEOR)).toBeLessThan(1e-12));
      expect(Math.abs(result.corpus - expected[task].caption_metrics.METEOR)).toBeLessThan(1e-12);
    });
  }
});
