import { relationHolds, RELATIONS, type PixelBox, type Relation } from "./relations.ts";
import { COLOURS, SHAPES, type Colour, type Scene, type Shape } from "./scene.ts";

/** The (colour, shape) a phrase names, when it names exactly one colour and one shape of the world. */
export function parsePhrase(phrase: string): { colour: Colour; shape: Shape } | null {
  const words = phrase.toLowerCase().match(/[a-z]+/g) ?? [];
  const colours = words.filter((w) => (COLOURS as readonly string[]).includes(w));
  const shapes = words.filter((w) => (SHAPES as readonly string[]).includes(w));
  return colours.length === 1 && shapes.length === 1 ? { colour: colours[0] as Colour, shape: shapes[0] as Shape } : null;
}

/** Index of the scene object a phrase names, or -1. */
export function objectOfPhrase(scene: Scene, phrase: string): number {
  const named = parsePhrase(phrase);
  return named ? scene.objects.findIndex((o) => o.colour === named.colour && o.shape === named.shape) : -1;
}

export function maskIoU(a: Uint8Array, b: Uint8Array): number {
  let inter = 0, union = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] !== 0, y = b[i] !== 0;
    if (x && y) inter++;
    if (x || y) union++;
  }
  return union === 0 ? 1 : inter / union;
}

export interface PhraseMatch {
  /** Phrases that name an object of the scene, each object at most once (later repeats count as wrong). */
  matched: { phrase: number; object: number }[];
  /** How many phrases were given and how many objects the scene has. */
  phrases: number;
  objects: number;
}

/** Pairs a caption's phrases with the scene's objects by the (colour, shape) they name. */
export function matchPhrases(scene: Scene, phrases: readonly string[]): PhraseMatch {
  const used = new Set<number>();
  const matched: PhraseMatch["matched"] = [];
  phrases.forEach((phrase, p) => {
    const object = objectOfPhrase(scene, phrase);
    if (object >= 0 && !used.has(object)) {
      used.add(object);
      matched.push({ phrase: p, object });
    }
  });
  return { matched, phrases: phrases.length, objects: scene.objects.length };
}

export interface StatedRelation {
  a: string;
  relation: Relation;
  b: string;
  /** Null when either phrase names no object of the scene. */
  holds: boolean | null;
}

/**
 * The relations a plain caption states as "<colour> <shape> is REL a <colour> <shape>" or ", which is REL a ..."
 * (the chain form the world's captions use), each checked against the scene's boxes.
 */
export function statedRelations(scene: Scene, boxes: readonly PixelBox[], text: string): StatedRelation[] {
  const thing = `(${COLOURS.join("|")}) (${SHAPES.join("|")})`;
  const pattern = new RegExp(`${thing}(?:,? which)? is (${RELATIONS.join("|")}) (?:a|the) ${thing}`, "gi");
  const out: StatedRelation[] = [];
  const short = Math.min(scene.width, scene.height);
  // A chain "A x is left of a y, which is above a z" states x-y and y-z: scan with overlapping matches.
  for (let from = 0; ; ) {
    pattern.lastIndex = from;
    const m = pattern.exec(text);
    if (!m) break;
    const a = `${m[1]} ${m[2]}`.toLowerCase(), b = `${m[4]} ${m[5]}`.toLowerCase();
    const i = objectOfPhrase(scene, a), j = objectOfPhrase(scene, b);
    const relation = m[3].toLowerCase() as Relation;
    out.push({ a, relation, b, holds: i < 0 || j < 0 ? null : relationHolds(relation, boxes[i], boxes[j], short) });
    from = m.index + m[0].length - b.length;
  }
  return out;
}
