import { describe, test } from "bun:test";
import * as ort from "onnxruntime-node";
import { GraphBuilder } from "../src/graph/builder.ts";
import { expectClose, randomArray, runModel } from "./graph-reference.ts";

/** NCHW conv, weight [Cout, Cin, K, K], symmetric padding, stride 1. */
function conv2d(x: Float32Array, w: Float32Array, bias: Float32Array, n: number, cin: number, h: number, wd: number, cout: number, k: number, pad: number): Float64Array {
  const [oh, ow] = [h + 2 * pad - k + 1, wd + 2 * pad - k + 1];
  const out = new Float64Array(n * cout * oh * ow);
  for (let b = 0; b < n; b++)
    for (let o = 0; o < cout; o++)
      for (let y = 0; y < oh; y++)
        for (let xx = 0; xx < ow; xx++) {
          let sum = bias[o];
          for (let c = 0; c < cin; c++)
            for (let ky = 0; ky < k; ky++)
              for (let kx = 0; kx < k; kx++) {
                const [iy, ix] = [y + ky - pad, xx + kx - pad];
                if (iy >= 0 && iy < h && ix >= 0 && ix < wd) sum += x[((b * cin + c) * h + iy) * wd + ix] * w[((o * cin + c) * k + ky) * k + kx];
              }
          out[((b * cout + o) * oh + y) * ow + xx] = sum;
        }
  return out;
}

/** Bilinear resize of the last two axes, half-pixel centres, edge-clamped (PyTorch align_corners=False). */
function resizeBilinear(x: ArrayLike<number>, planes: number, h: number, w: number, oh: number, ow: number): Float64Array {
  const source = (o: number, inSize: number, outSize: number) => {
    const s = Math.min(Math.max((o + 0.5) * (inSize / outSize) - 0.5, 0), inSize - 1);
    const i0 = Math.floor(s);
    return [i0, Math.min(i0 + 1, inSize - 1), s - i0] as const;
  };
  const out = new Float64Array(planes * oh * ow);
  for (let p = 0; p < planes; p++)
    for (let y = 0; y < oh; y++) {
      const [y0, y1, fy] = source(y, h, oh);
      for (let xx = 0; xx < ow; xx++) {
        const [x0, x1, fx] = source(xx, w, ow);
        const at = (yy: number, xi: number) => x[(p * h + yy) * w + xi];
        out[(p * oh + y) * ow + xx] = (1 - fy) * ((1 - fx) * at(y0, x0) + fx * at(y0, x1)) + fy * ((1 - fx) * at(y1, x0) + fx * at(y1, x1));
      }
    }
  return out;
}

describe("Conv + bilinear Resize", () => {
  const [N, CIN, H, W, COUT, K] = [1, 3, 6, 5, 4, 3];
  const x = randomArray(21, N * CIN * H * W);
  const w = randomArray(22, COUT * CIN * K * K, 0.5);
  const bias = randomArray(23, COUT, 0.1);
  const convolved = conv2d(x, w, bias, N, CIN, H, W, COUT, K, 1);

  for (const [label, oh, ow] of [["scale 2", 12, 10], ["sizes 7x8", 7, 8]] as const) {
    test(`${label} (half_pixel) matches the reference to 1e-5`, async () => {
      const g = new GraphBuilder();
      const input = g.input("x", "float32", [N, CIN, H, W]);
      const features = g.conv(input, g.weight("conv.weight", [COUT, CIN, K, K], w), g.weight("conv.bias", [COUT], bias), { pads: [1, 1, 1, 1] });
      const resized =
        label === "scale 2"
          ? g.resize(features, { scales: [1, 1, 2, 2], mode: "linear", coordinateTransformationMode: "half_pixel" })
          : g.resize(features, { sizes: [N, COUT, oh, ow], mode: "linear", coordinateTransformationMode: "half_pixel" });
      g.output(resized, "y", "float32", [N, COUT, oh, ow]);
      const actual = await runModel(g.toBytes(), { x: new ort.Tensor("float32", x, [N, CIN, H, W]) });
      expectClose(actual, resizeBilinear(convolved, N * COUT, H, W, oh, ow), 1e-5);
    });
  }
});

/** ONNX RoiAlign (opset 16, avg mode) for one image [C, H, W]; half_pixel shifts the box by half a pixel. */
function roiAlign(x: Float32Array, c: number, h: number, w: number, box: number[], outH: number, outW: number, scale: number, samplingRatio: number, halfPixel: boolean): Float64Array {
  const offset = halfPixel ? 0.5 : 0;
  const [x1, y1] = [box[0] * scale - offset, box[1] * scale - offset];
  let [roiW, roiH] = [box[2] * scale - offset - x1, box[3] * scale - offset - y1];
  if (!halfPixel) [roiW, roiH] = [Math.max(roiW, 1), Math.max(roiH, 1)];
  const [binH, binW] = [roiH / outH, roiW / outW];
  const [gridH, gridW] = samplingRatio > 0 ? [samplingRatio, samplingRatio] : [Math.ceil(roiH / outH), Math.ceil(roiW / outW)];
  const sample = (plane: number, y: number, xx: number) => {
    if (y < -1 || y > h || xx < -1 || xx > w) return 0;
    y = Math.max(y, 0);
    xx = Math.max(xx, 0);
    let [yl, xl] = [Math.floor(y), Math.floor(xx)];
    let [yh, xh] = [yl + 1, xl + 1];
    if (yl >= h - 1) [yl, yh, y] = [h - 1, h - 1, h - 1];
    if (xl >= w - 1) [xl, xh, xx] = [w - 1, w - 1, w - 1];
    const [ly, lx] = [y - yl, xx - xl];
    const at = (yy: number, xi: number) => x[(plane * h + yy) * w + xi];
    return (1 - ly) * (1 - lx) * at(yl, xl) + (1 - ly) * lx * at(yl, xh) + ly * (1 - lx) * at(yh, xl) + ly * lx * at(yh, xh);
  };
  const out = new Float64Array(c * outH * outW);
  for (let plane = 0; plane < c; plane++)
    for (let py = 0; py < outH; py++)
      for (let px = 0; px < outW; px++) {
        let sum = 0;
        for (let iy = 0; iy < gridH; iy++)
          for (let ix = 0; ix < gridW; ix++)
            sum += sample(plane, y1 + py * binH + ((iy + 0.5) * binH) / gridH, x1 + px * binW + ((ix + 0.5) * binW) / gridW);
        out[(plane * outH + py) * outW + px] = sum / (gridH * gridW);
      }
  return out;
}

describe("RoiAlign", () => {
  const [N, C, H, W, OUT] = [2, 3, 8, 10, 4];
  const x = randomArray(31, N * C * H * W);
  const boxes = [
    [2, 1, 15, 12],
    [0, 0, 19.5, 15.5],
    [5.5, 3.25, 9, 14],
  ];
  const batchIndices = [0, 1, 1];

  for (const [mode, samplingRatio] of [["half_pixel", 2], ["half_pixel", 0], ["output_half_pixel", 2]] as const) {
    test(`${mode}, sampling ratio ${samplingRatio}, spatial scale 0.5 matches the reference to 1e-5`, async () => {
      const g = new GraphBuilder();
      const features = g.input("features", "float32", ["n", C, H, W]);
      const rois = g.input("rois", "float32", ["r", 4]);
      const indices = g.input("batch_indices", "int64", ["r"]);
      const options = { outputHeight: OUT, outputWidth: OUT, samplingRatio, spatialScale: 0.5, coordinateTransformationMode: mode };
      g.output(g.roiAlign(features, rois, indices, options), "y", "float32", ["r", C, OUT, OUT]);
      const actual = await runModel(g.toBytes(), {
        features: new ort.Tensor("float32", x, [N, C, H, W]),
        rois: new ort.Tensor("float32", Float32Array.from(boxes.flat()), [boxes.length, 4]),
        batch_indices: new ort.Tensor("int64", BigInt64Array.from(batchIndices, BigInt), [boxes.length]),
      });
      const expected = boxes.flatMap((box, r) => {
        const image = x.subarray(batchIndices[r] * C * H * W, (batchIndices[r] + 1) * C * H * W);
        return Array.from(roiAlign(image, C, H, W, box, OUT, OUT, 0.5, samplingRatio, mode === "half_pixel"));
      });
      expectClose(actual, expected, 1e-5);
    });
  }
});
