/**
 * COCO run-length encoding, compatible with pycocotools (common/maskApi.c, mask.pyx).
 *
 * Runs are counted in column-major (Fortran) order, starting with a run of zeros; the compressed
 * string form is pycocotools' LEB128-like code (5 data bits per char, offset 48, counts from the
 * third on stored as the difference to the count two places back).
 */
import { inputError } from "../cli/errors.ts";

/** An uncompressed RLE: `counts` alternate zeros/ones runs in column-major order. */
export interface Rle {
  height: number;
  width: number;
  counts: number[];
}

/** The JSON form used by COCO files: compressed string or uncompressed list of counts. */
export interface CocoRle {
  size: [number, number];
  counts: string | number[];
}

/** Encodes a row-major mask (index y*width+x, nonzero = foreground). */
export function encodeMask(mask: ArrayLike<number>, height: number, width: number): Rle {
  if (mask.length !== height * width) throw inputError(`mask has ${mask.length} values, expected ${height}x${width}`);
  const counts: number[] = [];
  let previous = 0;
  let run = 0;
  for (let x = 0; x < width; x++) {
    for (let y = 0; y < height; y++) {
      const value = mask[y * width + x] ? 1 : 0;
      if (value !== previous) {
        counts.push(run);
        run = 0;
        previous = value;
      }
      run++;
    }
  }
  counts.push(run);
  return { height, width, counts };
}

/** Decodes to a row-major mask (index y*width+x). */
export function decodeRle(rle: Rle): Uint8Array {
  const { height, width } = rle;
  const mask = new Uint8Array(height * width);
  let position = 0;
  let value = 0;
  for (const count of rle.counts) {
    if (value) {
      for (let p = position; p < position + count; p++) {
        const x = Math.floor(p / height);
        mask[(p - x * height) * width + x] = 1;
      }
    }
    position += count;
    value ^= 1;
  }
  return mask;
}

/** pycocotools rleToString. */
export function rleToString(counts: readonly number[]): string {
  let out = "";
  for (let i = 0; i < counts.length; i++) {
    let x = counts[i];
    if (i > 2) x -= counts[i - 2];
    let more = true;
    while (more) {
      let c = ((x % 32) + 32) % 32;
      x = Math.floor(x / 32);
      more = c & 0x10 ? x !== -1 : x !== 0;
      if (more) c |= 0x20;
      out += String.fromCharCode(c + 48);
    }
  }
  return out;
}

/** pycocotools rleFrString. */
export function rleFromString(text: string, height: number, width: number): Rle {
  const counts: number[] = [];
  let p = 0;
  while (p < text.length) {
    let x = 0;
    let k = 0;
    let more = true;
    while (more) {
      if (p >= text.length) throw inputError("truncated RLE counts string");
      const c = text.charCodeAt(p) - 48;
      if (c < 0 || c > 63) throw inputError(`invalid character ${JSON.stringify(text[p])} in RLE counts string`);
      x += (c & 0x1f) * 2 ** (5 * k);
      more = (c & 0x20) !== 0;
      p++;
      k++;
      if (!more && c & 0x10) x -= 2 ** (5 * k);
    }
    if (counts.length > 2) x += counts[counts.length - 2];
    counts.push(x >>> 0);
  }
  return { height, width, counts };
}

/** Parses a COCO segmentation object (compressed or uncompressed RLE), as annToRLE/frPyObjects do. */
export function rleFromCoco(value: unknown, where = "segmentation"): Rle {
  const object = value as Partial<CocoRle> | null;
  const size = object?.size;
  if (!Array.isArray(size) || size.length !== 2 || !size.every((n) => Number.isInteger(n) && n >= 0)) {
    throw inputError(`${where}: expected an RLE object with "size": [height, width]`);
  }
  const [height, width] = size;
  let rle: Rle;
  if (typeof object!.counts === "string") rle = rleFromString(object!.counts, height, width);
  else if (Array.isArray(object!.counts) && object!.counts.every((n) => Number.isInteger(n) && n >= 0)) {
    rle = { height, width, counts: [...object!.counts] };
  } else throw inputError(`${where}: "counts" must be an RLE string or a list of non-negative integers (polygons are not supported)`);
  const total = rle.counts.reduce((a, b) => a + b, 0);
  if (total !== height * width) throw inputError(`${where}: RLE covers ${total} pixels, expected ${height}x${width}`);
  return rle;
}

/** The compressed JSON form, as pycocotools.mask.encode returns it (counts decoded to text). */
export function rleToCoco(rle: Rle): CocoRle {
  return { size: [rle.height, rle.width], counts: rleToString(rle.counts) };
}

export function rleArea(rle: Rle): number {
  let area = 0;
  for (let j = 1; j < rle.counts.length; j += 2) area += rle.counts[j];
  return area;
}

/** [x, y, width, height] of the foreground, as rleToBbox computes it (zeros when empty). */
export function rleToBbox(rle: Rle): [number, number, number, number] {
  const h = rle.height;
  const m = Math.floor(rle.counts.length / 2) * 2;
  if (m === 0) return [0, 0, 0, 0];
  let xs = rle.width;
  let ys = h;
  let xe = 0;
  let ye = 0;
  let cc = 0;
  let xp = 0;
  for (let j = 0; j < m; j++) {
    cc += rle.counts[j];
    const t = cc - (j % 2);
    const y = t % h;
    const x = (t - y) / h;
    if (j % 2 === 0) xp = x;
    else if (xp < x) {
      ys = 0;
      ye = h - 1;
    }
    xs = Math.min(xs, x);
    xe = Math.max(xe, x);
    ys = Math.min(ys, y);
    ye = Math.max(ye, y);
  }
  return [xs, ys, xe - xs + 1, ye - ys + 1];
}

/** Intersection and union pixel counts of two same-sized RLEs (walks both run lists once). */
export function rleIntersectionUnion(a: Rle, b: Rle): { intersection: number; union: number } {
  if (a.height !== b.height || a.width !== b.width) {
    throw inputError(`mask sizes differ: ${a.height}x${a.width} vs ${b.height}x${b.width}`);
  }
  let intersection = 0;
  let union = 0;
  let ia = 0;
  let ib = 0;
  let ca = a.counts[0] ?? 0;
  let cb = b.counts[0] ?? 0;
  let va = 0;
  let vb = 0;
  let remaining = a.height * a.width;
  while (remaining > 0) {
    while (ca === 0 && ia + 1 < a.counts.length) {
      ca = a.counts[++ia];
      va ^= 1;
    }
    while (cb === 0 && ib + 1 < b.counts.length) {
      cb = b.counts[++ib];
      vb ^= 1;
    }
    const c = Math.min(ca, cb);
    if (c === 0) break;
    if (va || vb) {
      union += c;
      if (va && vb) intersection += c;
    }
    ca -= c;
    cb -= c;
    remaining -= c;
  }
  return { intersection, union };
}

function bboxIou(d: number[], g: number[], crowd: boolean): number {
  const w = Math.min(d[2] + d[0], g[2] + g[0]) - Math.max(d[0], g[0]);
  if (w <= 0) return 0;
  const h = Math.min(d[3] + d[1], g[3] + g[1]) - Math.max(d[1], g[1]);
  if (h <= 0) return 0;
  const i = w * h;
  const da = d[2] * d[3];
  return i / (crowd ? da : da + g[2] * g[3] - i);
}

/** pycocotools mask.iou for RLEs: matrix [dt][gt]; a crowd gt divides by the dt area; -1 when sizes differ. */
export function rleIou(dt: readonly Rle[], gt: readonly Rle[], iscrowd: readonly boolean[]): number[][] {
  const dtBoxes = dt.map(rleToBbox);
  const gtBoxes = gt.map(rleToBbox);
  return dt.map((d, di) =>
    gt.map((g, gi) => {
      if (bboxIou(dtBoxes[di], gtBoxes[gi], iscrowd[gi]) <= 0) return 0;
      if (d.height !== g.height || d.width !== g.width) return -1;
      const { intersection, union } = rleIntersectionUnion(d, g);
      if (intersection === 0) return 0;
      return intersection / (iscrowd[gi] ? rleArea(d) : union);
    }),
  );
}

/** pycocotools mask.merge: union (or intersection) of same-sized RLEs. */
export function rleMerge(rles: readonly Rle[], intersect = false): Rle {
  if (rles.length === 0) return { height: 0, width: 0, counts: [] };
  const { height, width } = rles[0];
  let current = rles[0].counts.slice();
  for (const next of rles.slice(1)) {
    if (next.height !== height || next.width !== width) return { height: 0, width: 0, counts: [] };
    current = mergeTwo(current, next.counts, intersect);
  }
  return { height, width, counts: current };
}

function mergeTwo(a: number[], b: readonly number[], intersect: boolean): number[] {
  const out: number[] = [];
  let ca = a[0];
  let cb = b[0];
  let v = 0;
  let va = 0;
  let vb = 0;
  let ia = 1;
  let ib = 1;
  let cc = 0;
  let ct = 1;
  while (ct > 0) {
    const c = Math.min(ca, cb);
    cc += c;
    ct = 0;
    ca -= c;
    if (!ca && ia < a.length) {
      ca = a[ia++];
      va ^= 1;
    }
    ct += ca;
    cb -= c;
    if (!cb && ib < b.length) {
      cb = b[ib++];
      vb ^= 1;
    }
    ct += cb;
    const vp = v;
    v = intersect ? va & vb : va | vb;
    if (v !== vp || ct === 0) {
      out.push(cc);
      cc = 0;
    }
  }
  return out;
}
