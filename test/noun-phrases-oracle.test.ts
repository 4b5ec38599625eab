import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { extractNounPhrases } from "../src/text/noun-phrases.ts";

// The attend-and-segment oracle's recorded token groups (see ../shared/oracle-aas/README.md, point 6). Its chunks
// came from a stand-in rule that gives spaCy's chunks on the forced answers; the greedy run's gibberish is skipped.
const INDEX = "../shared/oracle-aas/tiny-a/refs/index.json";
const haveOracle = existsSync(INDEX);
if (!haveOracle) console.warn(`skipping noun-phrase oracle checks: ${INDEX} is absent`);

interface Group {
  phrase: string;
  core_word: string;
  start_char: number;
  end_char: number;
}
interface Run {
  forced_answer?: string;
  decoded_text_for_phrases: string;
  groups: Group[];
}
const runs: [string, Run][] = haveOracle
  ? Object.entries(JSON.parse(readFileSync(INDEX, "utf8")).runs as Record<string, Run>).filter(([, r]) => r.forced_answer !== undefined)
  : [];

describe.skipIf(!haveOracle)("noun phrases against the attend-and-segment oracle", () => {
  test("there are forced-answer runs to check", () => {
    expect(runs.length).toBeGreaterThanOrEqual(1);
  });

  test.each(runs)("%s: phrases and root spans equal the recorded groups", (_name, run) => {
    const got = extractNounPhrases(run.decoded_text_for_phrases);
    expect(got.map((p) => ({ phrase: p.phrase, core_word: p.root.text, start_char: p.root.start, end_char: p.root.end }))).toEqual(
      run.groups.map(({ phrase, core_word, start_char, end_char }) => ({ phrase, core_word, start_char, end_char })),
    );
  });
});
