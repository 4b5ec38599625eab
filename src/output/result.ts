/** What one glamm task run produced, independent of how it is written out. */

export const TASKS = ["gcg", "segment", "region", "caption", "ground", "chat"] as const;
export type Task = (typeof TASKS)[number];

export interface ImageInfo {
  /** The image file as the user named it. */
  path: string;
  width: number;
  height: number;
  /** Hex SHA-256 of the image file's bytes. */
  sha256: string;
}

export interface ModelInfo {
  id: string;
  revision: string;
  precision: string;
  /** DiffLMM: where its diffusion encoder's Gaussian draws came from (a seed, or a --noise file). */
  noise?: { seed: number } | { file: string };
  /** Set when the built-in trained demo answered: "demo model (trained on synthetic shapes)", also drawn on the overlay. */
  demo?: string;
}

/** A grounded phrase: `text.slice(start, end) === phrase`; a [SEG] with no phrase has phrase "" and start === end. */
export interface Segment {
  phrase: string;
  start: number;
  end: number;
  /** Binary mask, row-major, image height x width, nonzero = inside. */
  mask: Uint8Array;
  /** Attend backend: the SAM point prompt (x, y in image pixels) and the kept mask's predicted IoU. */
  point?: [number, number];
  score?: number;
  /** Attend backend with --heatmaps: the phrase's attention map over the image token grid, row-major. */
  heatmap?: { size: [number, number]; values: number[] };
}

/** A region input in image pixels (x2, y2 exclusive edges, as drawn); `caption` is the model's description of it. */
export interface Box {
  x1: number;
  y1: number;
  x2: number;
  y2: number;
  caption?: string;
}

/** Wall-clock milliseconds per stage (names chosen by the pipeline, e.g. "load", "encode", "generate", "masks"). */
export type Timings = Record<string, number>;

export interface TaskResult {
  /** Which system produced it: GLaMM's [SEG] masks, or attend-and-segment on a plain LLaVA. */
  backend?: "glamm" | "attend";
  image: ImageInfo;
  model: ModelInfo;
  task: Task;
  /** The instruction given to the model. */
  prompt: string;
  /** The model's answer as decoded, with its `<p> ... </p> [SEG]` markup. */
  rawText: string;
  /** The answer without markup (see markup.ts for the cleaning rules). */
  text: string;
  /** In [SEG] order, which is the order of the model's masks. */
  segments: Segment[];
  boxes?: Box[];
  timings: Timings;
}
