/**
 * `writeGallery(dir)`: one self-contained `index.html` for every `*.glamm.json` under `dir` (recursively). Each result
 * shows a JPEG thumbnail with its masks as coloured PNG layers (both data URIs), and the caption; hovering a phrase
 * (or a mask chip) brings its masks forward and fades the others.
 */
import { readdirSync } from "node:fs";
import { join, relative } from "node:path";
import sharp from "sharp";
import { inputError } from "../cli/errors.ts";
import { decodeImageFile } from "../image/decode.ts";
import type { RgbImage } from "../image/rgb-image.ts";
import { writeFileAtomic } from "./atomic.ts";
import { galleryPage, type GalleryEntry } from "./gallery-html.ts";
import { decodeSegmentMask, readGlammJson, resultImagePath, type GlammJson } from "./json.ts";
import { colorSlots, slotColor, type Rgb } from "./palette.ts";

export const RESULT_SUFFIX = ".glamm.json";
const THUMB_MAX_SIDE = 512;

/** `*.glamm.json` files under `dir`, sorted, skipping dot-directories and node_modules. */
export function findResultFiles(dir: string): string[] {
  const found: string[] = [];
  const walk = (at: string) => {
    for (const entry of readdirSync(at, { withFileTypes: true })) {
      const path = join(at, entry.name);
      if (entry.isDirectory() && !entry.name.startsWith(".") && entry.name !== "node_modules") walk(path);
      else if (entry.isFile() && entry.name.endsWith(RESULT_SUFFIX)) found.push(path);
    }
  };
  try {
    walk(dir);
  } catch (error) {
    throw inputError(`cannot read gallery directory ${dir}: ${(error as Error).message}`);
  }
  return found.sort();
}

const dataUri = (type: string, bytes: Uint8Array) => `data:${type};base64,${Buffer.from(bytes).toString("base64")}`;

function thumbnailSize(width: number, height: number): [number, number] {
  const scale = Math.min(1, THUMB_MAX_SIDE / Math.max(width, height));
  return [Math.max(1, Math.round(width * scale)), Math.max(1, Math.round(height * scale))];
}

/** A mask scaled to the thumbnail by nearest neighbour, as an RGBA PNG: the colour at 60% where the mask is set. */
async function maskLayer(mask: Uint8Array, width: number, height: number, tw: number, th: number, color: Rgb): Promise<string> {
  const rgba = new Uint8Array(tw * th * 4);
  for (let y = 0; y < th; y++) {
    const sy = Math.min(height - 1, Math.floor(((y + 0.5) * height) / th));
    for (let x = 0; x < tw; x++) {
      const sx = Math.min(width - 1, Math.floor(((x + 0.5) * width) / tw));
      if (!mask[sy * width + sx]) continue;
      rgba.set([...color, 153], (y * tw + x) * 4);
    }
  }
  return dataUri("image/png", await sharp(rgba, { raw: { width: tw, height: th, channels: 4 } }).png().toBuffer());
}

async function loadImage(path: string): Promise<RgbImage | null> {
  try {
    return await decodeImageFile(path);
  } catch {
    return null;
  }
}

async function galleryEntry(dir: string, jsonPath: string): Promise<GalleryEntry> {
  const doc: GlammJson = readGlammJson(jsonPath);
  const { width, height } = doc.image;
  const [tw, th] = thumbnailSize(width, height);
  const image = await loadImage(resultImagePath(jsonPath, doc));
  const usable = image && image.width === width && image.height === height;
  const photo = usable
    ? await sharp(image.data, { raw: { width, height, channels: 3 } }).resize(tw, th, { kernel: "lanczos3" }).jpeg({ quality: 82 }).toBuffer()
    : null;
  const slots = colorSlots(doc.segments);
  const masks = await Promise.all(
    doc.segments.map((segment, i) => maskLayer(decodeSegmentMask(segment, `${jsonPath} segments[${i}]`), width, height, tw, th, slotColor(slots[i]))),
  );
  return {
    file: relative(dir, jsonPath).split("\\").join("/"),
    doc,
    width: tw,
    height: th,
    photo: photo ? dataUri("image/jpeg", photo) : null,
    missingImage: usable ? null : image ? `image size differs from the result's ${width}x${height}` : `image not found: ${doc.image.path}`,
    masks,
    colors: slots.map(slotColor),
  };
}

/** Writes `dir/index.html`; returns its path and how many results it shows. */
export async function writeGallery(dir: string): Promise<{ path: string; count: number }> {
  const files = findResultFiles(dir);
  if (files.length === 0) throw inputError(`no *${RESULT_SUFFIX} files under ${dir}`);
  const entries: GalleryEntry[] = [];
  for (const file of files) entries.push(await galleryEntry(dir, file));
  const path = join(dir, "index.html");
  writeFileAtomic(path, galleryPage(entries));
  return { path, count: entries.length };
}
