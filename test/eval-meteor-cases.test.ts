import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { gunzipSync } from "node:zlib";
import { loadMeteorResources, readParaphraseTable } from "../src/eval/meteor/data.ts";
import { normalizeEnglish } from "../src/eval/meteor/normalize.ts";
import { addStats, emptyStats, meteorScore, MeteorScorer, scoreLine, type MeteorStats } from "../src/eval/meteor/score.ts";
import { stemEnglish } from "../src/eval/meteor/snowball-english.ts";

// ../shared/meteor: METEOR 1.5's own data and the jar's answers on 40 segments, without (a) and with (b) a paraphrase table.
const SHARED = "../shared/meteor";
const haveShared = existsSync(`${SHARED}/cases.json`);
if (!haveShared) console.warn(`skipping METEOR jar checks: ${SHARED}/cases.json is absent`);

interface Case {
  id: string;
  hypothesis: string;
  references: string[];
}
interface Segment {
  id: string;
  stats: string;
  score: number;
  detail: { refs: { hyp_tokens: string[]; ref_tokens: string[] }[] };
}
interface Config {
  aggregate_score: number;
  segments: Segment[];
  extra_evals: { name: string; eval_line: string; segment_scores: number[]; aggregate_score: number }[];
}

/** The 23 numbers of the jar's statistics line (MeteorStats.toString), in its order. */
const statsNumbers = (s: MeteorStats) => [
  s.testLength,
  s.referenceLength,
  s.testFunctionWords,
  s.referenceFunctionWords,
  ...[0, 1, 2, 3].flatMap((k) => [s.testContent[k], s.referenceContent[k], s.testFunction[k], s.referenceFunction[k]]),
  s.chunks,
  s.testWordMatches,
  s.referenceWordMatches,
];

function parseStats(line: string): MeteorStats {
  const v = line.trim().split(/\s+/).map(Number);
  const stage = (offset: number) => [0, 1, 2, 3].map((k) => v[4 + 4 * k + offset]);
  return {
    testLength: v[0],
    referenceLength: v[1],
    testFunctionWords: v[2],
    referenceFunctionWords: v[3],
    testContent: stage(0),
    referenceContent: stage(1),
    testFunction: stage(2),
    referenceFunction: stage(3),
    chunks: v[20],
    testWordMatches: v[21],
    referenceWordMatches: v[22],
  };
}

const relativeError = (got: number, want: number) => (want === 0 ? Math.abs(got) : Math.abs(got - want) / Math.abs(want));

describe.if(haveShared)("METEOR 1.5 against the jar (../shared/meteor/cases.json)", () => {
  const file = haveShared ? JSON.parse(readFileSync(`${SHARED}/cases.json`, "utf8")) : { cases: [], configs: {} };
  const cases: Case[] = file.cases;
  const base = haveShared ? loadMeteorResources(`${SHARED}/data`, { paraphraseTable: false }) : undefined;
  const scorers = {
    a: base && new MeteorScorer(base),
    b: base && new MeteorScorer({ ...base, paraphrases: readParaphraseTable(`${SHARED}/data/paraphrase/paraphrase-en-small.gz`) }),
  };

  for (const name of ["a", "b"] as const) {
    describe(`configuration ${name}`, () => {
      const config: Config = file.configs[name];
      for (const [i, c] of cases.entries()) {
        test(`${c.id}: statistics and score`, () => {
          const segment = config.segments[i];
          expect(segment.id).toBe(c.id);
          const line = scoreLine(c.hypothesis, c.references);
          const stats = scorers[name]!.segmentStats(line.hypothesis, line.references);
          expect(statsNumbers(stats)).toEqual(segment.stats.split(" ").map(Number));
          expect(relativeError(meteorScore(stats), segment.score)).toBeLessThanOrEqual(1e-12);
        });
      }

      test("every segment and the aggregate through pycocoevalcap's compute_score", () => {
        const result = scorers[name]!.scoreSet(cases.map((c) => ({ candidate: c.hypothesis, references: c.references })));
        result.perImage.forEach((score, i) => expect(relativeError(score, config.segments[i].score)).toBeLessThanOrEqual(1e-12));
        expect(relativeError(result.corpus, config.aggregate_score)).toBeLessThanOrEqual(1e-12);
      });

      test("EVAL lines over subsets: summed statistics, perfect segments add no chunk", () => {
        for (const extra of config.extra_evals) {
          const stats = extra.eval_line.split("|||").slice(1).map(parseStats);
          stats.forEach((s, k) => expect(relativeError(meteorScore(s), extra.segment_scores[k])).toBeLessThanOrEqual(1e-12));
          expect(relativeError(meteorScore(stats.reduce(addStats, emptyStats())), extra.aggregate_score)).toBeLessThanOrEqual(1e-12);
        }
      });
    });
  }

  test("-norm gives the jar's tokens for every hypothesis and reference", () => {
    const prefixes = base?.nonbreakingPrefixes;
    for (const [i, c] of cases.entries()) {
      const line = scoreLine(c.hypothesis, c.references);
      file.configs.a.segments[i].detail.refs.forEach((ref: { hyp_tokens: string[]; ref_tokens: string[] }, k: number) => {
        const split = (text: string) => normalizeEnglish(text, prefixes).split(/[ \t\n\r\f]+/).filter(Boolean);
        expect([c.id, split(line.hypothesis)]).toEqual([c.id, ref.hyp_tokens]);
        expect([c.id, split(line.references[k])]).toEqual([c.id, ref.ref_tokens]);
      });
    }
  });

  test("stems, synsets and stem synsets of 11,641 words equal the jar's classes (checks/lexicon-check.tsv.gz)", () => {
    const rows = gunzipSync(readFileSync(`${SHARED}/data/checks/lexicon-check.tsv.gz`)).toString("utf8").split("\n").filter(Boolean);
    const ids = (set: ReadonlySet<number>) => [...set].sort((x, y) => x - y).join(" ");
    const wrong: string[] = [];
    for (const row of rows) {
      const [word, stem, , synsets, stemSynsets] = row.split("\t");
      const got = [stemEnglish(word), ids(base!.synonyms!.synsets(word)), ids(base!.synonyms!.stemSynsets(word))];
      if (got.join("|") !== [stem, synsets, stemSynsets].join("|")) wrong.push(`${word}: ${got.join(" / ")}`);
    }
    expect(rows.length).toBeGreaterThan(10_000);
    expect(wrong.slice(0, 10)).toEqual([]);
  });
});
