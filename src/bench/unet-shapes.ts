// Tensor shapes of diffusers' UNet blocks, for the benchmarks' random-weight UNets (SD-1.5 for DiffLMM, SDXL).

export type Shapes = Map<string, number[]>;

export const vector = (shapes: Shapes, name: string, size: number) => shapes.set(`${name}.weight`, [size]).set(`${name}.bias`, [size]);

export const linear = (shapes: Shapes, name: string, out: number, inner: number, bias = true) => {
  shapes.set(`${name}.weight`, [out, inner]);
  if (bias) shapes.set(`${name}.bias`, [out]);
};

export const conv = (shapes: Shapes, name: string, out: number, inner: number, kernel = 3) =>
  shapes.set(`${name}.weight`, [out, inner, kernel, kernel]).set(`${name}.bias`, [out]);

/** ResnetBlock2D; `temb` is the time-embedding width (none for the VAE's blocks). */
export function resnet(shapes: Shapes, name: string, inner: number, out: number, temb?: number): void {
  vector(shapes, `${name}.norm1`, inner);
  conv(shapes, `${name}.conv1`, out, inner);
  if (temb) linear(shapes, `${name}.time_emb_proj`, out, temb);
  vector(shapes, `${name}.norm2`, out);
  conv(shapes, `${name}.conv2`, out, out);
  if (inner !== out) conv(shapes, `${name}.conv_shortcut`, out, inner, 1);
}

/** Transformer2DModel: `depth` BasicTransformerBlocks, 1×1-conv or (use_linear_projection) Linear projections. */
export function transformer(shapes: Shapes, name: string, c: number, o: { depth: number; cross: number; linearProjection: boolean }): void {
  vector(shapes, `${name}.norm`, c);
  const project = (part: string) => (o.linearProjection ? linear(shapes, `${name}.${part}`, c, c) : conv(shapes, `${name}.${part}`, c, c, 1));
  project("proj_in");
  for (let d = 0; d < o.depth; d++) {
    const block = `${name}.transformer_blocks.${d}`;
    for (const norm of ["norm1", "norm2", "norm3"]) vector(shapes, `${block}.${norm}`, c);
    for (const [attn, context] of [["attn1", c], ["attn2", o.cross]] as const) {
      linear(shapes, `${block}.${attn}.to_q`, c, c, false);
      linear(shapes, `${block}.${attn}.to_k`, c, context, false);
      linear(shapes, `${block}.${attn}.to_v`, c, context, false);
      linear(shapes, `${block}.${attn}.to_out.0`, c, c);
    }
    linear(shapes, `${block}.ff.net.0.proj`, 8 * c, c);
    linear(shapes, `${block}.ff.net.2`, c, 4 * c);
  }
  project("proj_out");
}
