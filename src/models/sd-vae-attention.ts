import { mergeHeads, scaledDotProductAttention, splitHeads } from "../graph/blocks.ts";
import type { GraphBuilder } from "../graph/builder.ts";
import { groupNorm } from "./sd-common.ts";
import { linear, type ModuleWeights } from "./sam-common.ts";

/** Projection names of the VAE mid-block attention: diffusers 0.15's AttentionBlock, and the later Attention layout. */
const LAYOUTS = [
  { q: "query", k: "key", v: "value", out: "proj_attn" },
  { q: "to_q", k: "to_k", v: "to_v", out: "to_out.0" },
];

/** The VAE's single-head spatial self-attention: GroupNorm (eps 1e-6), q/k/v over the H·W tokens, projection, plus x. */
export function vaeAttention(g: GraphBuilder, w: ModuleWeights, name: string, x: string, groups: number): string {
  return g.scope(name, () => {
    const names = LAYOUTS.find((l) => w.has(`${name}.${l.q}.weight`)) ?? LAYOUTS[0];
    const [channels] = w.dims(`${name}.${names.q}.weight`, 2);
    const tokens = g.transpose(g.reshape(groupNorm(g, w, `${name}.group_norm`, x, groups, 1e-6), [0, 0, -1]), [0, 2, 1]);
    const [q, k, v] = [names.q, names.k, names.v].map((p) => splitHeads(g, linear(g, w, `${name}.${p}`, tokens), 1, channels));
    const attended = linear(g, w, `${name}.${names.out}`, mergeHeads(g, scaledDotProductAttention(g, q, k, v, channels)));
    return g.add(g.reshape(g.transpose(attended, [0, 2, 1]), g.shape(x)), x);
  });
}
