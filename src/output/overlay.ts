/**
 * `NAME.glamm.png`: the image with each mask filled half-transparently in its phrase colour (pixel = floor(0.5 * image +
 * 0.5 * colour) from the original pixel, as the official demo blends; a later mask wins where masks overlap), an opaque
 * outline along each mask's inner edge, region boxes drawn as rectangles, one label per phrase, and the trained demo's
 * mark in the bottom-left corner when the demo model answered.
 */
import { inputError } from "../cli/errors.ts";
import { decodeImageFile } from "../image/decode.ts";
import type { RgbImage } from "../image/rgb-image.ts";
import { writeFileAtomic } from "./atomic.ts";
import { drawLabelsToPng, type Label, type LabelFont, type PlacedLabel } from "./labels.ts";
import { maskBounds, outlineBand } from "./mask-outline.ts";
import { colorSlots, slotColor, type Rgb } from "./palette.ts";
import type { Box, TaskResult } from "./result.ts";

export interface OverlayOptions {
  /** How labels are drawn; "auto" uses SVG text when libvips has a font. */
  labelFont?: LabelFont;
}

export interface Overlay {
  png: Uint8Array;
  labels: PlacedLabel[];
  /** Outline width in pixels (mask edges and, plus one, region boxes). */
  lineWidth: number;
}

export const overlayLineWidth = (width: number, height: number): number => Math.max(1, Math.round(Math.min(width, height) / 320));

function fillMasks(pixels: Uint8Array, original: Uint8Array, result: TaskResult, colors: Rgb[]): void {
  result.segments.forEach((segment, s) => {
    const color = colors[s];
    segment.mask.forEach((inside, i) => {
      if (!inside) return;
      for (let c = 0; c < 3; c++) pixels[i * 3 + c] = Math.floor(original[i * 3 + c] * 0.5 + color[c] * 0.5);
    });
  });
}

function drawOutlines(pixels: Uint8Array, result: TaskResult, colors: Rgb[], lineWidth: number): void {
  const { width, height } = result.image;
  result.segments.forEach((segment, s) => {
    outlineBand(segment.mask, width, height, lineWidth).forEach((edge, i) => {
      if (edge) pixels.set(colors[s], i * 3);
    });
  });
}

function drawBox(pixels: Uint8Array, width: number, height: number, box: Box, color: Rgb, lineWidth: number): void {
  const x0 = Math.max(0, Math.round(box.x1));
  const y0 = Math.max(0, Math.round(box.y1));
  const x1 = Math.min(width, Math.round(box.x2));
  const y1 = Math.min(height, Math.round(box.y2));
  for (let y = y0; y < y1; y++) {
    for (let x = x0; x < x1; x++) {
      const onEdge = x < x0 + lineWidth || x >= x1 - lineWidth || y < y0 + lineWidth || y >= y1 - lineWidth;
      if (onEdge) pixels.set(color, (y * width + x) * 3);
    }
  }
}

/** One label per colour slot, anchored at the top-left of its first non-empty mask; boxes get "region N". */
function collectLabels(result: TaskResult, slots: number[]): Label[] {
  const { width, height } = result.image;
  const labels: Label[] = [];
  const labelled = new Set<number>();
  result.segments.forEach((segment, s) => {
    if (labelled.has(slots[s])) return;
    const bounds = maskBounds(segment.mask, width, height);
    if (!bounds) return;
    labelled.add(slots[s]);
    labels.push({ text: segment.phrase || `mask ${s + 1}`, color: slotColor(slots[s]), anchorX: bounds[0], anchorY: bounds[1] });
  });
  result.boxes?.forEach((box, b) => {
    labels.push({ text: `region ${b + 1}`, color: boxColor(slots, b), anchorX: Math.round(box.x1), anchorY: Math.round(box.y1) });
  });
  return labels;
}

/** Drawn last, so no phrase label covers it. */
const demoMarkLabel = (text: string, height: number): Label => ({ text, color: DEMO_MARK_COLOR, anchorX: 0, anchorY: height });
const DEMO_MARK_COLOR: Rgb = [48, 48, 48];

/** Box colours continue after the phrase colours. */
const boxColor = (slots: number[], index: number): Rgb => slotColor((slots.length ? Math.max(...slots) + 1 : 0) + index);

export async function renderOverlay(result: TaskResult, image: RgbImage, options: OverlayOptions = {}): Promise<Overlay> {
  const { width, height } = result.image;
  if (image.width !== width || image.height !== height) {
    throw inputError(`image is ${image.width}x${image.height} but the result was computed for ${width}x${height}`);
  }
  result.segments.forEach((segment, s) => {
    if (segment.mask.length !== width * height) throw inputError(`mask ${s + 1} has ${segment.mask.length} pixels, expected ${width}x${height}`);
  });
  const slots = colorSlots(result.segments);
  const colors = slots.map(slotColor);
  const lineWidth = overlayLineWidth(width, height);
  const pixels = image.data.slice();
  fillMasks(pixels, image.data, result, colors);
  drawOutlines(pixels, result, colors, lineWidth);
  result.boxes?.forEach((box, b) => drawBox(pixels, width, height, box, boxColor(slots, b), lineWidth + 1));
  const labels = collectLabels(result, slots);
  if (result.model.demo) labels.push(demoMarkLabel(result.model.demo, height));
  const drawn = await drawLabelsToPng(pixels, width, height, labels, options.labelFont ?? "auto");
  return { png: drawn.png, labels: drawn.labels, lineWidth };
}

/** Renders the overlay on `image` (decoded from the result's image file when not given) and writes it atomically. */
export async function writeOverlay(path: string, result: TaskResult, options: OverlayOptions = {}, image?: RgbImage): Promise<Overlay> {
  const overlay = await renderOverlay(result, image ?? (await decodeImageFile(result.image.path)), options);
  writeFileAtomic(path, overlay.png);
  return overlay;
}
