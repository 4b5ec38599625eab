import { inputError, modelError } from "../cli/errors.ts";
import { GraphBuilder } from "../graph/builder.ts";
import { quantizeInt8 } from "../graph/int8.ts";
import type { WeightSource } from "../weights/index.ts";
import { checkpointWeight, tensorShape, torchLayerNorm, torchLinear } from "./torch-nn.ts";

// Constants the official MLVLROIQueryModule / MlvlRoIExtractor hard-code (model/layers.py).
const PREFIX = "model.region_encoder";
const FUSE_ROUNDS = 5;
/** Normalised boxes are scaled by 224 (not the 336 CLIP input) before RoIAlign. */
const BOX_SCALE = 224;
/** featmap_strides [14/8, 14/4, 14/2, 14]: level l of L has stride 14 / 2^(L-1-l). */
const COARSEST_STRIDE = 14;
const ROI_SIZE = 14;
const ROI_SAMPLING_RATIO = 2;
const OFFICIAL_GN_GROUPS = 64;
const GN_EPS = 1e-5;
const LN_EPS = 1e-5;

export interface RegionEncoderSettings {
  /** GroupNorm groups of the fuse convolutions (official 64; `oracle_region_gn_groups` overrides). */
  gnGroups: number;
}

export function regionEncoderSettings(config: Record<string, unknown>, source = "GLaMM config"): RegionEncoderSettings {
  const gnGroups = config.oracle_region_gn_groups ?? OFFICIAL_GN_GROUPS;
  if (!Number.isInteger(gnGroups) || (gnGroups as number) <= 0) throw modelError(`${source}: invalid "oracle_region_gn_groups": ${JSON.stringify(gnGroups)}`);
  return { gnGroups: gnGroups as number };
}

/** Region encoder sizes read from the checkpoint's tensor shapes. */
export interface RegionEncoderShape {
  levels: number;
  /** CLIP width fed in. */
  inputWidth: number;
  /** embed_dims of the fuse and RoI modules. */
  width: number;
  /** LLM hidden size of the output rows. */
  hidden: number;
}

export function regionEncoderShape(weights: WeightSource): RegionEncoderShape {
  let levels = 0;
  while (weights.has(`${PREFIX}.mlvl_fuse.input_conv.${levels}.weight`)) levels++;
  if (levels === 0) throw modelError(`checkpoint has no region encoder (${PREFIX}.mlvl_fuse.input_conv.0.weight)`);
  const [width, inputChannels] = tensorShape(weights, `${PREFIX}.mlvl_fuse.input_conv.0.weight`, 4);
  const [hidden] = tensorShape(weights, `${PREFIX}.roi_align.updims.weight`, 2);
  for (let level = 0; level < levels; level++) tensorShape(weights, `${PREFIX}.roi_align.pconvs.${level}.weight`, 4);
  return { levels, inputWidth: inputChannels - 2, width, hidden };
}

/** Pixel box x1, y1, x2, y2 in the original image. */
export type PixelBox = readonly [number, number, number, number];

/**
 * The official demo's box normalisation (app.py region_enc_processor, float64, then float32): it takes
 * `post_h, post_w = global_enc_image.shape[1:3]`, i.e. (channels, crop height) of the CLIP input [1, C, S, S], and
 * computes x·(post_w/orig_w)/post_w and y·(post_h/orig_h)/post_h. Boxes must lie inside the image with x2 > x1, y2 > y1.
 */
export function normalizeBoxes(boxes: readonly PixelBox[], origWidth: number, origHeight: number, clipInputShape: readonly number[]): Float32Array {
  const [postH, postW] = clipInputShape.slice(1, 3);
  const out = new Float32Array(boxes.length * 4);
  boxes.forEach((box, i) => {
    const [x1, y1, x2, y2] = box;
    const label = `box ${i + 1} (${box.join(",")})`;
    if (box.length !== 4 || !box.every(Number.isFinite)) throw inputError(`${label} needs four finite numbers x1,y1,x2,y2`);
    if (x2 <= x1 || y2 <= y1) throw inputError(`${label} is empty: x2 must exceed x1 and y2 must exceed y1`);
    if (x1 < 0 || y1 < 0 || x2 > origWidth || y2 > origHeight) throw inputError(`${label} lies outside the ${origWidth}x${origHeight} image`);
    const [xScale, yScale] = [postW / origWidth, postH / origHeight];
    out.set([(x1 * xScale) / postW, (y1 * yScale) / postH, (x2 * xScale) / postW, (y2 * yScale) / postH], i * 4);
  });
  return out;
}

/** torch.linspace(-1, 1, n) in float32 (first half from the start, second half from the end). */
function linspace(n: number): Float32Array {
  const step = Math.fround(2 / (n - 1));
  return Float32Array.from({ length: n }, (_, i) => (i < n / 2 ? -1 + step * i : 1 - step * (n - 1 - i)));
}

/** MLVLFuseModule.generate_coordinate: [1, 2, h, w] holding x then y in [-1, 1]. */
function coordinateChannels(size: number): Float32Array {
  const axis = linspace(size);
  const out = new Float32Array(2 * size * size);
  for (let y = 0; y < size; y++)
    for (let x = 0; x < size; x++) {
      out[y * size + x] = axis[x];
      out[size * size + y * size + x] = axis[y];
    }
  return out;
}

/** nn.GroupNorm over NCHW x as plain ops (mean and biased variance per group). */
function groupNorm(g: GraphBuilder, x: string, channels: number, size: number, groups: number, scale: string, bias: string): string {
  const grouped = g.reshape(x, [1, groups, -1]);
  const centred = g.sub(grouped, g.reduceMean(grouped, [2]));
  const variance = g.reduceMean(g.mul(centred, centred), [2]);
  const normalised = g.div(centred, g.sqrt(g.add(variance, g.scalar(GN_EPS))));
  const back = g.reshape(normalised, [1, channels, size, size]);
  return g.add(g.mul(back, g.reshape(scale, [channels, 1, 1])), g.reshape(bias, [channels, 1, 1]));
}

/** A padded 3×3 convolution (checkpoint `${prefix}.weight` [out, in, 3, 3], `.bias` if stored) for inputs of side `size`. */
type Conv3x3 = (x: string, size: number) => string;

function conv3x3(g: GraphBuilder, weights: WeightSource, prefix: string): Conv3x3 {
  const name = `${prefix}.weight`;
  const [out, inp] = tensorShape(weights, name, 4);
  if (g.linearWeights !== "int8") {
    const weight = checkpointWeight(g, weights, name, 4);
    const bias = weights.has(`${prefix}.bias`) ? checkpointWeight(g, weights, `${prefix}.bias`, 1) : undefined;
    return (x) => g.conv(x, weight, bias, { pads: [1, 1, 1, 1] });
  }
  // int8 (onnxruntime's ConvInteger has no VNNI kernel and runs no faster than the float32 Conv): the input is
  // quantized to uint8 once (zero padding maps exactly to its zero point), its nine shifted NHWC views are laid side by
  // side (im2col in uint8) and multiplied by the weight as int8 [(dy, dx, in), out] with per-output-channel scales.
  const weight = g.int8Weight(name, 9 * inp, out, () => {
    const full = weights.read(name);
    const columns = new Float32Array(9 * inp * out);
    for (let o = 0; o < out; o++) for (let i = 0; i < inp; i++) for (let t = 0; t < 9; t++) columns[(t * inp + i) * out + o] = full[(o * inp + i) * 9 + t];
    return quantizeInt8(columns, 9 * inp, out);
  });
  const bias = weights.has(`${prefix}.bias`) ? checkpointWeight(g, weights, `${prefix}.bias`, 1) : undefined;
  return (x, size) => {
    const padded = g.op("Pad", [g.transpose(x, [0, 2, 3, 1]), g.ints([0, 1, 1, 0, 0, 1, 1, 0])]);
    const [quantized, scale, zeroPoint] = g.multiOp("DynamicQuantizeLinear", [padded], 3);
    const views = Array.from({ length: 9 }, (_, t) => g.slice(quantized, [Math.floor(t / 3), t % 3], [Math.floor(t / 3) + size, (t % 3) + size], [1, 2]));
    const columns = g.reshape(g.concat(views, 3), [-1, 9 * inp]);
    const product = g.cast(g.op("MatMulInteger", [columns, weight.data, zeroPoint]), "float32");
    const scaled = g.mul(g.mul(product, scale), weight.scales);
    const nchw = g.transpose(g.reshape(scaled, [-1, size, size, out]), [0, 3, 1, 2]);
    return bias ? g.add(nchw, g.reshape(bias, [out, 1, 1])) : nchw;
  };
}

const resizeAligned = (g: GraphBuilder, x: string, channels: number, size: number) =>
  g.resize(x, { sizes: [1, channels, size, size], mode: "linear", coordinateTransformationMode: "align_corners" });

/**
 * MLVLFuseModule: coordinate channels + 1×1 input conv per level, then five rounds in which every level keeps its first
 * channels and takes a quarter from the next coarser and a quarter from the next finer level (bilinear,
 * align_corners) before a shared 3×3 conv → GroupNorm → ReLU.
 */
function fuseLevels(g: GraphBuilder, weights: WeightSource, settings: RegionEncoderSettings, shape: RegionEncoderShape, inputs: string[], sizes: number[]): string[] {
  const { width, levels } = shape;
  if (width % settings.gnGroups !== 0) throw modelError(`region encoder width ${width} is not divisible by ${settings.gnGroups} GroupNorm groups`);
  const p = `${PREFIX}.mlvl_fuse`;
  let feats = inputs.map((feat, l) => {
    const coords = g.floatTensor(`coords_${sizes[l]}`, [1, 2, sizes[l], sizes[l]], coordinateChannels(sizes[l]));
    const weight = checkpointWeight(g, weights, `${p}.input_conv.${l}.weight`, 4);
    return g.conv(g.concat([feat, coords], 1), weight, checkpointWeight(g, weights, `${p}.input_conv.${l}.bias`, 1));
  });
  const shuffle = Math.floor(width / 4);
  const remain = width - 2 * shuffle;
  for (let round = 0; round < FUSE_ROUNDS; round++) {
    const conv = `${p}.fuse_convs.${round}`;
    const convolve = conv3x3(g, weights, `${conv}.conv`);
    const [gnScale, gnBias] = ["weight", "bias"].map((k) => checkpointWeight(g, weights, `${conv}.gn.${k}`, 1));
    feats = feats.map((target, l) => {
      const [top, down] = [Math.min(l + 1, levels - 1), Math.max(l - 1, 0)];
      const fromTop = g.slice(feats[top], [remain + shuffle], [width], [1]);
      const fromDown = g.slice(feats[down], [remain], [remain + shuffle], [1]);
      const mixed = g.concat([g.slice(target, [0], [remain], [1]), resizeAligned(g, fromTop, width - remain - shuffle, sizes[l]), resizeAligned(g, fromDown, shuffle, sizes[l])], 1);
      return g.relu(groupNorm(g, convolve(mixed, sizes[l]), width, sizes[l], settings.gnGroups, gnScale, gnBias));
    });
  }
  return feats;
}

export interface RegionEncoderGraphOptions {
  floatType?: "float32" | "float16";
  weightType?: "float32" | "float16";
  /** "int8": Linear layers as int8 weights × dynamically quantized activations. */
  linearWeights?: "float" | "int8";
  /** Patches per side of the CLIP grid (24 for ViT-L/14 at 336). */
  grid: number;
  /** Also output `roi_align_level<l>` [N, width, 14, 14] and `region_fuse_level<l>` [1, width, s, s]. */
  trace?: boolean;
}

/**
 * GLaMM's region encoder (MLVLROIQueryModule) as a graph: inputs `region_level_<k>` [1, grid², inputWidth] (CLIP
 * hidden states, finest first) and `bboxes` [N, 4] (normalised x1, y1, x2, y2, see normalizeBoxes); output
 * `region_features` [N, hidden], the rows that replace the `<bbox>` token embeddings in order.
 */
export function buildRegionEncoderGraph(weights: WeightSource, settings: RegionEncoderSettings, options: RegionEncoderGraphOptions): GraphBuilder {
  const shape = regionEncoderShape(weights);
  const { levels, width } = shape;
  const g = new GraphBuilder({ name: "region_encoder", floatType: options.floatType, weightType: options.weightType, linearWeights: options.linearWeights });
  const sizes = Array.from({ length: levels }, (_, l) => options.grid * 2 ** (levels - 1 - l));
  const pyramid = sizes.map((size, l) => {
    const tokens = g.input(`region_level_${l}`, "float32", [1, options.grid * options.grid, shape.inputWidth]);
    const map = g.reshape(g.transpose(tokens, [0, 2, 1]), [1, shape.inputWidth, options.grid, options.grid]);
    return size === options.grid ? map : resizeAligned(g, map, shape.inputWidth, size);
  });
  const fused = g.scope("mlvl_fuse", () => fuseLevels(g, weights, settings, shape, pyramid, sizes));

  const boxes = g.input("bboxes", "float32", ["boxes", 4]);
  // RoIAlign runs in float32 (the official code casts around it); "bboxes" is the float32 graph input itself.
  const rois = g.mul("bboxes", g.constant("float32", [], Float32Array.of(BOX_SCALE)));
  const half = g.floatType === "float16";
  const batchIndices = g.expand(g.ints([0], []), g.shape("bboxes", 0, 1));
  const r = `${PREFIX}.roi_align`;
  const roiFeatures = fused.map((feat, l) => {
    const roiOptions = { outputHeight: ROI_SIZE, outputWidth: ROI_SIZE, samplingRatio: ROI_SAMPLING_RATIO, spatialScale: 2 ** (levels - 1 - l) / COARSEST_STRIDE };
    const aligned = g.roiAlign(half ? g.cast(feat, "float32") : feat, rois, batchIndices, roiOptions);
    return half ? g.cast(aligned, "float16") : aligned;
  });
  const summed = roiFeatures
    .map((feat, l) => conv3x3(g, weights, `${r}.pconvs.${l}`)(feat, ROI_SIZE))
    .reduce((a, b) => g.add(a, b));
  const flattened = torchLinear(g, weights, `${r}.flatten_linear`, g.reshape(g.relu(summed), [0, -1]));

  const position = torchLayerNorm(g, weights, `${r}.pos_embedd.2`, g.relu(torchLinear(g, weights, `${r}.pos_embedd.0`, boxes)), LN_EPS);
  const positionEmbedding = torchLayerNorm(g, weights, `${r}.pos_embedd.5`, g.relu(torchLinear(g, weights, `${r}.pos_embedd.3`, position)), LN_EPS);
  const features = torchLinear(g, weights, `${r}.updims`, g.add(flattened, positionEmbedding));
  g.output(features, "region_features", "float32", ["boxes", shape.hidden]);
  if (options.trace) {
    roiFeatures.forEach((feat, l) => g.output(feat, `roi_align_level${l}`, "float32", ["boxes", width, ROI_SIZE, ROI_SIZE]));
    fused.forEach((feat, l) => g.output(feat, `region_fuse_level${l}`, "float32", [1, width, sizes[l], sizes[l]]));
  }
  return g;
}
