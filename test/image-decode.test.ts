import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { ExitCode, GlammError } from "../src/cli/errors.ts";
import { decodeImage, decodeImageFile } from "../src/image/decode.ts";
import { readNpy } from "../src/output/npy.ts";

// Expected pixels were computed with Pillow/NumPy following OpenCV's imread rules (make_fixtures.py).
const DIR = "test/fixtures/image/decode";

const EXACT = [
  "rgb.png",
  "exif_orientation3.jpg",
  "exif_orientation6.jpg",
  "exif_orientation8.jpg",
  "rgba.png",
  "grey.png",
  "rgb16.png",
  "grey16.png",
  "lossless.webp",
  "rgb.tiff",
  "two_frames.gif",
  "cmyk.jpg",
];

describe("decodeImageFile gives what cv2.imread + BGR2RGB gives", () => {
  test.each(EXACT)("%s", async (name) => {
    const image = await decodeImageFile(`${DIR}/${name}`);
    const expected = readNpy(`${DIR}/${name}.expected.npy`);
    expect([image.height, image.width, 3]).toEqual(expected.shape);
    expect(Buffer.from(image.data).equals(Buffer.from(expected.data as Uint8Array))).toBe(true);
  });
});

async function inputFailure(run: () => Promise<unknown>): Promise<GlammError> {
  const error = await run().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(GlammError);
  expect((error as GlammError).exitCode).toBe(ExitCode.input);
  return error as GlammError;
}

describe("bad input is a one-line input error naming the file", () => {
  test.each(["truncated.png", "truncated.jpg", "not_an_image.jpg"])("%s", async (name) => {
    const error = await inputFailure(() => decodeImageFile(`${DIR}/${name}`));
    expect(error.message).toContain(name);
    expect(error.message).not.toContain("\n");
  });

  test("missing file", async () => {
    const error = await inputFailure(() => decodeImageFile(`${DIR}/does-not-exist.png`));
    expect(error.message).toContain("does-not-exist.png: no such file");
  });

  test("directory", async () => {
    const error = await inputFailure(() => decodeImageFile(DIR));
    expect(error.message).toContain("is a directory");
  });

  test("over the pixel limit", async () => {
    const bytes = readFileSync(`${DIR}/rgb.png`);
    const error = await inputFailure(() => decodeImage(bytes, "big.png", { maxPixels: 16 * 12 - 1 }));
    expect(error.message).toContain("big.png is 16x12");
    expect((await decodeImage(bytes, "ok.png", { maxPixels: 16 * 12 })).width).toBe(16);
  });
});
