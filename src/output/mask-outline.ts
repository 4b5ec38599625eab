/**
 * The inner band of a mask within `thickness` pixels (4-connected steps) of a background pixel: a city-block distance
 * transform in two passes. Pixels outside the image count as inside the mask, so no line is drawn along the frame.
 */
export function outlineBand(mask: Uint8Array, width: number, height: number, thickness: number): Uint8Array {
  const far = width + height;
  const distance = new Int32Array(width * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      if (!mask[i]) continue;
      const up = y > 0 ? distance[i - width] : far;
      const left = x > 0 ? distance[i - 1] : far;
      distance[i] = Math.min(up, left) + 1;
    }
  }
  for (let y = height - 1; y >= 0; y--) {
    for (let x = width - 1; x >= 0; x--) {
      const i = y * width + x;
      if (!mask[i]) continue;
      const down = y < height - 1 ? distance[i + width] : far;
      const right = x < width - 1 ? distance[i + 1] : far;
      distance[i] = Math.min(distance[i], down + 1, right + 1);
    }
  }
  const band = new Uint8Array(width * height);
  for (let i = 0; i < band.length; i++) band[i] = mask[i] && distance[i] <= thickness ? 1 : 0;
  return band;
}

/** [x, y, width, height] of the nonzero pixels, or null for an empty mask. */
export function maskBounds(mask: Uint8Array, width: number, height: number): [number, number, number, number] | null {
  let x0 = width;
  let y0 = height;
  let x1 = -1;
  let y1 = -1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (!mask[y * width + x]) continue;
      if (x < x0) x0 = x;
      if (x > x1) x1 = x;
      if (y < y0) y0 = y;
      y1 = y;
    }
  }
  return x1 < 0 ? null : [x0, y0, x1 - x0 + 1, y1 - y0 + 1];
}
