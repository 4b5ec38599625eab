import { Command, Option } from "clipanion";
import { existsSync } from "node:fs";
import { usageError } from "../src/cli/errors.ts";
import { checkExpressions } from "../src/cli/parse.ts";
import { TaskCommand } from "../src/cli/task-command.ts";

export default class SegmentCommand extends TaskCommand {
  static paths = [["segment"]];
  static usage = Command.Usage({
    description: "referring segmentation: one mask per expression",
    details: "Usage: `glamm segment EXPRESSION IMAGE...` or `glamm segment -e EXPRESSION [-e EXPRESSION...] IMAGE...`.",
    examples: [
      ["Segment the man in red", 'glamm segment "man in red" photo.jpg'],
      ["Two expressions on a folder", 'glamm segment -e "dog" -e "red ball" photos/'],
      ["The same, first expression as an argument", 'glamm segment "dog" -e "red ball" photos/'],
    ],
  });
  readonly task = "segment" as const;
  more = Option.Array("-e,--expression", [], { description: "an expression (repeatable); with -e, the first argument is also one only when it is not a file or folder" });
  args = Option.Rest({ required: 1, name: "image" });

  /** The first argument is an expression unless -e gives them all and it names an image (or there is only one). */
  private split(): { expressions: string[]; images: string[] } {
    const [first, ...rest] = this.args;
    const firstIsExpression = this.more.length === 0 || (rest.length > 0 && !existsSync(first));
    if (!firstIsExpression) return { expressions: this.more, images: this.args };
    if (rest.length === 0) throw usageError(`glamm segment needs an EXPRESSION and an IMAGE (got only "${first}")`);
    return { expressions: [first, ...this.more], images: rest };
  }

  imageArgs = () => this.split().images;
  taskInput = () => ({ task: this.task, expressions: checkExpressions(this.split().expressions) });
}
