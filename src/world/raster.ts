import { rgbImage, type RgbImage } from "../image/rgb-image.ts";
import { seededRandom } from "../util/random.ts";
import type { Scene, SceneObject } from "./scene.ts";

type Point = [number, number];

/** The outline of a triangle or star, inscribed in the object's square, pointing up. */
function polygon(o: SceneObject): Point[] {
  const r = o.size / 2;
  if (o.shape === "triangle") return [[o.cx, o.cy - r], [o.cx + r, o.cy + r], [o.cx - r, o.cy + r]];
  // Regular five-pointed star: inner radius = outer × sin(18°)/sin(54°).
  const inner = (r * Math.sin(Math.PI / 10)) / Math.sin((3 * Math.PI) / 10);
  return Array.from({ length: 10 }, (_, i) => {
    const radius = i % 2 === 0 ? r : inner;
    const angle = -Math.PI / 2 + (i * Math.PI) / 5;
    return [o.cx + radius * Math.cos(angle), o.cy + radius * Math.sin(angle)] as Point;
  });
}

function insidePolygon(points: Point[], x: number, y: number): boolean {
  let inside = false;
  for (let i = 0, j = points.length - 1; i < points.length; j = i++) {
    const [xi, yi] = points[i];
    const [xj, yj] = points[j];
    if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

/** Whether the point (x, y) (pixel units, continuous) lies inside the object's shape. */
export function insideShape(o: SceneObject, x: number, y: number): boolean {
  const r = o.size / 2;
  if (o.shape === "circle") return (x - o.cx) ** 2 + (y - o.cy) ** 2 <= r * r;
  if (o.shape === "square") return Math.abs(x - o.cx) <= r && Math.abs(y - o.cy) <= r;
  return insidePolygon(polygon(o), x, y);
}

/** The object's mask (height × width, 1 = inside): a pixel is inside when its centre is. No anti-aliasing. */
export function objectMask(scene: Scene, o: SceneObject): Uint8Array {
  const { width, height } = scene;
  const mask = new Uint8Array(width * height);
  const r = o.size / 2;
  const x0 = Math.max(0, Math.floor(o.cx - r)), x1 = Math.min(width - 1, Math.ceil(o.cx + r));
  const y0 = Math.max(0, Math.floor(o.cy - r)), y1 = Math.min(height - 1, Math.ceil(o.cy + r));
  for (let y = y0; y <= y1; y++) for (let x = x0; x <= x1; x++) if (insideShape(o, x + 0.5, y + 0.5)) mask[y * width + x] = 1;
  return mask;
}

/** A mask's bounding box in pixels, x2/y2 exclusive (as glamm's --box takes them); null for an empty mask. */
export function maskBox(mask: Uint8Array, width: number): [number, number, number, number] | null {
  let x1 = Infinity, y1 = Infinity, x2 = -1, y2 = -1;
  for (let i = 0; i < mask.length; i++) {
    if (!mask[i]) continue;
    const x = i % width, y = (i - x) / width;
    if (x < x1) x1 = x;
    if (x > x2) x2 = x;
    if (y < y1) y1 = y;
    if (y > y2) y2 = y;
  }
  return x2 < 0 ? null : [x1, y1, x2 + 1, y2 + 1];
}

export interface RenderedScene {
  image: RgbImage;
  /** One mask per object, in scene order; exactly the pixels drawn in that object's colour. */
  masks: Uint8Array[];
  boxes: [number, number, number, number][];
}

/** Draws the scene: background (flat or diagonal gradient, with noise), then each object flat in its colour. */
export function renderScene(scene: Scene): RenderedScene {
  const { width, height, background: bg } = scene;
  const image = rgbImage(width, height);
  const noise = seededRandom(bg.noiseSeed);
  const span = Math.max(1, width + height - 2);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const t = (x + y) / span;
      const n = bg.noise ? Math.round((noise() * 2 - 1) * bg.noise) : 0;
      for (let c = 0; c < 3; c++) image.data[(y * width + x) * 3 + c] = Math.max(0, Math.min(255, Math.round(bg.from[c] + (bg.to[c] - bg.from[c]) * t) + n));
    }
  }
  const masks = scene.objects.map((o) => objectMask(scene, o));
  scene.objects.forEach((o, k) => {
    const mask = masks[k];
    for (let i = 0; i < mask.length; i++) if (mask[i]) image.data.set(o.rgb, i * 3);
  });
  const boxes = masks.map((m) => maskBox(m, width)!);
  return { image, masks, boxes };
}
