import type { GraphBuilder } from "../graph/builder.ts";
import { conv2d } from "./sd-common.ts";
import type { ModuleWeights } from "./sam-common.ts";

/**
 * diffusers Downsample2D with a conv: a 3x3 stride-2 conv, padded by 1 (`padding` 1, the UNet's downsample_padding) or
 * by zeros on the right and bottom only (`padding` 0, as the VAE encoder does it).
 */
export function downsample(g: GraphBuilder, w: ModuleWeights, name: string, x: string, padding: 0 | 1): string {
  const pads = padding === 1 ? [1, 1, 1, 1] : [0, 0, 1, 1];
  return conv2d(g, w, `${name}.conv`, x, { stride: 2, pads });
}

/** diffusers Upsample2D with a conv: nearest-neighbour x2, then a 3x3 conv. */
export function upsample(g: GraphBuilder, w: ModuleWeights, name: string, x: string): string {
  const doubled = g.resize(x, { scales: [1, 1, 2, 2], mode: "nearest", coordinateTransformationMode: "asymmetric", nearestMode: "floor" });
  return conv2d(g, w, `${name}.conv`, doubled);
}
