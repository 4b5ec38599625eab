import { readFileSync } from "node:fs";
import { join } from "node:path";
import { inputError } from "../../cli/errors.ts";
import { loadClipPreprocessConfig, type ClipPreprocessConfig } from "../../image/clip-config.ts";
import { preprocessClip, preprocessSam, type ClipInput, type SamInput } from "../../image/preprocess.ts";
import type { RgbImage } from "../../image/rgb-image.ts";
import { LlamaDecoder } from "../../models/llama-runner.ts";
import { normalizeBoxes, type PixelBox } from "../../models/region-encoder.ts";
import { cudaStatus } from "../../runtime/cuda.ts";
import { createSession, ort, ortNativeDir, type Device } from "../../runtime/ort.ts";
import { LlamaTokenizer } from "../../text/tokenizer.ts";
import { ensureConverted, type ConvertedManifest, type GlammSources, type Precision } from "../../convert/glamm.ts";
import { GLAMM_DEFAULT_BBOX_TOKEN_ID, spliceEmbeddings, type EmbeddingTable, type SplicedSequence } from "../embeddings.ts";
import { postprocessMasks, type PostprocessedMasks } from "../masks.ts";
import { timed } from "../../runtime/stage-times.ts";
import { SamEmbeddingCache, type SamEmbedding } from "../sam-cache.ts";

export interface LoadOptions {
  precision: Precision;
  device?: Device;
  trace?: boolean;
  /** false: never read or write the SAM embedding cache (--no-cache). */
  cache?: boolean;
  onProgress?(message: string): void;
}

/** Both encoders' view of one image. */
export interface EncodedImage {
  image: RgbImage;
  clipInput: ClipInput;
  samInput: SamInput;
  /** Projected CLIP patches [rows, hidden] that replace <image>. */
  imageFeatures: { data: Float32Array; rows: number };
  /** Every output of the CLIP graph (region levels and, when tracing, hidden states). */
  clipOutputs: Record<string, ort.Tensor>;
  samEmbeddings: SamEmbedding;
  /** The SAM embedding came from the cache (a second prompt on the same image). */
  samCacheHit: boolean;
}

export interface MaskResult extends PostprocessedMasks {
  lowRes: Float32Array;
  iou: Float32Array;
  decoderOutputs: Record<string, ort.Tensor>;
}

const tensorData = (t: ort.Tensor) => t.data as Float32Array;

/** A GLaMM model ready to run: converted graphs in onnxruntime sessions, the tokenizer and the embedding table. */
export class GlammModel {
  private constructor(
    readonly sources: GlammSources,
    readonly manifest: ConvertedManifest,
    readonly tokenizer: LlamaTokenizer,
    readonly clipPreprocess: ClipPreprocessConfig,
    readonly table: EmbeddingTable,
    private readonly sessions: Record<"maskDecoder" | "postprocess", ort.InferenceSession>,
    private readonly cache: SamEmbeddingCache,
    /** Opens one of the big vision graphs that are loaded only while they run (see load). */
    private readonly open: (name: "clip" | "sam-encoder" | "region") => Promise<ort.InferenceSession>,
    private readonly openDecoder: () => Promise<LlamaDecoder>,
    /** On CPU the decoder is let go while the SAM encoder runs (see load). */
    private readonly lowMemory: boolean,
  ) {}

  private loadedDecoder?: LlamaDecoder;

  /** The language model; loaded by encodeImage, which every prompt starts with. */
  get decoder(): LlamaDecoder {
    if (!this.loadedDecoder) throw new Error("GlammModel.decoder used before encodeImage loaded it");
    return this.loadedDecoder;
  }

  static async load(sources: GlammSources, options: LoadOptions): Promise<GlammModel> {
    const { dir, manifest } = await ensureConverted(sources, options);
    const session = (name: string) => createSession(join(dir, `${name}.onnx`), { device: options.device });
    options.onProgress?.("loading the model");
    const bytes = readFileSync(join(dir, "embed_tokens.f32"));
    const table = { data: new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4), hidden: manifest.llama.hiddenSize };
    const sessions = {
      maskDecoder: await session("mask-decoder"),
      postprocess: await session("postprocess"),
    };
    const cache = new SamEmbeddingCache({ enabled: options.cache !== false });
    // The big vision graphs (SAM ViT-H: 2.5 GB of fp32 weights and ~5 GB of activations at its peak; CLIP 1.2 GB; the
    // region encoder 1.2 GB) are opened only while they run, and on CPU the 7B decoder (~4 GB at int4) is let go while
    // the SAM encoder runs: together they took a first gcg to 14 GB, apart it stays under 10 GB. A cached SAM
    // embedding (a second prompt on the same image) needs neither the encoder nor a decoder reload.
    const lowMemory = options.device === "cpu" || !cudaStatus(ortNativeDir()).available;
    const openDecoder = () => LlamaDecoder.create(join(dir, "llama.onnx"), manifest.llama, { device: options.device });
    return new GlammModel(sources, manifest, LlamaTokenizer.fromDirectory(sources.glamm), loadClipPreprocessConfig(sources.clip), table, sessions, cache, session, openDecoder, lowMemory);
  }

  /** Runs a graph opened for this one run. */
  private async runOnce(name: "clip" | "sam-encoder" | "region", feeds: Record<string, ort.Tensor>): Promise<Record<string, ort.Tensor>> {
    const session = await this.open(name);
    try {
      return await timed(`run ${name}`, () => session.run(feeds));
    } finally {
      await session.release();
    }
  }

  /** Runs CLIP (+ projector) and the SAM encoder, the latter through the embedding cache. */
  async encodeImage(image: RgbImage, imageSha256: string): Promise<EncodedImage> {
    const clipInput = preprocessClip(image, this.clipPreprocess);
    const clipOutputs = await this.runOnce("clip", { pixel_values: new ort.Tensor("float32", clipInput.pixelValues.data, clipInput.pixelValues.dims) });
    const features = clipOutputs.image_features;
    const samInput = preprocessSam(image, this.manifest.sam.imageSize);
    const key = { imageSha256, modelId: this.manifest.fingerprint, precision: this.manifest.precision };
    const { embedding: samEmbeddings, hit: samCacheHit } = await this.cache.getOrCompute(key, async () => {
      if (this.lowMemory) await this.releaseDecoder();
      const out = await this.runOnce("sam-encoder", { pixel_values: new ort.Tensor("float32", samInput.pixelValues.data, samInput.pixelValues.dims) });
      return { dims: [...out.image_embeddings.dims], data: tensorData(out.image_embeddings) };
    });
    this.loadedDecoder ??= await this.openDecoder();
    return {
      image,
      clipInput,
      samInput,
      imageFeatures: { data: tensorData(features), rows: features.dims[1] },
      clipOutputs,
      samEmbeddings,
      samCacheHit,
    };
  }

  /** Region features for pixel boxes (x1, y1, x2, y2 in the original image), in order. */
  async regionFeatures(encoded: EncodedImage, boxes: readonly PixelBox[]): Promise<{ bboxesNorm: Float32Array; outputs: Record<string, ort.Tensor> }> {
    if (!this.manifest.withRegion) throw inputError("this model has no region encoder; boxes cannot be used");
    const { width, height } = encoded.image;
    const bboxesNorm = normalizeBoxes(boxes, width, height, encoded.clipInput.pixelValues.dims.slice(1));
    const feeds: Record<string, ort.Tensor> = { bboxes: new ort.Tensor("float32", bboxesNorm, [boxes.length, 4]) };
    for (const [name, tensor] of Object.entries(encoded.clipOutputs)) if (name.startsWith("region_level_")) feeds[name] = tensor;
    return { bboxesNorm, outputs: await this.runOnce("region", feeds) };
  }

  /**
   * The decoder input for a prompt: token embeddings with the image rows spliced in and, in the official way, the
   * region rows at the <bbox> token id the official code uses (GLaMMForCausalLM's default, 32002).
   */
  splice(ids: readonly number[], encoded: EncodedImage, regions?: Float32Array): SplicedSequence {
    return spliceEmbeddings({
      ids,
      table: this.table,
      image: encoded.imageFeatures,
      regions: regions ? { data: regions, rows: regions.length / this.table.hidden } : undefined,
      bboxTokenId: GLAMM_DEFAULT_BBOX_TOKEN_ID,
    });
  }

  /** One mask per [SEG] hidden state, at the original image size. */
  async masks(encoded: EncodedImage, segHidden: Float32Array): Promise<MaskResult> {
    const count = segHidden.length / this.manifest.llama.hiddenSize;
    const embeddings = new ort.Tensor("float32", encoded.samEmbeddings.data, encoded.samEmbeddings.dims);
    const out = await timed(`run mask-decoder (${count} masks)`, () =>
      this.sessions.maskDecoder.run({
        seg_hidden_states: new ort.Tensor("float32", segHidden, [count, this.manifest.llama.hiddenSize]),
        image_embeddings: embeddings,
      }),
    );
    const lowRes = tensorData(out.low_res_masks);
    const { resizedSize, originalSize } = encoded.samInput;
    const post = await timed("mask postprocess", () => postprocessMasks(this.sessions.postprocess, lowRes, count, resizedSize, originalSize));
    return { ...post, lowRes, iou: tensorData(out.iou_predictions), decoderOutputs: out };
  }

  private async releaseDecoder(): Promise<void> {
    const decoder = this.loadedDecoder;
    this.loadedDecoder = undefined;
    await decoder?.release();
  }

  async release(): Promise<void> {
    await this.releaseDecoder();
    for (const session of Object.values(this.sessions)) await session.release();
  }
}
