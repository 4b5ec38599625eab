/**
 * Full-size checkpoints with random weights in the published repositories' layouts, for the real-size benchmark
 * (bench/real-size.ts --full). Tensors are produced and written one at a time, so memory stays at the largest tensor.
 *
 * What the layouts rest on:
 * - file names and shard counts: models/*.json (the manifests `glamm pull` fetches, pinned to published commits);
 * - key names and shapes: src/models/tiny-checkpoint.ts (GLaMM's official keys, checked against the oracle), with
 *   the official sizes below: Vicuna-7B (4096 wide, 32 layers, MLP 11008, 32000 tokens + GLaMM's 7 added),
 *   CLIP ViT-L/14@336 (1024 wide, 24 layers), segment-anything build_sam_vit_h (1280 wide, 32 blocks, global
 *   attention at 7/15/23/31, 256-wide decoder with MLP 2048), GLaMM's MLVLROIQueryModule (pos_embedd 4->256->1024,
 *   flatten_linear 1024*14*14 -> 1024, updims 1024 -> 4096; read in the public groundingLMM model/layers.py);
 * - shard split: transformers' save_pretrained default max_shard_size "10GB" (10^9-byte units), tensors in state-dict
 *   order, a new shard when the next tensor would pass the limit;
 * - LLaVA-1.5 stores each layer's rotary_emb.inv_freq (transformers 4.31 saved it; glamm's LLaVA reader uses it).
 * Written sizes: LLaVA-1.5-7B shards 9,976,645,446 + 3,542,280,735 bytes, sam_vit_h_4b8939.pth 2,564,552,585, CLIP
 * pytorch_model.bin 1,711,972,674 (the Hub lists 9.98 + 3.54 GB, 2.56 GB and 1.71 GB for the published files: recalled,
 * not re-checked here), GLaMM-FullScope 9.98 + 5.46 GB.
 * Not confirmed against the published files (no Hub access here; the search tools hold none of these repositories): GLaMM's dtype (bfloat16 assumed: the official demo
 * and training run in bf16; LLaVA-1.5 is float16 as its config says), where GLaMM's state dict puts lm_head relative
 * to the SAM and region-encoder keys (so which shard each lands in), and whether GLaMM keeps inv_freq (written here).
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { float32ToFloat16 } from "../src/graph/float16.ts";
import { addedTokens, clipCheckpointShapes, glammCheckpointShapes, writeTokenizerFiles, type TinySizes } from "../src/models/tiny-checkpoint.ts";
import { findManifest } from "../src/hub/manifests.ts";
import { seededRandom } from "../src/util/random.ts";
import { writeTorchZip, type TorchTensorToWrite } from "../src/weights/torch-zip-writer.ts";

type Shapes = [string, number[]][];
type DType = TorchTensorToWrite["dtype"];

export const FULL_SIZES: TinySizes = {
  vocab: 32000,
  hidden: 4096,
  layers: 32,
  heads: 32,
  intermediate: 11008,
  clip: { width: 1024, layers: 24, heads: 16, intermediate: 4096, patch: 14, image: 336 },
  sam: { dim: 1280, depth: 32, heads: 16, globalAttn: [7, 15, 23, 31], window: 14, image: 1024, patch: 16 },
  decoder: { dim: 256, mlp: 2048, heads: 8, iouHidden: 256, maskInChans: 16 },
  region: { midDims: 1024, posHidden: 256, gnGroups: 64, levels: 4 },
};

/** One generated repository: its Hub id and its files (repo path -> local path). */
export interface GeneratedRepo {
  id: string;
  files: Record<string, string>;
}

const MAX_SHARD_BYTES = 10e9;
const BLOCK = 1 << 16;
const count = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/**
 * Random values as GLaMM's tiny generator draws them (norm scales near 1, other vectors small, matrices by fan-in),
 * from a repeated 64 Ki block so writing gigabytes stays fast.
 */
function randomBytes(name: string, shape: number[], dtype: DType, seed: number): Uint8Array {
  const n = count(shape);
  const random = seededRandom(seed);
  const isNormScale = shape.length === 1 && name.endsWith(".weight");
  const scale = shape.length > 1 ? Math.sqrt(3 / count(shape.slice(1))) : 0.02;
  const block = Float32Array.from({ length: Math.min(n, BLOCK) }, () => (isNormScale ? 1 + (random() - 0.5) * 0.1 : (random() * 2 - 1) * scale));
  const tiled = (bits: Uint16Array | Float32Array) => {
    const out = new (bits.constructor as Uint16ArrayConstructor | Float32ArrayConstructor)(n);
    for (let at = 0; at < n; at += bits.length) out.set(bits.subarray(0, Math.min(bits.length, n - at)), at);
    return new Uint8Array(out.buffer);
  };
  if (dtype === "F32") return tiled(block);
  if (dtype === "F16") return tiled(float32ToFloat16(block));
  if (dtype === "BF16") return tiled(Uint16Array.from(new Uint32Array(block.buffer), (bits) => bits >>> 16));
  throw new Error(`no random ${dtype} data`);
}

/** LLaMA's rotary inverse frequencies for a head size, as the buffer transformers stores (float16 here). */
function inverseFrequency(headDim: number): Uint8Array {
  const values = Float32Array.from({ length: headDim / 2 }, (_, i) => 1 / 10000 ** ((2 * i) / headDim));
  return new Uint8Array(float32ToFloat16(values).buffer);
}

function tensorsOf(shapes: Shapes, dtype: DType, seed: number, extra: Map<string, TorchTensorToWrite> = new Map()): TorchTensorToWrite[] {
  return shapes.map(([name, shape], i) => extra.get(name) ?? { name, shape, dtype, bytes: () => randomBytes(name, shape, dtype, seed * 100003 + i) });
}

const byteSize = (t: TorchTensorToWrite) => count(t.shape) * { F32: 4, F16: 2, BF16: 2, I64: 8 }[t.dtype];

function splitShards(tensors: TorchTensorToWrite[], limit: number): TorchTensorToWrite[][] {
  const shards: TorchTensorToWrite[][] = [[]];
  let size = 0;
  for (const t of tensors) {
    if (size + byteSize(t) > limit && shards.at(-1)!.length > 0) {
      shards.push([]);
      size = 0;
    }
    shards.at(-1)!.push(t);
    size += byteSize(t);
  }
  return shards;
}

/**
 * Splits tensors into shards as save_pretrained does and writes pytorch_model-0000i-of-0000n.bin + the index json.
 * A shallower model (--layers) is split into the published shard count with a smaller limit, so it pulls by the
 * manifest's file names too.
 */
function writeShardedTorch(dir: string, repo: string, tensors: TorchTensorToWrite[]): Record<string, string> {
  const publishedShards = findManifest(repo)?.files.filter((f) => /^pytorch_model-\d+-of-\d+\.bin$/.test(f)).length;
  if (!publishedShards) throw new Error(`models/*.json lists no pytorch_model shards for ${repo}`);
  let shards = splitShards(tensors, MAX_SHARD_BYTES);
  const total = tensors.reduce((sum, t) => sum + byteSize(t), 0);
  for (let limit = Math.ceil(total / publishedShards); shards.length !== publishedShards; limit += Math.ceil(total / 1000)) {
    shards = splitShards(tensors, limit);
    if (shards.length < publishedShards) throw new Error(`cannot split ${tensors.length} tensors into ${publishedShards} shards`);
  }
  const pad = (i: number) => String(i).padStart(5, "0");
  const names = shards.map((_, i) => `pytorch_model-${pad(i + 1)}-of-${pad(shards.length)}.bin`);
  const weightMap: Record<string, string> = {};
  shards.forEach((shard, i) => {
    for (const t of shard) weightMap[t.name] = names[i];
  });
  const files: Record<string, string> = {};
  writeFileSync(join(dir, "pytorch_model.bin.index.json"), `${JSON.stringify({ metadata: { total_size: total }, weight_map: weightMap }, null, 2)}\n`);
  files["pytorch_model.bin.index.json"] = join(dir, "pytorch_model.bin.index.json");
  shards.forEach((shard, i) => {
    process.stderr.write(`writing ${join(dir, names[i])} (${shard.length} tensors)\n`);
    writeTorchZip(join(dir, names[i]), shard);
    files[names[i]] = join(dir, names[i]);
  });
  return files;
}

function writeJson(dir: string, name: string, value: unknown, files: Record<string, string>): void {
  writeFileSync(join(dir, name), `${JSON.stringify(value, null, 2)}\n`);
  files[name] = join(dir, name);
}

const CLIP_REPO = "openai/clip-vit-large-patch14-336";
const GLAMM_REPO = "MBZUAI/GLaMM-FullScope";
const LLAVA_REPO = "liuhaotian/llava-v1.5-7b";

function llamaConfig(s: TinySizes, vocab: number, dtype: string): Record<string, unknown> {
  return {
    bos_token_id: 1,
    eos_token_id: 2,
    pad_token_id: 0,
    hidden_act: "silu",
    hidden_size: s.hidden,
    initializer_range: 0.02,
    intermediate_size: s.intermediate,
    max_position_embeddings: 4096,
    num_attention_heads: s.heads,
    num_hidden_layers: s.layers,
    num_key_value_heads: s.heads,
    pretraining_tp: 1,
    rms_norm_eps: 1e-5,
    rope_scaling: null,
    tie_word_embeddings: false,
    torch_dtype: dtype,
    use_cache: true,
    vocab_size: vocab,
    mm_hidden_size: s.clip.width,
    mm_vision_select_feature: "patch",
    mm_vision_select_layer: -2,
    mm_vision_tower: CLIP_REPO,
  };
}

/** Decoder layers with the inv_freq buffer after o_proj, where LlamaAttention's state dict puts it. */
function llamaLayerShapes(s: TinySizes, withInvFreq: boolean): { shapes: Shapes; invFreq: Map<string, TorchTensorToWrite> } {
  const all = glammCheckpointShapes(s).filter(([name]) => /^model\.layers\./.test(name));
  const shapes: Shapes = [];
  const invFreq = new Map<string, TorchTensorToWrite>();
  for (const entry of all) {
    shapes.push(entry);
    const layer = entry[0].match(/^model\.layers\.(\d+)\.self_attn\.o_proj\.weight$/);
    if (withInvFreq && layer) {
      const name = `model.layers.${layer[1]}.self_attn.rotary_emb.inv_freq`;
      const headDim = s.hidden / s.heads;
      shapes.push([name, [headDim / 2]]);
      invFreq.set(name, { name, shape: [headDim / 2], dtype: "F16", bytes: () => inverseFrequency(headDim) });
    }
  }
  return { shapes, invFreq };
}

/** MBZUAI/GLaMM-FullScope: GLaMMForCausalLM without its vision tower (CLIP comes from its own repo), bfloat16. */
export function writeGlamm(dir: string, s: TinySizes = FULL_SIZES): GeneratedRepo {
  mkdirSync(dir, { recursive: true });
  const all = new Map(glammCheckpointShapes(s));
  const pick = (pattern: RegExp): Shapes => [...all].filter(([name]) => pattern.test(name));
  const { shapes: layers, invFreq } = llamaLayerShapes(s, true);
  const ordered: Shapes = [
    ...pick(/^model\.embed_tokens\./),
    ...layers,
    ...pick(/^model\.norm\./),
    ...pick(/^model\.mm_projector\./),
    ...pick(/^model\.grounding_encoder\./),
    ...pick(/^model\.text_hidden_fcs\./),
    ...pick(/^model\.region_encoder\./),
    ...pick(/^lm_head\./),
  ];
  const files = writeShardedTorch(dir, GLAMM_REPO, tensorsOf(ordered, "BF16", 1, invFreq));
  const vocab = s.vocab + addedTokens.length;
  writeJson(
    dir,
    "config.json",
    {
      _name_or_path: "MBZUAI/GLaMM-FullScope",
      architectures: ["GLaMMForCausalLM"],
      model_type: "llava",
      glamm_generated: "random weights in the published layout, written by glamm's bench/full-size-checkpoints.ts",
      ...llamaConfig(s, vocab, "bfloat16"),
      bbox_token_idx: s.vocab + addedTokens.indexOf("<bbox>"),
      image_aspect_ratio: "square",
      mm_use_im_patch_token: false,
      mm_use_im_start_end: true,
      mm_use_image_start_end: true,
      vision_tower: CLIP_REPO,
      num_level_reg_features: s.region.levels,
      num_reg_features: s.region.levels,
      out_dim: s.decoder.dim,
      with_region: true,
      use_mm_proj: true,
    },
    files,
  );
  writeJson(dir, "generation_config.json", { bos_token_id: 1, eos_token_id: 2, pad_token_id: 0 }, files);
  writeTokenizerFiles(dir, s.vocab);
  for (const name of ["tokenizer.model", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json"]) files[name] = join(dir, name);
  return { id: GLAMM_REPO, files };
}

/** liuhaotian/llava-v1.5-7b: LlavaLlamaForCausalLM (Vicuna-7B + 2-layer GELU projector), float16, no vision tower. */
export function writeLlava(dir: string, s: TinySizes = FULL_SIZES): GeneratedRepo {
  mkdirSync(dir, { recursive: true });
  const all = glammCheckpointShapes(s);
  const pick = (pattern: RegExp): Shapes => all.filter(([name]) => pattern.test(name));
  const { shapes: layers, invFreq } = llamaLayerShapes(s, true);
  // LLaVA-1.5 adds no tokens: the embedding and lm_head keep Vicuna's 32000 rows.
  const vocabRows = ([name, shape]: [string, number[]]): [string, number[]] => (/embed_tokens|lm_head/.test(name) ? [name, [s.vocab, shape[1]]] : [name, shape]);
  const ordered: Shapes = [...pick(/^model\.embed_tokens\./).map(vocabRows), ...layers, ...pick(/^model\.norm\./), ...pick(/^model\.mm_projector\./), ...pick(/^lm_head\./).map(vocabRows)];
  const files = writeShardedTorch(dir, LLAVA_REPO, tensorsOf(ordered, "F16", 2, invFreq));
  writeJson(
    dir,
    "config.json",
    {
      _name_or_path: "./checkpoints/llava-v1.5-7b",
      architectures: ["LlavaLlamaForCausalLM"],
      model_type: "llava",
      glamm_generated: "random weights in the published layout, written by glamm's bench/full-size-checkpoints.ts",
      ...llamaConfig(s, s.vocab, "float16"),
      freeze_mm_mlp_adapter: false,
      image_aspect_ratio: "pad",
      mm_projector_type: "mlp2x_gelu",
      mm_use_im_patch_token: false,
      mm_use_im_start_end: false,
      tune_mm_mlp_adapter: false,
      use_mm_proj: true,
    },
    files,
  );
  writeJson(dir, "generation_config.json", { bos_token_id: 1, eos_token_id: 2, pad_token_id: 0, max_length: 4096 }, files);
  writeTokenizerFiles(dir, s.vocab);
  for (const name of ["tokenizer.model", "tokenizer_config.json", "special_tokens_map.json"]) files[name] = join(dir, name);
  return { id: LLAVA_REPO, files };
}

/** CLIPModel text tower and projections, which the published pytorch_model.bin holds beside the vision tower. */
function clipTextShapes(): Shapes {
  const w = 768;
  const t = "text_model";
  const pair = (name: string, out: number, inp?: number): Shapes => [
    [`${name}.weight`, inp === undefined ? [out] : [out, inp]],
    [`${name}.bias`, [out]],
  ];
  const shapes: Shapes = [[`${t}.embeddings.token_embedding.weight`, [49408, w]], [`${t}.embeddings.position_embedding.weight`, [77, w]]];
  for (let i = 0; i < 12; i++) {
    const l = `${t}.encoder.layers.${i}`;
    for (const m of ["k", "v", "q", "out"]) shapes.push(...pair(`${l}.self_attn.${m}_proj`, w, w));
    shapes.push(...pair(`${l}.layer_norm1`, w), ...pair(`${l}.mlp.fc1`, 3072, w), ...pair(`${l}.mlp.fc2`, w, 3072), ...pair(`${l}.layer_norm2`, w));
  }
  shapes.push(...pair(`${t}.final_layer_norm`, w));
  return shapes;
}

/** openai/clip-vit-large-patch14-336: the whole CLIPModel in one float32 pytorch_model.bin, position_ids buffers included. */
export function writeClip(dir: string, s: TinySizes = FULL_SIZES): GeneratedRepo {
  mkdirSync(dir, { recursive: true });
  const positions = (s.clip.image / s.clip.patch) ** 2 + 1;
  const positionIds = (name: string, n: number): TorchTensorToWrite => ({ name, shape: [1, n], dtype: "I64", bytes: () => new Uint8Array(BigInt64Array.from({ length: n }, (_, i) => BigInt(i)).buffer) });
  const tensors = [
    positionIds("text_model.embeddings.position_ids", 77),
    ...tensorsOf(clipTextShapes(), "F32", 3),
    positionIds("vision_model.embeddings.position_ids", positions),
    ...tensorsOf(clipCheckpointShapes(s), "F32", 4),
    ...tensorsOf([["visual_projection.weight", [768, s.clip.width]], ["text_projection.weight", [768, 768]]], "F32", 5),
    { name: "logit_scale", shape: [], dtype: "F32" as const, bytes: () => new Uint8Array(Float32Array.of(Math.log(100)).buffer) },
  ];
  writeTorchZip(join(dir, "pytorch_model.bin"), tensors);
  const files: Record<string, string> = { "pytorch_model.bin": join(dir, "pytorch_model.bin") };
  const c = s.clip;
  writeJson(
    dir,
    "config.json",
    {
      architectures: ["CLIPModel"],
      model_type: "clip",
      projection_dim: 768,
      logit_scale_init_value: 2.6592,
      text_config: { hidden_size: 768, intermediate_size: 3072, num_attention_heads: 12, num_hidden_layers: 12, projection_dim: 768, max_position_embeddings: 77, vocab_size: 49408 },
      vision_config: { hidden_act: "quick_gelu", hidden_size: c.width, image_size: c.image, intermediate_size: c.intermediate, layer_norm_eps: 1e-5, num_attention_heads: c.heads, num_hidden_layers: c.layers, patch_size: c.patch, projection_dim: 768 },
      torch_dtype: "float32",
    },
    files,
  );
  writeJson(
    dir,
    "preprocessor_config.json",
    {
      crop_size: c.image,
      do_center_crop: true,
      do_normalize: true,
      do_resize: true,
      feature_extractor_type: "CLIPFeatureExtractor",
      image_mean: [0.48145466, 0.4578275, 0.40821073],
      image_std: [0.26862954, 0.26130258, 0.27577711],
      resample: 3,
      size: c.image,
    },
    files,
  );
  return { id: CLIP_REPO, files };
}

/** ybelkada/segment-anything's checkpoints/sam_vit_h_4b8939.pth: segment-anything's Sam state dict, float32. */
export function writeSam(dir: string, s: TinySizes = FULL_SIZES): GeneratedRepo {
  mkdirSync(join(dir, "checkpoints"), { recursive: true });
  const prefix = "model.grounding_encoder.";
  const shapes: Shapes = glammCheckpointShapes(s)
    .filter(([name]) => name.startsWith(prefix))
    .map(([name, shape]) => [name.slice(prefix.length), shape]);
  const path = join(dir, "checkpoints", "sam_vit_h_4b8939.pth");
  writeTorchZip(path, tensorsOf(shapes, "F32", 6));
  return { id: "ybelkada/segment-anything", files: { "checkpoints/sam_vit_h_4b8939.pth": path } };
}

export const writers = { glamm: writeGlamm, clip: writeClip, llava: writeLlava, sam: writeSam };

/** `bun bench/full-size-checkpoints.ts glamm|clip|llava|sam DIR [LAYERS]`: writes one repo, prints it as JSON. */
if (import.meta.main) {
  const [which, dir, layers] = process.argv.slice(2);
  const write = writers[which as keyof typeof writers];
  if (!write || !dir) throw new Error("usage: full-size-checkpoints.ts glamm|clip|llava|sam DIR [LLM_LAYERS]");
  const sizes = layers ? { ...FULL_SIZES, layers: Number(layers) } : FULL_SIZES;
  console.log(JSON.stringify(write(dir, sizes)));
}
