/**
 * METEOR 1.5's aligner (edu.cmu.meteor.aligner.Aligner): staged one-word matchers, then a left-to-right beam search
 * over the remaining ambiguous matches, reproducing the jar's integer arithmetic and its comparator.
 */
import type { ParaphraseTable } from "./paraphrase.ts";
import { stemEnglish } from "./snowball-english.ts";
import type { SynonymDictionary } from "./synonyms.ts";

export const MODULE_EXACT = 0;
export const MODULE_STEM = 1;
export const MODULE_SYNONYM = 2;
export const MODULE_PARAPHRASE = 3;

/** Java's String.hashCode: the jar keys words (and stems) by it, collisions included. */
export function javaHashCode(text: string): number {
  let hash = 0;
  for (let i = 0; i < text.length; i++) hash = (Math.imul(hash, 31) + text.charCodeAt(i)) | 0;
  return hash;
}

/** A match of reference words [start, start+length) to test words [matchStart, matchStart+matchLength). */
export interface Match {
  module: number;
  start: number;
  length: number;
  matchStart: number;
  matchLength: number;
}

export interface Alignment {
  test: string[];
  reference: string[];
  /** matches[i]: the match starting at reference word i, if any. */
  matches: (Match | null)[];
  chunks: number;
  testFunctionWords: number;
  referenceFunctionWords: number;
  /** Matched words per module, split by function/content word, for test (1) and reference (2). */
  contentMatches1: number[];
  contentMatches2: number[];
  functionMatches1: number[];
  functionMatches2: number[];
}

interface Stage {
  /** Beam-search weight of each stage (indexed like Match.module). */
  weights: number[];
  keys1: number[];
  keys2: number[];
  matches: Match[][];
  coverage1: number[];
  coverage2: number[];
}

function addMatch(stage: Stage, module: number, i: number, j: number, length = 1, matchLength = 1): void {
  stage.matches[j].push({ module, start: j, length, matchStart: i, matchLength });
  for (let k = 0; k < matchLength; k++) stage.coverage1[i + k]++;
  for (let k = 0; k < length; k++) stage.coverage2[j + k]++;
}

/** `words` (a paraphrase) occurs in `line` at `at`; an empty paraphrase occurs everywhere, as in the jar. */
const occursAt = (line: readonly string[], at: number, words: readonly string[]) => at + words.length <= line.length && words.every((w, k) => line[at + k] === w);

/**
 * ParaphraseMatcher: phrases of the reference whose paraphrase is in the test, then phrases of the test whose
 * paraphrase is in the reference, so a record matches both ways. Identity of the words is not checked.
 */
function matchParaphrases(stage: Stage, module: number, test: string[], reference: string[], table: ParaphraseTable): void {
  for (let j = 0; j < reference.length; j++) {
    for (const { length, paraphrase } of table.paths(reference, j)) {
      for (let i = 0; i < test.length; i++) if (occursAt(test, i, paraphrase)) addMatch(stage, module, i, j, length, paraphrase.length);
    }
  }
  for (let i = 0; i < test.length; i++) {
    for (const { length, paraphrase } of table.paths(test, i)) {
      for (let j = 0; j < reference.length; j++) if (occursAt(reference, j, paraphrase)) addMatch(stage, module, i, j, paraphrase.length, length);
    }
  }
}

/** Every pair (test i, reference j), reference-major as the jar loops. */
function eachPair(stage: Stage, visit: (i: number, j: number) => void): void {
  for (let j = 0; j < stage.keys2.length; j++) for (let i = 0; i < stage.keys1.length; i++) visit(i, j);
}

export interface AlignerResources {
  functionWords: ReadonlySet<string>;
  synonyms?: SynonymDictionary;
  paraphrases?: ParaphraseTable;
  /** The stages in order; the jar's English default is exact, stem, synonym, paraphrase. */
  modules: readonly number[];
}

/** Search weights the scorer installs in the aligner (MeteorScorer.loadConfiguration): exact 1, others 0.5. */
const searchWeight = (module: number) => (module === MODULE_EXACT ? 1 : 0.5);

interface Path {
  matches: (Match | null)[];
  used1: boolean[];
  used2: boolean[];
  matches1: number;
  matches2: number;
  chunks: number;
  idx: number;
  lastMatchEnd: number;
  distance: number;
}

const copyPath = (p: Path): Path => ({ ...p, matches: [...p.matches], used1: [...p.used1], used2: [...p.used2] });

const isUsed = (p: Path, m: Match) => p.used2.slice(m.start, m.start + m.length).some(Boolean) || p.used1.slice(m.matchStart, m.matchStart + m.matchLength).some(Boolean);

function setUsed(p: Path, m: Match): void {
  for (let k = 0; k < m.length; k++) p.used2[m.start + k] = true;
  for (let k = 0; k < m.matchLength; k++) p.used1[m.matchStart + k] = true;
}

/** PARTIAL_COMPARE_TOTAL: more weighted matches, then fewer chunks, then less distance. */
const comparePaths = (x: Path, y: Path) => y.matches1 + y.matches2 - (x.matches1 + x.matches2) || x.chunks - y.chunks || x.distance - y.distance;

/** Java `int += double`: the sum is truncated toward zero. */
const addTruncated = (total: number, length: number, weight: number) => Math.trunc(total + length * weight);

function extend(path: Path, m: Match, weights: readonly number[]): void {
  path.matches1 = addTruncated(path.matches1, m.matchLength, weights[m.module]);
  path.matches2 = addTruncated(path.matches2, m.length, weights[m.module]);
  if (path.lastMatchEnd !== -1 && m.matchStart !== path.lastMatchEnd) path.chunks++;
  path.idx = m.start + m.length;
  path.lastMatchEnd = m.matchStart + m.matchLength;
}

function beamSearch(stage: Stage, start: Path, beamSize: number): Path {
  let nextPaths = [start];
  const n = stage.matches.length;
  for (let current = 0; current <= n; current++) {
    const paths = nextPaths.sort(comparePaths);
    nextPaths = [];
    for (let rank = 0; rank < beamSize && rank < paths.length; rank++) {
      const path = paths[rank];
      if (current === n) {
        if (path.lastMatchEnd !== -1) path.chunks++;
        nextPaths.push(path);
        continue;
      }
      if (path.used2[current]) {
        if (current < path.idx) nextPaths.push(path);
        else if (path.matches[path.idx]) {
          const m = path.matches[path.idx]!;
          extend(path, m, stage.weights);
          path.distance += Math.abs(m.start - m.matchStart);
          nextPaths.push(path);
        }
        continue;
      }
      for (const m of stage.matches[current]) {
        if (isUsed(path, m)) continue;
        const next = copyPath(path);
        setUsed(next, m);
        next.matches[current] = m;
        extend(next, m, stage.weights);
        // The jar adds this distance to the parent path, not the new one; kept for identical tie-breaking.
        path.distance += Math.abs(m.start - m.matchStart);
        nextPaths.push(next);
      }
      if (path.lastMatchEnd !== -1) {
        path.chunks++;
        path.lastMatchEnd = -1;
      }
      path.idx++;
      nextPaths.push(path);
    }
    if (nextPaths.length === 0) nextPaths.push(paths[0]);
  }
  return nextPaths.sort(comparePaths)[0];
}

function countChunks(matches: readonly (Match | null)[]): number {
  let chunks = 0;
  let idx = 0;
  let lastMatchEnd = -1;
  while (idx < matches.length) {
    const m = matches[idx];
    if (!m) {
      if (lastMatchEnd !== -1) {
        chunks++;
        lastMatchEnd = -1;
      }
      idx++;
    } else {
      if (lastMatchEnd !== -1 && m.matchStart !== lastMatchEnd) chunks++;
      idx = m.start + m.length;
      lastMatchEnd = m.matchStart + m.matchLength;
    }
  }
  return lastMatchEnd !== -1 ? chunks + 1 : chunks;
}

function synonymSets(synonyms: SynonymDictionary, word: string): Set<number> {
  return new Set([...synonyms.synsets(word), ...synonyms.stemSynsets(word)]);
}

function runStages(stage: Stage, test: string[], reference: string[], resources: AlignerResources, modulesUsed: number): void {
  for (let moduleIndex = 0; moduleIndex < modulesUsed; moduleIndex++) {
    const module = resources.modules[moduleIndex];
    if (module === MODULE_EXACT) {
      eachPair(stage, (i, j) => stage.keys1[i] === stage.keys2[j] && addMatch(stage, moduleIndex, i, j));
    } else if (module === MODULE_STEM) {
      const stems1 = test.map((w) => javaHashCode(stemEnglish(w)));
      const stems2 = reference.map((w) => javaHashCode(stemEnglish(w)));
      eachPair(stage, (i, j) => stems1[i] === stems2[j] && stage.keys1[i] !== stage.keys2[j] && addMatch(stage, moduleIndex, i, j));
    } else if (module === MODULE_SYNONYM && resources.synonyms) {
      const synonyms = resources.synonyms;
      const sets1 = test.map((w) => synonymSets(synonyms, w));
      const sets2 = reference.map((w) => synonymSets(synonyms, w));
      eachPair(stage, (i, j) => {
        const shared = [...sets1[i]].some((s) => sets2[j].has(s));
        if (shared && stage.keys1[i] !== stage.keys2[j]) addMatch(stage, moduleIndex, i, j);
      });
    } else if (module === MODULE_PARAPHRASE && resources.paraphrases) {
      matchParaphrases(stage, moduleIndex, test, reference, resources.paraphrases);
    }
  }
}

/** Aligns tokenized test (hypothesis) and reference words as Aligner.align does. */
export function align(test: string[], reference: string[], resources: AlignerResources, beamSize = 40): Alignment {
  const stage: Stage = {
    weights: resources.modules.map(searchWeight),
    keys1: test.map(javaHashCode),
    keys2: reference.map(javaHashCode),
    matches: reference.map(() => []),
    coverage1: test.map(() => 0),
    coverage2: reference.map(() => 0),
  };
  const identical = test.length === reference.length && stage.keys1.every((k, i) => k === stage.keys2[i]);
  runStages(stage, test, reference, resources, identical ? 1 : resources.modules.length);

  const start: Path = { matches: reference.map(() => null), used1: test.map(() => false), used2: reference.map(() => false), matches1: 0, matches2: 0, chunks: 0, idx: 0, lastMatchEnd: -1, distance: 0 };
  // One-to-one, non-overlapping matches are fixed before the search.
  stage.matches.forEach((list, j) => {
    if (list.length !== 1) return;
    const m = list[0];
    const overlap = stage.coverage2.slice(j, j + m.length).some((c) => c !== 1) || stage.coverage1.slice(m.matchStart, m.matchStart + m.matchLength).some((c) => c !== 1);
    if (overlap) return;
    start.matches[j] = m;
    setUsed(start, m);
  });
  const best = beamSearch(stage, start, beamSize);

  const moduleCount = resources.modules.length;
  const zeros = () => new Array<number>(moduleCount).fill(0);
  const isFunction1 = test.map((w) => resources.functionWords.has(w.toLowerCase()));
  const isFunction2 = reference.map((w) => resources.functionWords.has(w.toLowerCase()));
  const alignment: Alignment = {
    test,
    reference,
    matches: best.matches,
    chunks: countChunks(best.matches),
    testFunctionWords: isFunction1.filter(Boolean).length,
    referenceFunctionWords: isFunction2.filter(Boolean).length,
    contentMatches1: zeros(),
    contentMatches2: zeros(),
    functionMatches1: zeros(),
    functionMatches2: zeros(),
  };
  for (const m of best.matches) {
    if (!m) continue;
    for (let k = 0; k < m.matchLength; k++) (isFunction1[m.matchStart + k] ? alignment.functionMatches1 : alignment.contentMatches1)[m.module]++;
    for (let k = 0; k < m.length; k++) (isFunction2[m.start + k] ? alignment.functionMatches2 : alignment.contentMatches2)[m.module]++;
  }
  return alignment;
}
