
export const RELATIONS = ["left of", "right of", "above", "below", "next to"] as const;
export type Relation = (typeof RELATIONS)[number];

export type PixelBox = readonly [number, number, number, number];

/** Objects count as "next to" each other when their boxes are at most this fraction of the shorter side apart. */
export const NEXT_TO_GAP = 0.12;

/** Whether `a REL b` holds for two object boxes (x2/y2 exclusive) on a canvas of the given shorter side. */
export function relationHolds(relation: Relation, a: PixelBox, b: PixelBox, shortSide: number): boolean {
  switch (relation) {
    case "left of":
      return a[2] <= b[0];
    case "right of":
      return a[0] >= b[2];
    case "above":
      return a[3] <= b[1];
    case "below":
      return a[1] >= b[3];
    case "next to": {
      const dx = Math.max(0, b[0] - a[2], a[0] - b[2]);
      const dy = Math.max(0, b[1] - a[3], a[1] - b[3]);
      return Math.hypot(dx, dy) <= NEXT_TO_GAP * shortSide;
    }
  }
}
