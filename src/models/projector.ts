import { modelError } from "../cli/errors.ts";
import type { GraphBuilder } from "../graph/builder.ts";
import type { WeightSource } from "../weights/index.ts";
import { torchLinear } from "./torch-nn.ts";

/** The Linear layers of an mm_projector: `prefix` itself (LLaVA "linear") or `prefix.0`, `prefix.2`, ... (mlpNx_gelu). */
export function projectorLayers(weights: WeightSource, prefix: string): string[] {
  if (weights.has(`${prefix}.weight`)) return [prefix];
  const layers: string[] = [];
  for (let i = 0; weights.has(`${prefix}.${i}.weight`); i += 2) layers.push(`${prefix}.${i}`);
  if (layers.length === 0) throw modelError(`checkpoint has no mm_projector (looked for ${prefix}.weight and ${prefix}.0.weight)`);
  return layers;
}

/** LLaVA's mm_projector: Linear (→ exact GELU → Linear)*; x [.., mm_hidden] -> [.., hidden]. */
export function mmProjector(g: GraphBuilder, weights: WeightSource, x: string, prefix = "model.mm_projector"): string {
  const layers = projectorLayers(weights, prefix);
  let h = x;
  layers.forEach((layer, i) => {
    if (i > 0) h = g.gelu(h);
    h = torchLinear(g, weights, layer, h);
  });
  return h;
}
