import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeTokenizerFiles } from "../src/models/tiny-checkpoint.ts";
import { parseAnswer } from "../src/output/markup.ts";
import { LlamaTokenizer } from "../src/text/tokenizer.ts";
import { seededRandom } from "../src/util/random.ts";
import { parsePhrase } from "../src/world/check.ts";
import { renderScene } from "../src/world/raster.ts";
import { generateScene, phraseOf, sceneSeed, WORLD_WORDS } from "../src/world/scene.ts";
import { sceneSamples, type Sample } from "../training/export-dataset.ts";
import { demoSizes } from "../training/init-checkpoint.ts";

// The training targets must read back through glamm's own decoding and markup parsing as what they were meant to say,
// or a model that learns them perfectly would still be judged wrong.
let dir: string;
let tokenizer: LlamaTokenizer;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "glamm-world-export-"));
  writeTokenizerFiles(dir, demoSizes.vocab, WORLD_WORDS);
  tokenizer = LlamaTokenizer.fromDirectory(dir);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const scenes = Array.from({ length: 12 }, (_, i) => generateScene(sceneSeed(1, i)));
const answerOf = (s: Sample) => tokenizer.decode(s.ids.slice(s.answerStart), { skipSpecialTokens: true }).trim();

describe("training samples", () => {
  test("every task's answer decodes and parses, as glamm reads a generation, to the objects it is about", () => {
    const segId = tokenizer.specialTokenId("[SEG]");
    for (const scene of scenes) {
      const { boxes } = renderScene(scene);
      const samples = sceneSamples(tokenizer, scene, boxes, seededRandom(1));
      const tasks = new Set<string>(samples.map((s) => s.task));
      expect([...tasks].sort()).toEqual(["caption", "gcg", "llava", "region", "segment", ...(tasks.has("ground") ? ["ground"] : [])].sort());
      for (const s of samples) {
        expect(s.ids.at(-1)).toBe(tokenizer.eosTokenId!);
        expect(s.ids.filter((id) => id === -200).length).toBe(1);
        expect(s.ids.filter((id) => id === segId).length).toBe(s.seg.length);
        // As ImageSession.ask reads a generation: decode skipping special tokens (EOS), trim, parse the markup.
        const parsed = parseAnswer(answerOf(s));
        if (s.task === "gcg" || s.task === "ground") {
          expect(parsed.phrases.map((p) => p.text)).toEqual(s.seg.map((k) => phraseOf(scene.objects[k])));
          expect(parsed.segs.every((seg, i) => seg.phrase === i)).toBe(true);
        }
        if (s.task === "region") {
          const k = scene.objects.findIndex((o) => answerOf(s).includes(phraseOf(o)));
          expect(parsePhrase(answerOf(s))).toEqual({ colour: scene.objects[k].colour, shape: scene.objects[k].shape });
          const [x1, y1, x2, y2] = s.box!;
          expect(x1 <= boxes[k][0] && y1 <= boxes[k][1] && x2 >= boxes[k][2] && y2 >= boxes[k][3]).toBe(true);
        }
        if (s.task === "caption" || s.task === "llava") expect(answerOf(s)).not.toMatch(/<p>|\[SEG\]/);
        if (s.task === "llava") expect(s.ids.every((id) => id < demoSizes.vocab)).toBe(true);
      }
    }
  });

  test("the world's words are single tokens, so captions are short", () => {
    for (const word of ["red", "square", "triangle", "purple", "left", "above", "which"]) {
      expect(tokenizer.encode(word, { addSpecialTokens: false }).length).toBe(1);
    }
  });
});
