import type { GraphBuilder } from "../graph/builder.ts";
import { conv2d, groupNorm, silu } from "./sd-common.ts";
import { linear, type ModuleWeights } from "./sam-common.ts";

export interface ResnetOptions {
  groups: number;
  epsilon: number;
  /** The UNet's time embedding [B, T] (VAE resnets have none). */
  temb?: string;
}

/**
 * diffusers ResnetBlock2D (time_embedding_norm "default", output_scale_factor 1): GroupNorm-SiLU-conv1, plus the
 * projected time embedding, GroupNorm-SiLU-conv2, added to x (through conv_shortcut when the channel count changes).
 */
export function resnetBlock(g: GraphBuilder, w: ModuleWeights, name: string, x: string, options: ResnetOptions): string {
  return g.scope(name, () => {
    let h = conv2d(g, w, `${name}.conv1`, silu(g, groupNorm(g, w, `${name}.norm1`, x, options.groups, options.epsilon)));
    if (options.temb && w.has(`${name}.time_emb_proj.weight`)) {
      const projected = linear(g, w, `${name}.time_emb_proj`, silu(g, options.temb));
      h = g.add(h, g.unsqueeze(projected, [2, 3]));
    }
    h = conv2d(g, w, `${name}.conv2`, silu(g, groupNorm(g, w, `${name}.norm2`, h, options.groups, options.epsilon)));
    const shortcut = w.has(`${name}.conv_shortcut.weight`) ? conv2d(g, w, `${name}.conv_shortcut`, x) : x;
    return g.add(shortcut, h);
  });
}
