import { usageError } from "../../cli/errors.ts";
import { decodeImageFile } from "../../image/decode.ts";
import type { RgbImage } from "../../image/rgb-image.ts";
import type { LlamaPrecision } from "../../models/llama.ts";
import type { Device } from "../../runtime/ort.ts";
import { spliceEmbeddings } from "../embeddings.ts";
import { phrasesFromMarkup } from "../noun-phrases.ts";
import { decodeWithProbe } from "./decode.ts";
import { extractedPhrases, groupTokens, readChunksFile, rootSpans, tokenCharSpans, type PhraseSpan, type TokenGroup } from "./grouping.ts";
import { encodeLlavaImage, llavaPrompt, llavaPromptIds, loadLlava, type LlavaImage } from "./llava.ts";
import { bicubicUpsample, centreMaps, firstMaximum, groupMaps, padCrop, removeCorners, stepMap, type Window } from "./maps.ts";
import { embedSamImage, loadSam, segmentPoints, type PointMasks, type SamImage } from "./segment.ts";

export interface AttendOptions {
  /** LLaVA-1.5 checkpoint folder. */
  model: string;
  /** CLIP vision folder (default: the model's mm_vision_tower). */
  vision?: string;
  /** SAM checkpoint: segment-anything .pth, or a Hugging Face SamModel folder / .safetensors. */
  sam: string;
  image: string;
  instruction: string;
  /** Teacher-force this answer (then EOS) instead of generating; `<p>...</p>` marks in it name the phrases. */
  answer?: string;
  /** Greedy generation limit (default 1024, the official max_new_tokens). */
  maxTokens?: number;
  removeCorner?: boolean;
  /** JSON file of {"phrase", "start_char", "end_char"} root spans replacing the phrase extractor. */
  chunks?: string;
  /** example.py's --sam-score-thresh: phrases whose kept SAM score is below it are dropped from `phrases`. */
  minScore?: number;
  device?: Device;
  precision?: LlamaPrecision;
  /** Also post-process every multimask output to count its pixels (traces record them). */
  withAllMaskAreas?: boolean;
  onToken?: (token: number, index: number) => void;
}

/** One grounded phrase of the answer. */
export interface AttendPhrase {
  phrase: string;
  /** The phrase's [start, end) in `text` (its root span when the phrases came from a chunks file). */
  start: number;
  end: number;
  /** The root word's [start, end) in `text`, the span its tokens were matched on. */
  rootStart: number;
  rootEnd: number;
  /** Generated-token indices averaged into its map. */
  tokens: number[];
  /** The SAM point (x, y) in image pixels and the kept mask's IoU prediction. */
  point: [number, number];
  score: number;
  /** [H, W] 0/1. */
  mask: Uint8Array;
  /** [grid, grid] centred attention map (the `--heatmaps` picture). */
  heatmap: Float32Array;
}

/** Everything the run computed, for `glamm trace --backend attend` and `glamm gcg --backend attend`. */
export interface AttendRun {
  image: RgbImage;
  llava: LlavaImage;
  prompt: string;
  promptIds: number[];
  imageSpan: { start: number; end: number };
  inputsEmbeds: Float32Array;
  /** Generated (or forced) tokens, EOS included when reached; the decoded answer. */
  tokens: number[];
  text: string;
  tokenStarts: number[];
  tokenEnds: number[];
  grid: number;
  stepMaps: Float32Array[];
  meanMap: Float32Array;
  centredMaps: Float32Array[];
  /** Phrases with at least one token, in text order, and their maps (after --remove-corner). */
  groups: TokenGroup[];
  groupMaps: Float32Array[];
  square: { side: number; window: Window };
  /** [N][H·W] upsampled maps over the image window. */
  upsampled: Float32Array[];
  maxima: { index: number; x: number; y: number; value: number }[];
  samImage: SamImage;
  masks: PointMasks;
  /** Groups kept by minScore (all when it is not set). */
  phrases: AttendPhrase[];
}

const DEFAULT_MAX_TOKENS = 1024;

function answerPhrases(answer: string | undefined): { forcedText?: string; marked?: PhraseSpan[] } {
  if (answer === undefined) return {};
  const { text, phrases } = phrasesFromMarkup(answer);
  return { forcedText: text, ...(phrases.length ? { marked: rootSpans(phrases) } : {}) };
}

/** Attend-and-segment on one image: LLaVA-1.5 answers while its attention is read, SAM segments each phrase's peak. */
export async function runAttend(options: AttendOptions): Promise<AttendRun> {
  if (options.minScore !== undefined && !Number.isFinite(options.minScore)) throw usageError(`min score must be a number (got ${options.minScore})`);
  const image = await decodeImageFile(options.image);
  const chunkSpans = options.chunks === undefined ? undefined : readChunksFile(options.chunks);
  const { forcedText, marked } = answerPhrases(options.answer);
  const llava = await loadLlava(options.model, { vision: options.vision, device: options.device, precision: options.precision });
  try {
    const prompt = llavaPrompt(options.instruction);
    const { ids, imageStart, imageEnd } = llavaPromptIds(llava, prompt);
    const encoded = await encodeLlavaImage(llava, image);
    const { embeds } = spliceEmbeddings({ ids, table: llava.table, image: { data: encoded.imageFeatures, rows: llava.imageTokens } });
    const forcedIds = forcedText === undefined ? undefined : llava.tokenizer.encode(forcedText, { addSpecialTokens: false });
    const decoded = await decodeWithProbe(llava.decoder, llava.table, embeds, { start: imageStart, end: imageEnd }, {
      eosTokenId: llava.eosTokenId,
      maxNewTokens: options.maxTokens ?? DEFAULT_MAX_TOKENS,
      forcedIds,
      onToken: options.onToken,
    });
    const stepMaps = decoded.probes.map((probe) => stepMap(probe, llava.config.numLayers));
    const { mean, centred } = centreMaps(stepMaps);
    const { text, starts, ends } = tokenCharSpans(llava.tokenizer, decoded.tokens);
    const spans = chunkSpans ?? marked ?? extractedPhrases(text);
    // A phrase whose root overlaps no token has no map (torch would average nothing into NaN); it is left out.
    const groups = groupTokens(spans, starts, ends).filter((group) => group.tokens.length > 0);
    const maps = groupMaps(centred, groups.map((group) => group.tokens));
    if (options.removeCorner && maps.length) removeCorners(maps, llava.grid);

    const square = padCrop(image.height, image.width);
    const upsampled = maps.map((map) => bicubicUpsample(map, llava.grid, square.side, square.window));
    const maxima = upsampled.map((map) => firstMaximum(map, image.width));
    const sam = await loadSam(options.sam, options.device);
    try {
      const samImage = await embedSamImage(sam, image);
      const points = maxima.map(({ x, y }) => [x, y] as [number, number]);
      const masks = groups.length ? await segmentPoints(sam, samImage, points, options.withAllMaskAreas ?? false) : emptyMasks();
      const plane = image.width * image.height;
      const phrases = groups
        .map((group, i): AttendPhrase => ({
          phrase: group.phrase,
          start: group.phraseStart ?? group.startChar,
          end: group.phraseEnd ?? group.endChar,
          rootStart: group.startChar,
          rootEnd: group.endChar,
          tokens: group.tokens,
          point: points[i],
          score: masks.keptScores[i],
          mask: masks.keptMasks.subarray(i * plane, (i + 1) * plane),
          heatmap: maps[i],
        }))
        .filter((phrase) => options.minScore === undefined || phrase.score >= options.minScore);
      return {
        image,
        llava: encoded,
        prompt,
        promptIds: ids,
        imageSpan: { start: imageStart, end: imageEnd },
        inputsEmbeds: embeds,
        tokens: decoded.tokens,
        text,
        tokenStarts: starts,
        tokenEnds: ends,
        grid: llava.grid,
        stepMaps,
        meanMap: mean,
        centredMaps: centred,
        groups,
        groupMaps: maps,
        square,
        upsampled,
        maxima,
        samImage,
        masks,
        phrases,
      };
    } finally {
      await sam.release();
    }
  } finally {
    await llava.release();
  }
}

function emptyMasks(): PointMasks {
  const none = new Float32Array(0);
  return { coords: none, lowRes: none, iou: none, outputs: 0, areasAll: [], keptLogits: none, keptMasks: new Uint8Array(0), keptScores: none, keptAreas: [] };
}
