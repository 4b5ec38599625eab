/**
 * pycocoevalcap 1.2 scorers over tokenized captions: Bleu(4) with the "closest" reference length, Rouge (ROUGE-L,
 * beta 1.2) and Cider (CIDEr-D: sigma 6, clipped counts, x10, document frequency from all references).
 * Each returns the corpus score and one score per image, in input order.
 */
import { npMean } from "../numeric.ts";

export interface CaptionPair {
  /** The single tokenized candidate. */
  candidate: string;
  /** Tokenized references (at least one). */
  references: string[];
}

function ngramCounts(sentence: string, n: number): Map<string, number> {
  const words = sentence.split(/\s+/).filter(Boolean);
  const counts = new Map<string, number>();
  for (let k = 1; k <= n; k++) {
    for (let i = 0; i + k <= words.length; i++) {
      const gram = words.slice(i, i + k).join(" ");
      counts.set(gram, (counts.get(gram) ?? 0) + 1);
    }
  }
  return counts;
}

const gramOrder = (gram: string) => gram.split(" ").length;
const wordCount = (sentence: string) => sentence.split(/\s+/).filter(Boolean).length;

export function bleu(pairs: readonly CaptionPair[], n = 4): { corpus: number[]; perImage: number[][] } {
  const small = 1e-9;
  const tiny = 1e-15;
  const totalGuess = new Array<number>(n).fill(0);
  const totalCorrect = new Array<number>(n).fill(0);
  let totalTest = 0;
  let totalRef = 0;
  const perImage: number[][] = [];
  for (const { candidate, references } of pairs) {
    const maxRefCounts = new Map<string, number>();
    const refLengths = references.map((ref) => {
      for (const [gram, count] of ngramCounts(ref, n)) maxRefCounts.set(gram, Math.max(maxRefCounts.get(gram) ?? 0, count));
      return wordCount(ref);
    });
    const testLen = wordCount(candidate);
    // "closest": smallest |len - testLen|, ties to the shorter reference
    const refLen = refLengths.reduce((best, l) => {
      const d = Math.abs(l - testLen);
      const bd = Math.abs(best - testLen);
      return d < bd || (d === bd && l < best) ? l : best;
    });
    const guess = Array.from({ length: n }, (_, k) => Math.max(0, testLen - k));
    const correct = new Array<number>(n).fill(0);
    for (const [gram, count] of ngramCounts(candidate, n)) correct[gramOrder(gram) - 1] += Math.min(maxRefCounts.get(gram) ?? 0, count);
    totalTest += testLen;
    totalRef += refLen;
    for (let k = 0; k < n; k++) {
      totalGuess[k] += guess[k];
      totalCorrect[k] += correct[k];
    }
    perImage.push(brevityAdjusted(correct, guess, testLen, refLen, tiny, small));
  }
  return { corpus: brevityAdjusted(totalCorrect, totalGuess, totalTest, totalRef, tiny, small), perImage };
}

function brevityAdjusted(correct: number[], guess: number[], testLen: number, refLen: number, tiny: number, small: number): number[] {
  const scores: number[] = [];
  let product = 1;
  for (let k = 0; k < correct.length; k++) {
    product *= (correct[k] + tiny) / (guess[k] + small);
    scores.push(product ** (1 / (k + 1)));
  }
  const ratio = (testLen + tiny) / (refLen + small);
  if (ratio < 1) for (let k = 0; k < scores.length; k++) scores[k] *= Math.exp(1 - 1 / ratio);
  return scores;
}

function lcsLength(a: readonly string[], b: readonly string[]): number {
  const row = new Array<number>(b.length + 1).fill(0);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = 0;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j];
      row[j] = a[i - 1] === b[j - 1] ? diagonal + 1 : Math.max(row[j], row[j - 1]);
      diagonal = above;
    }
  }
  return row[b.length];
}

/** ROUGE-L; tokens come from split(" "), so an empty caption is one empty token, as in the official scorer. */
export function rougeL(pairs: readonly CaptionPair[], beta = 1.2): { corpus: number; perImage: number[] } {
  const perImage = pairs.map(({ candidate, references }) => {
    const c = candidate.split(" ");
    let precision = 0;
    let recall = 0;
    for (const reference of references) {
      const r = reference.split(" ");
      const lcs = lcsLength(r, c);
      precision = Math.max(precision, lcs / c.length);
      recall = Math.max(recall, lcs / r.length);
    }
    if (precision === 0 || recall === 0) return 0;
    return ((1 + beta ** 2) * precision * recall) / (recall + beta ** 2 * precision);
  });
  return { corpus: npMean(perImage), perImage };
}

/** CIDEr-D as pycocoevalcap's Cider computes it. */
export function ciderD(pairs: readonly CaptionPair[], n = 4, sigma = 6): { corpus: number; perImage: number[] } {
  const refCounts = pairs.map((p) => p.references.map((r) => ngramCounts(r, n)));
  const documentFrequency = new Map<string, number>();
  for (const refs of refCounts) {
    const seen = new Set<string>();
    for (const counts of refs) for (const gram of counts.keys()) seen.add(gram);
    for (const gram of seen) documentFrequency.set(gram, (documentFrequency.get(gram) ?? 0) + 1);
  }
  const refLen = Math.log(pairs.length);
  const toVector = (counts: Map<string, number>) => {
    const vec = Array.from({ length: n }, () => new Map<string, number>());
    const norm = new Array<number>(n).fill(0);
    let length = 0;
    for (const [gram, tf] of counts) {
      const df = Math.log(Math.max(1, documentFrequency.get(gram) ?? 0));
      const order = gramOrder(gram) - 1;
      const value = tf * (refLen - df);
      vec[order].set(gram, value);
      norm[order] += value ** 2;
      if (order === 1) length += tf; // the official code measures length in bigrams
    }
    return { vec, norm: norm.map(Math.sqrt), length };
  };
  const perImage = pairs.map((pair, index) => {
    const hyp = toVector(ngramCounts(pair.candidate, n));
    const score = new Array<number>(n).fill(0);
    for (const refCountsOne of refCounts[index]) {
      const ref = toVector(refCountsOne);
      const delta = hyp.length - ref.length;
      for (let k = 0; k < n; k++) {
        let value = 0;
        for (const [gram, h] of hyp.vec[k]) {
          const r = ref.vec[k].get(gram) ?? 0;
          value += Math.min(h, r) * r;
        }
        if (hyp.norm[k] !== 0 && ref.norm[k] !== 0) value /= hyp.norm[k] * ref.norm[k];
        score[k] += value * Math.E ** (-(delta ** 2) / (2 * sigma ** 2));
      }
    }
    return (npMean(score) / refCounts[index].length) * 10;
  });
  return { corpus: npMean(perImage), perImage };
}
