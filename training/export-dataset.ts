// Writes the demo model's training (or held-out) data: scenes of the world as PNGs, their label maps, and for each
// scene the token ids and targets of every task, tokenized by glamm's own tokenizer with glamm's own prompts.
// Usage: bun training/export-dataset.ts --tokenizer DIR --out DIR [--seed 1] [--scenes 2000]
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import sharp from "sharp";
import { llavaPrompt } from "../src/pipeline/attend/llava.ts";
import { ATTEND_QUESTION } from "../src/pipeline/attend/task.ts";
import { buildPrompt, CAPTION_INSTRUCTION, GCG_INSTRUCTION, REGION_CAPTION_INSTRUCTION, referringSegmentationInstruction } from "../src/pipeline/prompt.ts";
import { LlamaTokenizer, tokenizerImageToken } from "../src/text/tokenizer.ts";
import { seededRandom } from "../src/util/random.ts";
import { absentAnswer, captionOrder, gcgAnswer, groundingText, plainCaption, regionAnswer, SEGMENT_ANSWER } from "../src/world/captions.ts";
import { renderScene } from "../src/world/raster.ts";
import { COLOURS, generateScene, phraseOf, sceneSeed, SHAPES, type Scene } from "../src/world/scene.ts";
import { withSegAfterPhrases } from "../src/pipeline/tasks.ts";

/** One training example: prompt + answer ids (-200 = image), where the answer starts, and what it grounds. */
export interface Sample {
  task: "gcg" | "caption" | "segment" | "region" | "ground" | "llava";
  ids: number[];
  /** First answer position: the loss covers ids[answerStart..] (the answer and its </s>). */
  answerStart: number;
  /** Object index (into the scene's objects) of each [SEG] of the answer, in order. */
  seg: number[];
  /** region: the box (pixels, x2/y2 exclusive) replacing <bbox>. */
  box?: number[];
  /** ground: only the masks are trained (the answer is given, not generated). */
  masksOnly?: boolean;
}

function encodeSample(tokenizer: LlamaTokenizer, prompt: string, answer: string, sample: Omit<Sample, "ids" | "answerStart">): Sample {
  const full = `${prompt} ${answer}</s>`;
  const ids = tokenizerImageToken(full, tokenizer);
  const head = tokenizerImageToken(prompt, tokenizer);
  if (head.some((id, i) => ids[i] !== id)) throw new Error(`prompt ids are not a prefix of prompt + answer ids: ${JSON.stringify(prompt)}`);
  const segId = tokenizer.specialTokenId("[SEG]");
  if (ids.filter((id) => id === segId).length !== sample.seg.length) throw new Error(`answer ${JSON.stringify(answer)} has the wrong number of [SEG]s`);
  return { ...sample, ids, answerStart: head.length };
}

const glammPrompt = (instruction: string) => buildPrompt(instruction);

export function sceneSamples(tokenizer: LlamaTokenizer, scene: Scene, boxes: [number, number, number, number][], random: () => number): Sample[] {
  const samples: Sample[] = [];
  const order = captionOrder(scene);
  const gcg = gcgAnswer(scene, order);
  samples.push(encodeSample(tokenizer, glammPrompt(GCG_INSTRUCTION), gcg, { task: "gcg", seg: order }));
  samples.push(encodeSample(tokenizer, glammPrompt(CAPTION_INSTRUCTION), plainCaption(gcg), { task: "caption", seg: [] }));
  scene.objects.forEach((o, k) => {
    // Users type "red square" or "the red square" (the official template then says "the the red square"): train both.
    const expression = (random() < 0.5 ? "the " : "") + phraseOf(o);
    samples.push(encodeSample(tokenizer, glammPrompt(referringSegmentationInstruction(expression)), SEGMENT_ANSWER, { task: "segment", seg: [k] }));
    // A box as a user draws it: the object's box grown by up to 8% of its size on each side, clipped to the image.
    const [x1, y1, x2, y2] = boxes[k];
    const grow = (v: number, d: number, lo: number, hi: number) => Math.max(lo, Math.min(hi, Math.round(v + d * random() * 0.08 * (x2 - x1 + y2 - y1) / 2)));
    const box = [grow(x1, -1, 0, scene.width), grow(y1, -1, 0, scene.height), grow(x2, 1, 0, scene.width), grow(y2, 1, 0, scene.height)];
    samples.push(encodeSample(tokenizer, glammPrompt(REGION_CAPTION_INSTRUCTION), regionAnswer(scene, k), { task: "region", seg: [], box }));
  });
  const present = new Set(scene.objects.map(phraseOf));
  const absent = COLOURS.flatMap((c) => SHAPES.map((s) => `${c} ${s}`)).filter((p) => !present.has(p));
  const missing = absent[Math.floor(random() * absent.length)];
  const asked = (random() < 0.5 ? "the " : "") + missing;
  samples.push(encodeSample(tokenizer, glammPrompt(referringSegmentationInstruction(asked)), absentAnswer(missing), { task: "segment", seg: [] }));
  const subset = order.filter(() => random() < 0.7).sort(() => random() - 0.5);
  if (subset.length > 0) {
    const text = withSegAfterPhrases(groundingText(scene, subset));
    samples.push({ ...encodeSample(tokenizer, glammPrompt(GCG_INSTRUCTION), text, { task: "ground", seg: subset }), masksOnly: true });
  }
  samples.push(encodeSample(tokenizer, llavaPrompt(ATTEND_QUESTION), plainCaption(gcg), { task: "llava", seg: [] }));
  return samples;
}

/** SAM's training prompts: two random points inside each object (pixels, x right, y down). */
function pointPrompts(masks: Uint8Array[], width: number, random: () => number): { object: number; point: [number, number] }[] {
  return masks.flatMap((mask, object) => {
    const inside: number[] = [];
    mask.forEach((v, i) => v && inside.push(i));
    return [0, 1].map(() => {
      const i = inside[Math.floor(random() * inside.length)];
      return { object, point: [(i % width) + 0.5, Math.floor(i / width) + 0.5] as [number, number] };
    });
  });
}

if (import.meta.main) {
  const { values } = parseArgs({ options: { tokenizer: { type: "string" }, out: { type: "string" }, seed: { type: "string", default: "1" }, scenes: { type: "string", default: "2000" } } });
  if (!values.tokenizer || !values.out) throw new Error("usage: bun training/export-dataset.ts --tokenizer DIR --out DIR [--seed N] [--scenes N]");
  const tokenizer = LlamaTokenizer.fromDirectory(values.tokenizer);
  const setSeed = Number(values.seed);
  const count = Number(values.scenes);
  mkdirSync(join(values.out, "images"), { recursive: true });
  const lines: string[] = [];
  for (let i = 0; i < count; i++) {
    const seed = sceneSeed(setSeed, i);
    const scene = generateScene(seed);
    const { image, masks, boxes } = renderScene(scene);
    const labels = new Uint8Array(scene.width * scene.height);
    masks.forEach((m, k) => m.forEach((v, p) => v && (labels[p] = k + 1)));
    const name = String(i).padStart(5, "0");
    await sharp(image.data, { raw: { width: scene.width, height: scene.height, channels: 3 } }).png().toFile(join(values.out, "images", `${name}.png`));
    await sharp(labels, { raw: { width: scene.width, height: scene.height, channels: 1 } }).toColourspace("b-w").png().toFile(join(values.out, "images", `${name}-labels.png`));
    const random = seededRandom(seed ^ 0x5bd1e995);
    const objects = scene.objects.map((o, k) => ({ phrase: phraseOf(o), box: boxes[k] }));
    lines.push(JSON.stringify({ seed, image: `images/${name}.png`, labels: `images/${name}-labels.png`, width: scene.width, height: scene.height, objects, samples: sceneSamples(tokenizer, scene, boxes, random), points: pointPrompts(masks, scene.width, random) }));
  }
  writeFileSync(join(values.out, "scenes.jsonl"), `${lines.join("\n")}\n`);
  console.log(`wrote ${count} scenes to ${values.out}`);
}
