#!/usr/bin/env bun
/**
 * A real-size SDXL inpainting folder with random weights, for `glamm bench edit` at the published sizes: the
 * diffusers layout of stable-diffusion-xl-1.0-inpainting-0.1 (fp16 variant files; UNet 2.6 B parameters, CLIP-L and
 * OpenCLIP-bigG text encoders, the SDXL VAE), every size from the published config.json files. Weights: 1-D weights 1,
 * biases 0, the rest a repeated block of uniform values in ±1/√fan_in (fast to write gigabytes), so images are noise;
 * only time and memory mean something. The tokenizer and
 * scheduler files are copied from `--tokenizers DIR` (any diffusers SDXL folder, e.g. an oracle checkpoint).
 *
 *   bun bench/sdxl-real-size.ts --dir /tmp/sdxl-real --tokenizers SDXL_DIR          # writes the folder (~7 GB)
 *   bun bench/sdxl-real-size.ts --dir /tmp/sdxl-real --phase convert                # converts it into $GLAMM_HOME
 *   glamm bench edit --param model=/tmp/sdxl-real --param steps=N
 *
 * One phase per process, so each peak RSS is its own.
 */
import { cpSync, existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { sdxlUNetShapes } from "../src/bench/sdxl.ts";
import { writeSafetensors } from "../src/weights/safetensors-writer.ts";
import { repeatingHalf } from "../test/helpers/wide-checkpoint.ts";

type Shapes = Map<string, number[]>;

const { values } = parseArgs({ options: { dir: { type: "string" }, tokenizers: { type: "string" }, phase: { type: "string", default: "write" } } });
if (!values.dir) throw new Error("--dir DIR is required");
const dir = resolve(values.dir);

// Published config.json values (diffusers/stable-diffusion-xl-1.0-inpainting-0.1).
const TEXT_ENCODERS = [
  { folder: "text_encoder", architecture: "CLIPTextModel", hidden: 768, intermediate: 3072, heads: 12, layers: 12, act: "quick_gelu", projection: false },
  { folder: "text_encoder_2", architecture: "CLIPTextModelWithProjection", hidden: 1280, intermediate: 5120, heads: 20, layers: 32, act: "gelu", projection: true },
];
const VAE = { channels: [128, 256, 512, 512], layers: 2, groups: 32, latent: 4 };
const VOCAB = 49408;
const POSITIONS = 77;

const vector = (shapes: Shapes, name: string, size: number) => shapes.set(`${name}.weight`, [size]).set(`${name}.bias`, [size]);
const linear = (shapes: Shapes, name: string, out: number, inner: number, bias = true) => {
  shapes.set(`${name}.weight`, [out, inner]);
  if (bias) shapes.set(`${name}.bias`, [out]);
};
const conv = (shapes: Shapes, name: string, out: number, inner: number, kernel = 3) => shapes.set(`${name}.weight`, [out, inner, kernel, kernel]).set(`${name}.bias`, [out]);

function clipTextShapes(e: (typeof TEXT_ENCODERS)[number]): Shapes {
  const shapes: Shapes = new Map();
  shapes.set("text_model.embeddings.token_embedding.weight", [VOCAB, e.hidden]);
  shapes.set("text_model.embeddings.position_embedding.weight", [POSITIONS, e.hidden]);
  for (let l = 0; l < e.layers; l++) {
    const p = `text_model.encoder.layers.${l}`;
    for (const proj of ["q_proj", "k_proj", "v_proj", "out_proj"]) linear(shapes, `${p}.self_attn.${proj}`, e.hidden, e.hidden);
    vector(shapes, `${p}.layer_norm1`, e.hidden);
    vector(shapes, `${p}.layer_norm2`, e.hidden);
    linear(shapes, `${p}.mlp.fc1`, e.intermediate, e.hidden);
    linear(shapes, `${p}.mlp.fc2`, e.hidden, e.intermediate);
  }
  vector(shapes, "text_model.final_layer_norm", e.hidden);
  if (e.projection) linear(shapes, "text_projection", e.hidden, e.hidden, false);
  return shapes;
}

function vaeResnet(shapes: Shapes, name: string, inner: number, out: number): void {
  vector(shapes, `${name}.norm1`, inner);
  conv(shapes, `${name}.conv1`, out, inner);
  vector(shapes, `${name}.norm2`, out);
  conv(shapes, `${name}.conv2`, out, out);
  if (inner !== out) conv(shapes, `${name}.conv_shortcut`, out, inner, 1);
}

function vaeMid(shapes: Shapes, prefix: string, c: number): void {
  vaeResnet(shapes, `${prefix}.mid_block.resnets.0`, c, c);
  vector(shapes, `${prefix}.mid_block.attentions.0.group_norm`, c);
  for (const p of ["to_q", "to_k", "to_v", "to_out.0"]) linear(shapes, `${prefix}.mid_block.attentions.0.${p}`, c, c);
  vaeResnet(shapes, `${prefix}.mid_block.resnets.1`, c, c);
}

/** AutoencoderKL: encoder (layers resnets per block), decoder (layers + 1 per block, reversed), quant convs. */
function vaeShapes(): Shapes {
  const { channels, layers, latent } = VAE;
  const shapes: Shapes = new Map();
  const last = channels.at(-1)!;
  conv(shapes, "encoder.conv_in", channels[0], 3);
  channels.forEach((out, i) => {
    for (let j = 0; j < layers; j++) vaeResnet(shapes, `encoder.down_blocks.${i}.resnets.${j}`, j === 0 ? (channels[i - 1] ?? channels[0]) : out, out);
    if (i < channels.length - 1) conv(shapes, `encoder.down_blocks.${i}.downsamplers.0.conv`, out, out);
  });
  vaeMid(shapes, "encoder", last);
  vector(shapes, "encoder.conv_norm_out", last);
  conv(shapes, "encoder.conv_out", 2 * latent, last);
  conv(shapes, "quant_conv", 2 * latent, 2 * latent, 1);
  conv(shapes, "post_quant_conv", latent, latent, 1);
  conv(shapes, "decoder.conv_in", last, latent);
  vaeMid(shapes, "decoder", last);
  const reversed = [...channels].reverse();
  reversed.forEach((out, i) => {
    for (let j = 0; j <= layers; j++) vaeResnet(shapes, `decoder.up_blocks.${i}.resnets.${j}`, j === 0 ? (reversed[i - 1] ?? last) : out, out);
    if (i < reversed.length - 1) conv(shapes, `decoder.up_blocks.${i}.upsamplers.0.conv`, out, out);
  });
  vector(shapes, "decoder.conv_norm_out", channels[0]);
  conv(shapes, "decoder.conv_out", 3, channels[0]);
  return shapes;
}

function writeComponent(folder: string, file: string, shapes: Shapes, config: Record<string, unknown>): void {
  mkdirSync(join(dir, folder), { recursive: true });
  writeFileSync(join(dir, folder, "config.json"), JSON.stringify(config, null, 2));
  const FP16_ONE = 0x3c00;
  const values = (name: string, shape: number[], seed: number): Uint16Array => {
    const count = shape.reduce((a, b) => a * b, 1);
    if (name.endsWith(".bias")) return new Uint16Array(count);
    if (shape.length === 1) return new Uint16Array(count).fill(FP16_ONE);
    return repeatingHalf(count, 1 / Math.sqrt(count / shape[0]), seed);
  };
  writeSafetensors(
    join(dir, folder, file),
    [...shapes].map(([name, shape], i) => ({ name, shape, dtype: "F16" as const, data: () => values(name, shape, i + 1) })),
  );
  console.log(`${folder}: ${[...shapes.values()].reduce((n, s) => n + s.reduce((a, b) => a * b, 1), 0) / 1e6} M parameters`);
}

function writeFolder(tokenizers: string): void {
  for (const sub of ["tokenizer", "tokenizer_2", "scheduler"]) cpSync(join(tokenizers, sub), join(dir, sub), { recursive: true });
  writeFileSync(
    join(dir, "model_index.json"),
    JSON.stringify({ _class_name: "StableDiffusionXLInpaintPipeline", force_zeros_for_empty_prompt: true, requires_aesthetics_score: false, scheduler: ["diffusers", "EulerDiscreteScheduler"] }),
  );
  for (const e of TEXT_ENCODERS) {
    writeComponent(e.folder, "model.fp16.safetensors", clipTextShapes(e), {
      architectures: [e.architecture],
      hidden_act: e.act,
      hidden_size: e.hidden,
      intermediate_size: e.intermediate,
      layer_norm_eps: 1e-5,
      max_position_embeddings: POSITIONS,
      model_type: "clip_text_model",
      num_attention_heads: e.heads,
      num_hidden_layers: e.layers,
      projection_dim: e.hidden,
      vocab_size: VOCAB,
      bos_token_id: 0,
      eos_token_id: 2,
      pad_token_id: 1,
    });
  }
  writeComponent("vae", "diffusion_pytorch_model.fp16.safetensors", vaeShapes(), {
    _class_name: "AutoencoderKL",
    act_fn: "silu",
    block_out_channels: VAE.channels,
    down_block_types: VAE.channels.map(() => "DownEncoderBlock2D"),
    up_block_types: VAE.channels.map(() => "UpDecoderBlock2D"),
    force_upcast: true,
    in_channels: 3,
    out_channels: 3,
    latent_channels: VAE.latent,
    layers_per_block: VAE.layers,
    norm_num_groups: VAE.groups,
    sample_size: 1024,
    scaling_factor: 0.13025,
  });
  writeComponent("unet", "diffusion_pytorch_model.fp16.safetensors", sdxlUNetShapes([320, 640, 1280]), {
    _class_name: "UNet2DConditionModel",
    act_fn: "silu",
    addition_embed_type: "text_time",
    addition_time_embed_dim: 256,
    attention_head_dim: [5, 10, 20],
    block_out_channels: [320, 640, 1280],
    center_input_sample: false,
    cross_attention_dim: 2048,
    down_block_types: ["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
    downsample_padding: 1,
    flip_sin_to_cos: true,
    freq_shift: 0,
    in_channels: 9,
    layers_per_block: 2,
    mid_block_type: "UNetMidBlock2DCrossAttn",
    norm_eps: 1e-5,
    norm_num_groups: 32,
    num_attention_heads: null,
    out_channels: 4,
    projection_class_embeddings_input_dim: 2816,
    sample_size: 128,
    transformer_layers_per_block: [1, 2, 10],
    up_block_types: ["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"],
    use_linear_projection: true,
  });
}

if (values.phase === "write") {
  if (!values.tokenizers || !existsSync(join(values.tokenizers, "tokenizer"))) throw new Error("--tokenizers DIR (a diffusers SDXL folder with tokenizer/, tokenizer_2/, scheduler/) is required");
  writeFolder(resolve(values.tokenizers));
} else if (values.phase === "convert") {
  const { ensureSdxlConverted } = await import("../src/edit/sdxl-convert.ts");
  await ensureSdxlConverted(dir, "fp32", (message) => console.log(message));
} else {
  throw new Error(`unknown --phase ${values.phase} (write, convert)`);
}
