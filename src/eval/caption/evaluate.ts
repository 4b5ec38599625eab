/**
 * COCOEvalCap as the GLaMM scripts use it: every image that has a result is scored against all its reference
 * captions, after PTB tokenization of both sides (or, with "none", on the captions as given). METEOR is optional
 * because it needs data files.
 */
import { inputError } from "../../cli/errors.ts";
import type { ImageId } from "../coco.ts";
import { bleu, ciderD, rougeL, type CaptionPair } from "./ngram-scorers.ts";
import { tokenizeCaption } from "./ptb-tokenizer.ts";

export interface CaptionScorerExtra {
  name: string;
  /** Corpus score and per-image scores over tokenized pairs. */
  score(pairs: readonly CaptionPair[]): { corpus: number; perImage: number[] };
}

/** "ptb": COCOEvalCap's PTBTokenizer step; "none": the scorers see the captions as given. */
export type CaptionTokenization = "ptb" | "none";

export type CaptionMetricName = "Bleu_1" | "Bleu_2" | "Bleu_3" | "Bleu_4" | "ROUGE_L" | "CIDEr" | string;

export interface CaptionMetrics {
  corpus: Record<CaptionMetricName, number>;
  perImage: { imageId: ImageId; scores: Record<CaptionMetricName, number> }[];
  tokenized: { imageId: ImageId; candidate: string; references: string[] }[];
}

/**
 * @param imageIds the images to score, in order (pycocotools' loadRes keeps the ground-truth image order)
 * @param references ground-truth captions by image
 * @param candidates the single result caption of each image
 */
export function evaluateCaptions(
  imageIds: readonly ImageId[],
  references: ReadonlyMap<ImageId, string[]>,
  candidates: ReadonlyMap<ImageId, string>,
  extraScorers: readonly CaptionScorerExtra[] = [],
  tokenization: CaptionTokenization = "ptb",
): CaptionMetrics {
  const tokenize = tokenization === "ptb" ? tokenizeCaption : (caption: string) => caption;
  const tokenized = imageIds.map((imageId) => {
    const refs = references.get(imageId);
    const candidate = candidates.get(imageId);
    if (!refs?.length) throw inputError(`image ${imageId} has a result caption but no reference caption`);
    if (candidate === undefined) throw inputError(`image ${imageId} has no result caption`);
    return { imageId, candidate: tokenize(candidate), references: refs.map(tokenize) };
  });
  const pairs = tokenized.map(({ candidate, references: refs }) => ({ candidate, references: refs }));
  const b = bleu(pairs);
  const results: [string, { corpus: number; perImage: number[] }][] = [
    ...b.corpus.map((corpus, k): [string, { corpus: number; perImage: number[] }] => [`Bleu_${k + 1}`, { corpus, perImage: b.perImage.map((s) => s[k]) }]),
    ...extraScorers.map((s): [string, { corpus: number; perImage: number[] }] => [s.name, s.score(pairs)]),
    ["ROUGE_L", rougeL(pairs)],
    ["CIDEr", ciderD(pairs)],
  ];
  return {
    corpus: Object.fromEntries(results.map(([name, r]) => [name, r.corpus])),
    perImage: imageIds.map((imageId, i) => ({ imageId, scores: Object.fromEntries(results.map(([name, r]) => [name, r.perImage[i]])) })),
    tokenized,
  };
}
