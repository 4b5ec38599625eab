import { existsSync, readFileSync } from "node:fs";
import { dirname, isAbsolute, join } from "node:path";
import { inputError, modelError } from "../../cli/errors.ts";
import { loadClipPreprocessConfig, type ClipPreprocessConfig } from "../../image/clip-config.ts";
import { expandToSquare, preprocessClip } from "../../image/preprocess.ts";
import type { RgbImage } from "../../image/rgb-image.ts";
import type { NpyArray } from "../../output/npy.ts";
import type { LlamaConfig } from "../../models/llama-config.ts";
import { LlamaDecoder } from "../../models/llama-runner.ts";
import type { LlamaPrecision } from "../../models/llama.ts";
import { createSession, ort, type Device } from "../../runtime/ort.ts";
import { LlamaTokenizer, tokenizerImageToken, IMAGE_PLACEHOLDER, IMAGE_TOKEN_INDEX } from "../../text/tokenizer.ts";
import { readJsonObject, type JsonObject } from "../../util/json.ts";
import { ensureLlavaGraphs } from "../../convert/llava.ts";
import { timed } from "../../runtime/stage-times.ts";
import type { EmbeddingTable } from "../embeddings.ts";
import { LLAVA_V1_SYSTEM } from "../prompt.ts";

/** An earlier exchange of a conversation about the image. */
export interface LlavaTurn {
  user: string;
  assistant: string;
}

/**
 * LLaVA-1.5's conv_llava_v1 prompt (SeparatorStyle.TWO: sep " ", sep2 "</s>"): the image placeholder and a newline
 * open the first user message, as LLaVA's cli.py puts them; each earlier answer ends with "</s>".
 */
export function llavaPrompt(question: string, history: readonly LlavaTurn[] = []): string {
  const messages = [...history.map((turn) => turn.user), question];
  if (messages.some((message) => message.includes(IMAGE_PLACEHOLDER))) throw inputError(`a message cannot contain ${IMAGE_PLACEHOLDER}; the image is already part of the conversation`);
  messages[0] = `${IMAGE_PLACEHOLDER}\n${messages[0]}`;
  const earlier = history.map((turn, i) => `USER: ${messages[i]} ASSISTANT: ${turn.assistant}</s>`).join("");
  return `${LLAVA_V1_SYSTEM} ${earlier}USER: ${messages.at(-1)} ASSISTANT:`;
}

/** A LLaVA-1.5 checkpoint ready to run: tokenizer, decoder with the attention probe, CLIP + projector. */
export interface LlavaModel {
  tokenizer: LlamaTokenizer;
  config: LlamaConfig;
  decoder: LlamaDecoder;
  table: EmbeddingTable;
  clip: ort.InferenceSession;
  clipPreprocess: ClipPreprocessConfig;
  /** Image rows that replace the placeholder (576 for LLaVA-1.5) and the side of their square grid (24). */
  imageTokens: number;
  grid: number;
  eosTokenId: number;
  /** Image encoding when it is not LLaVA-1.5's CLIP + projector (DiffLMM). */
  encodeImage?(image: RgbImage): Promise<LlavaImage>;
  release(): Promise<void>;
}

export interface LlavaOptions {
  /** CLIP vision folder (default: config.json's mm_vision_tower, resolved beside the model folder). */
  vision?: string;
  device?: Device;
  precision?: LlamaPrecision;
  /** Conversion and loading progress, one line at a time. */
  onProgress?(message: string): void;
}

/** mm_vision_tower as a folder: given as-is when it exists, else relative to the model folder's parent (the oracle's layout). */
function visionFolder(modelDir: string, config: JsonObject, given?: string): string {
  if (given) return given;
  const tower = config.mm_vision_tower;
  if (typeof tower !== "string" || tower === "") throw modelError(`${modelDir}/config.json has no mm_vision_tower; pass the CLIP folder with --vision`);
  const candidates = isAbsolute(tower) ? [tower] : [join(dirname(modelDir), tower), tower];
  const found = candidates.find((dir) => existsSync(join(dir, "config.json")));
  if (!found) throw modelError(`CLIP vision tower ${tower} is not a local folder (looked in ${candidates.join(", ")}); pass it with --vision`);
  return found;
}

function checkLlavaSettings(config: JsonObject, source: string): void {
  if ((config.image_aspect_ratio ?? "pad") !== "pad") throw modelError(`${source}: image_aspect_ratio ${JSON.stringify(config.image_aspect_ratio)} is not supported (LLaVA-1.5 uses "pad")`);
  if (config.mm_use_im_start_end === true) throw modelError(`${source}: mm_use_im_start_end is not supported (LLaVA-1.5 does not use it)`);
}

/** LLaVA-1.5 ready to run: converted once into the shared graph cache, then loaded from it. */
export async function loadLlava(modelDir: string, options: LlavaOptions = {}): Promise<LlavaModel> {
  const configPath = join(modelDir, "config.json");
  const json = readJsonObject(configPath);
  checkLlavaSettings(json, configPath);
  const tokenizer = LlamaTokenizer.fromDirectory(modelDir);
  const eosTokenId = tokenizer.eosTokenId;
  if (eosTokenId === null) throw modelError(`${modelDir}: the tokenizer has no eos_token`);
  const visionDir = visionFolder(modelDir, json, options.vision);
  const precision = options.precision ?? "fp32";
  const say = options.onProgress ?? (() => {});
  const { dir, manifest } = await ensureLlavaGraphs(modelDir, visionDir, json, precision, say);
  say("loading LLaVA");
  const { config, grid } = manifest;
  const session = { device: options.device };
  const clip = await createSession(join(dir, "clip.onnx"), session);
  try {
    const decoder = await LlamaDecoder.create(join(dir, "llama.onnx"), config, session);
    const bytes = readFileSync(join(dir, "embed_tokens.f32"));
    const table = { data: new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4), hidden: config.hiddenSize };
    return {
      tokenizer,
      config,
      decoder,
      table,
      clip,
      clipPreprocess: loadClipPreprocessConfig(visionDir),
      imageTokens: grid * grid,
      grid,
      eosTokenId,
      release: async () => {
        await Promise.all([clip.release(), decoder.release()]);
      },
    };
  } catch (error) {
    await clip.release();
    throw error;
  }
}

/** The image side of LLaVA-1.5: expand2square, CLIP preprocessing, CLIP features and the projector. */
export interface LlavaImage {
  square: RgbImage;
  /** [3, S, S] CLIP input. */
  pixelValues: Float32Array;
  pixelSide: number;
  /** [tokens, clip width]: CLIP hidden state at mm_vision_select_layer without CLS. */
  patchFeatures: Float32Array;
  /** [tokens, hidden]: the rows that replace `<image>`. */
  imageFeatures: Float32Array;
  /** DiffLMM: where the diffusion noise came from, and the encoder's intermediates for traces. */
  noise?: { seed: number } | { file: string };
  traceArrays?: [string, NpyArray][];
}

export async function encodeLlavaImage(model: LlavaModel, image: RgbImage): Promise<LlavaImage> {
  if (model.encodeImage) return model.encodeImage(image);
  const square = expandToSquare(image, model.clipPreprocess.mean);
  const { pixelValues } = preprocessClip(square, model.clipPreprocess);
  const out = await timed("run clip", () => model.clip.run({ pixel_values: new ort.Tensor("float32", pixelValues.data, pixelValues.dims) }));
  return {
    square,
    pixelValues: pixelValues.data,
    pixelSide: pixelValues.dims[2],
    patchFeatures: out.select_feature.data as Float32Array,
    imageFeatures: out.image_features.data as Float32Array,
  };
}

/** Prompt ids (BOS first, IMAGE_TOKEN_INDEX at the image) and where the image rows sit once expanded. */
export function llavaPromptIds(model: LlavaModel, prompt: string): { ids: number[]; imageStart: number; imageEnd: number } {
  const ids = tokenizerImageToken(prompt, model.tokenizer);
  const imageStart = ids.indexOf(IMAGE_TOKEN_INDEX);
  if (imageStart < 0) throw modelError("the LLaVA prompt has no image placeholder");
  return { ids, imageStart, imageEnd: imageStart + model.imageTokens };
}
