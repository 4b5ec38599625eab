import { readFileSync } from "node:fs";
import { inputError } from "../cli/errors.ts";
import { fsReason } from "../cli/fs-error.ts";
import { decodeImage } from "../image/decode.ts";
import type { RgbImage } from "../image/rgb-image.ts";
import { normalizeBoxes, type PixelBox } from "../models/region-encoder.ts";
import { groundAnswer, parseAnswer } from "../output/markup.ts";
import type { Box, ModelInfo, Segment, Task, TaskResult, Timings } from "../output/result.ts";
import { tokenizerImageToken } from "../text/tokenizer.ts";
import { generate, teacherForced, type SamplingOptions } from "./generate.ts";
import type { EncodedImage, GlammModel } from "./glamm/model.ts";
import { PrefixCache } from "./prefix-cache.ts";
import { buildConversation, CAPTION_INSTRUCTION, GCG_INSTRUCTION, REGION_CAPTION_INSTRUCTION, referringSegmentationInstruction, type Turn } from "./prompt.ts";
import { imageSha256 } from "./sam-cache.ts";

export interface GenerationSettings {
  maxTokens: number;
  sampling?: SamplingOptions;
  /** Streams each answer's text as it is generated. */
  onText?(text: string): void;
}

/** What a task needs besides the image: the expressions, boxes or answer it works on. */
export interface TaskInput {
  task: Task;
  /** segment: one referring expression per mask. */
  expressions?: string[];
  /** region: boxes in original-image pixels, each captioned on its own. */
  boxes?: PixelBox[];
  /** ground: the answer to ground, with `<p>phrase</p>` marks. */
  text?: string;
}

export interface DecodedImage {
  path: string;
  image: RgbImage;
  sha256: string;
}

interface Answer {
  raw: string;
  masks: Uint8Array[];
}

/** `<p>phrase</p>` without a following [SEG] gets one, so every marked phrase is grounded. */
export function withSegAfterPhrases(text: string): string {
  return text.replace(/<\/p>(?!\s*\[SEG\])/g, "</p> [SEG]");
}

/** Tokens the model attends over; a model converted before this was recorded gets LLaMA's default. */
const contextLength = (model: GlammModel): number => model.manifest.llama.contextLength ?? 2048;

/**
 * Refuses a prompt of `promptTokens` (image rows included) that, with `maxNew` tokens of answer, would not fit the
 * model's context; checked before any decoder work, so no text can make glamm use memory beyond what the model needs.
 */
function checkFits(model: GlammModel, promptTokens: number, maxNew: number, what: string): void {
  const context = contextLength(model);
  if (promptTokens + maxNew <= context) return;
  const answer = maxNew > 0 ? ` + --max-tokens ${maxNew}` : "";
  throw inputError(`${what} is too long: ${promptTokens} prompt tokens${answer} exceed the model's context of ${context} tokens`);
}

/**
 * Checks, once before a batch, that every prompt the task will give fits the context with `maxTokens` of answer
 * (the image counted as the rows the projector yields).
 */
export function checkTaskFits(model: GlammModel, input: TaskInput, maxTokens: number): void {
  if (maxTokens >= contextLength(model)) throw inputError(`--max-tokens ${maxTokens} is over the model's context of ${contextLength(model)} tokens`);
  const imageRows = model.manifest.clip.grid ** 2;
  const tokens = (turns: Turn[]) => tokenizerImageToken(buildConversation(turns), model.tokenizer).length - 1 + imageRows;
  if (input.task === "segment") for (const e of input.expressions ?? []) checkFits(model, tokens([{ user: referringSegmentationInstruction(e) }]), maxTokens, "the expression");
  if (input.task === "ground" && input.text) checkFits(model, tokens([{ user: GCG_INSTRUCTION, assistant: withSegAfterPhrases(input.text.trim()) }]), 0, "--text");
}

/** A loaded image, decoded once and encoded once (CLIP and SAM), for any number of prompts. */
export class ImageSession {
  private constructor(
    readonly model: GlammModel,
    readonly path: string,
    readonly sha256: string,
    readonly encoded: EncodedImage,
    readonly timings: Timings,
  ) {}

  /** Later prompts on this image prefill only what follows the rows they share with the one before. */
  private readonly prefix = new PrefixCache();

  /** Reads and decodes an image file (no model needed, so a batch can do it for the next image in advance). */
  static async decode(path: string): Promise<DecodedImage> {
    const name = path === "-" ? "stdin" : path;
    let bytes: Uint8Array;
    try {
      bytes = new Uint8Array(readFileSync(path === "-" ? 0 : path));
    } catch (error) {
      throw inputError(`cannot read image ${name}: ${fsReason(error) ?? (error as Error).message.split("\n")[0]}`);
    }
    if (bytes.length === 0) throw inputError(`${name} is empty (0 bytes), not an image`);
    return { path, image: await decodeImage(bytes, name), sha256: imageSha256(bytes) };
  }

  /** Runs both image encoders once; the SAM embedding comes from the cache when this image was seen before. */
  static async open(model: GlammModel, decoded: DecodedImage): Promise<ImageSession> {
    const start = performance.now();
    const encoded = await model.encodeImage(decoded.image, decoded.sha256);
    return new ImageSession(model, decoded.path, decoded.sha256, encoded, { encode: performance.now() - start });
  }

  private async masks(segHidden: Float32Array): Promise<Uint8Array[]> {
    const count = segHidden.length / this.model.manifest.llama.hiddenSize;
    if (count === 0) return [];
    const start = performance.now();
    const result = await this.model.masks(this.encoded, segHidden);
    this.timings.masks = (this.timings.masks ?? 0) + performance.now() - start;
    const plane = result.dims[1] * result.dims[2];
    return Array.from({ length: count }, (_, i) => result.binary.slice(i * plane, (i + 1) * plane));
  }

  /** Checks every box against the image before any work, so an error names the right box. */
  checkBoxes(boxes: readonly PixelBox[]): void {
    const { width, height } = this.encoded.image;
    normalizeBoxes(boxes, width, height, this.encoded.clipInput.pixelValues.dims.slice(1));
  }

  private async regions(boxes?: readonly PixelBox[]): Promise<Float32Array | undefined> {
    if (!boxes?.length) return undefined;
    return (await this.model.regionFeatures(this.encoded, boxes)).outputs.region_features.data as Float32Array;
  }

  /** Generates the answer to the conversation's last turn and the masks of its [SEG]s. */
  async ask(turns: Turn[], settings: GenerationSettings, boxes?: readonly PixelBox[]): Promise<Answer> {
    const { tokenizer } = this.model;
    const ids = tokenizerImageToken(buildConversation(turns), tokenizer);
    checkFits(this.model, ids.length - 1 + this.encoded.imageFeatures.rows, settings.maxTokens, turns.length > 1 ? "the conversation (/reset starts over)" : "the prompt");
    const sequence = this.model.splice(ids, this.encoded, await this.regions(boxes));
    const tokens: number[] = [];
    const start = performance.now();
    const result = await generate(this.model.decoder, this.model.table, sequence, {
      maxNewTokens: settings.maxTokens,
      eosTokenId: tokenizer.eosTokenId ?? 2,
      segTokenId: tokenizer.specialTokenId("[SEG]"),
      sampling: settings.sampling,
      prefix: this.prefix,
      onToken: settings.onText
        ? (token) => {
            const before = tokenizer.decode(tokens, { skipSpecialTokens: true });
            tokens.push(token);
            settings.onText!(tokenizer.decode(tokens, { skipSpecialTokens: true }).slice(before.length));
          }
        : undefined,
    });
    this.timings.generate = (this.timings.generate ?? 0) + performance.now() - start;
    const raw = tokenizer.decode(result.tokens, { skipSpecialTokens: true }).trim();
    return { raw, masks: await this.masks(result.seg.hiddenStates) };
  }

  /** Teacher-forces `answer` after the instruction (one forward pass) and returns the masks of its [SEG]s. */
  async ground(instruction: string, answer: string): Promise<Answer> {
    const ids = tokenizerImageToken(buildConversation([{ user: instruction, assistant: answer }]), this.model.tokenizer);
    checkFits(this.model, ids.length - 1 + this.encoded.imageFeatures.rows, 0, "--text");
    const start = performance.now();
    const result = await teacherForced(this.model.decoder, this.model.splice(ids, this.encoded), this.model.tokenizer.specialTokenId("[SEG]"));
    this.timings.generate = (this.timings.generate ?? 0) + performance.now() - start;
    return { raw: answer, masks: await this.masks(result.seg.hiddenStates) };
  }

  result(task: Task, prompt: string, raw: string, segments: Segment[], text: string, model: ModelInfo, boxes?: Box[]): TaskResult {
    const { width, height } = this.encoded.image;
    return {
      image: { path: this.path, width, height, sha256: this.sha256 },
      model,
      task,
      prompt,
      rawText: raw,
      text,
      segments,
      ...(boxes ? { boxes } : {}),
      timings: { ...this.timings },
    };
  }
}

function grounded(session: ImageSession, task: Task, prompt: string, answer: Answer, model: ModelInfo): TaskResult {
  const parsed = parseAnswer(answer.raw);
  const { segments } = groundAnswer(parsed, answer.masks);
  return session.result(task, prompt, answer.raw, segments, parsed.text, model);
}

/** Runs one task on an opened image. */
export async function runTask(session: ImageSession, input: TaskInput, settings: GenerationSettings, model: ModelInfo): Promise<TaskResult> {
  switch (input.task) {
    case "gcg":
    case "caption": {
      const instruction = input.task === "gcg" ? GCG_INSTRUCTION : CAPTION_INSTRUCTION;
      return grounded(session, input.task, instruction, await session.ask([{ user: instruction }], settings), model);
    }
    case "ground": {
      if (!input.text?.trim()) throw inputError("ground needs --text with the answer to ground, e.g. 'A <p>man</p> holds a <p>kite</p>.'");
      const answer = withSegAfterPhrases(input.text.trim());
      return grounded(session, "ground", GCG_INSTRUCTION, await session.ground(GCG_INSTRUCTION, answer), model);
    }
    case "segment": {
      const expressions = input.expressions ?? [];
      if (expressions.length === 0) throw inputError("segment needs at least one referring expression");
      // One question per expression; each answer's first mask is that expression's mask.
      const segments: Segment[] = [];
      const raws: string[] = [];
      let text = "";
      for (const expression of expressions) {
        const answer = await session.ask([{ user: referringSegmentationInstruction(expression) }], settings);
        raws.push(answer.raw);
        if (text) text += "; ";
        if (answer.masks.length > 0) segments.push({ phrase: expression, start: text.length, end: text.length + expression.length, mask: answer.masks[0] });
        text += expression;
      }
      return session.result("segment", expressions.map(referringSegmentationInstruction).join("\n"), raws.join("\n"), segments, text, model);
    }
    case "region": {
      const boxes = input.boxes ?? [];
      if (boxes.length === 0) throw inputError("region needs at least one --box x1,y1,x2,y2");
      session.checkBoxes(boxes);
      const captions: Box[] = [];
      for (const box of boxes) {
        const answer = await session.ask([{ user: REGION_CAPTION_INSTRUCTION }], settings, [box]);
        captions.push({ x1: box[0], y1: box[1], x2: box[2], y2: box[3], caption: parseAnswer(answer.raw).text });
      }
      const text = captions.map((b) => b.caption).join("\n");
      return session.result("region", REGION_CAPTION_INSTRUCTION, text, [], text, model, captions);
    }
    case "chat":
      throw inputError("chat is interactive: use `glamm chat IMAGE`");
  }
}
