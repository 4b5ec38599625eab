/** The fixed colours phrases get in the overlay, the terminal and the gallery (the same phrase, the same colour everywhere). */
export type Rgb = readonly [number, number, number];

/** Twelve well-separated colours; phrase i gets PALETTE[i % 12]. */
export const PALETTE: readonly Rgb[] = [
  [230, 25, 75],
  [60, 180, 75],
  [0, 130, 200],
  [255, 225, 25],
  [245, 130, 48],
  [145, 30, 180],
  [70, 240, 240],
  [240, 50, 230],
  [210, 245, 60],
  [250, 190, 212],
  [0, 128, 128],
  [170, 110, 40],
];

interface PhraseSpan {
  phrase: string;
  start: number;
  end: number;
}

/**
 * Colour slot of each segment: segments of the same phrase occurrence (one phrase followed by several [SEG]s) share a
 * slot; every other segment, including each phrase-less [SEG], gets the next slot in order.
 */
export function colorSlots(segments: readonly PhraseSpan[]): number[] {
  const slots = new Map<string, number>();
  let next = 0;
  return segments.map((segment, i) => {
    const key = segment.phrase === "" ? `#${i}` : `${segment.start}:${segment.end}`;
    if (!slots.has(key)) slots.set(key, next++);
    return slots.get(key)!;
  });
}

export const slotColor = (slot: number): Rgb => PALETTE[slot % PALETTE.length];


export const cssColor = ([r, g, b]: Rgb): string => `rgb(${r}, ${g}, ${b})`;

/** Black or white, whichever reads better on `color` (Rec. 601 luma). */
export const textColorOn = ([r, g, b]: Rgb): Rgb => (0.299 * r + 0.587 * g + 0.114 * b > 140 ? [0, 0, 0] : [255, 255, 255]);
