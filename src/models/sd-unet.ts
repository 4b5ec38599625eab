import { modelError } from "../cli/errors.ts";
import { GraphBuilder } from "../graph/builder.ts";
import type { WeightSource } from "../weights/index.ts";
import { conv2d, silu } from "./sd-common.ts";
import type { UNetConfig } from "./sd-config.ts";
import { unetDownBlock, unetMidBlock, unetUpBlock, type UNetBlockContext } from "./sd-unet-blocks.ts";
import { linear, ModuleWeights } from "./sam-common.ts";

export interface UNetGraphOptions {
  floatType?: "float32" | "float16";
  weightType?: "float32" | "float16";
  /** Up blocks to run (DiffLMM reads the outputs of the first four; the head conv_norm_out/conv_out is never built). */
  upBlocks: number;
  /** Latent side (the graph is built for a square latent [1, C, side, side]). */
  latentSide: number;
  /** Rows of the cross-attention context. */
  contextLength: number;
}

/** Sizes of a UNet2DConditionModel read from its tensors. */
interface UNetShape {
  inChannels: number;
  /** block_out_channels[0]: the sinusoidal embedding width. */
  baseChannels: number;
  crossAttentionDim: number;
}

export const UNET_IO = {
  sample: "sample",
  timestep: "timestep",
  context: "encoder_hidden_states",
  upFeature: (i: number) => `up_ft_${i}`,
} as const;

function unetShape(weights: WeightSource): UNetShape {
  const w = new ModuleWeights(weights, "");
  const [baseChannels, inChannels] = w.dims("conv_in.weight", 4);
  const crossKey = weights.keys().find((k) => k.endsWith(".attn2.to_k.weight"));
  if (!crossKey) throw modelError("the UNet has no cross-attention (no *.attn2.to_k.weight)");
  return { inChannels, baseChannels, crossAttentionDim: weights.info(crossKey).shape[1] };
}

/**
 * diffusers' get_timestep_embedding frequencies exp(-ln(10000)·i / (half - shift)), in float32 like torch, applied
 * in the graph as t·freq then [sin, cos] (or [cos, sin] with flip_sin_to_cos).
 */
export function timestepEmbedding(g: GraphBuilder, timestep: string, width: number, config: Pick<UNetConfig, "freqShift" | "flipSinToCos">): string {
  if (width % 2 !== 0) throw modelError(`the UNet's base width ${width} is odd; the sinusoidal embedding needs an even width`);
  const half = width / 2;
  const freqs = Float32Array.from({ length: half }, (_, i) => Math.exp(Math.fround(Math.fround(-Math.log(10000) * i) / (half - config.freqShift))));
  const angles = g.mul(g.unsqueeze(g.cast(timestep, "float32"), [1]), g.constant("float32", [1, half], freqs));
  const [sin, cos] = [g.sin(angles), g.cos(angles)];
  return g.cast(g.concat(config.flipSinToCos ? [cos, sin] : [sin, cos], 1), "float");
}

/**
 * UNet2DConditionModel (diffusers 0.15 blocks) as one graph: `sample` [1, C, side, side], `timestep` int64 [1],
 * `encoder_hidden_states` [1, L, D] → `up_ft_<i>` (output of up block i) for the first `upBlocks` up blocks, plus
 * `unet_temb`, `unet_conv_in`, `unet_down_<i>` and `unet_mid` for tracing.
 */
export function buildUNetGraph(weights: WeightSource, config: UNetConfig, options: UNetGraphOptions): GraphBuilder {
  const w = new ModuleWeights(weights, "");
  const shape = unetShape(weights);
  const blocks = config.downBlockTypes.length;
  if (config.upBlockTypes.length !== blocks) throw modelError(`the UNet config has ${blocks} down blocks but ${config.upBlockTypes.length} up blocks`);
  if (config.additionEmbedType !== null) throw modelError(`addition_embed_type ${JSON.stringify(config.additionEmbedType)} is an SDXL UNet; this graph is SD-1.5's`);
  if (options.upBlocks > blocks) throw modelError(`${options.upBlocks} up-block features requested but the UNet has ${blocks} up blocks`);
  const g = new GraphBuilder({ name: "sd_unet", floatType: options.floatType, weightType: options.weightType });
  const side = options.latentSide;
  const sample = g.input(UNET_IO.sample, "float32", [1, shape.inChannels, side, side]);
  const timestep = g.input(UNET_IO.timestep, "int64", [1]);
  const context = g.input(UNET_IO.context, "float32", [1, options.contextLength, shape.crossAttentionDim]);

  const embedded = timestepEmbedding(g, timestep, shape.baseChannels, config);
  const temb = linear(g, w, "time_embedding.linear_2", silu(g, linear(g, w, "time_embedding.linear_1", embedded)));
  g.output(temb, "unet_temb", "float32");
  const ctx: UNetBlockContext = { temb, context, groups: config.groups, epsilon: config.epsilon };

  let h = conv2d(g, w, "conv_in", sample);
  g.output(h, "unet_conv_in", "float32");
  const skips = [h];
  for (let i = 0; i < blocks; i++) {
    const down = unetDownBlock(g, w, i, h, config.layersPerBlock, config.heads[i], config.downsamplePadding, ctx);
    skips.push(...down.skips);
    h = down.out;
    g.output(h, `unet_down_${i}`, "float32");
  }
  h = unetMidBlock(g, w, h, config.heads[blocks - 1], ctx);
  g.output(h, "unet_mid", "float32");
  const upHeads = [...config.heads].reverse();
  for (let i = 0; i < options.upBlocks; i++) {
    h = unetUpBlock(g, w, i, h, skips, config.layersPerBlock, upHeads[i], ctx);
    g.output(h, UNET_IO.upFeature(i), "float32");
  }
  return g;
}

/** [channels, side] of each up block's output for a square latent of `latentSide`: one halving per down-block downsampler, one doubling per up-block upsampler. */
export function unetUpFeatureShapes(weights: WeightSource, latentSide: number, count: number): [number, number][] {
  const w = new ModuleWeights(weights, "");
  const downs = w.count("down_blocks", "resnets.0.conv1.weight");
  let side = latentSide;
  for (let i = 0; i < downs; i++) if (w.has(`down_blocks.${i}.downsamplers.0.conv.weight`)) side /= 2;
  return Array.from({ length: count }, (_, i) => {
    const [channels] = w.dims(`up_blocks.${i}.resnets.0.conv2.weight`, 4);
    if (w.has(`up_blocks.${i}.upsamplers.0.conv.weight`)) side *= 2;
    return [channels, side] as [number, number];
  });
}
