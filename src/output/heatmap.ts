import sharp from "sharp";
import type { RgbImage } from "../image/rgb-image.ts";

/** A blue→cyan→yellow→red ramp for t in [0, 1]. */
function ramp(t: number): [number, number, number] {
  const stops: [number, number, number][] = [
    [30, 40, 160],
    [40, 200, 220],
    [250, 220, 50],
    [220, 30, 30],
  ];
  const x = Math.min(0.9999, Math.max(0, t)) * (stops.length - 1);
  const [a, b] = [stops[Math.floor(x)], stops[Math.floor(x) + 1]];
  const f = x - Math.floor(x);
  return [0, 1, 2].map((c) => Math.round(a[c] + (b[c] - a[c]) * f)) as [number, number, number];
}

/**
 * An attention heatmap over the image, as attend-and-segment maps it: the grid×grid map covers the image padded to a
 * centred square, so it is scaled to that square (bicubic) and cropped back to the image, then coloured and blended.
 */
export async function renderHeatmap(image: RgbImage, map: ArrayLike<number>, grid: number): Promise<Uint8Array> {
  const side = Math.max(image.width, image.height);
  let [lo, hi] = [Infinity, -Infinity];
  for (let i = 0; i < map.length; i++) [lo, hi] = [Math.min(lo, map[i]), Math.max(hi, map[i])];
  const cells = Uint8Array.from({ length: grid * grid }, (_, i) => (hi > lo ? Math.round((255 * (map[i] - lo)) / (hi - lo)) : 0));
  const scaled = await sharp(cells, { raw: { width: grid, height: grid, channels: 1 } })
    .resize(side, side, { kernel: "cubic" })
    .extract({ left: (side - image.width) >> 1, top: (side - image.height) >> 1, width: image.width, height: image.height })
    .raw()
    .toBuffer();
  const out = new Uint8Array(image.width * image.height * 3);
  for (let p = 0; p < scaled.length; p++) {
    const color = ramp(scaled[p] / 255);
    for (let c = 0; c < 3; c++) out[p * 3 + c] = Math.round(0.45 * image.data[p * 3 + c] + 0.55 * color[c]);
  }
  return new Uint8Array(await sharp(out, { raw: { width: image.width, height: image.height, channels: 3 } }).png().toBuffer());
}
