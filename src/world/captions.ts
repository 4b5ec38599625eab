import { COLOURS, phraseOf, SHAPES, type Scene, type SceneObject } from "./scene.ts";

const rank = (o: SceneObject) => COLOURS.indexOf(o.colour) * SHAPES.length + SHAPES.indexOf(o.shape);

/**
 * Objects in caption order, as indices into scene.objects: by colour (COLOURS' order), then shape (SHAPES' order).
 * A fixed order of names rather than of places: choosing the next object is then a lookup from the phrase just said,
 * which a two-layer decoder can learn; "the next one to the right" needs the previous object's position, which its
 * second layer cannot read back.
 */
export function captionOrder(scene: Scene): number[] {
  return scene.objects.map((_, i) => i).sort((i, j) => rank(scene.objects[i]) - rank(scene.objects[j]));
}

/**
 * The grounded caption of a scene in GLaMM's markup: every object once, in caption order, as a list:
 * "A <p>red square</p> [SEG], a <p>blue circle</p> [SEG] and a <p>green star</p> [SEG]."
 * No relations: a tiny model that must also judge geometry states false ones, and a list is true whenever its phrases
 * are. `order` lists the objects (indices) the caption names; by default all, in caption order.
 */
export function gcgAnswer(scene: Scene, order: number[] = captionOrder(scene)): string {
  const marks = order.map((i, k) => `${k === 0 ? "A" : "a"} <p>${phraseOf(scene.objects[i])}</p> [SEG]`);
  const last = marks.pop()!;
  return `${marks.length ? `${marks.join(", ")} and ${last}` : last}.`;
}

/** The caption without markup (what `glamm caption` should say). */
export const plainCaption = (gcg: string): string => gcg.replace(/<\/?p>/g, "").replace(/ \[SEG\]/g, "");

/** Grounding input: some of the objects, in the given order, joined plainly ("A <p>x</p> and a <p>y</p>."). */
export const groundingText = (scene: Scene, order: number[]): string =>
  `${order.map((i, k) => `${k === 0 ? "A" : "a"} <p>${phraseOf(scene.objects[i])}</p>`).join(" and ")}.`;

/** Region caption of one object. */
export const regionAnswer = (scene: Scene, i: number): string => `A ${phraseOf(scene.objects[i])}.`;

/** Referring-segmentation answers: the official "Sure, it is [SEG]." when present, no [SEG] when absent. */
export const SEGMENT_ANSWER = "Sure, it is [SEG].";
export const absentAnswer = (phrase: string): string => `There is no ${phrase}.`;
