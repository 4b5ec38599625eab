import { usageError } from "../cli/errors.ts";
import type { UNetConfig } from "../models/sd-config.ts";
import { buildSdxlUNetGraph, SDXL_UNET_IO } from "../models/sdxl-unet.ts";
import { rgbImage } from "../image/rgb-image.ts";
import { ort } from "../runtime/ort.ts";
import { RandomWeights } from "../weights/random.ts";
import { benchFloatType, benchLinearWeights, temporarySession } from "./random-weights.ts";
import type { Benchmark } from "./runner.ts";
import { conv, linear, resnet, type Shapes, transformer, vector } from "./unet-shapes.ts";

// diffusers/stable-diffusion-xl-1.0-inpainting-0.1 unet/config.json: 9 input channels, (320, 640, 1280), 2 layers per
// block, heads (5, 10, 20), transformer depths (1, 2, 10), cross-attention 2048, add_embedding 1280 + 6 × 256.
const SDXL = { channels: [320, 640, 1280], layers: 2, heads: [5, 10, 20], depths: [1, 2, 10], cross: 2048, pooled: 1280, timeDim: 256, groups: 32, inChannels: 9, outChannels: 4, context: 77, timeIds: 6 };

/** The benchmark's sizes: `scale` multiplies every width and the group count (1 = the real UNet). */
export function sdxlBenchSizes(params: Record<string, string>) {
  const scale = Number(params.scale ?? "1");
  if (![1, 0.5, 0.25, 0.125].includes(scale)) throw usageError(`scale must be 1, 0.5, 0.25 or 0.125 (got ${params.scale})`);
  const side = Number(params.side ?? "128");
  if (!Number.isInteger(side) || side < 8 || side % 4 !== 0) throw usageError(`side must be a multiple of 4 from 8 (got ${params.side})`);
  const batch = Number(params.batch ?? "2");
  if (batch !== 1 && batch !== 2) throw usageError(`batch must be 1 or 2 (got ${params.batch})`);
  return { scale, side, batch, channels: SDXL.channels.map((c) => c * scale), groups: SDXL.groups * scale };
}

/** Every tensor of the SDXL inpainting UNet at these widths (DownBlock2D first, CrossAttn* after, as the real one). */
export function sdxlUNetShapes(channels: number[]): Shapes {
  const { layers, depths, cross } = SDXL;
  const temb = 4 * channels[0];
  const shapes: Shapes = new Map();
  conv(shapes, "conv_in", channels[0], SDXL.inChannels);
  linear(shapes, "time_embedding.linear_1", temb, channels[0]);
  linear(shapes, "time_embedding.linear_2", temb, temb);
  linear(shapes, "add_embedding.linear_1", temb, SDXL.pooled + SDXL.timeIds * SDXL.timeDim);
  linear(shapes, "add_embedding.linear_2", temb, temb);
  const last = channels.length - 1;
  channels.forEach((out, i) => {
    for (let j = 0; j < layers; j++) {
      resnet(shapes, `down_blocks.${i}.resnets.${j}`, j === 0 ? (channels[i - 1] ?? channels[0]) : out, out, temb);
      if (i > 0) transformer(shapes, `down_blocks.${i}.attentions.${j}`, out, { depth: depths[i], cross, linearProjection: true });
    }
    if (i < last) conv(shapes, `down_blocks.${i}.downsamplers.0.conv`, out, out);
  });
  resnet(shapes, "mid_block.resnets.0", channels[last], channels[last], temb);
  transformer(shapes, "mid_block.attentions.0", channels[last], { depth: depths[last], cross, linearProjection: true });
  resnet(shapes, "mid_block.resnets.1", channels[last], channels[last], temb);
  const reversed = [...channels].reverse();
  const reversedDepths = [...depths].reverse();
  reversed.forEach((out, i) => {
    const previous = reversed[i - 1] ?? reversed[0];
    const input = reversed[Math.min(i + 1, last)];
    for (let j = 0; j <= layers; j++) {
      const skip = j === layers ? input : out;
      resnet(shapes, `up_blocks.${i}.resnets.${j}`, (j === 0 ? previous : out) + skip, out, temb);
      if (i < last) transformer(shapes, `up_blocks.${i}.attentions.${j}`, out, { depth: reversedDepths[i], cross, linearProjection: true });
    }
    if (i < last) conv(shapes, `up_blocks.${i}.upsamplers.0.conv`, out, out);
  });
  vector(shapes, "conv_norm_out", channels[0]);
  conv(shapes, "conv_out", SDXL.outChannels, channels[0]);
  return shapes;
}

export function sdxlUNetConfig(groups: number): UNetConfig {
  return {
    downBlockTypes: ["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
    upBlockTypes: ["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"],
    layersPerBlock: SDXL.layers,
    heads: SDXL.heads,
    groups,
    epsilon: 1e-5,
    flipSinToCos: true,
    freqShift: 0,
    downsamplePadding: 1,
    additionEmbedType: "text_time",
    additionTimeEmbedDim: SDXL.timeDim,
  };
}

const wave = (count: number, scale: number) => Float32Array.from({ length: count }, (_, i) => Math.sin(i * 12.9898) * scale);

export const sdxlBenchmarks: Benchmark[] = [
  {
    name: "sdxl-unet",
    description:
      "one SDXL inpainting UNet step (9-channel, text_time): batch 2 (classifier-free guidance) at 128² latents, 77-token context (random weights, 10 GB fp32; params scale=1|0.5|0.25|0.125 widths, side, batch=1|2, dtype, weights=fp32|fp16 storage, linears=float|int8)",
    async prepare({ device, params }) {
      const { side, batch, channels, groups } = sdxlBenchSizes(params);
      const floatType = benchFloatType(params);
      const weights = params.weights ?? "fp32";
      if (weights !== "fp32" && weights !== "fp16") throw usageError(`weights must be fp32 or fp16 (got ${weights})`);
      const weightType = floatType === "float16" || weights === "fp16" ? "float16" : "float32";
      const graph = buildSdxlUNetGraph(new RandomWeights(sdxlUNetShapes(channels)), sdxlUNetConfig(groups), {
        latentSide: side,
        contextLength: SDXL.context,
        timeIds: SDXL.timeIds,
        floatType,
        weightType,
        linearWeights: benchLinearWeights(params),
      });
      const { session, dispose } = await temporarySession(graph, device);
      const feeds = {
        [SDXL_UNET_IO.sample]: new ort.Tensor("float32", wave(batch * SDXL.inChannels * side * side, 1), [batch, SDXL.inChannels, side, side]),
        [SDXL_UNET_IO.timestep]: new ort.Tensor("float32", Float32Array.of(901), [1]),
        [SDXL_UNET_IO.context]: new ort.Tensor("float32", wave(batch * SDXL.context * SDXL.cross, 0.5), [batch, SDXL.context, SDXL.cross]),
        [SDXL_UNET_IO.textEmbeds]: new ort.Tensor("float32", wave(batch * SDXL.pooled, 0.5), [batch, SDXL.pooled]),
        [SDXL_UNET_IO.timeIds]: new ort.Tensor("float32", Float32Array.from({ length: batch * 6 }, (_, i) => [1024, 1024, 0, 0, 1024, 1024][i % 6]), [batch, 6]),
      };
      return { run: async () => void (await session.run(feeds)), dispose, unit: { name: "step", perRun: 1 } };
    },
  },
];

/** `glamm bench edit`: the whole edit (crop, text encoders, VAE, every UNet step, decode, paste) on a synthetic photo. */
export const editBenchmark: Benchmark = {
  name: "edit",
  description: "whole glamm edit (demo defaults: 20 steps, guidance 8, strength 0.99, seed 0) of a synthetic 1024x768 photo with a box mask; params model=NAME|DIR (required), steps",
  requiredParams: ["model"],
  runs: { warmup: 0, repeat: 1 },
  async prepare({ device, params }) {
    const { resolveInpaintModel } = await import("../pipeline/edit-run.ts");
    const { SdxlInpaintModel, inpaint } = await import("../edit/sdxl-inpaint.ts");
    const { seededNoise } = await import("../edit/noise-source.ts");
    const steps = Number(params.steps ?? "20");
    if (!Number.isInteger(steps) || steps < 1) throw usageError(`steps must be a whole number >= 1 (got ${params.steps})`);
    const [width, height] = [1024, 768];
    const image = rgbImage(width, height, Uint8Array.from({ length: width * height * 3 }, (_, i) => (i * 7 + Math.floor(i / (3 * width)) * 3) & 255));
    const mask = rgbImage(width, height);
    for (let y = 250; y < 520; y++) mask.data.fill(255, (y * width + 400) * 3, (y * width + 640) * 3);
    const model = await SdxlInpaintModel.load(resolveInpaintModel(params.model), { device });
    let timings: Record<string, number> = {};
    return {
      run: async () => {
        timings = (await inpaint(model, { prompt: "a red sailing boat", steps, guidance: 8, strength: 0.99, image, mask, noise: seededNoise(0) })).timings;
      },
      unit: { name: "edit", perRun: 1 },
      metrics: () => Object.fromEntries(Object.entries(timings).map(([stage, seconds]) => [`${stage}_s`, seconds])),
    };
  },
};
