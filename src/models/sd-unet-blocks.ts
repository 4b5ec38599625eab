import type { GraphBuilder } from "../graph/builder.ts";
import { childCount } from "./sd-common.ts";
import { downsample, upsample } from "./sd-resample.ts";
import { resnetBlock } from "./sd-resnet.ts";
import { spatialTransformer } from "./sd-transformer.ts";
import type { ModuleWeights } from "./sam-common.ts";

/** What every UNet block reads besides its input. */
export interface UNetBlockContext {
  temb: string;
  /** Cross-attention context [B, L, cross_attention_dim]. */
  context: string;
  groups: number;
  epsilon: number;
}

/** A resnet, then the block's transformer at the same index when it has attentions (Cross* blocks). */
function resnetThenAttention(g: GraphBuilder, w: ModuleWeights, name: string, i: number, x: string, heads: number, ctx: UNetBlockContext): string {
  const h = resnetBlock(g, w, `${name}.resnets.${i}`, x, { groups: ctx.groups, epsilon: ctx.epsilon, temb: ctx.temb });
  return w.has(`${name}.attentions.${i}.norm.weight`) ? spatialTransformer(g, w, `${name}.attentions.${i}`, h, { heads, groups: ctx.groups, context: ctx.context }) : h;
}

/** CrossAttnDownBlock2D / DownBlock2D: returns the output and the skip states it adds (one per resnet, plus the downsampler's). */
export function unetDownBlock(g: GraphBuilder, w: ModuleWeights, index: number, x: string, layers: number, heads: number, padding: 0 | 1, ctx: UNetBlockContext): { out: string; skips: string[] } {
  const name = `down_blocks.${index}`;
  const skips: string[] = [];
  let h = x;
  for (let i = 0; i < childCount(w, `${name}.resnets`, "conv1.weight", layers); i++) skips.push((h = resnetThenAttention(g, w, name, i, h, heads, ctx)));
  if (w.has(`${name}.downsamplers.0.conv.weight`)) skips.push((h = downsample(g, w, `${name}.downsamplers.0`, h, padding)));
  return { out: h, skips };
}

/** UNetMidBlock2DCrossAttn: resnet, then (transformer, resnet) pairs. */
export function unetMidBlock(g: GraphBuilder, w: ModuleWeights, x: string, heads: number, ctx: UNetBlockContext): string {
  const resnet = (i: number, value: string) => resnetBlock(g, w, `mid_block.resnets.${i}`, value, { groups: ctx.groups, epsilon: ctx.epsilon, temb: ctx.temb });
  let h = resnet(0, x);
  const attentions = w.count("mid_block.attentions", "norm.weight");
  for (let i = 0; i < attentions; i++) h = resnet(i + 1, spatialTransformer(g, w, `mid_block.attentions.${i}`, h, { heads, groups: ctx.groups, context: ctx.context }));
  return h;
}

/** CrossAttnUpBlock2D / UpBlock2D: each resnet takes the concatenation with the last remaining skip state (popped from `skips`). */
export function unetUpBlock(g: GraphBuilder, w: ModuleWeights, index: number, x: string, skips: string[], layers: number, heads: number, ctx: UNetBlockContext): string {
  const name = `up_blocks.${index}`;
  let h = x;
  for (let i = 0; i < childCount(w, `${name}.resnets`, "conv1.weight", layers + 1); i++) {
    h = resnetThenAttention(g, w, name, i, g.concat([h, skips.pop()!], 1), heads, ctx);
  }
  return w.has(`${name}.upsamplers.0.conv.weight`) ? upsample(g, w, `${name}.upsamplers.0`, h) : h;
}
