/** An 8-bit sRGB image, rows top to bottom, pixels interleaved R,G,B (HWC). */
export interface RgbImage {
  width: number;
  height: number;
  data: Uint8Array;
}

export function rgbImage(width: number, height: number, data: Uint8Array = new Uint8Array(width * height * 3)): RgbImage {
  if (data.length !== width * height * 3) {
    throw new Error(`RGB buffer holds ${data.length} bytes, expected ${width}x${height}x3`);
  }
  return { width, height, data };
}
