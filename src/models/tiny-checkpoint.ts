import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { encodeBpeModelProto, PieceType, type Piece } from "../text/sentencepiece-proto.ts";
import { seededRandom } from "../util/random.ts";
import { writeSafetensors, type TensorToWrite } from "../weights/safetensors-writer.ts";

/**
 * Sizes of a project-generated GLaMM checkpoint. The defaults make a model small enough to run anywhere in a second:
 * a plumbing demo with random weights, not a real model.
 */
export interface TinySizes {
  vocab: number;
  hidden: number;
  layers: number;
  heads: number;
  intermediate: number;
  clip: { width: number; layers: number; heads: number; intermediate: number; patch: number; image: number };
  sam: { dim: number; depth: number; heads: number; globalAttn: number[]; window: number; image: number; patch: number };
  decoder: { dim: number; mlp: number; heads: number; iouHidden: number; maskInChans: number };
  region: { midDims: number; posHidden: number; gnGroups: number; levels: number };
}

export const defaultTinySizes: TinySizes = {
  vocab: 512,
  hidden: 64,
  layers: 2,
  heads: 4,
  intermediate: 172,
  // 10 layers: the region encoder reads 4 levels, every third hidden state down from the select layer.
  clip: { width: 64, layers: 10, heads: 4, intermediate: 128, patch: 14, image: 336 },
  sam: { dim: 32, depth: 2, heads: 2, globalAttn: [1], window: 14, image: 1024, patch: 16 },
  decoder: { dim: 32, mlp: 64, heads: 2, iouHidden: 32, maskInChans: 16 },
  region: { midDims: 48, posHidden: 32, gnGroups: 16, levels: 4 },
};

/** GLaMM's added tokens, in the order the official training script adds them after the base vocabulary. */
export const addedTokens = ["<im_start>", "<im_end>", "<bbox>", "<point>", "[SEG]", "<p>", "</p>"];

type Shapes = [string, number[]][];

function llamaShapes(s: TinySizes): Shapes {
  const v = s.vocab + addedTokens.length;
  const shapes: Shapes = [["model.embed_tokens.weight", [v, s.hidden]]];
  for (let i = 0; i < s.layers; i++) {
    const p = `model.layers.${i}`;
    for (const m of ["q", "k", "v", "o"]) shapes.push([`${p}.self_attn.${m}_proj.weight`, [s.hidden, s.hidden]]);
    shapes.push([`${p}.mlp.gate_proj.weight`, [s.intermediate, s.hidden]], [`${p}.mlp.up_proj.weight`, [s.intermediate, s.hidden]]);
    shapes.push([`${p}.mlp.down_proj.weight`, [s.hidden, s.intermediate]]);
    shapes.push([`${p}.input_layernorm.weight`, [s.hidden]], [`${p}.post_attention_layernorm.weight`, [s.hidden]]);
  }
  shapes.push(["model.norm.weight", [s.hidden]], ["lm_head.weight", [v, s.hidden]]);
  return shapes;
}

const linear = (name: string, out: number, inp: number): Shapes => [
  [`${name}.weight`, [out, inp]],
  [`${name}.bias`, [out]],
];
const norm = (name: string, n: number): Shapes => [
  [`${name}.weight`, [n]],
  [`${name}.bias`, [n]],
];

function visionAdapterShapes(s: TinySizes): Shapes {
  const w = s.clip.width;
  const r = s.region;
  const shapes: Shapes = [...linear("model.mm_projector.0", s.hidden, w), ...linear("model.mm_projector.2", s.hidden, s.hidden)];
  const fuse = "model.region_encoder.mlvl_fuse";
  // The fuse stage's 1x1 convolutions see two extra coordinate channels.
  for (let i = 0; i < r.levels; i++) shapes.push([`${fuse}.input_conv.${i}.weight`, [w, w + 2, 1, 1]], [`${fuse}.input_conv.${i}.bias`, [w]]);
  for (let i = 0; i <= r.levels; i++) shapes.push([`${fuse}.fuse_convs.${i}.conv.weight`, [w, w, 3, 3]], ...norm(`${fuse}.fuse_convs.${i}.gn`, w));
  const roi = "model.region_encoder.roi_align";
  for (let i = 0; i < r.levels; i++) shapes.push([`${roi}.pconvs.${i}.weight`, [w, w, 3, 3]], [`${roi}.pconvs.${i}.bias`, [w]]);
  shapes.push(...linear(`${roi}.pos_embedd.0`, r.posHidden, 4), ...norm(`${roi}.pos_embedd.2`, r.posHidden));
  shapes.push(...linear(`${roi}.pos_embedd.3`, r.midDims, r.posHidden), ...norm(`${roi}.pos_embedd.5`, r.midDims));
  shapes.push(...linear(`${roi}.updims`, s.hidden, r.midDims), ...linear(`${roi}.flatten_linear`, r.midDims, w * 14 * 14));
  return shapes;
}

function samShapes(s: TinySizes): Shapes {
  const { dim, depth, window, image, patch, globalAttn } = s.sam;
  const d = s.decoder;
  const grid = image / patch;
  const headDim = dim / s.sam.heads;
  const enc = "model.grounding_encoder.image_encoder";
  const shapes: Shapes = [[`${enc}.pos_embed`, [1, grid, grid, dim]], [`${enc}.patch_embed.proj.weight`, [dim, 3, patch, patch]], [`${enc}.patch_embed.proj.bias`, [dim]]];
  for (let i = 0; i < depth; i++) {
    const b = `${enc}.blocks.${i}`;
    const size = globalAttn.includes(i) ? grid : window;
    shapes.push(...norm(`${b}.norm1`, dim), [`${b}.attn.rel_pos_h`, [2 * size - 1, headDim]], [`${b}.attn.rel_pos_w`, [2 * size - 1, headDim]]);
    shapes.push(...linear(`${b}.attn.qkv`, 3 * dim, dim), ...linear(`${b}.attn.proj`, dim, dim), ...norm(`${b}.norm2`, dim));
    shapes.push(...linear(`${b}.mlp.lin1`, 4 * dim, dim), ...linear(`${b}.mlp.lin2`, dim, 4 * dim));
  }
  shapes.push([`${enc}.neck.0.weight`, [d.dim, dim, 1, 1]], ...norm(`${enc}.neck.1`, d.dim), [`${enc}.neck.2.weight`, [d.dim, d.dim, 3, 3]], ...norm(`${enc}.neck.3`, d.dim));
  const pe = "model.grounding_encoder.prompt_encoder";
  shapes.push([`${pe}.pe_layer.positional_encoding_gaussian_matrix`, [2, d.dim / 2]]);
  for (let i = 0; i < 4; i++) shapes.push([`${pe}.point_embeddings.${i}.weight`, [1, d.dim]]);
  shapes.push([`${pe}.not_a_point_embed.weight`, [1, d.dim]]);
  const q = d.maskInChans / 4;
  shapes.push([`${pe}.mask_downscaling.0.weight`, [q, 1, 2, 2]], [`${pe}.mask_downscaling.0.bias`, [q]], ...norm(`${pe}.mask_downscaling.1`, q));
  shapes.push([`${pe}.mask_downscaling.3.weight`, [d.maskInChans, q, 2, 2]], [`${pe}.mask_downscaling.3.bias`, [d.maskInChans]], ...norm(`${pe}.mask_downscaling.4`, d.maskInChans));
  shapes.push([`${pe}.mask_downscaling.6.weight`, [d.dim, d.maskInChans, 1, 1]], [`${pe}.mask_downscaling.6.bias`, [d.dim]], [`${pe}.no_mask_embed.weight`, [1, d.dim]]);
  const md = "model.grounding_encoder.mask_decoder";
  const attention = (name: string, inner: number): Shapes => ["q", "k", "v"].flatMap((m) => linear(`${name}.${m}_proj`, inner, d.dim)).concat(linear(`${name}.out_proj`, d.dim, inner));
  for (let i = 0; i < 2; i++) {
    const l = `${md}.transformer.layers.${i}`;
    shapes.push(...attention(`${l}.self_attn`, d.dim), ...norm(`${l}.norm1`, d.dim), ...attention(`${l}.cross_attn_token_to_image`, d.dim / 2));
    shapes.push(...norm(`${l}.norm2`, d.dim), ...linear(`${l}.mlp.lin1`, d.mlp, d.dim), ...linear(`${l}.mlp.lin2`, d.dim, d.mlp));
    shapes.push(...norm(`${l}.norm3`, d.dim), ...norm(`${l}.norm4`, d.dim), ...attention(`${l}.cross_attn_image_to_token`, d.dim / 2));
  }
  shapes.push(...attention(`${md}.transformer.final_attn_token_to_image`, d.dim / 2), ...norm(`${md}.transformer.norm_final_attn`, d.dim));
  shapes.push([`${md}.iou_token.weight`, [1, d.dim]], [`${md}.mask_tokens.weight`, [4, d.dim]]);
  shapes.push([`${md}.output_upscaling.0.weight`, [d.dim, d.dim / 4, 2, 2]], [`${md}.output_upscaling.0.bias`, [d.dim / 4]], ...norm(`${md}.output_upscaling.1`, d.dim / 4));
  shapes.push([`${md}.output_upscaling.3.weight`, [d.dim / 4, d.dim / 8, 2, 2]], [`${md}.output_upscaling.3.bias`, [d.dim / 8]]);
  for (let m = 0; m < 4; m++) {
    const h = `${md}.output_hypernetworks_mlps.${m}.layers`;
    shapes.push(...linear(`${h}.0`, d.dim, d.dim), ...linear(`${h}.1`, d.dim, d.dim), ...linear(`${h}.2`, d.dim / 8, d.dim));
  }
  const iou = `${md}.iou_prediction_head.layers`;
  shapes.push(...linear(`${iou}.0`, d.iouHidden, d.dim), ...linear(`${iou}.1`, d.iouHidden, d.iouHidden), ...linear(`${iou}.2`, 4, d.iouHidden));
  shapes.push(...linear("model.text_hidden_fcs.0.0", s.hidden, s.hidden), ...linear("model.text_hidden_fcs.0.2", d.dim, s.hidden));
  return shapes;
}

/** Every tensor of a GLaMM checkpoint in the official key layout, with its shape for the given sizes. */
export function glammCheckpointShapes(s: TinySizes): Shapes {
  return [...llamaShapes(s), ...visionAdapterShapes(s), ...samShapes(s)];
}

/** The vision half of a Hugging Face CLIPModel checkpoint (GLaMM only reads vision_model.*). */
export function clipCheckpointShapes(s: TinySizes): Shapes {
  const { width: w, layers, intermediate, patch, image } = s.clip;
  const positions = (image / patch) ** 2 + 1;
  const v = "vision_model";
  const shapes: Shapes = [[`${v}.embeddings.class_embedding`, [w]], [`${v}.embeddings.patch_embedding.weight`, [w, 3, patch, patch]]];
  shapes.push([`${v}.embeddings.position_embedding.weight`, [positions, w]], ...norm(`${v}.pre_layrnorm`, w));
  for (let i = 0; i < layers; i++) {
    const l = `${v}.encoder.layers.${i}`;
    for (const m of ["k", "v", "q", "out"]) shapes.push(...linear(`${l}.self_attn.${m}_proj`, w, w));
    shapes.push(...norm(`${l}.layer_norm1`, w), ...linear(`${l}.mlp.fc1`, intermediate, w), ...linear(`${l}.mlp.fc2`, w, intermediate), ...norm(`${l}.layer_norm2`, w));
  }
  shapes.push(...norm(`${v}.post_layernorm`, w));
  return shapes;
}

/**
 * Norm scales (every 1-D `.weight` in GLaMM) near 1, other vectors small, matrices scaled by 1/sqrt(fan-in) so
 * activations stay sane through the layers.
 */
function randomTensor(name: string, shape: number[], random: () => number): Float32Array {
  const count = shape.reduce((a, b) => a * b, 1);
  const isNormScale = shape.length === 1 && name.endsWith(".weight");
  const fanIn = shape.length > 1 ? shape.slice(1).reduce((a, b) => a * b, 1) : 1;
  const scale = shape.length > 1 ? 1 / Math.sqrt(fanIn) : 0.02;
  const data = new Float32Array(count);
  for (let i = 0; i < count; i++) data[i] = isNormScale ? 1 + (random() - 0.5) * 0.1 : (random() * 2 - 1) * scale * Math.sqrt(3);
  return data;
}

function tensors(shapes: Shapes, seed: number): TensorToWrite[] {
  const random = seededRandom(seed);
  return shapes.map(([name, shape]) => {
    const data = randomTensor(name, shape, random);
    return { name, shape, data: () => data };
  });
}

const defaultWords = "the a of and in on is with to at man woman red blue green white black dog cat kite car tree sky grass person shirt holding next".split(" ");

/**
 * A BPE vocabulary: specials, the 256 byte pieces, then pieces that build each word (every prefix, so the merges
 * reach the whole word) until `size` (scores rank merges).
 */
function tinyVocabulary(size: number, words: readonly string[]): Piece[] {
  const pieces: Piece[] = [
    { piece: "<unk>", score: 0, type: PieceType.unknown },
    { piece: "<s>", score: 0, type: PieceType.control },
    { piece: "</s>", score: 0, type: PieceType.control },
  ];
  for (let b = 0; b < 256; b++) pieces.push({ piece: `<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`, score: 0, type: PieceType.byte });
  const normal: string[] = ["\u2581", ..."abcdefghijklmnopqrstuvwxyz,.".split("")];
  for (const word of words) for (let end = 1; end <= word.length; end++) normal.push(`\u2581${word.slice(0, end)}`);
  const unique = [...new Set(normal)];
  for (let i = 0; unique.length < size - pieces.length; i++) unique.push(`\u2581w${i}`);
  unique.slice(0, size - pieces.length).forEach((piece, i) => pieces.push({ piece, score: -i, type: PieceType.normal }));
  return pieces;
}

/** Writes the tokenizer files of a project-generated checkpoint (tokenizer.model, added tokens, configs) into `dir`. */
export function writeTokenizerFiles(dir: string, vocab: number, words: readonly string[] = defaultWords): void {
  writeFileSync(join(dir, "tokenizer.model"), encodeBpeModelProto(tinyVocabulary(vocab, words)));
  writeFileSync(join(dir, "added_tokens.json"), JSON.stringify(Object.fromEntries(addedTokens.map((t, i) => [t, vocab + i])), null, 2));
  const special = (content: string) => ({ content, lstrip: false, normalized: true, rstrip: false, single_word: false });
  writeFileSync(join(dir, "special_tokens_map.json"), JSON.stringify({ bos_token: special("<s>"), eos_token: special("</s>"), pad_token: "<unk>", unk_token: special("<unk>") }, null, 2));
  writeFileSync(
    join(dir, "tokenizer_config.json"),
    JSON.stringify({ add_bos_token: true, add_eos_token: false, clean_up_tokenization_spaces: false, model_max_length: 1536, tokenizer_class: "LlamaTokenizer", pad_token: null, padding_side: "right" }, null, 2),
  );
}

function glammConfig(s: TinySizes, visionTower: string): Record<string, unknown> {
  const addedStart = s.vocab;
  return {
    architectures: ["GLaMMForCausalLM"],
    model_type: "llava",
    glamm_generated: "random weights written by glamm's tiny-checkpoint generator: a plumbing demo, not a real model",
    bos_token_id: 1,
    eos_token_id: 2,
    pad_token_id: 0,
    bbox_token_idx: addedStart + addedTokens.indexOf("<bbox>"),
    hidden_act: "silu",
    hidden_size: s.hidden,
    intermediate_size: s.intermediate,
    num_attention_heads: s.heads,
    num_hidden_layers: s.layers,
    max_position_embeddings: 2048,
    rms_norm_eps: 1e-6,
    vocab_size: s.vocab + addedTokens.length,
    tie_word_embeddings: false,
    torch_dtype: "float32",
    mm_hidden_size: s.clip.width,
    mm_use_im_start_end: true,
    mm_use_image_start_end: true,
    mm_vision_select_feature: "patch",
    mm_vision_select_layer: -2,
    mm_vision_tower: visionTower,
    vision_tower: visionTower,
    num_level_reg_features: s.region.levels,
    num_reg_features: s.region.levels,
    out_dim: s.decoder.dim,
    with_region: true,
    oracle_region_gn_groups: s.region.gnGroups,
    oracle_region_mid_dims: s.region.midDims,
    oracle_region_pos_hidden: s.region.posHidden,
    oracle_sam_config: {
      encoder_embed_dim: s.sam.dim,
      encoder_depth: s.sam.depth,
      encoder_num_heads: s.sam.heads,
      encoder_global_attn_indexes: s.sam.globalAttn,
      window_size: s.sam.window,
      prompt_embed_dim: s.decoder.dim,
      decoder_mlp_dim: s.decoder.mlp,
      decoder_num_heads: s.decoder.heads,
      iou_head_hidden_dim: s.decoder.iouHidden,
      mask_in_chans: s.decoder.maskInChans,
    },
  };
}

function clipConfig(s: TinySizes): Record<string, unknown> {
  const c = s.clip;
  return {
    architectures: ["CLIPModel"],
    model_type: "clip",
    vision_config: {
      hidden_act: "quick_gelu",
      hidden_size: c.width,
      image_size: c.image,
      intermediate_size: c.intermediate,
      layer_norm_eps: 1e-5,
      num_attention_heads: c.heads,
      num_channels: 3,
      num_hidden_layers: c.layers,
      patch_size: c.patch,
    },
  };
}

/** openai/clip-vit-large-patch14-336's preprocessor_config.json, at the tower's own input size. */
const clipPreprocessor = (size: number) => ({
  crop_size: { height: size, width: size },
  do_center_crop: true,
  do_convert_rgb: true,
  do_normalize: true,
  do_rescale: true,
  do_resize: true,
  image_mean: [0.48145466, 0.4578275, 0.40821073],
  image_processor_type: "CLIPImageProcessor",
  image_std: [0.26862954, 0.26130258, 0.27577711],
  resample: 3,
  rescale_factor: 1 / 255,
  size: { shortest_edge: size },
});

/**
 * Writes a random-weight GLaMM checkpoint in the official layout under `dir`: `glamm/` (config, safetensors weights,
 * tokenizer files) and `clip/` (Hugging Face CLIP layout), so it goes through exactly the conversion real weights do.
 * Like the oracle's, the config names its vision tower by a path relative to `dir`.
 */
export function writeTinyCheckpoint(dir: string, seed = 0, sizes: TinySizes = defaultTinySizes, words: readonly string[] = defaultWords): { glamm: string; clip: string } {
  const glamm = join(dir, "glamm");
  const clip = join(dir, "clip");
  mkdirSync(glamm, { recursive: true });
  mkdirSync(clip, { recursive: true });
  writeFileSync(join(glamm, "config.json"), JSON.stringify(glammConfig(sizes, "clip"), null, 2));
  writeFileSync(join(glamm, "generation_config.json"), JSON.stringify({ bos_token_id: 1, eos_token_id: 2, pad_token_id: 0 }, null, 2));
  writeTokenizerFiles(glamm, sizes.vocab, words);
  writeSafetensors(join(glamm, "model.safetensors"), tensors(glammCheckpointShapes(sizes), seed));
  writeFileSync(join(clip, "config.json"), JSON.stringify(clipConfig(sizes), null, 2));
  writeFileSync(join(clip, "preprocessor_config.json"), JSON.stringify(clipPreprocessor(sizes.clip.image), null, 2));
  writeSafetensors(join(clip, "model.safetensors"), tensors(clipCheckpointShapes(sizes), seed + 1));
  return { glamm, clip };
}
