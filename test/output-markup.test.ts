import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { groundAnswer, officialGcgCaption, parseAnswer } from "../src/output/markup.ts";

interface OfficialCase {
  answer: string;
  caption: string;
  phrases: string[];
}
const officialCases: OfficialCase[] = JSON.parse(readFileSync(new URL("fixtures/output/official_captions.json", import.meta.url), "utf8"));

describe("officialGcgCaption (reference: eval/gcg/infer.py run in Python)", () => {
  test.each(officialCases.map((c) => [JSON.stringify(c.answer), c] as const))("%s", (_, c) => {
    expect(officialGcgCaption(c.answer)).toEqual({ caption: c.caption, phrases: c.phrases });
  });
});

describe("parseAnswer", () => {
  test("phrases, spans and [SEG] owners", () => {
    const parsed = parseAnswer("A <p> red square </p> [SEG] is next to a <p> blue circle </p> [SEG].");
    expect(parsed.text).toBe("A red square is next to a blue circle.");
    expect(parsed.phrases).toEqual([
      { text: "red square", start: 2, end: 12 },
      { text: "blue circle", start: 26, end: 37 },
    ]);
    expect(parsed.segs).toEqual([{ phrase: 0, offset: 12 }, { phrase: 1, offset: 37 }]);
    expect(parsed.problems).toEqual([]);
  });

  test("a [SEG] outside any phrase, end-of-sequence token removed", () => {
    const parsed = parseAnswer("Sure, it is [SEG].</s>");
    expect(parsed.text).toBe("Sure, it is.");
    expect(parsed.segs).toEqual([{ phrase: null, offset: 11 }]);
  });

  test("space before punctuation is dropped only where markup was", () => {
    expect(parseAnswer("on <p> the beach </p> [SEG] .").text).toBe("on the beach.");
    expect(parseAnswer("is it ? yes").text).toBe("is it ? yes");
  });

  test("several [SEG]s after one phrase all belong to it", () => {
    const parsed = parseAnswer("two <p> dogs </p> [SEG] [SEG] play.");
    expect(parsed.text).toBe("two dogs play.");
    expect(parsed.segs).toEqual([{ phrase: 0, offset: 8 }, { phrase: 0, offset: 8 }]);
  });

  test("a [SEG] after plain text does not attach to an earlier phrase", () => {
    const parsed = parseAnswer("<p> a cat </p> sits on it [SEG]");
    expect(parsed.segs).toEqual([{ phrase: null, offset: 16 }]);
  });

  test("[SEG] inside an unclosed <p> closes the phrase there", () => {
    const parsed = parseAnswer("A <p> red square [SEG] is here");
    expect(parsed.text).toBe("A red square is here");
    expect(parsed.phrases).toEqual([{ text: "red square", start: 2, end: 12 }]);
    expect(parsed.segs).toEqual([{ phrase: 0, offset: 12 }]);
    expect(parsed.problems.length).toBe(1);
  });

  test("unclosed <p> without [SEG], stray </p>, nested <p>", () => {
    const unclosed = parseAnswer("A <p> thing and <p> other </p> [SEG] end <p> tail");
    expect(unclosed.text).toBe("A thing and other end tail");
    expect(unclosed.phrases).toEqual([{ text: "other", start: 12, end: 17 }]);
    expect(unclosed.problems).toHaveLength(2);
    const stray = parseAnswer("stray </p> close");
    expect(stray.text).toBe("stray close");
    expect(stray.problems).toHaveLength(1);
  });

  test("newlines kept (at most one blank line), runs of spaces collapsed, other special tokens removed", () => {
    const parsed = parseAnswer("<s>  First   line\n\n\n\n  second <im_start>line  </s>");
    expect(parsed.text).toBe("First line\n\nsecond line");
  });

  test("literal angle brackets survive (only GLaMM tokens are markup)", () => {
    expect(parseAnswer("1 < 2 > 0 and <b>").text).toBe("1 < 2 > 0 and <b>");
  });

  test("empty phrase and empty answer", () => {
    expect(parseAnswer("<p></p> [SEG] x").phrases).toEqual([{ text: "", start: 0, end: 0 }]);
    expect(parseAnswer("")).toEqual({ text: "", phrases: [], segs: [], problems: [] });
  });

  test("phrase spans index the clean text", () => {
    for (const { answer } of officialCases) {
      const parsed = parseAnswer(answer);
      for (const phrase of parsed.phrases) expect(parsed.text.slice(phrase.start, phrase.end)).toBe(phrase.text);
      expect(parsed.segs.length).toBe(answer.split("[SEG]").length - 1);
    }
  });
});

describe("groundAnswer", () => {
  const masks = [new Uint8Array([1]), new Uint8Array([2]), new Uint8Array([3])];
  const parsed = parseAnswer("A <p> cat </p> [SEG] and it [SEG].");

  test("pairs masks with [SEG]s in order", () => {
    const { segments, problems } = groundAnswer(parsed, masks.slice(0, 2));
    expect(segments.map((s) => [s.phrase, s.start, s.end, s.mask[0]])).toEqual([
      ["cat", 2, 5, 1],
      ["", 12, 12, 2],
    ]);
    expect(problems).toEqual([]);
  });

  test("more masks than [SEG]s keeps the last masks; fewer masks grounds the first [SEG]s", () => {
    expect(groundAnswer(parsed, masks).segments.map((s) => s.mask[0])).toEqual([2, 3]);
    const fewer = groundAnswer(parsed, masks.slice(0, 1));
    expect(fewer.segments.map((s) => [s.phrase, s.mask[0]])).toEqual([["cat", 1]]);
    expect(fewer.problems).toHaveLength(1);
  });
});

const ORACLE_INDEX = "../shared/oracle/tiny-a/refs/index.json";
const haveOracle = existsSync(ORACLE_INDEX);
if (!haveOracle) console.warn(`skipping oracle answer checks: ${ORACLE_INDEX} is absent`);

describe.skipIf(!haveOracle)("oracle answers (tiny-a)", () => {
  const cases = haveOracle ? JSON.parse(readFileSync(ORACLE_INDEX, "utf8")).cases : {};

  test("teacher-forced GCG answer: two phrases, one mask each, as many [SEG]s as oracle masks", () => {
    const gcg = cases.gcg_tf;
    const parsed = parseAnswer(gcg.answer);
    expect(parsed.text).toBe("A red square is next to a blue circle.");
    expect(parsed.phrases.map((p) => p.text)).toEqual(["red square", "blue circle"]);
    expect(parsed.segs.length).toBe(gcg.n_seg);
    expect(officialGcgCaption(gcg.answer)).toEqual({ caption: "A red square is next to a blue circle .", phrases: ["red square", "blue circle"] });
  });

  test("teacher-forced referring answer: one phrase-less [SEG]", () => {
    const parsed = parseAnswer(cases.refseg_tf.answer);
    expect(parsed.text).toBe("Sure, it is.");
    expect(parsed.segs).toEqual(Array.from({ length: cases.refseg_tf.n_seg }, () => ({ phrase: null, offset: 11 })));
  });

  test("random-weight generations (no markup, control bytes) parse without problems", () => {
    for (const name of ["gcg_gen", "refseg_gen", "caption_gen", "regcap1_gen", "regcap2_gen"]) {
      const decoded: string = cases[name].decoded_new_tokens;
      const parsed = parseAnswer(decoded);
      expect(parsed.segs.length).toBe(cases[name].n_pred_masks_from_generation);
      expect(parsed.problems).toEqual([]);
      expect(parsed.text).toBe(decoded.trim().replace(/ +/g, " "));
    }
  });
});
