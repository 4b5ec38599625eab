import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { decodeImageFile } from "../src/image/decode.ts";
import type { TaskResult } from "../src/output/result.ts";
import { chat, type ChatBackend } from "../src/pipeline/chat.ts";
import { chatEditor } from "../src/pipeline/edit-run.ts";
import { ImageSession } from "../src/pipeline/tasks.ts";
import { numbers } from "./helpers/oracle-compare.ts";
import { editConfig, editConfigs, skipWithoutEditOracle } from "./edit-oracle.ts";

const answer = (segments: number): TaskResult => ({
  image: { path: "x.png", width: 2, height: 1, sha256: "" },
  model: { id: "fake", revision: "", precision: "fp32" },
  task: "chat",
  prompt: "",
  rawText: "",
  text: "a cat",
  segments: Array.from({ length: segments }, () => ({ phrase: "a cat", start: 0, end: 5, mask: Uint8Array.of(1, 0) })),
  timings: {},
});

describe("chat /edit", () => {
  test("repaints the last answer's masks; refused before an answer with masks, and without a prompt", async () => {
    const masksPerAnswer = [0, 1];
    const backend: ChatBackend = { checkBox: () => {}, answer: async () => ({ raw: "a cat", result: answer(masksPerAnswer.shift()!) }) };
    const edits: [string, number, number][] = [];
    let said = "";
    await chat(backend, {
      input: Readable.from(["/edit a dog\n", "what is it?\n", "/edit a dog\n", "and now?\n", "/edit\n", "/edit a red dog\n", "/reset\n", "/edit a dog\n"]),
      prompt: (text) => (said += text),
      onAnswer: async () => {},
      onEdit: async (prompt, last, edit) => {
        edits.push([prompt, last.segments.length, edit]);
        return `edited ${edit}`;
      },
    });
    expect(edits).toEqual([["a red dog", 1, 1]]);
    expect(said.match(/glamm: .*/g)).toEqual([
      "glamm: /edit repaints the last answer's masks, and it has none; ask for something GLaMM can segment first",
      "glamm: /edit repaints the last answer's masks, and it has none; ask for something GLaMM can segment first",
      "glamm: /edit needs a prompt: /edit what to paint in the region",
      "glamm: /edit repaints the last answer's masks, and it has none; ask for something GLaMM can segment first",
    ]);
    expect(said).toContain("edited 1");
  });
});

describe("chat /edit on the edit oracle", () => {
  skipWithoutEditOracle();
  let work = "";
  const previousHome = process.env.GLAMM_HOME;
  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), "glamm-edit-chat-"));
    process.env.GLAMM_HOME = join(work, "home");
  });
  afterAll(() => {
    if (previousHome === undefined) delete process.env.GLAMM_HOME;
    else process.env.GLAMM_HOME = previousHome;
    rmSync(work, { recursive: true, force: true });
  });
  for (const name of editConfigs) {
    test(`${name}: the demo's defaults (seed 0) on the answer's mask give the official result`, async () => {
      const config = editConfig(name);
      const decoded = await ImageSession.decode(join(config.root, "image.png"));
      const mask = await decodeImageFile(join(config.root, "mask.png"));
      const last = answer(0);
      last.segments = [{ phrase: "it", start: 0, end: 2, mask: Uint8Array.from({ length: mask.width * mask.height }, (_, i) => (mask.data[3 * i] > 127 ? 1 : 0)) }];
      const edit = chatEditor({ inpaintModel: config.modelDir, image: decoded, stem: join(work, "image") });
      const note = await edit(config.index("main").parameters.pipe_call_kwargs.prompt, last, 1);
      expect(note).toContain(join(work, "image.edit1.png"));
      const edited = await decodeImageFile(join(work, "image.edit1.png"));
      const diffs = numbers(config.ref("result")).map((v, i) => Math.abs(v - edited.data[i]));
      expect(Math.max(...diffs)).toBeLessThanOrEqual(3);
      expect(diffs.filter((d) => d > 1).length / diffs.length).toBeLessThanOrEqual(0.001);
      expect(JSON.parse(readFileSync(join(work, "image.edit1.json"), "utf8"))).toMatchObject({ task: "edit", noise: { seed: 0 }, stepsRun: 19 });
    }, 120_000);
  }
});
