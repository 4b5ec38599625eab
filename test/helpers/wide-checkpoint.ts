import { copyFileSync, mkdirSync, readFileSync, renameSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { float32ToFloat16 } from "../../src/graph/float16.ts";
import { defaultTinySizes, glammCheckpointShapes, writeTinyCheckpoint, type TinySizes } from "../../src/models/tiny-checkpoint.ts";
import { seededRandom } from "../../src/util/random.ts";
import { writeSafetensors, type TensorToWrite } from "../../src/weights/safetensors-writer.ts";
import { llavaConfig } from "./llava-config.ts";

/**
 * A GLaMM and a LLaVA-1.5 checkpoint whose language model is Vicuna-7B wide (hidden 4096, 32 heads, MLP 11008) with
 * `layers` layers in float16, so its fp16 graph crosses the 2 GiB protobuf limit, while CLIP, SAM and the vocabulary
 * stay tiny. Each layer's o_proj and down_proj are zero, so every decoder layer passes its input through unchanged
 * (the residual stream): the logits are lm_head · RMSNorm(input embedding), which a test computes on its own.
 * Both models share the float16 layer shard (LLaVA's folder links to GLaMM's); SAM is a plain .safetensors + sizes.
 */
export interface WideCheckpoint {
  glamm: string;
  clip: string;
  llava: string;
  sam: string;
}

export const WIDE_LLAMA = { hidden: 4096, heads: 32, intermediate: 11008 };

const SHARDS = { rest: "model-00001-of-00002.safetensors", layers: "model-00002-of-00002.safetensors" };

const FP16_ONE = 0x3c00;

/** float16 bits of a repeating block of uniform values in ±bound (repeating keeps writing gigabytes fast). */
export function repeatingHalf(count: number, bound: number, seed: number): Uint16Array {
  const random = seededRandom(seed);
  const block = float32ToFloat16(Float32Array.from({ length: 1 << 16 }, () => (random() * 2 - 1) * bound));
  const out = new Uint16Array(count);
  for (let offset = 0; offset < count; offset += block.length) out.set(block.subarray(0, Math.min(block.length, count - offset)), offset);
  return out;
}

function layerTensors(layers: number): TensorToWrite[] {
  const { hidden: h, intermediate: m } = WIDE_LLAMA;
  const tensors: TensorToWrite[] = [];
  const half = (name: string, shape: number[], data: () => Uint16Array) => tensors.push({ name, shape, dtype: "F16", data });
  for (let layer = 0; layer < layers; layer++) {
    const p = `model.layers.${layer}`;
    const random = (name: string, out: number, inp: number, seed: number) => half(`${p}.${name}.weight`, [out, inp], () => repeatingHalf(out * inp, 1 / Math.sqrt(inp), seed));
    const zero = (name: string, out: number, inp: number) => half(`${p}.${name}.weight`, [out, inp], () => new Uint16Array(out * inp));
    half(`${p}.input_layernorm.weight`, [h], () => new Uint16Array(h).fill(FP16_ONE));
    random("self_attn.q_proj", h, h, 4 * layer + 1);
    random("self_attn.k_proj", h, h, 4 * layer + 2);
    random("self_attn.v_proj", h, h, 4 * layer + 3);
    zero("self_attn.o_proj", h, h);
    half(`${p}.post_attention_layernorm.weight`, [h], () => new Uint16Array(h).fill(FP16_ONE));
    random("mlp.gate_proj", m, h, 4 * layer + 4);
    random("mlp.up_proj", m, h, 4 * layer + 5);
    zero("mlp.down_proj", h, m);
  }
  return tensors;
}

const weightMap = (keys: string[], shard: string) => Object.fromEntries(keys.map((key) => [key, shard]));

function writeIndex(dir: string, map: Record<string, string>): void {
  writeFileSync(join(dir, "model.safetensors.index.json"), JSON.stringify({ metadata: {}, weight_map: map }, null, 2));
}

export function writeWideCheckpoint(dir: string, layers: number): WideCheckpoint {
  const sizes: TinySizes = { ...defaultTinySizes, hidden: WIDE_LLAMA.hidden, heads: WIDE_LLAMA.heads, intermediate: WIDE_LLAMA.intermediate, layers: 0 };
  // The vision side stays tiny; a 112-pixel CLIP input gives 64 image tokens, so a prompt runs in seconds.
  sizes.clip = { ...sizes.clip, image: 112 };
  const { glamm, clip } = writeTinyCheckpoint(dir, 7, sizes);
  const rest = glammCheckpointShapes(sizes).map(([name]) => name);
  // writeTinyCheckpoint wrote the layer-less tensors as model.safetensors; it becomes the first of two shards.
  renameSync(join(glamm, "model.safetensors"), join(glamm, SHARDS.rest));
  const layerKeys = layerTensors(layers).map((t) => t.name);
  writeSafetensors(join(glamm, SHARDS.layers), layerTensors(layers));
  writeIndex(glamm, { ...weightMap(rest, SHARDS.rest), ...weightMap(layerKeys, SHARDS.layers) });
  const configPath = join(glamm, "config.json");
  const config = JSON.parse(readFileSync(configPath, "utf8"));
  writeFileSync(configPath, JSON.stringify({ ...config, num_hidden_layers: layers, torch_dtype: "float16" }, null, 2));

  const llava = join(dir, "llava");
  mkdirSync(llava);
  for (const shard of Object.values(SHARDS)) symlinkSync(join(glamm, shard), join(llava, shard));
  for (const file of ["tokenizer.model", "added_tokens.json", "special_tokens_map.json", "tokenizer_config.json"]) copyFileSync(join(glamm, file), join(llava, file));
  const llm = rest.filter((key) => /^(model\.(embed_tokens|norm|mm_projector)\.|lm_head\.)/.test(key));
  writeIndex(llava, { ...weightMap(llm, SHARDS.rest), ...weightMap(layerKeys, SHARDS.layers) });
  const llavaJson = llavaConfig({
    hidden: WIDE_LLAMA.hidden,
    intermediate: WIDE_LLAMA.intermediate,
    heads: WIDE_LLAMA.heads,
    layers,
    vocab: config.vocab_size,
    visionWidth: sizes.clip.width,
    visionTower: "clip",
    dtype: "float16",
  });
  writeFileSync(join(llava, "config.json"), JSON.stringify(llavaJson, null, 2));

  // SAM under segment-anything's names, with its (non-registry) sizes in sam.json beside it.
  const prefix = "model.grounding_encoder.";
  const random = seededRandom(11);
  const samTensors: TensorToWrite[] = glammCheckpointShapes(sizes)
    .filter(([name]) => name.startsWith(prefix))
    .map(([name, shape]) => {
      const count = shape.reduce((a, b) => a * b, 1);
      const bound = shape.length > 1 ? 1 / Math.sqrt(count / shape[0]) : 0.02;
      const values = Float32Array.from({ length: count }, () => (shape.length === 1 && name.endsWith(".weight") ? 1 : (random() * 2 - 1) * bound));
      return { name: name.slice(prefix.length), shape, data: () => values };
    });
  const sam = join(dir, "sam.safetensors");
  writeSafetensors(sam, samTensors);
  const s = sizes.sam;
  writeFileSync(join(dir, "sam.json"), JSON.stringify({ encoder_num_heads: s.heads, encoder_global_attn_indexes: s.globalAttn, window_size: s.window, decoder_num_heads: sizes.decoder.heads }));
  return { glamm, clip, llava, sam };
}
