/**
 * The answer for people: the clean text with each grounded phrase in its mask colour, then one line per mask.
 * Colours only when the stream is a terminal and NO_COLOR is unset (src/cli/ui.ts); piped output is the same text plain.
 */
import { Chalk, supportsColor, supportsColorStderr } from "chalk";
import { colorEnabled, printable } from "../cli/ui.ts";
import { colorSlots, slotColor } from "./palette.ts";
import type { TaskResult } from "./result.ts";
import { textRuns } from "./spans.ts";
import { encodeMask, rleArea, rleToBbox } from "./rle.ts";

/** `level`: 0 plain, 1 16 colours, 2 256 colours, 3 truecolor (chalk downsamples the palette to the level). */
export function formatResultText(result: TaskResult, level: 0 | 1 | 2 | 3 = 0): string {
  const chalk = new Chalk({ level });
  const slots = colorSlots(result.segments);
  const paint = (text: string, slot: number) => chalk.bold.rgb(...slotColor(slot))(text);

  const text = textRuns(result.text, result.segments)
    .map((run) => (run.slot === null ? printable(run.text) : paint(printable(run.text), run.slot)))
    .join("");

  const { width, height } = result.image;
  const lines = result.segments.map((segment, s) => {
    const rle = encodeMask(segment.mask, height, width);
    const [x, y, w, h] = rleToBbox(rle);
    const name = segment.phrase ? paint(printable(segment.phrase), slots[s]) : paint(`[SEG] ${s + 1}`, slots[s]);
    return `  ${chalk.dim(`${s + 1}.`)} ${name}  ${chalk.dim(`${rleArea(rle)} px, box ${x},${y} ${w}x${h}`)}`;
  });
  const boxes = (result.boxes ?? []).map((box, b) => `  ${chalk.dim(`region ${b + 1}:`)} ${box.x1},${box.y1},${box.x2},${box.y2}${box.caption ? ` ${printable(box.caption)}` : ""}`);
  const mark = result.model.demo ? ["", chalk.dim(`(${result.model.demo})`)] : [];
  return [text, ...(lines.length ? ["", "Masks:", ...lines] : []), ...(boxes.length ? ["", "Regions:", ...boxes] : []), ...mark].join("\n") + "\n";
}

/** Writes the formatted result to `stream`, coloured as the stream allows. */
export function writeResultText(result: TaskResult, stream: NodeJS.WriteStream = process.stdout): void {
  const detected = stream === process.stderr ? supportsColorStderr : supportsColor;
  const level = colorEnabled(stream) ? Math.max(1, detected ? detected.level : 1) : 0;
  stream.write(formatResultText(result, level as 0 | 1 | 2 | 3));
}
