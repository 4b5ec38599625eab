/**
 * Phrase labels on the overlay: a filled rectangle in the phrase colour with its text. Text is SVG rendered by libvips
 * when it has a usable font; without one (pango then draws every glyph as the same box) the built-in bitmap font is used.
 */
import sharp from "sharp";
import { bitmapTextWidth, CELL_HEIGHT, forEachInkPixel } from "./bitmap-font.ts";
import { textColorOn, type Rgb } from "./palette.ts";

export type LabelFont = "auto" | "svg" | "bitmap";

export interface Label {
  text: string;
  color: Rgb;
  /** Where the label wants to be: above this point if there is room, else below it. */
  anchorX: number;
  anchorY: number;
}

export interface PlacedLabel {
  text: string;
  color: Rgb;
  x: number;
  y: number;
  width: number;
  height: number;
}

const MAX_CHARS = 40;
const SVG_CHAR_WIDTH = 0.62;
const FONT_FAMILY = "DejaVu Sans, Liberation Sans, Arial, Helvetica, sans-serif";

const shorten = (text: string) => ([...text].length > MAX_CHARS ? `${[...text].slice(0, MAX_CHARS - 3).join("")}...` : text);

interface TextMetrics {
  font: "svg" | "bitmap";
  fontPx: number;
  scale: number;
  pad: number;
}

function metricsFor(width: number, height: number, font: "svg" | "bitmap"): TextMetrics {
  const fontPx = Math.min(28, Math.max(10, Math.round(Math.min(width, height) / 36)));
  return { font, fontPx, scale: Math.max(1, Math.round(fontPx / 8)), pad: Math.max(2, Math.round(fontPx / 5)) };
}

function labelSize(text: string, m: TextMetrics): [number, number] {
  if (m.font === "bitmap") return [bitmapTextWidth(text, m.scale) + 2 * m.pad, CELL_HEIGHT * m.scale + 2 * m.pad];
  return [Math.ceil([...text].length * SVG_CHAR_WIDTH * m.fontPx) + 2 * m.pad, Math.round(m.fontPx * 1.25) + 2 * m.pad];
}

const overlaps = (a: PlacedLabel, b: PlacedLabel) => a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;

/** Places labels in order, each clamped into the image and moved down past labels already placed. */
function layout(labels: readonly Label[], width: number, height: number, m: TextMetrics): PlacedLabel[] {
  const placed: PlacedLabel[] = [];
  for (const label of labels) {
    const text = shorten(label.text);
    const [w, h] = labelSize(text, m);
    const box: PlacedLabel = { text, color: label.color, width: w, height: h, x: 0, y: 0 };
    box.x = Math.max(0, Math.min(label.anchorX, width - w));
    box.y = Math.max(0, Math.min(label.anchorY >= h ? label.anchorY - h : label.anchorY, height - h));
    while (placed.some((other) => overlaps(box, other)) && box.y + h < height) box.y = Math.min(box.y + h, height - h);
    placed.push(box);
  }
  return placed;
}

const escapeXml = (text: string) =>
  text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&apos;" })[c]!);
const rgb = ([r, g, b]: Rgb) => `rgb(${r},${g},${b})`;

function labelSvg(label: PlacedLabel, m: TextMetrics, text = label.text): Buffer {
  const svg =
    `<svg xmlns="http://www.w3.org/2000/svg" width="${label.width}" height="${label.height}">` +
    `<rect width="100%" height="100%" fill="${rgb(label.color)}"/>` +
    `<text x="${m.pad}" y="${m.pad + Math.round(m.fontPx * 0.95)}" font-family="${FONT_FAMILY}" font-size="${m.fontPx}" ` +
    `fill="${rgb(textColorOn(label.color))}">${escapeXml(text)}</text></svg>`;
  return Buffer.from(svg);
}

let svgTextWorks: Promise<boolean> | undefined;

/** True when libvips draws different shapes for different letters (false when every glyph is the missing-glyph box). */
export function svgTextRenders(): Promise<boolean> {
  svgTextWorks ??= (async () => {
    const m = metricsFor(400, 400, "svg");
    const ink = async (text: string) => {
      const box: PlacedLabel = { text, color: [255, 255, 255], x: 0, y: 0, width: 120, height: 40 };
      const { data } = await sharp(labelSvg(box, m)).removeAlpha().raw().toBuffer({ resolveWithObject: true });
      return data.filter((v) => v < 128).length;
    };
    try {
      const [thin, wide] = await Promise.all([ink("iiii"), ink("MMMM")]);
      return thin > 0 && wide > thin * 1.5;
    } catch {
      return false;
    }
  })();
  return svgTextWorks;
}

/**
 * Draws `labels` onto the RGB pixels and encodes the result as PNG.
 * Returns the PNG and where each label went.
 */
export async function drawLabelsToPng(
  pixels: Uint8Array,
  width: number,
  height: number,
  labels: readonly Label[],
  font: LabelFont,
): Promise<{ png: Uint8Array; labels: PlacedLabel[] }> {
  const useSvg = font === "svg" || (font === "auto" && (await svgTextRenders()));
  const m = metricsFor(width, height, useSvg ? "svg" : "bitmap");
  const placed = layout(labels, width, height, m);
  const raw = { raw: { width, height, channels: 3 as const } };
  if (useSvg) {
    // A label wider or taller than the image is cut at its edge, as the bitmap font's is (composite needs it inside).
    const composites = placed.map((label) => ({
      input: labelSvg({ ...label, width: Math.min(label.width, width - label.x), height: Math.min(label.height, height - label.y) }, m),
      left: label.x,
      top: label.y,
    }));
    const png = await sharp(pixels, raw).composite(composites).removeAlpha().png().toBuffer();
    return { png: new Uint8Array(png), labels: placed };
  }
  for (const label of placed) drawBitmapLabel(pixels, width, height, label, m);
  return { png: new Uint8Array(await sharp(pixels, raw).png().toBuffer()), labels: placed };
}

function drawBitmapLabel(pixels: Uint8Array, width: number, height: number, label: PlacedLabel, m: TextMetrics): void {
  const put = (x: number, y: number, color: Rgb) => {
    if (x < 0 || y < 0 || x >= width || y >= height) return;
    pixels.set(color, (y * width + x) * 3);
  };
  for (let y = label.y; y < label.y + label.height; y++) for (let x = label.x; x < label.x + label.width; x++) put(x, y, label.color);
  const ink = textColorOn(label.color);
  forEachInkPixel(label.text, label.x + m.pad, label.y + m.pad + m.scale, m.scale, (x, y) => put(x, y, ink));
}
