import { describe, expect, test } from "bun:test";
import * as ort from "onnxruntime-node";
import { GlammError } from "../src/cli/errors.ts";
import { buildRegionEncoderGraph, normalizeBoxes, type PixelBox, regionEncoderSettings } from "../src/models/region-encoder.ts";
import { openWeights } from "../src/weights/index.ts";
import { expectWithinOracle, ORACLE, relativeRmsError, oraclePresent, oracleTensor, readOracleIndex, readOracleJson, runOnce } from "./clip-oracle.ts";

if (!oraclePresent) console.warn(`skipping region encoder oracle tests: ${ORACLE} not found`);

const CLIP_INPUT = [1, 3, 336, 336];

describe("normalizeBoxes", () => {
  test("divides by the original width and height", () => {
    const out = normalizeBoxes([[64, 30, 640, 480]], 640, 480, CLIP_INPUT);
    expect(Array.from(out)).toEqual([0.10000000149011612, 0.0625, 1, 1]);
  });

  const rejects: [string, PixelBox, RegExp][] = [
    ["x2 <= x1", [50, 10, 50, 20], /box 1 \(50,10,50,20\) is empty/],
    ["y2 < y1", [10, 30, 20, 20], /box 1 .* is empty/],
    ["past the right edge", [10, 10, 641, 20], /box 1 .* outside the 640x480 image/],
    ["negative", [-1, 10, 20, 20], /outside/],
    ["not finite", [0, 0, Number.NaN, 5], /four finite numbers/],
  ];
  for (const [label, box, message] of rejects)
    test(`${label} is an input error naming the box`, () => {
      let error: unknown;
      try {
        normalizeBoxes([box], 640, 480, CLIP_INPUT);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(GlammError);
      expect((error as GlammError).exitCode).toBe(2);
      expect((error as Error).message).toMatch(message);
    });
});

describe.skipIf(!oraclePresent)("region encoder against the oracle", () => {
  const index = oraclePresent ? readOracleIndex() : undefined;
  const cases = oraclePresent ? (readOracleJson("refs/index.json").cases as Record<string, { boxes_px: PixelBox[] }>) : {};
  const glammConfig = oraclePresent ? readOracleJson("glamm/config.json") : {};

  /** The CLIP hidden states the region encoder reads, CLS dropped, taken from the oracle (not from our CLIP graph). */
  function levelFeeds(): Record<string, ort.Tensor> {
    const selected = oracleTensor("clip/hidden_states_selected");
    const [, tokens, width] = selected.shape;
    const feeds: Record<string, ort.Tensor> = {};
    index!.region_levels_hidden_state_indices.forEach((hiddenIndex, level) => {
      const k = index!.clip_hidden_states_selected_indices.indexOf(hiddenIndex);
      const rows = selected.data.slice(k * tokens * width + width, (k + 1) * tokens * width);
      feeds[`region_level_${level}`] = new ort.Tensor("float32", rows, [1, tokens - 1, width]);
    });
    return feeds;
  }

  async function runCase(name: string, floatType: "float32" | "float16", linearWeights: "float" | "int8" = "float") {
    const [origH, origW] = index!.orig_hw;
    const boxes = normalizeBoxes(cases[name].boxes_px, origW, origH, oracleTensor("image/clip_pixel_values").shape);
    const feeds = levelFeeds();
    const weights = openWeights(`${ORACLE}/glamm`);
    const options = { grid: Math.sqrt(feeds.region_level_0.dims[1]), trace: floatType === "float32", floatType, linearWeights };
    const model = buildRegionEncoderGraph(weights, regionEncoderSettings(glammConfig), options).toBytes();
    weights.close();
    return { boxes, out: await runOnce(model, { ...feeds, bboxes: new ort.Tensor("float32", boxes, [boxes.length / 4, 4]) }) };
  }

  for (const name of ["regcap1_gen", "regcap2_gen"])
    test(`${name}: bboxes_norm, RoIAlign levels, fuse level 3 and region features`, async () => {
      const { boxes, out } = await runCase(name, "float32");
      expect(Array.from(boxes)).toEqual(Array.from(oracleTensor(`${name}/bboxes_norm`).data));
      for (let level = 0; level < 4; level++) expectWithinOracle(out[`roi_align_level${level}`].data as Float32Array, oracleTensor(`${name}/roi_align_level${level}`).data, `roi_align_level${level}`);
      expectWithinOracle(out.region_fuse_level3.data as Float32Array, oracleTensor(`${name}/region_fuse_level3`).data, "region_fuse_level3");
      const ref = oracleTensor(`${name}/region_features`);
      expect(out.region_features.dims).toEqual(ref.shape);
      expectWithinOracle(out.region_features.data as Float32Array, ref.data, "region_features");
    });

  test("int8 convolutions and Linear layers: region features within 3% of the official fp32 ones (relative RMS; measured 2.0-2.1%)", async () => {
    for (const name of ["regcap1_gen", "regcap2_gen"]) {
      const { out } = await runCase(name, "float32", "int8");
      const error = relativeRmsError(out.region_features.data as Float32Array, oracleTensor(`${name}/region_features`).data);
      console.log(`${name} int8 region features: relative RMS error ${error.toExponential(2)}`);
      expect(error).toBeLessThan(0.03);
    }
  });

  test("float16 graph: regcap2_gen region features within half-precision tolerance", async () => {
    const { out } = await runCase("regcap2_gen", "float16");
    expectWithinOracle(out.region_features.data as Float32Array, oracleTensor("regcap2_gen/region_features").data, "region_features (float16)", 5e-3);
  });
});
