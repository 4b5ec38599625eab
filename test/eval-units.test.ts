import { describe, expect, test } from "bun:test";
import { tokenizeCaption } from "../src/eval/caption/ptb-tokenizer.ts";
import { findBestMatches, greedyMeanIou } from "../src/eval/gcg.ts";
import { encodeMask } from "../src/output/rle.ts";
import { runCli } from "../src/cli/run.ts";

describe("PTB caption tokenization (Stanford PTBTokenizer -lowerCase, then the pycocoevalcap punctuation filter)", () => {
  test.each([
    ["A man, riding a horse.", "a man riding a horse"],
    ["Don't stop!", "do n't stop"],
    ["The dog's toy (red) is \"new\"...", "the dog 's toy red is new"],
    ["It cannot be; they're here: 3.5 m", "it can not be they 're here 3.5 m"],
    ["", ""],
  ])("%j", (caption, tokens) => expect(tokenizeCaption(caption)).toBe(tokens));
});

describe("official matching quirks", () => {
  test("recall: fewer phrases than masks raises like numpy, only when an admissible IoU is reached", () => {
    expect(findBestMatches([[0.9, 0.1]], [[1]])).toEqual({ matches: [[0, 0]] });
    expect(findBestMatches([[0.1, 0.9]], [[1]])).toEqual({ error: "IndexError: index 1 is out of bounds for axis 1 with size 1" });
    expect(findBestMatches([[0.3, 0.2]], [[]])).toEqual({ matches: [] });
    expect(findBestMatches([[0.9, 0.8], [0.7, 0.2]], [[0, 1], [1, 1]])).toEqual({ matches: [] });
  });

  test("recall: a NaN IoU (two empty masks) is numpy's argmax and passes the threshold test", () => {
    expect(findBestMatches([[0.6, NaN]], [[1, 1]])).toEqual({ matches: [[0, 1]] });
  });

  test("mIoU: greedy one-to-one pairing; empty masks stop the pairing", () => {
    const box = (x0: number, x1: number) => encodeMask(Array.from({ length: 16 }, (_, p) => Number(p % 4 >= x0 && p % 4 < x1)), 4, 4);
    // pred [0,2) vs gt [0,2): 1; pred [2,4) vs gt [1,4): 2/3
    expect(greedyMeanIou([box(0, 2), box(2, 4)], [box(1, 4), box(0, 2)])).toBeCloseTo((1 + 2 / 3) / 2, 12);
    expect(greedyMeanIou([], [box(0, 2)])).toBe(0);
    expect(greedyMeanIou([box(0, 0)], [box(0, 0)])).toBe(0);
  });
});

describe("glamm eval errors", () => {
  test("missing files are input errors (exit 2), a bad split is a usage error (exit 1)", async () => {
    expect(await runCli(["eval", "gcg", "/nonexistent/preds", "--gt-dir", "/nonexistent/gt"])).toBe(2);
    expect(await runCli(["eval", "gcg", "/nonexistent/preds", "--gt-dir", "/x", "--split", "train"])).toBe(1);
    expect(await runCli(["eval", "regcap", "/nonexistent/results.json", "--gt", "/nonexistent/gt.json"])).toBe(2);
  });
});
