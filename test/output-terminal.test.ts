import { expect, test } from "bun:test";
import { formatResultText } from "../src/output/terminal.ts";
import { sampleResult } from "./output-fixtures.ts";

const result = sampleResult("photo.png", { boxes: [{ x1: 1, y1: 2, x2: 30, y2: 40, caption: "a dog" }] });

test("plain text when colour is off", () => {
  expect(formatResultText(result, 0)).toBe(
    [
      "A red square is next to a blue circle.",
      "",
      "Masks:",
      "  1. red square  1600 px, box 10,30 40x40",
      `  2. blue circle  ${result.segments[1].mask.reduce((a, b) => a + b, 0)} px, box 68,30 41x41`,
      "",
      "Regions:",
      "  region 1: 1,2,30,40 a dog",
      "",
    ].join("\n"),
  );
});

test("the trained demo's answers end with its mark; other models' do not", () => {
  const demo = { ...result, model: { ...result.model, demo: "demo model (trained on synthetic shapes)" } };
  expect(formatResultText(demo, 0)).toBe(`${formatResultText(result, 0)}\n(demo model (trained on synthetic shapes))\n`);
  expect(formatResultText(result, 0)).not.toContain("demo model");
});

test("truecolor output paints each phrase in its mask colour", () => {
  const text = formatResultText(result, 3);
  expect(text).toContain("\x1b[38;2;230;25;75mred square");
  expect(text).toContain("\x1b[38;2;60;180;75mblue circle");
  expect(text.replace(/\x1b\[[0-9;]*m/g, "")).toBe(formatResultText(result, 0));
});

test("16-colour output still marks the phrases", () => {
  expect(formatResultText(result, 1)).toMatch(/\x1b\[9[0-7]m|\x1b\[3[0-7]m/);
});

test("control characters a random-weight model produces are escaped for the terminal, spans kept", () => {
  const raw = sampleResult("photo.png", { text: "A\x0e red square\x18 is \u009bnext to a blue circle.\ttab\n" });
  raw.segments[0] = { ...raw.segments[0], start: 3, end: 13, phrase: "red square\x18".slice(0, 10) };
  raw.segments[1] = { ...raw.segments[1], start: 28, end: 39 };
  const text = formatResultText(raw, 0);
  expect(text.split("\n")[0]).toBe("A\\x0e red square\\x18 is \\x9bnext to a blue circle.\ttab");
  expect(text).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f-\x9f]/);
});
