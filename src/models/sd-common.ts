import { modelError } from "../cli/errors.ts";
import type { GraphBuilder } from "../graph/builder.ts";
import type { ModuleWeights } from "./sam-common.ts";

/** x·sigmoid(x). */
export const silu = (g: GraphBuilder, x: string): string => g.mul(x, g.sigmoid(x));

/**
 * torch nn.GroupNorm `name` on x [B, C, H, W], then the per-channel affine. Statistics are taken in float32 even in a
 * float16 graph (squared activations overflow half precision), reduced row by row over [B, groups, C/groups·H, W]
 * and then over the rows, two-pass as torch computes them (one float32 sum over a whole VAE group at 384² loses digits).
 */
export function groupNorm(g: GraphBuilder, w: ModuleWeights, name: string, x: string, groups: number, epsilon: number): string {
  const [channels] = w.dims(`${name}.weight`, 1);
  if (channels % groups !== 0) throw modelError(`${w.prefix}${name}: ${channels} channels do not split into ${groups} groups`);
  const half = g.floatType === "float16";
  const wide = half ? g.cast(x, "float32") : x;
  const grouped = g.reshape(wide, g.concat([g.ints([0, groups, -1]), g.shape(x, 3, 4)], 0));
  const mean = (value: string) => g.reduceMean(g.reduceMean(value, [3]), [2]);
  const centred = g.sub(grouped, mean(grouped));
  const variance = mean(g.mul(centred, centred));
  const standardised = g.div(centred, g.sqrt(g.add(variance, g.constant("float32", [], Float32Array.of(epsilon)))), name);
  const normed = half ? g.cast(standardised, "float16") : standardised;
  const back = g.reshape(normed, g.shape(x));
  const scale = w.derived(g, `${name}.weight`, [channels, 1, 1], (d) => d);
  const shift = w.derived(g, `${name}.bias`, [channels, 1, 1], (d) => d);
  return g.add(g.mul(back, scale), shift);
}

/** torch nn.Conv2d `name` (square kernel, optional bias) on NCHW x; `pads` in ONNX order [top, left, bottom, right]. */
export function conv2d(g: GraphBuilder, w: ModuleWeights, name: string, x: string, options: { stride?: number; pads?: number[] } = {}): string {
  const [, , kh, kw] = w.dims(`${name}.weight`, 4);
  const pad = (kh - 1) / 2;
  const pads = options.pads ?? [Math.floor(pad), Math.floor((kw - 1) / 2), Math.floor(pad), Math.floor((kw - 1) / 2)];
  const stride = options.stride ?? 1;
  const bias = w.has(`${name}.bias`) ? w.weight(g, `${name}.bias`) : undefined;
  return g.conv(x, w.weight(g, `${name}.weight`), bias, { strides: [stride, stride], pads, name });
}

/** Numbered children `${name}.0`, `${name}.1`, ... that hold `${suffix}`, checked to be `expected` when given. */
export function childCount(w: ModuleWeights, name: string, suffix: string, expected?: number): number {
  const n = w.count(name, suffix);
  if (expected !== undefined && n !== expected) throw modelError(`${w.prefix}${name} holds ${n} blocks; the config says ${expected}`);
  return n;
}
