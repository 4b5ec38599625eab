import { describe, expect, test } from "bun:test";
import { captionOrder, gcgAnswer, plainCaption } from "../src/world/captions.ts";
import { maskIoU, matchPhrases, parsePhrase, statedRelations } from "../src/world/check.ts";
import { renderScene } from "../src/world/raster.ts";
import { relationHolds } from "../src/world/relations.ts";
import { type Colour, COLOURS, generateScene, MAX_SIDE, MAX_SIZE, MIN_SIDE, MIN_SIZE, phraseOf, type Shape, SHAPES } from "../src/world/scene.ts";

const seeds = Array.from({ length: 60 }, (_, i) => 1000 + i * 7919);
const scenes = seeds.map((seed) => {
  const scene = generateScene(seed);
  return { seed, scene, ...renderScene(scene) };
});

/** Area of each shape drawn in a square of side s, from geometry (not from the rasteriser). */
function expectedArea(shape: string, s: number): number {
  const r = s / 2;
  if (shape === "circle") return Math.PI * r * r;
  if (shape === "square") return s * s;
  if (shape === "triangle") return (s * s) / 2;
  // Regular pentagram: area = 10 * (1/2) * R * r_inner * sin(36°).
  const inner = (r * Math.sin(Math.PI / 10)) / Math.sin((3 * Math.PI) / 10);
  return 5 * r * inner * Math.sin(Math.PI / 5);
}

describe("world generator", () => {
  test("canvas sizes, object counts and object sizes are in the stated ranges; canvases are not all square", () => {
    const counts = new Set<number>();
    for (const { scene } of scenes) {
      expect(scene.width).toBeGreaterThanOrEqual(MIN_SIDE);
      expect(scene.width).toBeLessThanOrEqual(MAX_SIDE);
      expect(scene.height).toBeGreaterThanOrEqual(MIN_SIDE);
      expect(scene.height).toBeLessThanOrEqual(MAX_SIDE);
      expect(scene.objects.length).toBeGreaterThanOrEqual(1);
      expect(scene.objects.length).toBeLessThanOrEqual(4);
      counts.add(scene.objects.length);
      const short = Math.min(scene.width, scene.height);
      for (const o of scene.objects) {
        expect(o.size).toBeGreaterThanOrEqual(Math.floor(MIN_SIZE * short));
        expect(o.size).toBeLessThanOrEqual(Math.ceil(MAX_SIZE * short));
      }
    }
    expect([...counts].sort()).toEqual([1, 2, 3, 4]);
    expect(scenes.filter(({ scene }) => scene.width !== scene.height).length).toBeGreaterThan(50);
  });

  test("objects are distinct (colour, shape) pairs from the world's vocabulary", () => {
    for (const { scene } of scenes) {
      const phrases = scene.objects.map(phraseOf);
      expect(new Set(phrases).size).toBe(phrases.length);
      for (const o of scene.objects) {
        expect(COLOURS).toContain(o.colour);
        expect(SHAPES).toContain(o.shape);
      }
    }
  });

  test("masks are disjoint, inside the canvas, and their areas match the shapes' geometry", () => {
    for (const { scene, masks } of scenes) {
      const cover = new Uint8Array(scene.width * scene.height);
      masks.forEach((mask, k) => {
        let area = 0;
        for (let i = 0; i < mask.length; i++) if (mask[i]) {
          area++;
          cover[i]++;
        }
        const o = scene.objects[k];
        // Pixel-centre sampling: the error is bounded by the perimeter (≤ 4s for these shapes, star ≈ 4.6s).
        expect(Math.abs(area - expectedArea(o.shape, o.size))).toBeLessThanOrEqual(5 * o.size);
      });
      expect(Math.max(...cover)).toBeLessThanOrEqual(1);
    }
  });

  test("masks are exactly the pixels drawn in the object's colour; the rest is light background", () => {
    for (const { scene, image, masks } of scenes) {
      const owner = new Int8Array(scene.width * scene.height).fill(-1);
      masks.forEach((m, k) => m.forEach((v, i) => v && (owner[i] = k)));
      let wrong = 0;
      for (let i = 0; i < owner.length; i++) {
        const px = [image.data[i * 3], image.data[i * 3 + 1], image.data[i * 3 + 2]];
        if (owner[i] >= 0) wrong += Number(px.join() !== scene.objects[owner[i]].rgb.join());
        else wrong += Number(Math.min(...px) < 190);
      }
      expect(wrong).toBe(0);
    }
  });

  test("boxes are the tight bounds of the masks", () => {
    for (const { scene, masks, boxes } of scenes) {
      masks.forEach((mask, k) => {
        const [x1, y1, x2, y2] = boxes[k];
        let inBox = 0, total = 0;
        const rows = new Set<number>(), cols = new Set<number>();
        mask.forEach((v, i) => {
          if (!v) return;
          total++;
          const x = i % scene.width, y = Math.floor(i / scene.width);
          if (x >= x1 && x < x2 && y >= y1 && y < y2) inBox++;
          rows.add(y);
          cols.add(x);
        });
        expect(inBox).toBe(total);
        expect(rows.has(y1) && rows.has(y2 - 1) && cols.has(x1) && cols.has(x2 - 1)).toBe(true);
      });
    }
  });

  test("the grounded caption lists every object once, by colour then shape, and states no relation", () => {
    for (const { scene, boxes } of scenes) {
      const answer = gcgAnswer(scene);
      const phrases = [...answer.matchAll(/<p>(.*?)<\/p> \[SEG\]/g)].map((m) => m[1]);
      expect(phrases.sort()).toEqual(scene.objects.map(phraseOf).sort());
      const ranks = [...answer.matchAll(/<p>(\w+) (\w+)<\/p>/g)].map((m) => COLOURS.indexOf(m[1] as Colour) * 10 + SHAPES.indexOf(m[2] as Shape));
      expect(ranks).toEqual([...ranks].sort((a, b) => a - b));
      expect(statedRelations(scene, boxes, plainCaption(answer))).toEqual([]);
    }
    const three = scenes.find(({ scene }) => scene.objects.length === 3)!.scene;
    const [a, b, c] = captionOrder(three).map((i) => phraseOf(three.objects[i]));
    expect(plainCaption(gcgAnswer(three))).toBe(`A ${a}, a ${b} and a ${c}.`);
  });

  test("relations are checked against geometry: a false statement is caught", () => {
    const { scene, boxes } = scenes.find(({ scene }) => scene.objects.length >= 2)!;
    const [i, j] = captionOrder(scene);
    const [a, b] = [phraseOf(scene.objects[i]), phraseOf(scene.objects[j])];
    const truth = relationHolds("left of", boxes[i], boxes[j], Math.min(scene.width, scene.height));
    const claim = truth ? `A ${a} is right of a ${b}.` : `A ${a} is left of a ${b}.`;
    const [stated] = statedRelations(scene, boxes, claim);
    expect(stated.holds).toBe(relationHolds(stated.relation, boxes[i], boxes[j], Math.min(scene.width, scene.height)));
    expect(statedRelations(scene, boxes, `A ${a} is left of a ${b}.`)[0].holds).toBe(truth);
  });

  test("the same seed draws the same scene; another seed another", () => {
    const again = renderScene(generateScene(seeds[3]));
    expect(Buffer.from(again.image.data).equals(Buffer.from(scenes[3].image.data))).toBe(true);
    expect(generateScene(seeds[3] + 1)).not.toEqual(scenes[3].scene);
  });
});

describe("checking a model's output against a scene", () => {
  test("phrases are parsed to (colour, shape); anything else is no match", () => {
    expect(parsePhrase("the Red square")).toEqual({ colour: "red", shape: "square" });
    expect(parsePhrase("red blue square")).toBeNull();
    expect(parsePhrase("square")).toBeNull();
  });

  test("phrase matching counts each object once", () => {
    const { scene } = scenes.find(({ scene }) => scene.objects.length >= 2)!;
    const [o1, o2] = scene.objects;
    const absent = COLOURS.flatMap((c) => SHAPES.map((s) => `${c} ${s}`)).find((p) => !scene.objects.some((o) => phraseOf(o) === p))!;
    const match = matchPhrases(scene, [phraseOf(o1), phraseOf(o1), absent, phraseOf(o2)]);
    expect(match.matched).toEqual([{ phrase: 0, object: 0 }, { phrase: 3, object: 1 }]);
  });

  test("mask IoU", () => {
    expect(maskIoU(Uint8Array.of(1, 1, 0, 0), Uint8Array.of(0, 1, 1, 0))).toBeCloseTo(1 / 3);
    expect(maskIoU(Uint8Array.of(0, 0), Uint8Array.of(0, 0))).toBe(1);
  });
});
