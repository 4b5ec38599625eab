import { modelError } from "../cli/errors.ts";
import type { GraphBuilder } from "../graph/builder.ts";
import type { WeightSource } from "../weights/index.ts";
import { torchLayerNorm, torchLinear, torchLinearRows, torchSkipLayerNorm } from "./torch-nn.ts";

/** SAM sizes that the checkpoint's tensor shapes do not determine. */
export interface SamConfig {
  encoderNumHeads: number;
  encoderGlobalAttnIndexes: number[];
  windowSize: number;
  decoderNumHeads: number;
}

/** Tensors of one module of a checkpoint, named relative to the prefix the checkpoint stores them under. */
export class ModuleWeights {
  constructor(
    readonly source: WeightSource,
    readonly prefix: string,
  ) {}

  /** The module whose tensor `marker` ends some key, e.g. "image_encoder.pos_embed" under "model.grounding_encoder.". */
  static locate(source: WeightSource, marker: string, what: string): ModuleWeights {
    const key = source.keys().find((name) => name === marker || name.endsWith(`.${marker}`));
    if (!key) throw modelError(`the checkpoint has no ${what} (no tensor named *${marker})`);
    return new ModuleWeights(source, key.slice(0, key.length - marker.length));
  }

  has(name: string): boolean {
    return this.source.has(this.prefix + name);
  }

  shape(name: string): readonly number[] {
    if (!this.has(name)) throw modelError(`the checkpoint has no tensor ${this.prefix + name}`);
    return this.source.info(this.prefix + name).shape;
  }

  /** Dims of `name`, checked against the expected rank. */
  dims(name: string, rank: number): number[] {
    const shape = this.shape(name);
    if (shape.length !== rank) throw modelError(`tensor ${this.prefix + name} has shape [${shape.join(", ")}], expected ${rank} dims`);
    return [...shape];
  }

  read(name: string): Float32Array {
    return this.source.read(this.prefix + name);
  }

  /** A graph weight holding the tensor as stored (read when the model is written). */
  weight(g: GraphBuilder, name: string, dims: readonly number[] = this.shape(name)): string {
    return g.weight(name, dims, () => this.read(name));
  }

  /** A graph weight holding `transform(tensor)` with the given dims (read when the model is written). */
  derived(g: GraphBuilder, name: string, dims: readonly number[], transform: (data: Float32Array) => Float32Array): string {
    return g.weight(name, dims, () => transform(this.read(name)));
  }

  /** Names of numbered children `${name}.0`, `${name}.1`, ... that hold `${suffix}`. */
  count(name: string, suffix: string): number {
    let n = 0;
    while (this.has(`${name}.${n}.${suffix}`)) n++;
    return n;
  }
}

/** torch nn.Linear `name` of the module (weight [out, in], optional bias) on the last axis of x; int8: see torchLinear. */
export function linear(g: GraphBuilder, w: ModuleWeights, name: string, x: string, int8?: boolean): string {
  return torchLinear(g, w.source, w.prefix + name, x, int8);
}

/** Output features [start, start + count) of the module's nn.Linear `name` (see torchLinearRows). */
export function linearRows(g: GraphBuilder, w: ModuleWeights, name: string, x: string, start: number, count: number, int8?: boolean): string {
  return torchLinearRows(g, w.source, w.prefix + name, x, start, count, int8);
}

/** torch nn.LayerNorm `name` of the module on x + skip (one node); returns [normed, x + skip]. */
export function skipLayerNorm(g: GraphBuilder, w: ModuleWeights, name: string, x: string, skip: string, epsilon: number): [string, string] {
  return torchSkipLayerNorm(g, w.source, w.prefix + name, x, skip, epsilon);
}

/** torch nn.LayerNorm `name` of the module over the last axis. */
export function layerNorm(g: GraphBuilder, w: ModuleWeights, name: string, x: string, epsilon: number): string {
  return torchLayerNorm(g, w.source, w.prefix + name, x, epsilon);
}

/** segment-anything's LayerNorm2d (over channels of NCHW, eps 1e-6). */
export function layerNorm2d(g: GraphBuilder, w: ModuleWeights, name: string, x: string): string {
  const nhwc = g.transpose(x, [0, 2, 3, 1]);
  return g.transpose(layerNorm(g, w, name, nhwc, 1e-6), [0, 3, 1, 2]);
}

/** segment-anything's MLP: `name`.layers.i Linear layers with ReLU between them. */
export function samMlp(g: GraphBuilder, w: ModuleWeights, name: string, x: string): string {
  const layers = w.count(`${name}.layers`, "weight");
  if (layers === 0) throw modelError(`the checkpoint has no layers for ${w.prefix}${name}`);
  let h = x;
  for (let i = 0; i < layers; i++) {
    h = linear(g, w, `${name}.layers.${i}`, h);
    if (i < layers - 1) h = g.relu(h);
  }
  return h;
}
