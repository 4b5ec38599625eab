import { modelError } from "../cli/errors.ts";
import { GraphBuilder } from "../graph/builder.ts";
import type { WeightSource } from "../weights/index.ts";
import { childCount, conv2d, groupNorm, silu } from "./sd-common.ts";
import type { VaeConfig } from "./sd-config.ts";
import { downsample } from "./sd-resample.ts";
import { resnetBlock } from "./sd-resnet.ts";
import { vaeAttention } from "./sd-vae-attention.ts";
import { ModuleWeights } from "./sam-common.ts";

export interface VaeEncoderGraphOptions {
  floatType?: "float32" | "float16";
  weightType?: "float32" | "float16";
  /** Image side (the graph is built for [1, 3, side, side]). */
  imageSize: number;
}

/** Latent side for an image side: one halving per downsampler. */
export function vaeLatentSide(weights: WeightSource, imageSize: number): number {
  const w = new ModuleWeights(weights, "");
  const blocks = w.count("encoder.down_blocks", "resnets.0.conv1.weight");
  const halvings = Array.from({ length: blocks }, (_, i) => w.has(`encoder.down_blocks.${i}.downsamplers.0.conv.weight`)).filter(Boolean).length;
  if (imageSize % 2 ** halvings !== 0) throw modelError(`image side ${imageSize} is not a multiple of the VAE's downsampling ${2 ** halvings}`);
  return imageSize / 2 ** halvings;
}

/**
 * AutoencoderKL's encoder and quant_conv (diffusers 0.15): `pixel_values` [1, 3, S, S] → `vae_moments` [1, 2·latent, s, s]
 * (mean, then logvar before its clamp), and `vae_encoder_out` (before quant_conv) for tracing. Resnets use GroupNorm eps 1e-6.
 */
export function buildVaeEncoderGraph(weights: WeightSource, config: VaeConfig, options: VaeEncoderGraphOptions): GraphBuilder {
  const w = new ModuleWeights(weights, "");
  const g = new GraphBuilder({ name: "sd_vae_encoder", floatType: options.floatType, weightType: options.weightType });
  const [, channels] = w.dims("encoder.conv_in.weight", 4);
  const pixels = g.input("pixel_values", "float32", [1, channels, options.imageSize, options.imageSize]);
  const resnet = (name: string, x: string) => resnetBlock(g, w, name, x, { groups: config.groups, epsilon: 1e-6 });
  let h = conv2d(g, w, "encoder.conv_in", pixels);
  const blocks = w.count("encoder.down_blocks", "resnets.0.conv1.weight");
  if (blocks === 0) throw modelError("the VAE has no encoder.down_blocks");
  for (let b = 0; b < blocks; b++) {
    const name = `encoder.down_blocks.${b}`;
    for (let i = 0; i < childCount(w, `${name}.resnets`, "conv1.weight"); i++) h = resnet(`${name}.resnets.${i}`, h);
    if (w.has(`${name}.downsamplers.0.conv.weight`)) h = downsample(g, w, `${name}.downsamplers.0`, h, 0);
  }
  h = resnet("encoder.mid_block.resnets.0", h);
  h = resnet("encoder.mid_block.resnets.1", vaeAttention(g, w, "encoder.mid_block.attentions.0", h, config.groups));
  h = conv2d(g, w, "encoder.conv_out", silu(g, groupNorm(g, w, "encoder.conv_norm_out", h, config.groups, 1e-6)));
  const [doubled] = w.dims("encoder.conv_out.weight", 4);
  if (doubled !== 2 * config.latentChannels) throw modelError(`the VAE encoder outputs ${doubled} channels; latent_channels ${config.latentChannels} needs ${2 * config.latentChannels} (mean and logvar)`);
  g.output(h, "vae_encoder_out", "float32");
  g.output(conv2d(g, w, "quant_conv", h), "vae_moments", "float32");
  return g;
}
