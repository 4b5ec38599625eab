import { modelError } from "../cli/errors.ts";
import { mergeHeads, scaledDotProductAttention, splitHeads } from "../graph/blocks.ts";
import type { GraphBuilder } from "../graph/builder.ts";
import { conv2d, groupNorm } from "./sd-common.ts";
import { layerNorm, linear, linearRows, type ModuleWeights, skipLayerNorm } from "./sam-common.ts";

export interface TransformerOptions {
  /** Attention heads (diffusers 0.15 passes the config's attention_head_dim here); the head size is channels / heads. */
  heads: number;
  groups: number;
  /** Cross-attention context [B, L, cross_attention_dim]. */
  context: string;
}

/** diffusers Attention `name` (to_q/to_k/to_v without bias, to_out.0): softmax attention with scale head_dim^-0.5. */
function sdAttention(g: GraphBuilder, w: ModuleWeights, name: string, x: string, context: string, heads: number): string {
  const [inner] = w.dims(`${name}.to_q.weight`, 2);
  const headDim = inner / heads;
  if (!Number.isInteger(headDim)) throw modelError(`${w.prefix}${name}: width ${inner} does not split into ${heads} heads`);
  const [q, k, v] = [
    [`${name}.to_q`, x],
    [`${name}.to_k`, context],
    [`${name}.to_v`, context],
  ].map(([proj, input]) => linear(g, w, proj, input));
  // float32: onnxruntime's MultiHeadAttention, which on the CPU runs flash attention in L2-sized tiles, so SDXL's
  // 64² self-attention never holds its [B, heads, 4096, 4096] score maps (1.25 GiB at batch 2).
  const attention =
    g.floatType === "float32"
      ? g.multiHeadAttention(q, k, v, { numHeads: heads, scale: 1 / Math.sqrt(headDim) })
      : mergeHeads(g, scaledDotProductAttention(g, ...([q, k, v].map((t) => splitHeads(g, t, heads, headDim)) as [string, string, string]), headDim));
  return linear(g, w, `${name}.to_out.0`, attention);
}

/**
 * FeedForward with GEGLU: proj → (hidden, gate) halves → hidden · gelu(gate) → net.2. The halves are two Linears of
 * proj's rows (no Split copy) and in float32 the GELU is one com.microsoft Gelu node (not five elementwise passes).
 */
function geglu(g: GraphBuilder, w: ModuleWeights, name: string, x: string): string {
  const [doubled] = w.dims(`${name}.net.0.proj.weight`, 2);
  const [hidden, gate] = [0, doubled / 2].map((start) => linearRows(g, w, `${name}.net.0.proj`, x, start, doubled / 2));
  return linear(g, w, `${name}.net.2`, g.mul(hidden, g.gelu(gate, { contrib: g.floatType === "float32" })));
}

/**
 * BasicTransformerBlock: self-attention, cross-attention on `context`, GEGLU feed-forward, each pre-LayerNorm (eps
 * 1e-5) and residual; in float32 each residual add after an attention is fused with the next LayerNorm
 * (SkipLayerNormalization).
 */
function transformerBlock(g: GraphBuilder, w: ModuleWeights, name: string, x: string, options: TransformerOptions): string {
  const norm = (part: string, value: string) => layerNorm(g, w, `${name}.${part}`, value, 1e-5);
  /** [LayerNorm `part` of residual + value, residual + value]. */
  const addNorm = (part: string, residual: string, value: string): [string, string] => {
    if (g.floatType === "float32") return skipLayerNorm(g, w, `${name}.${part}`, value, residual, 1e-5);
    const sum = g.add(residual, value);
    return [norm(part, sum), sum];
  };
  const cross = w.has(`${name}.attn2.to_q.weight`);
  const selfNormed = norm("norm1", x);
  let [normed, h] = addNorm(cross ? "norm2" : "norm3", x, sdAttention(g, w, `${name}.attn1`, selfNormed, selfNormed, options.heads));
  if (cross) [normed, h] = addNorm("norm3", h, sdAttention(g, w, `${name}.attn2`, normed, options.context, options.heads));
  return g.add(h, geglu(g, w, `${name}.ff`, normed));
}

/**
 * diffusers Transformer2DModel on NCHW x: GroupNorm (eps 1e-6), proj_in (1x1 conv, or Linear with
 * use_linear_projection), the transformer blocks over the H·W tokens, proj_out, plus x.
 */
export function spatialTransformer(g: GraphBuilder, w: ModuleWeights, name: string, x: string, options: TransformerOptions): string {
  return g.scope(name, () => {
    const [channels] = w.dims(`${name}.norm.weight`, 1);
    const linearProjection = w.shape(`${name}.proj_in.weight`).length === 2;
    const normed = groupNorm(g, w, `${name}.norm`, x, options.groups, 1e-6);
    const toTokens = (value: string) => g.transpose(g.reshape(value, [0, 0, -1]), [0, 2, 1]);
    let h = linearProjection ? linear(g, w, `${name}.proj_in`, toTokens(normed)) : toTokens(conv2d(g, w, `${name}.proj_in`, normed));
    const blocks = w.count(`${name}.transformer_blocks`, "norm1.weight");
    if (blocks === 0) throw modelError(`${w.prefix}${name} has no transformer_blocks`);
    for (let i = 0; i < blocks; i++) h = transformerBlock(g, w, `${name}.transformer_blocks.${i}`, h, options);
    const toMap = (value: string, width: number) => g.reshape(g.transpose(value, [0, 2, 1]), g.concat([g.shape(x, 0, 1), g.ints([width]), g.shape(x, 2, 4)], 0));
    const [inner] = w.dims(`${name}.proj_in.weight`, linearProjection ? 2 : 4);
    const out = linearProjection ? toMap(linear(g, w, `${name}.proj_out`, h), channels) : conv2d(g, w, `${name}.proj_out`, toMap(h, inner));
    return g.add(out, x);
  });
}
