import { join } from "node:path";
import { preprocessSam, type SamInput } from "../../image/preprocess.ts";
import type { RgbImage } from "../../image/rgb-image.ts";
import { POINT_DECODER_IO, type PointDecoderSpec } from "../../models/sam-prompt-decoder.ts";
import { createSession, ort, type Device } from "../../runtime/ort.ts";
import { ensureSamPointGraphs } from "../../convert/sam-points.ts";
import { postprocessMasks } from "../masks.ts";
import { timed } from "../../runtime/stage-times.ts";

/** SAM as three sessions: image encoder, point-prompt decoder, mask post-processing. */
export interface SamModel {
  /** Opens the ViT-H encoder (2.5 GB of weights): it is loaded only while it embeds an image. */
  openEncoder(): Promise<ort.InferenceSession>;
  decoder: ort.InferenceSession;
  postprocess: ort.InferenceSession;
  spec: PointDecoderSpec;
  /** Channels of the image embedding. */
  embedDim: number;
  release(): Promise<void>;
}

/** SAM for point prompts (float32): converted once into the shared graph cache, then loaded from it. */
export async function loadSam(path: string, device?: Device, onProgress?: (message: string) => void): Promise<SamModel> {
  const say = onProgress ?? (() => {});
  const { dir, manifest } = await ensureSamPointGraphs(path, say);
  say("loading SAM");
  const options = { device };
  const sessions: ort.InferenceSession[] = [];
  try {
    for (const name of ["point-decoder", "postprocess"]) sessions.push(await createSession(join(dir, `${name}.onnx`), options));
  } catch (error) {
    await Promise.all(sessions.map((session) => session.release()));
    throw error;
  }
  const [decoder, postprocess] = sessions;
  return {
    openEncoder: () => createSession(join(dir, "sam-encoder.onnx"), options),
    decoder,
    postprocess,
    spec: manifest.spec,
    embedDim: manifest.embedDim,
    release: async () => {
      await Promise.all(sessions.map((session) => session.release()));
    },
  };
}

export interface SamImage {
  input: SamInput;
  /** [C, grid, grid] image embedding. */
  embeddings: Float32Array;
  dims: [number, number, number];
}

/** SamPredictor.set_image: ResizeLongestSide, normalise, pad, encode. */
export async function embedSamImage(sam: SamModel, image: RgbImage): Promise<SamImage> {
  const input = preprocessSam(image, sam.spec.imageSize);
  const encoder = await sam.openEncoder();
  let out: ort.InferenceSession.OnnxValueMapType;
  try {
    out = await timed("run sam-encoder", () => encoder.run({ pixel_values: new ort.Tensor("float32", input.pixelValues.data, input.pixelValues.dims) }));
  } finally {
    await encoder.release();
  }
  const { grid } = sam.spec;
  return { input, embeddings: out.image_embeddings.data as Float32Array, dims: [sam.embedDim, grid, grid] };
}

export interface PointMasks {
  /** [N, 2] points after ResizeLongestSide.apply_coords (x·new_w/W, y·new_h/H). */
  coords: Float32Array;
  /** [N, K, s, s] multimask low-res logits (K = 3 for SAM) and [N, K] IoU predictions. */
  lowRes: Float32Array;
  iou: Float32Array;
  outputs: number;
  /** [N, K] pixel counts of every binary mask at the original size (only when asked for: it post-processes all N·K). */
  areasAll?: number[];
  /** The kept output (the last, as the official scripts take `[:, -1]`): [N, H, W] logits and 0/1 masks, [N] scores. */
  keptLogits: Float32Array;
  keptMasks: Uint8Array;
  keptScores: Float32Array;
  keptAreas: number[];
}

/** SamPredictor.predict_torch with one positive point per prompt and multimask_output=True, batched over the points. */
export async function segmentPoints(sam: SamModel, image: SamImage, points: readonly (readonly [number, number])[], withAllAreas = false): Promise<PointMasks> {
  const n = points.length;
  const [height, width] = image.input.originalSize;
  const [newH, newW] = image.input.resizedSize;
  const coords = new Float32Array(n * 2);
  points.forEach(([x, y], i) => {
    coords[2 * i] = x * (newW / width);
    coords[2 * i + 1] = y * (newH / height);
  });
  const { grid, maskSize } = sam.spec;
  const out = await timed(`run mask-decoder (${n} points)`, () =>
    sam.decoder.run({
      [POINT_DECODER_IO.imageEmbeddings]: new ort.Tensor("float32", image.embeddings, [1, sam.embedDim, grid, grid]),
      [POINT_DECODER_IO.pointCoords]: new ort.Tensor("float32", coords, [n, 1, 2]),
      [POINT_DECODER_IO.pointLabels]: new ort.Tensor("int64", new BigInt64Array(n).fill(1n), [n, 1]),
    }),
  );
  const lowRes = out[POINT_DECODER_IO.lowResMasks].data as Float32Array;
  const iou = out[POINT_DECODER_IO.iouPredictions].data as Float32Array;
  const outputs = sam.spec.numMaskTokens - 1;
  const plane = height * width;
  const lowPlane = maskSize * maskSize;
  const keptIndex = (i: number) => i * outputs + outputs - 1;
  const countOnes = (masks: Uint8Array, k: number) => masks.subarray(k * plane, (k + 1) * plane).reduce((a, b) => a + b, 0);
  const postprocess = (planes: Float32Array, count: number) => postprocessMasks(sam.postprocess, planes, count, image.input.resizedSize, image.input.originalSize);

  const keptLowRes = new Float32Array(n * lowPlane);
  for (let i = 0; i < n; i++) keptLowRes.set(lowRes.subarray(keptIndex(i) * lowPlane, (keptIndex(i) + 1) * lowPlane), i * lowPlane);
  const kept = await postprocess(keptLowRes, n);
  const all = withAllAreas ? await postprocess(lowRes, n * outputs) : undefined;
  return {
    coords,
    lowRes,
    iou,
    outputs,
    ...(all ? { areasAll: Array.from({ length: n * outputs }, (_, k) => countOnes(all.binary, k)) } : {}),
    keptLogits: kept.logits,
    keptMasks: kept.binary,
    keptScores: Float32Array.from({ length: n }, (_, i) => iou[keptIndex(i)]),
    keptAreas: Array.from({ length: n }, (_, i) => countOnes(kept.binary, i)),
  };
}
