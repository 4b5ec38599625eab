import { usageError } from "../../cli/errors.ts";
import type { RgbImage } from "../../image/rgb-image.ts";
import type { LlamaPrecision } from "../../models/llama.ts";
import { cudaStatus } from "../../runtime/cuda.ts";
import { ortNativeDir, type Device } from "../../runtime/ort.ts";
import { spliceEmbeddings } from "../embeddings.ts";
import { phrasesFromMarkup } from "../../text/noun-phrases.ts";
import { decodeWithProbe } from "./decode.ts";
import { isDiffLmmFolder, loadDiffLmm, type DiffLmmOptions } from "./difflmm.ts";
import { extractedPhrases, groupTokens, rootSpans, tokenCharSpans, type PhraseSpan, type TokenGroup } from "./grouping.ts";
import { encodeLlavaImage, llavaPrompt, llavaPromptIds, loadLlava, type LlavaImage, type LlavaModel, type LlavaTurn } from "./llava.ts";
import { bicubicUpsample, centreMaps, firstMaximum, groupMaps, padCrop, removeCorners, stepMap, type Window } from "./maps.ts";
import { embedSamImage, loadSam, segmentPoints, type PointMasks, type SamImage, type SamModel } from "./segment.ts";

export interface AttendModelOptions {
  /** LLaVA-1.5 checkpoint folder. */
  model: string;
  /** CLIP vision folder (default: the model's mm_vision_tower). */
  vision?: string;
  /** SAM checkpoint: segment-anything .pth, or a Hugging Face SamModel folder / .safetensors. */
  sam: string;
  device?: Device;
  precision?: LlamaPrecision;
  /** DiffLMM (a LoRA folder whose projector is SDCLIPBlock): its base LLM, CLIP folder and diffusion noise. */
  difflmm?: Pick<DiffLmmOptions, "modelBase" | "clip" | "noise" | "noiseSeed">;
  /** Conversion (first use) and loading progress, one line at a time. */
  onProgress?(message: string): void;
}

export interface AskOptions {
  question: string;
  /** Earlier turns of the conversation about this image, oldest first. */
  history?: readonly LlavaTurn[];
  /** Teacher-force this answer (then EOS) instead of generating; `<p>...</p>` marks in it name the phrases. */
  answer?: string;
  /** Greedy generation limit (default 1024, the official max_new_tokens). */
  maxTokens?: number;
  removeCorner?: boolean;
  /** Root spans replacing the phrase extractor (`--chunks FILE`). */
  chunks?: readonly PhraseSpan[];
  /** example.py's --sam-score-thresh: phrases whose kept SAM score is below it are dropped from `phrases`. */
  minScore?: number;
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

/** Everything one answer computed, for `glamm trace --backend attend`, the attend tasks and chat. */
export interface AttendRun {
  image: RgbImage;
  llava: LlavaImage;
  prompt: string;
  promptIds: number[];
  imageSpan: { start: number; end: number };
  inputsEmbeds: Float32Array;
  /** Generated (or forced) tokens of the new answer, EOS included when reached; the decoded answer. */
  tokens: number[];
  text: string;
  tokenStarts: number[];
  tokenEnds: number[];
  grid: number;
  stepMaps: Float32Array[];
  /** The lm_head row of every step [steps][vocab]. */
  logits: Float32Array[];
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

/** LLaVA-1.5 and SAM loaded once, for any number of images and questions. */
export class AttendModel {
  private constructor(
    private llava: LlavaModel | undefined,
    private readonly openLlava: () => Promise<LlavaModel>,
    readonly sam: SamModel,
    /** On CPU LLaVA is let go while the SAM encoder runs (see openImage). */
    private readonly lowMemory: boolean,
  ) {}

  static async load(options: AttendModelOptions): Promise<AttendModel> {
    const common = { vision: options.vision, device: options.device, precision: options.precision, onProgress: options.onProgress };
    const openLlava = () => (isDiffLmmFolder(options.model) ? loadDiffLmm(options.model, { ...common, ...options.difflmm }) : loadLlava(options.model, common));
    // Converts (first use) and loads both, so a bad checkpoint fails here, before any image.
    const llava = await openLlava();
    try {
      const lowMemory = options.device === "cpu" || !cudaStatus(ortNativeDir()).available;
      return new AttendModel(llava, openLlava, await loadSam(options.sam, options.device, options.onProgress), lowMemory);
    } catch (error) {
      await llava.release();
      throw error;
    }
  }

  /**
   * Encodes the image once for SAM (image embedding) and LLaVA (CLIP + projector). On CPU the 7B decoder (~4 GB at
   * int4) is released while the SAM ViT-H encoder (2.5 GB of weights, ~5 GB of activations) runs and loaded again
   * after: together they took a task past 10 GB.
   */
  async openImage(image: RgbImage): Promise<AttendImage> {
    if (this.lowMemory) await this.releaseLlava();
    const samImage = await embedSamImage(this.sam, image);
    this.llava ??= await this.openLlava();
    const llavaImage = await encodeLlavaImage(this.llava, image);
    return new AttendImage(this.llava, this.sam, image, llavaImage, samImage);
  }

  private async releaseLlava(): Promise<void> {
    const llava = this.llava;
    this.llava = undefined;
    await llava?.release();
  }

  async release(): Promise<void> {
    await Promise.all([this.releaseLlava(), this.sam.release()]);
  }
}

function answerPhrases(answer: string | undefined): { forcedText?: string; marked?: PhraseSpan[] } {
  if (answer === undefined) return {};
  const { text, phrases } = phrasesFromMarkup(answer);
  return { forcedText: text, ...(phrases.length ? { marked: rootSpans(phrases) } : {}) };
}

function emptyMasks(): PointMasks {
  const none = new Float32Array(0);
  return { coords: none, lowRes: none, iou: none, outputs: 0, areasAll: [], keptLogits: none, keptMasks: new Uint8Array(0), keptScores: none, keptAreas: [] };
}

/** One encoded image: every question about it reuses its LLaVA features and SAM embedding. */
export class AttendImage {
  constructor(
    private readonly model: LlavaModel,
    private readonly sam: SamModel,
    readonly image: RgbImage,
    readonly llava: LlavaImage,
    readonly samImage: SamImage,
  ) {}

  /**
   * Attend-and-segment for one answer: LLaVA answers the question (after `history`) while its attention to the image
   * tokens is read; the new answer's phrases get centred maps, and SAM segments each map's peak.
   */
  async ask(options: AskOptions): Promise<AttendRun> {
    if (options.minScore !== undefined && !Number.isFinite(options.minScore)) throw usageError(`min score must be a number (got ${options.minScore})`);
    const { model: llava, image } = this;
    const { forcedText, marked } = answerPhrases(options.answer);
    const prompt = llavaPrompt(options.question, options.history);
    const { ids, imageStart, imageEnd } = llavaPromptIds(llava, prompt);
    const { embeds } = spliceEmbeddings({ ids, table: llava.table, image: { data: this.llava.imageFeatures, rows: llava.imageTokens } });
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
    const spans = options.chunks ?? marked ?? extractedPhrases(text);
    // A phrase whose root overlaps no token has no map (torch would average nothing into NaN); it is left out.
    const groups = groupTokens(spans, starts, ends).filter((group) => group.tokens.length > 0);
    const maps = groupMaps(centred, groups.map((group) => group.tokens));
    if (options.removeCorner && maps.length) removeCorners(maps, llava.grid);

    const square = padCrop(image.height, image.width);
    const upsampled = maps.map((map) => bicubicUpsample(map, llava.grid, square.side, square.window));
    const maxima = upsampled.map((map) => firstMaximum(map, image.width));
    const points = maxima.map(({ x, y }) => [x, y] as [number, number]);
    const masks = groups.length ? await segmentPoints(this.sam, this.samImage, points, options.withAllMaskAreas ?? false) : emptyMasks();
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
      llava: this.llava,
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
      logits: decoded.logits,
      meanMap: mean,
      centredMaps: centred,
      groups,
      groupMaps: maps,
      square,
      upsampled,
      maxima,
      samImage: this.samImage,
      masks,
      phrases,
    };
  }
}
