import { usageError } from "../cli/errors.ts";
import type { GraphBuilder } from "../graph/builder.ts";
import type { UNetConfig, VaeConfig } from "../models/sd-config.ts";
import { buildUNetGraph, UNET_IO } from "../models/sd-unet.ts";
import { buildVaeEncoderGraph } from "../models/sd-vae-encoder.ts";
import { ort } from "../runtime/ort.ts";
import { RandomWeights } from "../weights/random.ts";
import { benchFloatType, temporarySession } from "./random-weights.ts";
import type { Benchmark, PreparedBenchmark } from "./runner.ts";
import { conv, linear, resnet, type Shapes, transformer, vector } from "./unet-shapes.ts";

// Stable Diffusion 1.5's sizes (unet/ and vae/ config.json of the SD-1.5 repo) at DiffLMM's 384² input.
const UNET = { channels: [320, 640, 1280, 1280], layers: 2, heads: 8, cross: 768, groups: 32, temb: 1280, latent: 4 };
const VAE = { channels: [128, 256, 512, 512], layers: 2, groups: 32, latent: 4 };
const RESOLUTION = 384;
const LATENT_SIDE = RESOLUTION / 8;
/** CLIP ViT-L/14-336 patches: the rows of the UNet's cross-attention context. */
const CONTEXT = 576;

const sdTransformer = (shapes: Shapes, name: string, c: number) => transformer(shapes, name, c, { depth: 1, cross: UNET.cross, linearProjection: false });

/** Every tensor of the SD-1.5 UNet that DiffLMM runs (down, mid, up blocks 0-3; not the conv_norm_out/conv_out head). */
function unetShapes(): Shapes {
  const { channels, layers, temb } = UNET;
  const shapes: Shapes = new Map();
  conv(shapes, "conv_in", channels[0], UNET.latent);
  linear(shapes, "time_embedding.linear_1", temb, channels[0]);
  linear(shapes, "time_embedding.linear_2", temb, temb);
  channels.forEach((out, i) => {
    for (let j = 0; j < layers; j++) {
      resnet(shapes, `down_blocks.${i}.resnets.${j}`, j === 0 ? (channels[i - 1] ?? channels[0]) : out, out, temb);
      if (i < channels.length - 1) sdTransformer(shapes, `down_blocks.${i}.attentions.${j}`, out);
    }
    if (i < channels.length - 1) conv(shapes, `down_blocks.${i}.downsamplers.0.conv`, out, out);
  });
  const last = channels.at(-1)!;
  resnet(shapes, "mid_block.resnets.0", last, last, temb);
  sdTransformer(shapes, "mid_block.attentions.0", last);
  resnet(shapes, "mid_block.resnets.1", last, last, temb);
  const reversed = [...channels].reverse();
  reversed.forEach((out, i) => {
    const previous = reversed[i - 1] ?? reversed[0];
    const input = reversed[Math.min(i + 1, reversed.length - 1)];
    for (let j = 0; j <= layers; j++) {
      const skip = j === layers ? input : out;
      resnet(shapes, `up_blocks.${i}.resnets.${j}`, (j === 0 ? previous : out) + skip, out, temb);
      if (i > 0) sdTransformer(shapes, `up_blocks.${i}.attentions.${j}`, out);
    }
    if (i < reversed.length - 1) conv(shapes, `up_blocks.${i}.upsamplers.0.conv`, out, out);
  });
  return shapes;
}

/** The SD-1.5 VAE encoder and quant_conv. */
function vaeShapes(): Shapes {
  const { channels, layers, latent } = VAE;
  const shapes: Shapes = new Map();
  conv(shapes, "encoder.conv_in", channels[0], 3);
  channels.forEach((out, i) => {
    for (let j = 0; j < layers; j++) resnet(shapes, `encoder.down_blocks.${i}.resnets.${j}`, j === 0 ? (channels[i - 1] ?? channels[0]) : out, out);
    if (i < channels.length - 1) conv(shapes, `encoder.down_blocks.${i}.downsamplers.0.conv`, out, out);
  });
  const last = channels.at(-1)!;
  resnet(shapes, "encoder.mid_block.resnets.0", last, last);
  vector(shapes, "encoder.mid_block.attentions.0.group_norm", last);
  for (const p of ["query", "key", "value", "proj_attn"]) linear(shapes, `encoder.mid_block.attentions.0.${p}`, last, last);
  resnet(shapes, "encoder.mid_block.resnets.1", last, last);
  vector(shapes, "encoder.conv_norm_out", last);
  conv(shapes, "encoder.conv_out", 2 * latent, last);
  conv(shapes, "quant_conv", 2 * latent, 2 * latent, 1);
  return shapes;
}

const UNET_CONFIG: UNetConfig = {
  downBlockTypes: ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
  upBlockTypes: ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
  layersPerBlock: UNET.layers,
  heads: UNET.channels.map(() => UNET.heads),
  groups: UNET.groups,
  epsilon: 1e-5,
  flipSinToCos: true,
  freqShift: 0,
  downsamplePadding: 1,
  additionEmbedType: null,
  additionTimeEmbedDim: 0,
};
const VAE_CONFIG: VaeConfig = { groups: VAE.groups, scalingFactor: 0.18215, latentChannels: VAE.latent };

/** `weights=fp16` stores the weights in half precision (cast up at load: fp32 compute, half the file). */
function weightType(params: Record<string, string>): "float32" | "float16" {
  const value = params.weights ?? "fp32";
  if (value !== "fp32" && value !== "fp16") throw usageError(`weights must be fp32 or fp16 (got ${value})`);
  return value === "fp16" ? "float16" : "float32";
}

const wave = (count: number, scale: number) => Float32Array.from({ length: count }, (_, i) => Math.sin(i * 12.9898) * scale);

async function prepared(graph: GraphBuilder, device: "auto" | "cpu" | "cuda", feeds: Record<string, ort.Tensor>): Promise<PreparedBenchmark> {
  const { session, dispose } = await temporarySession(graph, device);
  return { run: async () => void (await session.run(feeds)), dispose, unit: { name: "image", perRun: 1 } };
}

export const difflmmBenchmarks: Benchmark[] = [
  {
    name: "difflmm-vae",
    description: "DiffLMM image encoding, part 1: SD-1.5 VAE encoder at 384² (random weights; params dtype=float32|float16, weights=fp32|fp16)",
    async prepare({ device, params }) {
      const floatType = benchFloatType(params);
      const graph = buildVaeEncoderGraph(new RandomWeights(vaeShapes()), VAE_CONFIG, { imageSize: RESOLUTION, floatType, weightType: floatType === "float16" ? "float16" : weightType(params) });
      return prepared(graph, device, { pixel_values: new ort.Tensor("float32", wave(3 * RESOLUTION * RESOLUTION, 1), [1, 3, RESOLUTION, RESOLUTION]) });
    },
  },
  {
    name: "difflmm-unet",
    description: "DiffLMM image encoding, part 2: SD-1.5 UNet to up block 3 on a 48² latent, 576-row context (random weights, 3.4 GB fp32: external data; params dtype, weights)",
    async prepare({ device, params }) {
      const floatType = benchFloatType(params);
      const graph = buildUNetGraph(new RandomWeights(unetShapes()), UNET_CONFIG, { upBlocks: 4, latentSide: LATENT_SIDE, contextLength: CONTEXT, floatType, weightType: floatType === "float16" ? "float16" : weightType(params) });
      return prepared(graph, device, {
        [UNET_IO.sample]: new ort.Tensor("float32", wave(UNET.latent * LATENT_SIDE * LATENT_SIDE, 1), [1, UNET.latent, LATENT_SIDE, LATENT_SIDE]),
        [UNET_IO.timestep]: new ort.Tensor("int64", BigInt64Array.of(100n), [1]),
        [UNET_IO.context]: new ort.Tensor("float32", wave(CONTEXT * UNET.cross, 0.5), [1, CONTEXT, UNET.cross]),
      });
    },
  },
];
