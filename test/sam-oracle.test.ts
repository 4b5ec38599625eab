import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import * as ort from "onnxruntime-node";
import { buildMaskDecoder } from "../src/models/mask-decoder.ts";
import { samConfigFrom } from "../src/models/sam-checkpoint.ts";
import { buildSamEncoder } from "../src/models/sam-encoder.ts";
import { expectWithin } from "./helpers/tolerance.ts";
import { readNpy } from "../src/output/npy.ts";
import { maskOverlaps } from "./helpers/oracle-compare.ts";
import { buildMaskPostprocess, postprocessMasks } from "../src/pipeline/masks.ts";
import { openWeights } from "../src/weights/index.ts";

// The official GLaMM code's SAM tensors for each oracle configuration (see ../shared/oracle/README.md).
const ORACLE_ROOT = "../shared/oracle";
const configs = existsSync(ORACLE_ROOT) ? readdirSync(ORACLE_ROOT).filter((name) => existsSync(`${ORACLE_ROOT}/${name}/refs/index.json`)) : [];
// Absent data shows as a skipped test with the reason, never as nothing.
if (configs.length === 0) test.skip(`SAM oracle tests: skipped, no ${ORACLE_ROOT}/*/refs/index.json`, () => {});

const SAM_MEAN = [123.675, 116.28, 103.53];
const SAM_STD = [58.395, 57.12, 57.375];
const SEG_CASES = ["gcg_tf", "refseg_tf"];

const float32 = (file: string) => readNpy(file).data as Float32Array;


/** Index into [planes, height, width] of element i of the [planes, ⌈h/step⌉, ⌈w/step⌉] subsample starting at (top, left). */
function subsample(height: number, width: number, step: number, rows: number, cols: number, top = 0, left = 0) {
  return (i: number) => {
    const plane = Math.floor(i / (rows * cols));
    const y = Math.floor(i / cols) % rows;
    const x = i % cols;
    return (plane * height + top + y * step) * width + left + x * step;
  };
}

/** The SAM encoder input: the resized uint8 image normalised and zero-padded to side×side (NCHW). */
function samPixels(resized: Uint8Array, h: number, w: number, side: number): Float32Array {
  const pixels = new Float32Array(3 * side * side);
  for (let c = 0; c < 3; c++)
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) pixels[(c * side + y) * side + x] = (resized[(y * w + x) * 3 + c] - SAM_MEAN[c]) / SAM_STD[c];
  return pixels;
}

for (const name of configs) {
  const dir = `${ORACLE_ROOT}/${name}`;
  const refs = `${dir}/refs`;
  describe(`SAM blocks against the official code (${name})`, () => {
    const index = JSON.parse(readFileSync(`${refs}/index.json`, "utf8"));
    const config = samConfigFrom(JSON.parse(readFileSync(`${dir}/glamm/config.json`, "utf8")));
    const weights = openWeights(`${dir}/glamm`);
    const [origH, origW] = index.orig_hw as [number, number];
    const [resizedH, resizedW] = index.resize_hw as [number, number];
    const sessions: ort.InferenceSession[] = [];
    const session = async (bytes: Uint8Array) => {
      const created = await ort.InferenceSession.create(bytes);
      sessions.push(created);
      return created;
    };
    afterAll(async () => {
      for (const s of sessions) await s.release();
      weights.close();
    });

    test("image encoder: input matches the oracle's pixels, output its image_embeddings", async () => {
      const { graph, spec } = buildSamEncoder(weights, config);
      const side = spec.imageSize;
      const resized = readNpy(`${refs}/image/sam_resized_uint8.npy`);
      expect(resized.shape).toEqual([resizedH, resizedW, 3]);
      const pixels = samPixels(resized.data as Uint8Array, resizedH, resizedW, side);
      const sub = Math.ceil(side / 8);
      expectWithin(pixels, float32(`${refs}/image/sam_pixel_values_sub8.npy`), subsample(side, side, 8, sub, sub));

      const out = await (await session(graph.toBytes())).run({ pixel_values: new ort.Tensor("float32", pixels, [1, 3, side, side]) });
      expect(out.image_embeddings.dims).toEqual(index.tensors["sam/image_embeddings"].shape);
      expectWithin(out.image_embeddings.data as Float32Array, float32(`${refs}/sam/image_embeddings.npy`));
    });

    describe("mask decoder and post-processing on the oracle's image embeddings", () => {
      const built = buildMaskDecoder(weights, config);
      const decoder = session(built.graph.toBytes());
      const { grid, imageSize, maskSize } = built.spec;
      const postprocess = session(buildMaskPostprocess(imageSize, maskSize).toBytes());
      const embeddings = readNpy(`${refs}/sam/image_embeddings.npy`);
      const decode = async (model: ort.InferenceSession, seg: string) => {
        const hidden = readNpy(`${refs}/${seg}/seg_hidden_states.npy`);
        const out = await model.run({
          seg_hidden_states: new ort.Tensor("float32", hidden.data as Float32Array, hidden.shape),
          image_embeddings: new ort.Tensor("float32", embeddings.data as Float32Array, embeddings.shape),
        });
        return { count: hidden.shape[0], out };
      };

      test("float16 mask head stays within half-precision error of the oracle", async () => {
        const half = await session(buildMaskDecoder(weights, config, { floatType: "float16" }).graph.toBytes());
        for (const seg of SEG_CASES) {
          const { out } = await decode(half, seg);
          const ref = float32(`${refs}/${seg}/low_res_masks.npy`);
          const actual = out.low_res_masks.data as Float32Array;
          const maxRef = ref.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
          expect(actual.reduce((m, v, i) => Math.max(m, Math.abs(v - ref[i])), 0)).toBeLessThanOrEqual(1e-2 * (1 + maxRef));
        }
      });

      for (const seg of SEG_CASES) {
        test(`${seg}: projection, prompts, dense_pe, low-res masks, IoU, full-size logits and binary masks`, async () => {
          const { count, out } = await decode(await decoder, seg);
          for (const output of ["text_hidden_fcs_out", "sparse_embeddings", "low_res_masks", "iou_predictions"]) {
            expect(out[output].dims).toEqual(index.tensors[`${seg}/${output}`].shape);
            expectWithin(out[output].data as Float32Array, float32(`${refs}/${seg}/${output}.npy`));
          }
          const [, channels, subRows, subCols] = index.tensors["sam/dense_pe_sub4"].shape;
          expect(out.dense_pe.dims).toEqual([1, channels, grid, grid]);
          expectWithin(out.dense_pe.data as Float32Array, float32(`${refs}/sam/dense_pe_sub4.npy`), subsample(grid, grid, 4, subRows, subCols));

          const masks = await postprocessMasks(await postprocess, out.low_res_masks.data as Float32Array, count, [resizedH, resizedW], [origH, origW]);
          expect(masks.dims).toEqual([count, origH, origW]);
          const [, rows8, cols8] = index.tensors[`${seg}/pred_mask_logits_sub8`].shape;
          expectWithin(masks.logits, float32(`${refs}/${seg}/pred_mask_logits_sub8.npy`), subsample(origH, origW, 8, rows8, cols8));
          const crop = /rows (\d+):(\d+), cols (\d+):(\d+)/.exec(index.tensors[`${seg}/pred_mask_logits_center64`].desc);
          if (!crop) throw new Error("index.json does not describe the center64 crop");
          const [top, bottom, left, right] = crop.slice(1).map(Number);
          expectWithin(masks.logits, float32(`${refs}/${seg}/pred_mask_logits_center64.npy`), subsample(origH, origW, 1, bottom - top, right - left, top, left));

          const binary = readNpy(`${refs}/${seg}/pred_masks_binary.npy`).data as Uint8Array;
          for (const { intersection, union } of maskOverlaps(binary, masks.binary, count, origH * origW)) {
            expect(union).toBeGreaterThan(0);
            expect(intersection / union).toBeGreaterThanOrEqual(0.999);
          }
        });
      }
    });
  });
}
