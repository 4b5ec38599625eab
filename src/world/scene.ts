import { seededRandom } from "../util/random.ts";

/**
 * The demo world: flat-coloured shapes on a light background. A scene is fully described by its objects' geometry, so
 * its masks, boxes, phrases and relations are exact, and the same description checks what a model says about it.
 */
export const COLOURS = ["red", "green", "blue", "yellow", "purple", "orange"] as const;
export const SHAPES = ["circle", "square", "triangle", "star"] as const;
export type Colour = (typeof COLOURS)[number];
export type Shape = (typeof SHAPES)[number];

/** Base RGB of each colour; drawn objects differ from it by at most COLOUR_JITTER per channel. */
export const COLOUR_RGB: Record<Colour, [number, number, number]> = {
  red: [214, 40, 40],
  green: [42, 157, 58],
  blue: [29, 63, 196],
  yellow: [240, 200, 20],
  purple: [128, 50, 170],
  orange: [245, 130, 20],
};
export const COLOUR_JITTER = 12;

export const MIN_SIDE = 256;
export const MAX_SIDE = 640;
/** An object's size (the side of the square it is drawn in) as a fraction of the canvas's shorter side. */
export const MIN_SIZE = 0.08;
export const MAX_SIZE = 0.4;
export const MAX_OBJECTS = 4;

export interface SceneObject {
  colour: Colour;
  shape: Shape;
  /** The drawn colour (COLOUR_RGB jittered). */
  rgb: [number, number, number];
  /** Centre and size of the square the shape is inscribed in, in pixels. */
  cx: number;
  cy: number;
  size: number;
}

export interface Background {
  /** Colour at the top-left and bottom-right corners (equal for a flat background); light. */
  from: [number, number, number];
  to: [number, number, number];
  /** Amplitude of the per-pixel noise (0 = none). */
  noise: number;
  /** Seed of the noise, so drawing is deterministic. */
  noiseSeed: number;
}

export interface Scene {
  width: number;
  height: number;
  background: Background;
  objects: SceneObject[];
}

export const phraseOf = (o: { colour: Colour; shape: Shape }): string => `${o.colour} ${o.shape}`;

const int = (random: () => number, lo: number, hi: number) => lo + Math.floor(random() * (hi - lo + 1));

function lightColour(random: () => number): [number, number, number] {
  const base = int(random, 215, 250);
  return [0, 1, 2].map(() => Math.min(255, base + int(random, -12, 5))) as [number, number, number];
}

/** The squares two objects are drawn in are at least `margin` pixels apart (so shapes never touch). */
function apart(a: SceneObject, b: SceneObject, margin: number): boolean {
  const gap = (a.size + b.size) / 2 + margin;
  return Math.abs(a.cx - b.cx) >= gap || Math.abs(a.cy - b.cy) >= gap;
}

/** A random scene; the same seed always gives the same scene. `objects` fixes the object count (1-4). */
export function generateScene(seed: number, objects?: number): Scene {
  const random = seededRandom(seed);
  const width = int(random, MIN_SIDE, MAX_SIDE);
  const height = int(random, MIN_SIDE, MAX_SIDE);
  const from = lightColour(random);
  const to = random() < 0.5 ? from : lightColour(random);
  const background: Background = { from, to, noise: int(random, 0, 6), noiseSeed: int(random, 0, 2 ** 31) };
  const count = objects ?? int(random, 1, MAX_OBJECTS);
  const pairs = COLOURS.flatMap((colour) => SHAPES.map((shape) => ({ colour, shape })));
  const short = Math.min(width, height);
  const margin = Math.max(4, Math.round(short * 0.02));
  const placed: SceneObject[] = [];
  for (let tries = 0; placed.length < count && tries < 500; tries++) {
    // Later objects get smaller when space runs out, so a 4-object scene is always found.
    const shrink = 1 - Math.min(0.7, tries / 300);
    const size = Math.round(short * (MIN_SIZE + random() * (MAX_SIZE - MIN_SIZE) * shrink));
    const cx = size / 2 + random() * (width - size);
    const cy = size / 2 + random() * (height - size);
    const pick = pairs.splice(int(random, 0, pairs.length - 1), 1)[0];
    const jitter = () => int(random, -COLOUR_JITTER, COLOUR_JITTER);
    const base = COLOUR_RGB[pick.colour];
    const rgb = base.map((c) => Math.max(0, Math.min(255, c + jitter()))) as [number, number, number];
    const candidate = { ...pick, rgb, cx, cy, size };
    if (placed.every((o) => apart(o, candidate, margin))) placed.push(candidate);
    else pairs.push(pick);
  }
  if (placed.length < count) throw new Error(`scene ${seed}: could not place ${count} objects`);
  return { width, height, background, objects: placed };
}

/** The seed of scene `index` of a numbered set of scenes (training, held-out, examples each use their own set seed). */
export const sceneSeed = (setSeed: number, index: number): number => (Math.imul(setSeed, 0x9e3779b1) + index * 7919 + 1) >>> 0;

/** Words of the world's captions and of the prompts the demo model answers (its tokenizer has a piece for each). */
export const WORLD_WORDS = [
  ...COLOURS,
  ...SHAPES,
  ..."a is left right of above below next to which and sure it there no the".split(" "),
  ..."chat between curious human an artificial intelligence assistant gives helpful detailed polite answers questions".split(" "),
  ..."could you please give me description image respond with interleaved segmentation masks for corresponding parts answer".split(" "),
  ..."can segment in this provide region picture marked by provides overview describe these areas".split(" "),
];
