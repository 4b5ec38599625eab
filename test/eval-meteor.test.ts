import { describe, expect, test } from "bun:test";
import { javaHashCode } from "../src/eval/meteor/align.ts";
import { normalizeEnglish } from "../src/eval/meteor/normalize.ts";
import { ParaphraseTable } from "../src/eval/meteor/paraphrase.ts";
import { MeteorScorer, scoreLine } from "../src/eval/meteor/score.ts";
import { stemEnglish } from "../src/eval/meteor/snowball-english.ts";
import { SynonymDictionary } from "../src/eval/meteor/synonyms.ts";

// Words and stems from the Snowball English stemmer's published sample vocabulary and the algorithm page's examples.
const STEMS: Record<string, string> = {
  consign: "consign", consigned: "consign", consigning: "consign", consignment: "consign", consist: "consist",
  consisted: "consist", consistency: "consist", consistent: "consist", consistently: "consist", consisting: "consist",
  consists: "consist", consolation: "consol", consolations: "consol", consolatory: "consolatori", console: "consol",
  consoled: "consol", consoles: "consol", consolidate: "consolid", consolidated: "consolid", consolidating: "consolid",
  consoling: "consol", consolingly: "consol", consols: "consol", consonant: "conson", consort: "consort",
  consorted: "consort", consorting: "consort", conspicuous: "conspicu", conspicuously: "conspicu",
  conspiracy: "conspiraci", conspirator: "conspir", conspirators: "conspir", conspire: "conspir", conspired: "conspir",
  conspiring: "conspir", constable: "constabl", constables: "constabl", constance: "constanc", constancy: "constanc",
  constant: "constant", knack: "knack", knackeries: "knackeri", knacks: "knack", knag: "knag", knave: "knave",
  knaves: "knave", knavish: "knavish", kneaded: "knead", kneading: "knead", knee: "knee", kneel: "kneel",
  kneeled: "kneel", kneeling: "kneel", kneels: "kneel", knees: "knee", knell: "knell", knelt: "knelt", knew: "knew",
  knick: "knick", knif: "knif", knife: "knife", knight: "knight", knightly: "knight", knights: "knight", knit: "knit",
  knits: "knit", knitted: "knit", knitting: "knit", knives: "knive", knob: "knob", knobs: "knob", knock: "knock",
  knocked: "knock", knocker: "knocker", knockers: "knocker", knocking: "knock", knocks: "knock", knopp: "knopp",
  knot: "knot", knots: "knot",
  // Special cases, step 1a and short-syllable rules named on the algorithm page.
  skies: "sky", dying: "die", news: "news", cries: "cri", ties: "tie", gas: "gas", gaps: "gap", kiwis: "kiwi",
  hopping: "hop", hoping: "hope", agreed: "agre", generously: "generous", caresses: "caress", ponies: "poni",
};

describe("Snowball English stemmer", () => {
  test("stems the documented vocabulary", () => {
    const wrong = Object.entries(STEMS).filter(([word, stem]) => stemEnglish(word) !== stem).map(([w, s]) => `${w}: ${stemEnglish(w)} (want ${s})`);
    expect(wrong).toEqual([]);
  });
});

describe("METEOR pieces", () => {
  test("Java String.hashCode", () => {
    expect(javaHashCode("hello")).toBe(99162322);
    expect(javaHashCode("Aa")).toBe(javaHashCode("BB"));
  });

  test("-norm tokenization", () => {
    expect(normalizeEnglish("Hello, world.")).toBe("hello , world .");
    expect(normalizeEnglish("don't")).toBe("don 't");
    expect(normalizeEnglish("an x-ray of 3,000 cats")).toBe("an x ray of 3,000 cats");
    expect(normalizeEnglish("the 1990's")).toBe("the 1990 's");
  });

  test("-norm uses Java's ASCII-only \\s, \\p{Digit} and \\p{Lower}, and Java's trim", () => {
    // U+1680 is neither Java whitespace nor a letter: it becomes a token of its own and survives the space pass.
    expect(normalizeEnglish("a\u1680b")).toBe("a \u1680 b");
    // An Arabic-Indic digit is not [0-9], so the comma after it is split off.
    expect(normalizeEnglish("\u0663,a")).toBe("\u0663 , a");
    // "é" is not [a-z]: the dot of an unknown word before it is split off.
    expect(normalizeEnglish("xyz. \u00e9mile")).toBe("xyz . \u00e9mile");
    expect(normalizeEnglish("xyz. emile")).toBe("xyz. emile");
  });

  test("the SCORE line: '|||' and one pass of double spaces leave the hypothesis; a reference with '|||' becomes two", () => {
    expect(scoreLine("a ||| b   c", ["r1 ||| r2", " x\u0001"])).toEqual({ hypothesis: "a b  c", references: ["r1", "r2", "x"] });
  });

  test("synonyms through exception lists and suffix detachment", () => {
    const dict = SynonymDictionary.parse("small\n1 2\nlittle\n2 3\nman\n7\n", "man\nmen\n");
    expect([...dict.stemSynsets("men")]).toEqual([7]);
    expect([...dict.stemSynsets("smaller")]).toEqual([1, 2]);
    expect([...dict.stemSynsets("glass")]).toEqual([]);
  });
});

describe("METEOR score from the paper's formulas (English defaults α .85 β .2 γ .6 δ .75)", () => {
  const plain = new MeteorScorer({ functionWords: new Set() });
  const fmean = (p: number, r: number) => (p * r) / (0.85 * p + 0.15 * r);

  test("identical sentences score 1", () => {
    expect(plain.scoreSet([{ candidate: "a b c d", references: ["a b c d"] }]).corpus).toBe(1);
  });

  test("a gap in the reference splits the chunk", () => {
    // 3 exact matches, P = 1, R = 3/4, 2 chunks over 3 matched words.
    const want = fmean(1, 0.75) * (1 - 0.6 * (2 / 3) ** 0.2);
    expect(plain.scoreSet([{ candidate: "the cat sat", references: ["the cat was sat"] }]).corpus).toBeCloseTo(want, 14);
  });

  test("a stem match counts with weight 0.6", () => {
    // P = R = (1·0.6 + 1·1)/2; one chunk covering both sides: no fragmentation penalty.
    expect(plain.scoreSet([{ candidate: "cats sat", references: ["cat sat"] }]).corpus).toBeCloseTo(0.8, 14);
  });

  test("function words weigh 1 - δ, the best reference is kept, and the set sums statistics", () => {
    const scorer = new MeteorScorer({ functionWords: new Set(["the"]) });
    const result = scorer.scoreSet([
      { candidate: "a b", references: ["a b"] },
      { candidate: "the cat", references: ["x y z", "the dog"] },
    ]);
    // Segment 2: P = R = 0.25·1 / (0.75 + 0.25) and one chunk per matched word.
    expect(result.perImage[1]).toBeCloseTo(0.25 * (1 - 0.6), 14);
    // Set: 3 matched of 4 words a side, weighted 0.75·2 + 0.25 over 0.75·3 + 0.25; segment 1's single chunk is dropped.
    expect(result.corpus).toBeCloseTo(0.7 * (1 - 0.6 * (1 / 3) ** 0.2), 14);
  });
});

describe("METEOR paraphrase table (ParaphraseTransducer / ParaphraseMatcher)", () => {
  const gzipText = (text: string) => Bun.gzipSync(new TextEncoder().encode(text));

  test("lookup: every record whose phrase equals the next words, shorter phrases first, then file order", () => {
    const table = ParaphraseTable.fromGzip(gzipText("0.5\nnext to\nbeside\n0.1\nnext\nfollowing\n0.2\nnext to\nnear\r\n0.3\r\nnext to the\nby the\n"), "t");
    expect(table.size).toBe(4);
    const paths = table.paths(["the", "next", "to", "the", "car"], 1).map((p) => [p.length, p.paraphrase.join(" ")]);
    expect(paths).toEqual([[1, "following"], [2, "beside"], [2, "near"], [3, "by the"]]);
    expect(table.paths(["next"], 0).map((p) => p.length)).toEqual([1]);
    expect(table.paths(["to"], 0)).toEqual([]);
  });

  test("an incomplete last record is refused; a gzip that is not one is named", () => {
    expect(() => ParaphraseTable.fromGzip(gzipText("0.5\na\nb\n0.1\nc\n"), "bad.gz")).toThrow(/bad.gz: the last record is incomplete/);
    expect(() => ParaphraseTable.fromGzip(new TextEncoder().encode("plain"), "plain.gz")).toThrow(/plain.gz is not a readable gzip/);
  });

  test("a record matches both ways and multi-word sides count in the score", () => {
    const table = ParaphraseTable.fromGzip(gzipText("1\nnext to\nbeside\n"), "t");
    const scorer = new MeteorScorer({ functionWords: new Set(), paraphrases: table });
    const plain = new MeteorScorer({ functionWords: new Set() });
    // Reference side holds phrase A ("next to"), then the hypothesis side does: both align all words.
    for (const [candidate, reference] of [["dog beside car", "dog next to car"], ["dog next to car", "dog beside car"]]) {
      const stats = scorer.segmentStats(candidate, [reference]);
      expect(stats.testContent[3] + stats.referenceContent[3]).toBe(3);
      expect(stats.chunks).toBe(1);
      expect(scorer.scoreSet([{ candidate, references: [reference] }]).corpus).toBeGreaterThan(plain.scoreSet([{ candidate, references: [reference] }]).corpus);
    }
  });
});
