/**
 * METEOR 1.5 scoring (edu.cmu.meteor.scorer.MeteorScorer / MeteorStats) and the set-level score pycocoevalcap reads:
 * every segment's sufficient statistics summed (MeteorStats.addStats), then scored once.
 */
import { align, MODULE_EXACT, MODULE_PARAPHRASE, MODULE_STEM, MODULE_SYNONYM, type AlignerResources } from "./align.ts";
import { javaTrim, normalizeEnglish, type NonbreakingPrefixes } from "./normalize.ts";
import type { ParaphraseTable } from "./paraphrase.ts";
import type { SynonymDictionary } from "./synonyms.ts";

/** English "rank" task defaults: alpha, beta, gamma, delta and the exact, stem, synonym, paraphrase weights. */
export const ENGLISH_PARAMETERS = { alpha: 0.85, beta: 0.2, gamma: 0.6, delta: 0.75 } as const;
export const ENGLISH_MODULE_WEIGHTS = [1.0, 0.6, 0.8, 0.6] as const;
const MAX_MODULES = 4;

/** The aggregable statistics of one segment (or of a summed set), word-based. */
export interface MeteorStats {
  testLength: number;
  referenceLength: number;
  testFunctionWords: number;
  referenceFunctionWords: number;
  /** Per module (always MAX_MODULES long): matched content/function words of test and reference. */
  testContent: number[];
  referenceContent: number[];
  testFunction: number[];
  referenceFunction: number[];
  chunks: number;
  testWordMatches: number;
  referenceWordMatches: number;
}

const sum = (values: readonly number[]) => values.reduce((a, b) => a + b, 0);
const padded = (values: readonly number[]) => Array.from({ length: MAX_MODULES }, (_, i) => values[i] ?? 0);
const testTotal = (s: MeteorStats) => sum(s.testContent) + sum(s.testFunction);
const referenceTotal = (s: MeteorStats) => sum(s.referenceContent) + sum(s.referenceFunction);

/** MeteorScorer.computeMetrics: the score of a set of statistics (0 where it would divide by zero). */
export function meteorScore(stats: MeteorStats, weights: readonly number[] = ENGLISH_MODULE_WEIGHTS, p = ENGLISH_PARAMETERS): number {
  const { alpha, beta, gamma, delta } = p;
  const testWeightedLength = delta * (stats.testLength - stats.testFunctionWords) + (1 - delta) * stats.testFunctionWords;
  const referenceWeightedLength = delta * (stats.referenceLength - stats.referenceFunctionWords) + (1 - delta) * stats.referenceFunctionWords;
  let testWeighted = 0;
  let referenceWeighted = 0;
  // Same summation order as the jar: content over modules, then function words.
  for (let i = 0; i < weights.length; i++) testWeighted += stats.testContent[i] * weights[i] * delta;
  for (let i = 0; i < weights.length; i++) referenceWeighted += stats.referenceContent[i] * weights[i] * delta;
  for (let i = 0; i < weights.length; i++) testWeighted += stats.testFunction[i] * weights[i] * (1 - delta);
  for (let i = 0; i < weights.length; i++) referenceWeighted += stats.referenceFunction[i] * weights[i] * (1 - delta);
  const precision = testWeighted / testWeightedLength;
  const recall = referenceWeighted / referenceWeightedLength;
  const fMean = 1 / ((1 - alpha) / precision + alpha / recall);
  const perfect = testTotal(stats) === stats.testLength && referenceTotal(stats) === stats.referenceLength && stats.chunks === 1;
  const fragmentation = perfect ? 0 : stats.chunks / ((stats.testWordMatches + stats.referenceWordMatches) / 2);
  const score = fMean * (1 - gamma * fragmentation ** beta);
  return Number.isNaN(score) ? 0 : Math.max(score, 0);
}

/** MeteorStats.addStats: a perfectly matched segment (one chunk covering both sides) adds no chunk. */
export function addStats(total: MeteorStats, s: MeteorStats): MeteorStats {
  const perfect = testTotal(s) === s.testLength && referenceTotal(s) === s.referenceLength && s.chunks === 1;
  const add = (a: number[], b: number[]) => a.map((x, i) => x + b[i]);
  return {
    testLength: total.testLength + s.testLength,
    referenceLength: total.referenceLength + s.referenceLength,
    testFunctionWords: total.testFunctionWords + s.testFunctionWords,
    referenceFunctionWords: total.referenceFunctionWords + s.referenceFunctionWords,
    testContent: add(total.testContent, s.testContent),
    referenceContent: add(total.referenceContent, s.referenceContent),
    testFunction: add(total.testFunction, s.testFunction),
    referenceFunction: add(total.referenceFunction, s.referenceFunction),
    chunks: total.chunks + (perfect ? 0 : s.chunks),
    testWordMatches: total.testWordMatches + s.testWordMatches,
    referenceWordMatches: total.referenceWordMatches + s.referenceWordMatches,
  };
}

export const emptyStats = (): MeteorStats => ({
  testLength: 0,
  referenceLength: 0,
  testFunctionWords: 0,
  referenceFunctionWords: 0,
  testContent: padded([]),
  referenceContent: padded([]),
  testFunction: padded([]),
  referenceFunction: padded([]),
  chunks: 0,
  testWordMatches: 0,
  referenceWordMatches: 0,
});

/** The data METEOR reads besides the sentences: a stage without its data (synonyms, paraphrases) matches nothing. */
export interface MeteorResources {
  functionWords: ReadonlySet<string>;
  synonyms?: SynonymDictionary;
  paraphrases?: ParaphraseTable;
  nonbreakingPrefixes?: NonbreakingPrefixes;
}

const tokens = (text: string) => text.split(/[ \t\n\r\f]+/).filter(Boolean);

export class MeteorScorer {
  private readonly aligner: AlignerResources;

  /** English defaults (`-l en -norm`): exact, stem, synonym and paraphrase stages. */
  constructor(private readonly resources: MeteorResources) {
    const { functionWords, synonyms, paraphrases } = resources;
    this.aligner = { functionWords, synonyms, paraphrases, modules: [MODULE_EXACT, MODULE_STEM, MODULE_SYNONYM, MODULE_PARAPHRASE] };
  }

  private normalize(text: string): string {
    return normalizeEnglish(text, this.resources.nonbreakingPrefixes);
  }

  /** Statistics of one test sentence against one reference (both already normalized). */
  private pairStats(test: string[], reference: string[]): MeteorStats {
    const a = align(test, reference, this.aligner);
    return {
      testLength: test.length,
      referenceLength: reference.length,
      testFunctionWords: a.testFunctionWords,
      referenceFunctionWords: a.referenceFunctionWords,
      testContent: padded(a.contentMatches1),
      referenceContent: padded(a.contentMatches2),
      testFunction: padded(a.functionMatches1),
      referenceFunction: padded(a.functionMatches2),
      chunks: a.chunks,
      testWordMatches: sum(a.contentMatches1) + sum(a.functionMatches1),
      referenceWordMatches: sum(a.contentMatches2) + sum(a.functionMatches2),
    };
  }

  /** MeteorScorer.getMeteorStats: the statistics of the first reference with the highest score. */
  segmentStats(test: string, references: readonly string[]): MeteorStats {
    const testWords = tokens(this.normalize(test));
    let best: MeteorStats | undefined;
    let bestScore = -1;
    for (const reference of references) {
      const stats = this.pairStats(testWords, tokens(this.normalize(reference)));
      const score = meteorScore(stats);
      if (score > bestScore) [best, bestScore] = [stats, score];
    }
    return best ?? emptyStats();
  }

  /** pycocoevalcap Meteor.compute_score: per-segment scores and the score of the summed statistics. */
  scoreSet(pairs: readonly { candidate: string; references: readonly string[] }[]): { corpus: number; perImage: number[] } {
    let total = emptyStats();
    const perImage = pairs.map(({ candidate, references }) => {
      const line = scoreLine(candidate, references);
      const stats = this.segmentStats(line.hypothesis, line.references);
      total = addStats(total, stats);
      return meteorScore(stats);
    });
    return { corpus: meteorScore(total), perImage };
  }
}

/**
 * What the jar reads from pycocoevalcap's `SCORE ||| ref_1 ||| ... ||| hyp` line: meteor.py removes "|||" and one pass
 * of double spaces from the hypothesis only; the jar splits on "|||" (Java's split drops trailing empty parts) and
 * trims every part, so a reference containing "|||" becomes two.
 */
export function scoreLine(hypothesis: string, references: readonly string[]): { hypothesis: string; references: string[] } {
  const parts = ["SCORE", ...references, hypothesis.replaceAll("|||", "").replaceAll("  ", " ")].join(" ||| ").split("|||");
  while (parts.at(-1) === "") parts.pop();
  const trimmed = parts.map(javaTrim);
  return { hypothesis: trimmed.at(-1) ?? "", references: trimmed.slice(1, -1) };
}
