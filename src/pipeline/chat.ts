import { createInterface } from "node:readline";
import { inputError } from "../cli/errors.ts";
import { parseBox } from "../cli/parse.ts";
import { groundAnswer, parseAnswer } from "../output/markup.ts";
import type { ModelInfo, TaskResult } from "../output/result.ts";
import type { PixelBox } from "../models/region-encoder.ts";
import type { Turn } from "./prompt.ts";
import type { GenerationSettings, ImageSession } from "./tasks.ts";

export interface ChatIo {
  input: NodeJS.ReadableStream;
  /** Prompts and help go here (stderr), so stdout holds only answers. */
  prompt(text: string): void;
  /** Called with each turn's grounded result; returns what to tell the user (e.g. files written). */
  onAnswer(result: TaskResult, turn: number): Promise<string | void>;
  /** `/edit PROMPT`: repaints the region of the last answer's last mask (the demo's "Generate" box); returns what to tell the user. */
  onEdit?(prompt: string, last: TaskResult, edit: number): Promise<string>;
}

/** What answers a chat: GLaMM ([SEG] masks) or attend-and-segment. */
export interface ChatBackend {
  /** Answers the last turn (earlier ones carry their answers); `raw` is the answer the next prompts repeat. */
  answer(turns: Turn[], boxes: PixelBox[]): Promise<{ raw: string; result: TaskResult }>;
  /** Throws a GlammError when /box cannot add this region. */
  checkBox(box: PixelBox): void;
}

/** GLaMM answers: the whole conversation, boxes included, is the prompt; its [SEG]s give the masks. */
export function glammChat(session: ImageSession, settings: GenerationSettings, model: ModelInfo): ChatBackend {
  return {
    checkBox: (box) => session.checkBoxes([box]),
    answer: async (turns, boxes) => {
      const answer = await session.ask(turns, settings, boxes);
      const parsed = parseAnswer(answer.raw);
      const { segments } = groundAnswer(parsed, answer.masks);
      return { raw: answer.raw, result: session.result("chat", turns[turns.length - 1].user, answer.raw, segments, parsed.text, model) };
    },
  };
}

const HELP = "type a message; /box x1,y1,x2,y2 adds a region for the next message (refer to it with <bbox>); /edit PROMPT repaints the last answer's last mask with PROMPT; /reset starts over; /quit, /exit or Ctrl-D ends";

/** A multi-turn conversation about one image, every answer grounded by `backend`. Reads lines until EOF, /quit or /exit. */
export async function chat(backend: ChatBackend, io: ChatIo): Promise<number> {
  const turns: Turn[] = [];
  const boxes: PixelBox[] = [];
  let pending: PixelBox[] = [];
  let answered = 0;
  let last: TaskResult | undefined;
  let edits = 0;
  io.prompt(`${HELP}\n> `);
  const lines = createInterface({ input: io.input, terminal: false });
  for await (const raw of lines) {
    const line = raw.trim();
    try {
      if (line === "/quit" || line === "/exit") break;
      if (line === "" || line === "/help") io.prompt(line ? `${HELP}\n` : "");
      else if (line === "/reset") {
        turns.length = 0;
        boxes.length = 0;
        last = undefined;
        pending = [];
        io.prompt("conversation cleared\n");
      } else if (line.startsWith("/box")) {
        const box = parseBox(line.slice(4).trim());
        backend.checkBox(box);
        pending.push(box);
        io.prompt(`region ${boxes.length + pending.length} added; refer to it with <bbox>\n`);
      } else if (line === "/edit" || line.startsWith("/edit ")) {
        const prompt = line.slice(5).trim();
        if (!io.onEdit) throw inputError("/edit is not available in this chat");
        if (prompt === "") throw inputError("/edit needs a prompt: /edit what to paint in the region");
        if (!last || last.segments.length === 0) throw inputError("/edit repaints the last answer's masks, and it has none; ask for something GLaMM can segment first");
        io.prompt(`${await io.onEdit(prompt, last, ++edits)}\n`);
      } else if (line.startsWith("/")) io.prompt(`unknown command ${line.split(" ")[0]}; ${HELP}\n`);
      else {
        const placeholders = (line.match(/<bbox>/g) ?? []).length;
        const message = placeholders < pending.length ? `${line}${" <bbox>".repeat(pending.length - placeholders)}` : line;
        if (placeholders > pending.length) throw inputError(`the message has ${placeholders} <bbox> but ${pending.length} region(s) were added with /box`);
        boxes.push(...pending);
        pending = [];
        turns.push({ user: message });
        const { raw, result } = await backend.answer(turns, boxes);
        turns[turns.length - 1] = { user: message, assistant: raw };
        last = result;
        const note = await io.onAnswer(result, ++answered);
        if (note) io.prompt(`${note}\n`);
      }
    } catch (error) {
      if (!(error instanceof Error) || !("exitCode" in error)) throw error;
      io.prompt(`glamm: ${error.message}\n`);
    }
    io.prompt("> ");
  }
  // /quit leaves stdin open (a terminal, a pipe still being written): stop reading it, or the process would wait on.
  lines.close();
  (io.input as NodeJS.ReadableStream & { destroy?(): void }).destroy?.();
  return answered;
}
