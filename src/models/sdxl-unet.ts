import { modelError } from "../cli/errors.ts";
import { GraphBuilder } from "../graph/builder.ts";
import type { WeightSource } from "../weights/index.ts";
import { conv2d, groupNorm, silu } from "./sd-common.ts";
import type { UNetConfig } from "./sd-config.ts";
import { unetDownBlock, unetMidBlock, unetUpBlock, type UNetBlockContext } from "./sd-unet-blocks.ts";
import { timestepEmbedding } from "./sd-unet.ts";
import { linear, ModuleWeights } from "./sam-common.ts";

export const SDXL_UNET_IO = {
  sample: "sample",
  timestep: "timestep",
  context: "encoder_hidden_states",
  textEmbeds: "text_embeds",
  timeIds: "time_ids",
  out: "noise_pred",
} as const;

/** Sizes of an SDXL UNet read from its tensors. */
export interface SdxlUNetShape {
  inChannels: number;
  outChannels: number;
  crossAttentionDim: number;
  /** add_embedding's input: pooled text width + time ids × addition_time_embed_dim. */
  addEmbeddingInput: number;
}

export function sdxlUNetShape(weights: WeightSource): SdxlUNetShape {
  const w = new ModuleWeights(weights, "");
  const [, inChannels] = w.dims("conv_in.weight", 4);
  const [outChannels] = w.dims("conv_out.weight", 4);
  const crossKey = weights.keys().find((k) => k.endsWith(".attn2.to_k.weight"));
  if (!crossKey) throw modelError("the UNet has no cross-attention (no *.attn2.to_k.weight)");
  if (!w.has("add_embedding.linear_1.weight")) throw modelError("the UNet has no add_embedding (not an SDXL UNet)");
  const [, addEmbeddingInput] = w.dims("add_embedding.linear_1.weight", 2);
  return { inChannels, outChannels, crossAttentionDim: weights.info(crossKey).shape[1], addEmbeddingInput };
}

export interface SdxlUNetGraphOptions {
  floatType?: "float32" | "float16";
  weightType?: "float32" | "float16";
  /** "int8": every Linear (the transformer blocks, most of the parameters) as per-column int8 DynamicQuantizeMatMul. */
  linearWeights?: "float" | "int8";
  latentSide: number;
  contextLength: number;
  /** Number of time ids (6 without aesthetic score). */
  timeIds: number;
}

/**
 * diffusers 0.22's UNet2DConditionModel with addition_embed_type "text_time" (SDXL) as one graph over a batch
 * (classifier-free guidance runs both rows at once): `sample` [B, C, s, s], `timestep` float32 [1],
 * `encoder_hidden_states` [B, L, D], `text_embeds` [B, P], `time_ids` [B, n] → `noise_pred` [B, out, s, s].
 * The time embedding gets add_embedding(concat(text_embeds, sinusoid(time_ids) flattened)); transformer depths and
 * head counts per block come from the tensors and the config.
 */
export function buildSdxlUNetGraph(weights: WeightSource, config: UNetConfig, options: SdxlUNetGraphOptions): GraphBuilder {
  if (config.additionEmbedType !== "text_time") throw modelError(`the UNet's addition_embed_type is ${JSON.stringify(config.additionEmbedType)}; SDXL inpainting needs "text_time"`);
  const w = new ModuleWeights(weights, "");
  const shape = sdxlUNetShape(weights);
  const blocks = config.downBlockTypes.length;
  if (config.upBlockTypes.length !== blocks) throw modelError(`the UNet config has ${blocks} down blocks but ${config.upBlockTypes.length} up blocks`);
  const [baseChannels] = w.dims("conv_in.weight", 4);
  const timeWidth = config.additionTimeEmbedDim;
  const pooledWidth = shape.addEmbeddingInput - options.timeIds * timeWidth;
  if (pooledWidth <= 0) throw modelError(`add_embedding takes ${shape.addEmbeddingInput} inputs, not more than ${options.timeIds} time ids × ${timeWidth}`);

  const g = new GraphBuilder({ name: "sdxl_unet", floatType: options.floatType, weightType: options.weightType, linearWeights: options.linearWeights });
  const side = options.latentSide;
  const sample = g.input(SDXL_UNET_IO.sample, "float32", ["batch", shape.inChannels, side, side]);
  const timestep = g.input(SDXL_UNET_IO.timestep, "float32", [1]);
  const context = g.input(SDXL_UNET_IO.context, "float32", ["batch", options.contextLength, shape.crossAttentionDim]);
  const textEmbeds = g.input(SDXL_UNET_IO.textEmbeds, "float32", ["batch", pooledWidth]);
  const timeIds = g.input(SDXL_UNET_IO.timeIds, "float32", ["batch", options.timeIds]);

  const timeMlp = (name: string, x: string) => linear(g, w, `${name}.linear_2`, silu(g, linear(g, w, `${name}.linear_1`, x)));
  const temb = timeMlp("time_embedding", timestepEmbedding(g, timestep, baseChannels, config));
  const idEmbeddings = timestepEmbedding(g, g.reshape(timeIds, [-1]), timeWidth, config);
  const added = timeMlp("add_embedding", g.concat([textEmbeds, g.reshape(idEmbeddings, [-1, options.timeIds * timeWidth])], 1));
  const ctx: UNetBlockContext = { temb: g.add(temb, added), context, groups: config.groups, epsilon: config.epsilon };

  let h = conv2d(g, w, "conv_in", sample);
  const skips = [h];
  for (let i = 0; i < blocks; i++) {
    const down = unetDownBlock(g, w, i, h, config.layersPerBlock, config.heads[i], config.downsamplePadding, ctx);
    skips.push(...down.skips);
    h = down.out;
  }
  h = unetMidBlock(g, w, h, config.heads[blocks - 1], ctx);
  const upHeads = [...config.heads].reverse();
  for (let i = 0; i < blocks; i++) h = unetUpBlock(g, w, i, h, skips, config.layersPerBlock, upHeads[i], ctx);
  h = conv2d(g, w, "conv_out", silu(g, groupNorm(g, w, "conv_norm_out", h, config.groups, config.epsilon)));
  g.output(h, SDXL_UNET_IO.out, "float32", ["batch", shape.outChannels, side, side]);
  return g;
}
