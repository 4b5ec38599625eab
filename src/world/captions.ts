import { describeRelation, type PixelBox } from "./relations.ts";
import { phraseOf, type Scene } from "./scene.ts";

/** Objects in caption order: left to right by centre (ties: top to bottom), as indices into scene.objects. */
export function captionOrder(scene: Scene): number[] {
  return scene.objects.map((_, i) => i).sort((i, j) => scene.objects[i].cx - scene.objects[j].cx || scene.objects[i].cy - scene.objects[j].cy);
}

/**
 * The grounded caption of a scene in GLaMM's markup, every object once, left to right, each stated relation true:
 * "A <p>red square</p> [SEG] is left of a <p>blue circle</p> [SEG], which is above a <p>green star</p> [SEG]."
 * `order` lists the objects (indices) the caption names; by default all, in caption order.
 */
export function gcgAnswer(scene: Scene, boxes: readonly PixelBox[], order: number[] = captionOrder(scene)): string {
  const mark = (i: number) => `<p>${phraseOf(scene.objects[i])}</p> [SEG]`;
  let text = `A ${mark(order[0])}`;
  for (let k = 1; k < order.length; k++) {
    // Objects are drawn in squares apart in x or y, so in left-to-right order one of left of / above / below holds.
    const relation = describeRelation(boxes[order[k - 1]], boxes[order[k]], scene);
    if (!relation) throw new Error("scene objects overlap: no relation between neighbours");
    text += k === 1 ? ` is ${relation} a ${mark(order[k])}` : `, which is ${relation} a ${mark(order[k])}`;
  }
  return `${text}.`;
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
