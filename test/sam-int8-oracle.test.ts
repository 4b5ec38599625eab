import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import * as ort from "onnxruntime-node";
import { buildMaskDecoder } from "../src/models/mask-decoder.ts";
import { SAM_VIT_H_CONFIG, samConfigFrom } from "../src/models/sam-checkpoint.ts";
import { buildSamEncoder } from "../src/models/sam-encoder.ts";
import { glammSamWeights } from "../src/bench/sam.ts";
import { decodeImageFile } from "../src/image/decode.ts";
import { preprocessSam } from "../src/image/preprocess.ts";
import { readNpy } from "../src/output/npy.ts";
import { maskOverlaps } from "./helpers/oracle-compare.ts";
import { buildMaskPostprocess, postprocessMasks } from "../src/pipeline/masks.ts";
import { openWeights } from "../src/weights/index.ts";

// int8 Linear layers in the SAM encoder (the first block's in float) against fp32 masks: the official code's on the
// oracle (see ../shared/oracle/README.md), glamm's own fp32 encoder at real shape.
const ORACLE_ROOT = "../shared/oracle";
const configs = existsSync(ORACLE_ROOT) ? readdirSync(ORACLE_ROOT).filter((name) => existsSync(`${ORACLE_ROOT}/${name}/refs/index.json`)) : [];
if (configs.length === 0) test.skip(`SAM int8 oracle tests: skipped, no ${ORACLE_ROOT}/*/refs/index.json`, () => {});

const SAM_MEAN = [123.675, 116.28, 103.53];
const SAM_STD = [58.395, 57.12, 57.375];

for (const name of configs) {
  const dir = `${ORACLE_ROOT}/${name}`;
  const refs = `${dir}/refs`;
  describe(`SAM encoder with int8 Linear layers (${name})`, () => {
    const index = JSON.parse(readFileSync(`${refs}/index.json`, "utf8"));
    const config = samConfigFrom(JSON.parse(readFileSync(`${dir}/glamm/config.json`, "utf8")));
    const weights = openWeights(`${dir}/glamm`);
    afterAll(() => weights.close());

    test("masks keep IoU >= 0.99 with the official fp32 masks", async () => {
      const [origH, origW] = index.orig_hw as [number, number];
      const [h, w] = index.resize_hw as [number, number];
      const { graph, spec } = buildSamEncoder(weights, config, { linearWeights: "int8" });
      const side = spec.imageSize;
      const resized = readNpy(`${refs}/image/sam_resized_uint8.npy`).data as Uint8Array;
      const pixels = new Float32Array(3 * side * side);
      for (let c = 0; c < 3; c++) for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) pixels[(c * side + y) * side + x] = (resized[(y * w + x) * 3 + c] - SAM_MEAN[c]) / SAM_STD[c];
      const encoder = await ort.InferenceSession.create(graph.toBytes());
      const decoded = buildMaskDecoder(weights, config);
      const decoder = await ort.InferenceSession.create(decoded.graph.toBytes());
      const postprocess = await ort.InferenceSession.create(buildMaskPostprocess(spec.imageSize, decoded.spec.maskSize).toBytes());
      try {
        const { image_embeddings } = await encoder.run({ pixel_values: new ort.Tensor("float32", pixels, [1, 3, side, side]) });
        for (const seg of ["gcg_tf", "refseg_tf"]) {
          const hidden = readNpy(`${refs}/${seg}/seg_hidden_states.npy`);
          const out = await decoder.run({ seg_hidden_states: new ort.Tensor("float32", hidden.data as Float32Array, hidden.shape), image_embeddings });
          const count = hidden.shape[0];
          const masks = await postprocessMasks(postprocess, out.low_res_masks.data as Float32Array, count, [h, w], [origH, origW]);
          const binary = readNpy(`${refs}/${seg}/pred_masks_binary.npy`).data as Uint8Array;
          for (const [m, { intersection, union }] of maskOverlaps(binary, masks.binary, count, origH * origW).entries()) {
            console.log(`${name} ${seg} mask ${m}: int8 IoU ${(intersection / union).toFixed(4)}`);
            expect(union).toBeGreaterThan(0);
            expect(intersection / union).toBeGreaterThanOrEqual(0.99);
          }
        }
      } finally {
        for (const s of [encoder, decoder, postprocess]) await s.release();
      }
    });
  });
}

// At real shape (ViT-H widths, 1024² input) with random weights: a 4:3 photo leaves a quarter of the input zero-padded,
// the case where int8 activations lose most (one scale per tensor). Two blocks: one windowed, one global.
describe("SAM ViT-H encoder with int8 Linear layers, real shape, random weights", () => {
  test("masks on a 4:3 photo keep IoU >= 0.99 with the fp32 encoder's", async () => {
    const depth = 2;
    const config = { ...SAM_VIT_H_CONFIG, encoderGlobalAttnIndexes: [depth - 1] };
    const weights = glammSamWeights(depth);
    const input = preprocessSam(await decodeImageFile("examples/images/kite.png"));
    expect(input.resizedSize[0]).toBeLessThan(input.resizedSize[1]); // padded rows at the bottom
    const pixels = new ort.Tensor("float32", input.pixelValues.data, input.pixelValues.dims);
    const decoded = buildMaskDecoder(weights, config);
    const decoder = await ort.InferenceSession.create(decoded.graph.toBytes());
    const postprocess = await ort.InferenceSession.create(buildMaskPostprocess(1024, decoded.spec.maskSize).toBytes());
    const count = 4;
    const seg = new ort.Tensor("float32", Float32Array.from({ length: count * 4096 }, (_, i) => Math.sin(i * 12.9898 + 1) * 1.5), [count, 4096]);
    const masksWith = async (linearWeights: "float" | "int8") => {
      const encoder = await ort.InferenceSession.create(buildSamEncoder(weights, config, { linearWeights }).graph.toBytes());
      try {
        const { image_embeddings } = await encoder.run({ pixel_values: pixels });
        const out = await decoder.run({ seg_hidden_states: seg, image_embeddings });
        return (await postprocessMasks(postprocess, out.low_res_masks.data as Float32Array, count, input.resizedSize, input.originalSize)).binary;
      } finally {
        await encoder.release();
      }
    };
    try {
      const reference = await masksWith("float");
      const quantized = await masksWith("int8");
      const [h, w] = input.originalSize;
      for (const [m, { intersection, union }] of maskOverlaps(reference, quantized, count, h * w).entries()) {
        console.log(`real-shape 4:3 mask ${m}: int8 IoU ${(intersection / union).toFixed(4)}`);
        expect(union).toBeGreaterThan(h * w * 0.05); // a mask of some size, not an empty one
        expect(intersection / union).toBeGreaterThanOrEqual(0.99);
      }
    } finally {
      for (const s of [decoder, postprocess]) await s.release();
    }
  }, 300_000); // two 1024² ViT-H encoder runs: ~40 s on a busy 2-core machine
});
