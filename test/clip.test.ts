import { describe, expect, test } from "bun:test";
import * as ort from "onnxruntime-node";
import { buildClipGraph, glammVisionSettings, loadClipVisionConfig, regionLevelIndices } from "../src/models/clip.ts";
import { openWeights } from "../src/weights/index.ts";
import { expectWithinOracle, ORACLE, oraclePresent, relativeRmsError, oracleTensor, readOracleIndex, readOracleJson, runOnce } from "./clip-oracle.ts";

if (!oraclePresent) console.warn(`skipping CLIP oracle tests: ${ORACLE} not found`);

describe("regionLevelIndices (Python hidden_states[s::-3][::-1][-n:])", () => {
  test("CLIP-L/14 (25 hidden states), select -2, 4 levels", () => expect(regionLevelIndices(-2, 4, 25)).toEqual([14, 17, 20, 23]));
  test("fewer states than levels keeps all", () => expect(regionLevelIndices(-2, 4, 6)).toEqual([1, 4]));
  test("non-negative select layer", () => expect(regionLevelIndices(7, 2, 13)).toEqual([4, 7]));
  test("out-of-range select layer is a model error", () => expect(() => regionLevelIndices(-30, 4, 25)).toThrow(/out of range/));
});

describe.skipIf(!oraclePresent)("CLIP vision tower + mm_projector against the oracle", () => {
  const open = () => {
    const settings = glammVisionSettings(readOracleJson("glamm/config.json"));
    const config = loadClipVisionConfig(`${ORACLE}/clip-vit-tiny-336`);
    return { settings, config, clip: openWeights(`${ORACLE}/clip-vit-tiny-336`), glamm: openWeights(`${ORACLE}/glamm`) };
  };
  const pixelFeeds = () => {
    const pixels = oracleTensor("image/clip_pixel_values");
    return { pixel_values: new ort.Tensor("float32", pixels.data, pixels.shape) };
  };

  test("hidden states, select layer patches, projector output and region levels (float32)", async () => {
    const index = readOracleIndex();
    const { settings, config, clip, glamm } = open();
    expect(regionLevelIndices(settings.selectLayer, settings.regionLevels, config.numLayers + 1)).toEqual(index.region_levels_hidden_state_indices);
    const traced = index.clip_hidden_states_selected_indices;
    const model = buildClipGraph(clip, config, glamm, settings, { traceHiddenStates: traced }).toBytes();
    clip.close();
    glamm.close();
    const out = await runOnce(model, pixelFeeds());

    const selected = oracleTensor("clip/hidden_states_selected");
    const [, tokens, width] = selected.shape;
    const stateRef = (k: number) => selected.data.subarray(k * tokens * width, (k + 1) * tokens * width);
    traced.forEach((hiddenIndex, k) => expectWithinOracle(out[`hidden_state_${hiddenIndex}`].data as Float32Array, stateRef(k), `hidden state ${hiddenIndex}`));
    index.region_levels_hidden_state_indices.forEach((hiddenIndex, level) =>
      expectWithinOracle(out[`region_level_${level}`].data as Float32Array, stateRef(traced.indexOf(hiddenIndex)).subarray(width), `region level ${level}`),
    );
    expectWithinOracle(out.select_feature.data as Float32Array, oracleTensor("clip/select_layer_-2_patch").data, "select layer patches");
    const projected = oracleTensor("clip/projector_out");
    expect(out.image_features.dims).toEqual(projected.shape);
    expectWithinOracle(out.image_features.data as Float32Array, projected.data, "projector output");
  });

  test("int8 Linear layers: projector output within 3% of the official fp32 one (relative RMS; measured 2.0%)", async () => {
    const { settings, config, clip, glamm } = open();
    const model = buildClipGraph(clip, config, glamm, settings, { linearWeights: "int8" }).toBytes();
    clip.close();
    glamm.close();
    const out = await runOnce(model, pixelFeeds());
    const error = relativeRmsError(out.image_features.data as Float32Array, oracleTensor("clip/projector_out").data);
    console.log(`int8 CLIP projector output: relative RMS error ${error.toExponential(2)}`);
    expect(error).toBeLessThan(0.03);
  });

  test("float16 graph: projector output within half-precision tolerance", async () => {
    const { settings, config, clip, glamm } = open();
    const model = buildClipGraph(clip, config, glamm, settings, { floatType: "float16" }).toBytes();
    clip.close();
    glamm.close();
    const out = await runOnce(model, pixelFeeds());
    expectWithinOracle(out.image_features.data as Float32Array, oracleTensor("clip/projector_out").data, "projector output (float16)", 5e-3);
  });
});
