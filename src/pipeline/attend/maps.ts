// The attention-map arithmetic of the official attend-and-segment scripts (infer_attn.py, gcg.py), in float32 where
// torch keeps float32 results.

/** infer_attn.py per step: the probe rows [layers, tokens] averaged over layers (one head each). */
export function stepMap(probe: Float32Array, layers: number): Float32Array {
  const tokens = probe.length / layers;
  const out = new Float32Array(tokens);
  for (let t = 0; t < tokens; t++) {
    let sum = 0;
    for (let l = 0; l < layers; l++) sum += probe[l * tokens + t];
    out[t] = sum / layers;
  }
  return out;
}

/** The mean map over every step (EOS step included) and each step's map minus it. */
export function centreMaps(maps: readonly Float32Array[]): { mean: Float32Array; centred: Float32Array[] } {
  const size = maps[0].length;
  const mean = new Float32Array(size);
  for (let i = 0; i < size; i++) {
    let sum = 0;
    for (const map of maps) sum += map[i];
    mean[i] = sum / maps.length;
  }
  return { mean, centred: maps.map((map) => map.map((v, i) => v - mean[i])) };
}

/** gcg.py: each group's map is the mean of its tokens' centred maps. */
export function groupMaps(centred: readonly Float32Array[], groups: readonly (readonly number[])[]): Float32Array[] {
  return groups.map((tokens) => {
    const out = new Float32Array(centred[0].length);
    for (let i = 0; i < out.length; i++) {
      let sum = 0;
      for (const t of tokens) sum += centred[t][i];
      out[i] = sum / tokens.length;
    }
    return out;
  });
}

/** `--remove-corner`: the four corner cells of every side×side map set to the minimum over all maps. */
export function removeCorners(maps: Float32Array[], side: number): void {
  let min = Infinity;
  for (const map of maps) for (const v of map) min = Math.min(min, v);
  for (const map of maps) for (const i of [0, side - 1, side * (side - 1), side * side - 1]) map[i] = min;
}

const CUBIC_A = -0.75;
const nearWeight = (x: number) => ((CUBIC_A + 2) * x - (CUBIC_A + 3)) * x * x + 1;
const farWeight = (x: number) => ((CUBIC_A * x - 5 * CUBIC_A) * x + 8 * CUBIC_A) * x - 4 * CUBIC_A;

/** For output positions [from, to) of a length-`inSize` → `outSize` bicubic resize: the 4 source indices and weights of each. */
function cubicTaps(inSize: number, outSize: number, from: number, to: number): { index: Int32Array; weight: Float64Array } {
  const index = new Int32Array((to - from) * 4);
  const weight = new Float64Array((to - from) * 4);
  const scale = inSize / outSize;
  for (let o = from; o < to; o++) {
    const real = scale * (o + 0.5) - 0.5; // not clamped at 0: torch's cubic source index
    const base = Math.floor(real);
    const t = real - base;
    const w = [farWeight(t + 1), nearWeight(t), nearWeight(1 - t), farWeight(2 - t)];
    for (let k = 0; k < 4; k++) {
      index[(o - from) * 4 + k] = Math.min(Math.max(base - 1 + k, 0), inSize - 1);
      weight[(o - from) * 4 + k] = w[k];
    }
  }
  return { index, weight };
}

export interface Window {
  top: number;
  left: number;
  height: number;
  width: number;
}

/**
 * torch.nn.functional.interpolate(mode="bicubic", align_corners=False) of a side×side map to outSide×outSide (border
 * indices clamped, no output clamping), computed only over `window` of the output: [window.height, window.width].
 */
export function bicubicUpsample(map: Float32Array, side: number, outSide: number, window: Window): Float32Array {
  const { top, left, height, width } = window;
  const cols = cubicTaps(side, outSide, left, left + width);
  const rows = cubicTaps(side, outSide, top, top + height);
  const horizontal = new Float64Array(side * width);
  for (let r = 0; r < side; r++)
    for (let c = 0; c < width; c++) {
      let sum = 0;
      for (let k = 0; k < 4; k++) sum += cols.weight[c * 4 + k] * map[r * side + cols.index[c * 4 + k]];
      horizontal[r * width + c] = sum;
    }
  const out = new Float32Array(height * width);
  for (let r = 0; r < height; r++)
    for (let c = 0; c < width; c++) {
      let sum = 0;
      for (let k = 0; k < 4; k++) sum += rows.weight[r * 4 + k] * horizontal[rows.index[r * 4 + k] * width + c];
      out[r * width + c] = sum;
    }
  return out;
}

/** gcg.py with aspect ratio "pad": the square side S = max(H, W) and the image's window in it. */
export function padCrop(height: number, width: number): { side: number; window: Window } {
  const side = Math.max(height, width);
  return { side, window: { top: Math.floor((side - height) / 2), left: Math.floor((side - width) / 2), height, width } };
}

/** torch.argmax over the flattened map: the first maximum in row-major order, as (x, y) with its flat index. */
export function firstMaximum(map: Float32Array, width: number): { index: number; x: number; y: number; value: number } {
  let best = 0;
  for (let i = 1; i < map.length; i++) if (map[i] > map[best]) best = i;
  return { index: best, x: best % width, y: Math.floor(best / width), value: map[best] };
}
