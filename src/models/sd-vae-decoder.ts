import { modelError } from "../cli/errors.ts";
import { GraphBuilder } from "../graph/builder.ts";
import type { WeightSource } from "../weights/index.ts";
import { childCount, conv2d, groupNorm, silu } from "./sd-common.ts";
import type { VaeConfig } from "./sd-config.ts";
import { upsample } from "./sd-resample.ts";
import { resnetBlock } from "./sd-resnet.ts";
import { vaeAttention } from "./sd-vae-attention.ts";
import { ModuleWeights } from "./sam-common.ts";

export interface VaeDecoderGraphOptions {
  floatType?: "float32" | "float16";
  weightType?: "float32" | "float16";
  /** Latent side (the graph is built for [1, latent, side, side]). */
  latentSide: number;
}

/**
 * AutoencoderKL's post_quant_conv and decoder (diffusers 0.22): `latents` [1, latent, s, s] (already divided by the
 * scaling factor) → `decoded` [1, 3, S, S] in [-1, 1] before any clamp. conv_in, mid block (resnet, single-head
 * attention, resnet), up blocks of layers_per_block + 1 resnets each with a nearest ×2 upsampler except the last,
 * GroupNorm-SiLU-conv_out; every GroupNorm eps 1e-6.
 */
export function buildVaeDecoderGraph(weights: WeightSource, config: VaeConfig, options: VaeDecoderGraphOptions): GraphBuilder {
  const w = new ModuleWeights(weights, "");
  const g = new GraphBuilder({ name: "sd_vae_decoder", floatType: options.floatType, weightType: options.weightType });
  const [, latent] = w.dims("post_quant_conv.weight", 4);
  if (latent !== config.latentChannels) throw modelError(`the VAE decoder takes ${latent} latent channels; latent_channels is ${config.latentChannels}`);
  const latents = g.input("latents", "float32", [1, latent, options.latentSide, options.latentSide]);
  const resnet = (name: string, x: string) => resnetBlock(g, w, name, x, { groups: config.groups, epsilon: 1e-6 });
  let h = conv2d(g, w, "decoder.conv_in", conv2d(g, w, "post_quant_conv", latents));
  h = resnet("decoder.mid_block.resnets.0", h);
  h = resnet("decoder.mid_block.resnets.1", vaeAttention(g, w, "decoder.mid_block.attentions.0", h, config.groups));
  const blocks = w.count("decoder.up_blocks", "resnets.0.conv1.weight");
  if (blocks === 0) throw modelError("the VAE has no decoder.up_blocks");
  for (let b = 0; b < blocks; b++) {
    const name = `decoder.up_blocks.${b}`;
    for (let i = 0; i < childCount(w, `${name}.resnets`, "conv1.weight"); i++) h = resnet(`${name}.resnets.${i}`, h);
    if (w.has(`${name}.upsamplers.0.conv.weight`)) h = upsample(g, w, `${name}.upsamplers.0`, h);
  }
  h = conv2d(g, w, "decoder.conv_out", silu(g, groupNorm(g, w, "decoder.conv_norm_out", h, config.groups, 1e-6)));
  g.output(h, "decoded", "float32");
  return g;
}
