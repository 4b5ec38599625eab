import sharp from "sharp";
import { buildSelfTestModel, selfTestExpected, selfTestInput } from "./selftest-model.ts";
import { createSession, ort, type Device } from "./ort.ts";

export interface SelfTestResult {
  name: string;
  ok: boolean;
  detail: string;
}

async function check(name: string, run: () => Promise<string>): Promise<SelfTestResult> {
  try {
    return { name, ok: true, detail: await run() };
  } catch (error) {
    return { name, ok: false, detail: error instanceof Error ? error.message.split("\n")[0] : String(error) };
  }
}

/** Runs a small graph through onnxruntime and compares it with the same sum computed here. */
async function onnxCheck(device: Device): Promise<string> {
  const session = await createSession(buildSelfTestModel(), { device });
  const start = performance.now();
  const input = selfTestInput();
  const output = await session.run({ x: new ort.Tensor("float32", input.data, input.dims) });
  const got = output.y.data as Float32Array;
  const want = selfTestExpected(input.data);
  const error = Math.max(...got.map((v, i) => Math.abs(v - want[i])));
  await session.release();
  if (!(error < 1e-4)) throw new Error(`onnxruntime output differs from the reference by ${error}`);
  return `ran a test graph in ${(performance.now() - start).toFixed(1)} ms (max error ${error.toExponential(1)})`;
}

/** Encodes a known image as PNG and decodes it again through libvips. */
async function sharpCheck(): Promise<string> {
  const width = 7;
  const height = 5;
  const pixels = Buffer.alloc(width * height * 3, 0).map((_, i) => (i * 37) % 256);
  const png = await sharp(pixels, { raw: { width, height, channels: 3 } }).png().toBuffer();
  const decoded = await sharp(png).raw().toBuffer({ resolveWithObject: true });
  if (decoded.info.width !== width || decoded.info.height !== height || !decoded.data.equals(pixels)) {
    throw new Error("PNG round trip through libvips changed the pixels");
  }
  return `decoded a ${width}x${height} PNG (${png.byteLength} bytes) losslessly`;
}

export async function runSelfTest(device: Device = "cpu"): Promise<SelfTestResult[]> {
  return [await check("onnxruntime", () => onnxCheck(device)), await check("sharp", sharpCheck)];
}
