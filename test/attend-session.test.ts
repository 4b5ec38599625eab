import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GlammError } from "../src/cli/errors.ts";
import { decodeImageFile } from "../src/image/decode.ts";
import { llavaPrompt } from "../src/pipeline/attend/llava.ts";
import { runAttend } from "../src/pipeline/attend/run.ts";
import { AttendModel, type AttendImage, type AttendRun } from "../src/pipeline/attend/session.ts";

const ROOT = "../shared/oracle-aas/tiny-a";
const present = existsSync(`${ROOT}/refs/index.json`);
if (!present) console.warn(`skipping attend session tests: no ${ROOT}/refs/index.json`);

const SYSTEM = "A chat between a curious human and an artificial intelligence assistant. The assistant gives helpful, detailed, and polite answers to the human's questions.";

describe("llavaPrompt (conv_llava_v1: sep ' ', sep2 '</s>')", () => {
  test("one turn is the official single-question prompt", () => {
    expect(llavaPrompt("What is this?")).toBe(`${SYSTEM} USER: <image>\nWhat is this? ASSISTANT:`);
  });

  test("earlier turns end with </s> and only the first message carries the image", () => {
    const history = [
      { user: "Q1", assistant: "A1." },
      { user: "Q2", assistant: "A2." },
    ];
    expect(llavaPrompt("Q3", history)).toBe(`${SYSTEM} USER: <image>\nQ1 ASSISTANT: A1.</s>USER: Q2 ASSISTANT: A2.</s>USER: Q3 ASSISTANT:`);
  });

  test("a message with <image> in it is an input error", () => {
    expect(() => llavaPrompt("look <image>")).toThrow(GlammError);
    expect(() => llavaPrompt("ok", [{ user: "<image>", assistant: "x" }])).toThrow(/cannot contain <image>/);
  });
});

interface RunRef {
  question: string;
  forced_answer: string;
  forced_ids: number[];
  n_steps: number;
  image_token_start_index: number;
  phrases: string[];
  points: [number, number][];
}

describe.skipIf(!present)("AttendModel sessions on the oracle checkpoints (tiny-a)", () => {
  const ref = present ? (JSON.parse(readFileSync(`${ROOT}/refs/index.json`, "utf8")).runs.teacher_forced as RunRef) : undefined!;
  const modelOptions = { model: `${ROOT}/llava-v1.5-tiny-a`, sam: `${ROOT}/sam_tiny.pth`, device: "cpu" as const, precision: "fp32" as const };
  let model: AttendModel;
  let image: AttendImage;
  const savedHome = process.env.GLAMM_HOME;
  const home = mkdtempSync(join(tmpdir(), "glamm-attend-home-"));
  beforeAll(async () => {
    process.env.GLAMM_HOME = home;
    model = await AttendModel.load(modelOptions);
    image = await model.openImage(await decodeImageFile(`${ROOT}/image.png`));
  });
  afterAll(async () => {
    await model?.release();
    if (savedHome === undefined) delete process.env.GLAMM_HOME;
    else process.env.GLAMM_HOME = savedHome;
    rmSync(home, { recursive: true, force: true });
  });

  test("both models were converted once into the graph cache and load from it", async () => {
    const entries = readdirSync(join(home, "converted")).filter((name) => !name.endsWith(".lock"));
    expect(entries.map((name) => name.replace(/^[0-9a-f]{16}-/, "")).sort()).toEqual(["llava-fp32", "sam-points-fp32"]);
    const files = (entry: string) => readdirSync(join(home, "converted", entry)).sort();
    const llava = entries.find((name) => name.endsWith("llava-fp32"))!;
    expect(files(llava)).toEqual(expect.arrayContaining(["clip.onnx", "embed_tokens.f32", "llama.onnx", "manifest.json"]));
    const sam = entries.find((name) => name.endsWith("sam-points-fp32"))!;
    expect(files(sam)).toEqual(expect.arrayContaining(["manifest.json", "point-decoder.onnx", "postprocess.onnx", "sam-encoder.onnx"]));
    const before = statSync(join(home, "converted", llava, "llama.onnx")).mtimeMs;
    const again = await AttendModel.load({ ...modelOptions, onProgress: (message) => expect(message).not.toMatch(/^converting/) });
    await again.release();
    expect(statSync(join(home, "converted", llava, "llama.onnx")).mtimeMs).toBe(before);
  }, 60_000);

  const ask = () => image.ask({ question: ref.question, answer: ref.forced_answer });
  const summary = (run: AttendRun) => ({
    tokens: run.tokens,
    text: run.text,
    stepMaps: run.stepMaps.map((m) => Array.from(m)),
    groupMaps: run.groupMaps.map((m) => Array.from(m)),
    phrases: run.phrases.map((p) => ({ phrase: p.phrase, point: p.point, score: p.score, mask: Array.from(p.mask) })),
  });

  test("asking the same image twice gives what a fresh runAttend gives, and the oracle's points", async () => {
    const first = await ask();
    const second = await ask();
    const fresh = await runAttend({ ...modelOptions, image: `${ROOT}/image.png`, instruction: ref.question, answer: ref.forced_answer });
    expect(summary(second)).toEqual(summary(first));
    expect(summary(fresh)).toEqual(summary(first));
    expect(first.phrases.map((p) => p.phrase)).toEqual(ref.phrases);
    expect(first.phrases.map((p) => p.point)).toEqual(ref.points);
  }, 60_000);

  test("a second turn: the history is in the prompt, maps cover only the new answer", async () => {
    const history = [{ user: ref.question, assistant: ref.forced_answer }];
    const run = await image.ask({ question: "What is the dog doing?", history, answer: ref.forced_answer });
    // The first answer's tokens and its </s> (the oracle's forced ids end with EOS) sit inside the new prompt.
    const at = run.promptIds.findIndex((_, i) => ref.forced_ids.every((id, k) => run.promptIds[i + k] === id));
    expect(at).toBeGreaterThan(run.imageSpan.start);
    expect(run.imageSpan.start).toBe(ref.image_token_start_index);
    expect(run.tokens).toEqual(ref.forced_ids);
    expect(run.stepMaps).toHaveLength(ref.n_steps);
    expect(run.phrases.map((p) => p.phrase)).toEqual(ref.phrases);
    const single = await ask();
    expect(run.stepMaps[0]).not.toEqual(single.stepMaps[0]);
  }, 60_000);
});
