import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { loadMeteorResources } from "../src/eval/meteor/data.ts";
import { MeteorScorer } from "../src/eval/meteor/score.ts";

const EXPECTED = "../shared/oracle-eval/set-a/expected.json";
const METEOR_DATA = "../shared/meteor/data";
const missing = [EXPECTED, METEOR_DATA].filter((path) => !existsSync(path));
if (missing.length) console.warn(`skipping METEOR oracle checks: ${missing.join(", ")} absent`);

// The oracle ran METEOR 1.5 without its paraphrase table; its captions after PTB tokenization are in expected.json.
describe.if(missing.length === 0)("METEOR matches the jar on oracle set-a without paraphrases (METEOR 1.5's own data)", () => {
  const expected = missing.length ? {} : JSON.parse(readFileSync(EXPECTED, "utf8"));
  const scorer = missing.length ? undefined : new MeteorScorer(loadMeteorResources(METEOR_DATA, { paraphraseTable: false }));
  for (const task of ["gcg", "region_captioning"]) {
    test(task, () => {
      const { gts, res } = expected[task].tokenized_captions;
      const ids = Object.keys(gts);
      const result = scorer!.scoreSet(ids.map((id) => ({ candidate: res[id][0], references: gts[id] })));
      const perImage = expected[task].caption_metrics_per_image;
      ids.forEach((id, i) => expect(Math.abs(result.perImage[i] - perImage[id].METEOR)).toBeLessThan(1e-12));
      expect(Math.abs(result.corpus - expected[task].caption_metrics.METEOR)).toBeLessThan(1e-12);
    });
  }
});
