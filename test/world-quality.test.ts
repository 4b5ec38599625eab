import { describe, expect, test } from "bun:test";
import { checkGoals, QualityTally } from "../src/world/quality.ts";
import { renderScene } from "../src/world/raster.ts";
import { generateScene, phraseOf, sceneSeed, type Scene } from "../src/world/scene.ts";
import { gcgAnswer, plainCaption } from "../src/world/captions.ts";

function sceneWith(objects: number): Scene {
  for (let i = 0; ; i++) {
    const scene = generateScene(sceneSeed(99, i));
    if (scene.objects.length === objects) return scene;
  }
}

/** The mask shifted right by d pixels (what a model with an off-by-d box scale would draw). */
function shifted(mask: Uint8Array, width: number, d: number): Uint8Array {
  const out = new Uint8Array(mask.length);
  mask.forEach((v, i) => {
    if (v && (i % width) + d < width) out[i + d] = 1;
  });
  return out;
}

describe("demo quality tally", () => {
  test("a model that says exactly the truth meets every quality goal but speed-independent ones only", () => {
    const scene = sceneWith(3);
    const { masks, boxes } = renderScene(scene);
    const tally = new QualityTally();
    const answer = gcgAnswer(scene);
    const segments = [...answer.matchAll(/<p>(.*?)<\/p>/g)].map((m) => ({ phrase: m[1], mask: masks[scene.objects.findIndex((o) => phraseOf(o) === m[1])] }));
    tally.addGcg(scene, masks, boxes, { text: plainCaption(answer), segments }, 0.5);
    masks.forEach((m, k) => {
      tally.addSegment(m, m);
      tally.addRegion(scene, k, `A ${phraseOf(scene.objects[k])}.`);
    });
    tally.addSegment(null, undefined);
    const report = tally.report();
    expect(report).toMatchObject({ gcgPhrasePrecision: 1, gcgPhraseRecall: 1, gcgMaskIoU: 1, segmentIoU: 1, regionAccuracy: 1, absentEmptyShare: 1, gcgRelationsStated: 0, gcgRelationsTrue: 0 });
    expect(checkGoals(report).every((g) => g.met)).toBe(true);
  });

  test("wrong phrases, a repeated phrase, shifted masks and wrong region captions are counted against the model", () => {
    const scene = sceneWith(2);
    const { masks, boxes } = renderScene(scene);
    const [a, b] = scene.objects;
    const tally = new QualityTally();
    const wrongShape = b.shape === "star" ? "circle" : "star";
    const d = 3;
    tally.addGcg(scene, masks, boxes, {
      text: "",
      segments: [
        { phrase: phraseOf(a), mask: shifted(masks[0], scene.width, d) },
        { phrase: phraseOf(a), mask: masks[0] },
        { phrase: "a grey blob", mask: masks[1] },
      ],
    }, 2);
    tally.addRegion(scene, 1, `A ${b.colour} ${wrongShape}.`);
    tally.addRegion(scene, 0, `a ${phraseOf(a)}`);
    const big = new Uint8Array(masks[0].length).fill(1);
    tally.addSegment(null, big);
    const report = tally.report();
    // One of three phrases names an object not yet named; one of two objects is found.
    expect(report.gcgPhrasePrecision).toBeCloseTo(1 / 3);
    expect(report.gcgPhraseRecall).toBeCloseTo(1 / 2);
    // Independent IoU of a mask and its copy shifted by d: |A∩B| = |A| - (pixels pushed out of A), counted directly.
    let area = 0, kept = 0;
    masks[0].forEach((v, i) => {
      if (!v) return;
      area++;
      if ((i % scene.width) + d < scene.width && masks[0][i + d]) kept++;
    });
    expect(report.gcgMaskIoU).toBeCloseTo(kept / (2 * area - kept), 6);
    expect(report.regionAccuracy).toBe(0.5);
    expect(report.absentEmptyShare).toBe(0);
    expect(report.absentMeanCoverage).toBe(1);
    const goals = Object.fromEntries(checkGoals(report).map((g) => [g.goal, g.met]));
    expect(goals).toMatchObject({ gcgPhrasePrecision: false, gcgPhraseRecall: false, regionAccuracy: false, gcgSecondsPerImage: false });
  });
});

describe("attend point accuracy", () => {
  test("a point counts when it lies on the object its phrase names; the attend goal is judged only when measured", () => {
    const scene = sceneWith(2);
    const { masks, boxes } = renderScene(scene);
    const [a, b] = scene.objects;
    const centre = (k: number): [number, number] => [Math.floor(scene.objects[k].cx), Math.floor(scene.objects[k].cy)];
    const tally = new QualityTally();
    expect(checkGoals(tally.report()).some((g) => g.goal === "attendPointInside")).toBe(false);
    // a's phrase at a's centre (right), b's phrase at a's centre (wrong object), a phrase naming nothing (wrong).
    tally.addAttend(scene, masks, [{ phrase: `the ${phraseOf(a)}`, point: centre(0) }, { phrase: phraseOf(b), point: centre(0) }, { phrase: "shape", point: centre(1) }], false);
    tally.addAttend(scene, masks, [{ phrase: phraseOf(b), point: [boxes[1][0] + 0.5 * (boxes[1][2] - boxes[1][0]), boxes[1][1] + 0.5 * (boxes[1][3] - boxes[1][1])] }], true);
    const report = tally.report();
    expect(report.attendPhrases).toBe(3);
    expect(report.attendPointInside).toBeCloseTo(1 / 3);
    expect(report.attendNamedPhrases).toBe(2);
    expect(report.attendPointInsideNamed).toBeCloseTo(1 / 2);
    // The centre of a box is on the shape for every shape of the world (circle, square, triangle, star).
    expect(report.attendPointInsideRemoveCorner).toBe(1);
    expect(checkGoals(report).find((g) => g.goal === "attendPointInside")?.met).toBe(false);
  });
});
